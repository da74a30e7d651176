"""Gate-level verification: netlist preparation (no tools), and post-synthesis netlists run
through the cocotb bench against the golden model, including deliberately broken ones."""

import json
import re
import stat
from pathlib import Path

import pytest

from hwgen.blocks import load
from hwgen.cli import main
from hwgen.core.errors import HwgenError
from hwgen.core.tech import Tech
from hwgen.flow import fpga, gls, sim, tools

SMALL = "mxu-2x2-int8"


# -- netlist preparation (pure text, no tools) --

_MODELS = """\
`timescale 1ps / 1ps
`ifndef NO_ICE40_DEFAULT_ASSIGNMENTS
`define ICE40_DEFAULT_ASSIGNMENT_V(v) = v
`define ICE40_DEFAULT_ASSIGNMENT_1 = 1'b1
`endif
module SB_LUT4 (
	output O,
	input I0 `ICE40_DEFAULT_ASSIGNMENT_0,
	input I1 `ICE40_DEFAULT_ASSIGNMENT_0
);
endmodule
module SB_RAM (input CLK, input [15:0] MASK `ICE40_DEFAULT_ASSIGNMENT_V(16'h 0000),
               input EN = 1'b1, output Q);
endmodule
"""

_NETLIST = """\
module top(a, y);
  input [1:0] a;
  wire [1:0] a;
  output y;
  wire y;
  SB_LUT4 #(
    .LUT_INIT(16'h8)
  ) \\u.lut  (
    .I0(a[0]),
    .O(y)
  );
  SB_RAM r (
    .CLK(a[1])
  );
  OTHER o (
    .X(a[0])
  );
endmodule
"""


def test_port_defaults_reads_ice40_macros_and_plain_defaults():
    assert gls.port_defaults(_MODELS) == {
        "SB_LUT4": {"I0": "1'b0", "I1": "1'b0"},
        "SB_RAM": {"MASK": "16'h0000", "EN": "1'b1"},
    }


def test_tie_open_ports_connects_only_open_ports_with_defaults():
    text, tied = gls.tie_open_ports(_NETLIST, gls.port_defaults(_MODELS))
    assert tied == 3
    assert ("    .I0(a[0]),\n    .O(y),\n    .I1(1'b0)\n  );" in text)
    assert "    .CLK(a[1]),\n    .MASK(16'h0000),\n    .EN(1'b1)\n  );" in text
    assert "  OTHER o (\n    .X(a[0])\n  );" in text          # no model defaults: untouched
    assert ".LUT_INIT(16'h8)\n" in text                       # parameters are not ports


def test_models_for_keeps_used_modules_and_their_children(tmp_path):
    (tmp_path / "inc.vh").write_text(
        "module CHILD(input A); endmodule\n"
        "(* abc9_box *)\nmodule UNUSED(input A);\n  this does not parse\nendmodule\n")
    (tmp_path / "cells.v").write_text(
        '`include "inc.vh"\n`define KEEP 1\n'
        "module SB_LUT4(input I0, output O);\n  CHILD c(.A(I0));\nendmodule\n"
        '`include "inc.vh"\n'
        "module MINE(output O); endmodule\n")
    (tmp_path / "mine.v").write_text("`timescale 1ns/1ps\nmodule MINE(output O); endmodule\n")
    netlist = "module top();\n  SB_LUT4 l (\n    .I0(x)\n  );\n  MINE m (\n  );\nendmodule\n"
    (tmp_path / "other.v").write_text("`timescale 1ns/1ps\nmodule OTHER(output O); endmodule\n")
    (mine, mine_text), (cells, cells_text) = gls.models_for(
        netlist, [tmp_path / "mine.v", tmp_path / "other.v", tmp_path / "cells.v"])
    assert (mine, cells) == ("mine.v", "cells.v")
    assert mine_text == "`timescale 1ns/1ps\nmodule MINE(output O); endmodule\n"
    assert cells_text.count("module CHILD") == 1                # included twice, kept once
    assert "UNUSED" not in cells_text and "abc9_box" not in cells_text
    assert "module SB_LUT4" in cells_text and "`define KEEP 1" in cells_text
    assert "MINE" not in cells_text                             # the earlier file's wins
    # other.v (no module the netlist uses) is left out altogether


_MANIFEST = {"ports": [
    {"name": "clk", "kind": "clock", "direction": "in", "width": 1, "signal": "clk"},
    {"name": "i_x", "kind": "stream", "direction": "in", "width": 8,
     "signals": {"valid": "i_x__valid", "ready": "i_x__ready", "payload": "i_x__payload"}},
]}


@pytest.mark.parametrize(("decls", "message"), [
    ("  input clk;\n  input i_x__valid;\n  output i_x__ready;\n  input [7:0] i_x__payload;\n",
     None),
    ("  input clk;\n  input i_x__valid;\n  output i_x__ready;\n",
     r"^net\.v: module blk has no port 'i_x__payload' \(the manifest's input of 8 bits\)$"),
    ("  input clk;\n  input i_x__valid;\n  input i_x__ready;\n  input [7:0] i_x__payload;\n",
     r"^net\.v: port 'i_x__ready' of module blk is input \[1 bits\], the manifest says output "
     r"\[1 bits\]$"),
    ("  input clk;\n  input i_x__valid;\n  output i_x__ready;\n  input [6:0] i_x__payload;\n",
     r"^net\.v: port 'i_x__payload' of module blk is input \[7 bits\], the manifest says input "
     r"\[8 bits\]$"),
])
def test_check_netlist_ports(decls, message):
    netlist = f"module blk(clk, i_x__valid, i_x__ready, i_x__payload);\n{decls}endmodule\n"
    if message is None:
        gls.check_netlist_ports(netlist, "blk", _MANIFEST, where="net.v")
    else:
        with pytest.raises(HwgenError, match=message):
            gls.check_netlist_ports(netlist, "blk", _MANIFEST, where="net.v")
    with pytest.raises(HwgenError, match=r"^net\.v: no module 'other'; the netlist's top module "
                                         r"must keep the block's name$"):
        gls.check_netlist_ports(netlist, "other", _MANIFEST, where="net.v")


def test_yosys_share_of_an_overridden_yosys(tmp_path, monkeypatch):
    share = tmp_path / "share" / "yosys"
    share.mkdir(parents=True)
    for name, body in (("yosys", "exit 0"), ("yosys-config", f"echo {share}")):
        exe = tmp_path / name
        exe.write_text(f"#!/bin/sh\n{body}\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("YOSYS", str(tmp_path / "yosys"))
    assert tools.yosys_share() == share


# -- real netlists (Yosys + Icarus) --

def _gate_run(tmp_path, target, **kwargs):
    info, cfg = load(SMALL)
    lines = []
    res = gls.run(info, cfg, target, seed=1, workdir=tmp_path, progress=lines.append, **kwargs)
    return res, lines


@pytest.mark.fpga
def test_cli_sim_netlist(capsys, tmp_path):
    rc = main(["sim", SMALL, "--netlist", "ecp5-25k", "--seed", "3", "-o", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert "gate-level netlist for ecp5-25k" in out
    assert "[fpga] synth: yosys done" in out
    assert "running test_mxu.corner_cases" in out and "test_mxu.corner_cases passed" in out
    m = re.search(r"^PASS: 4 of 5 tests passed \(1 skipped\), (\d+) transactions checked", out,
                  re.M)
    assert m and int(m.group(1)) >= 10, out
    net = (tmp_path / "synth" / "mxu_ws_2x2_int8_sim.v").read_text()
    assert "TRELLIS_FF" in net and "MULT18X18D #(" in net     # gates, hand-placed DSPs
    man = json.loads((tmp_path / "rtl" / "mxu_ws_2x2_int8.json").read_text())
    assert man["tech"] == "ecp5"                             # the same elaboration as fpga
    models = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert models == ["DP16KD.v", "MULT18X18D.v", "cells_sim.v"]  # accumulator, queue: DP16KD


def _invert_output_bit(net: Path, signal: str, bit: int) -> None:
    """Rename ``signal[bit]`` inside the netlist and drive the port with its inverse."""
    text = net.read_text()
    ref = f"{signal}[{bit}]"
    assert text.count(ref) >= 1, f"{ref} not in {net}"
    body, end, tail = text.rpartition("endmodule")
    body = body.replace(ref, "hwgen_broken")
    net.write_text(f"{body}  wire hwgen_broken;\n  assign {ref} = ~hwgen_broken;\n{end}{tail}")


@pytest.mark.fpga
def test_broken_netlist_fails_the_build(tmp_path, monkeypatch):
    real = fpga.synth_netlist

    def broken(*args, **kwargs):
        net = real(*args, **kwargs)
        _invert_output_bit(net.verilog, "o_c__payload", 3)      # bit 3 of C's first lane
        return net

    monkeypatch.setattr(fpga, "synth_netlist", broken)
    info, cfg = load(SMALL)
    lines = []
    with pytest.raises(HwgenError) as exc:
        fpga.build(info, cfg, "ice40-up5k", outdir=tmp_path, progress=lines.append)
    msg = str(exc.value)
    m = re.search(r"^gate-level check of the ice40-up5k netlist of mxu_ws_2x2_int8 failed, no "
                  r"bitstream written: C: first mismatch at index \(\d+, 0\): expected (-?\d+), "
                  r"actual (-?\d+) \(\d+ mismatching in total\); random GEMM 0 .*HWGEN_SEED=1 "
                  r"\(log: \S+sim\.log; rerun with `hwgen sim CONFIG --netlist ice40-up5k "
                  r"--seed 1`\)$", msg)
    assert m, msg
    assert int(m.group(1)) ^ int(m.group(2)) == 8               # exactly the inverted bit
    assert "\n" not in msg
    assert any("running test_mxu.random_vectors" in line for line in lines)
    assert not any(line.startswith("[fpga] pnr") for line in lines)
    assert not (tmp_path / "top.bin").exists() and not (tmp_path / "report.json").exists()


@pytest.mark.fpga
def test_wrong_cell_model_is_caught(tmp_path, monkeypatch):
    """A MULT18X18D model whose product is off by one in bit 1: the ECP5 check must fail."""
    (good,) = [p for p in gls.primitive_models(Tech(family="ecp5")) if p.stem == "MULT18X18D"]
    text = good.read_text()
    assert text.count("endmodule") == 1
    # rename the real model and wrap it, flipping P1
    wrong = tmp_path / "models" / "MULT18X18D.v"
    wrong.parent.mkdir()
    pins = ", ".join(f".P{i}(p[{i}])" for i in range(36))
    wrong.write_text(text.replace("module MULT18X18D (", "module MULT18X18D_good (") + f"""
module MULT18X18D #(parameter REG_INPUTA_CLK = "NONE", REG_INPUTA_CE = "CE0",
    REG_INPUTA_RST = "RST0", REG_INPUTB_CLK = "NONE", REG_INPUTB_CE = "CE0",
    REG_INPUTB_RST = "RST0", REG_OUTPUT_CLK = "NONE", REG_OUTPUT_CE = "CE0",
    REG_OUTPUT_RST = "RST0", GSR = "ENABLED", RESETMODE = "SYNC") (
    {", ".join(f"input A{i}" for i in range(18))},
    {", ".join(f"input B{i}" for i in range(18))},
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CLK1, CLK2, CLK3,
    input CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
    {", ".join(f"output P{i}" for i in range(36))}, output SIGNEDP);
  wire [35:0] p;
  MULT18X18D_good #(.REG_INPUTA_CLK(REG_INPUTA_CLK), .REG_INPUTA_CE(REG_INPUTA_CE),
    .REG_INPUTB_CLK(REG_INPUTB_CLK), .REG_INPUTB_CE(REG_INPUTB_CE),
    .REG_OUTPUT_CLK(REG_OUTPUT_CLK), .REG_OUTPUT_CE(REG_OUTPUT_CE)) good (
    {", ".join(f".A{i}(A{i})" for i in range(18))},
    {", ".join(f".B{i}(B{i})" for i in range(18))},
    .SIGNEDA(SIGNEDA), .SIGNEDB(SIGNEDB), .CLK0(CLK0), .CE0(CE0), .CE1(CE1), .CE2(CE2),
    .CE3(CE3), .RST0(RST0), .RST1(RST1), .RST2(RST2), .RST3(RST3), {pins});
  assign {{{", ".join(f"P{i}" for i in reversed(range(36)))}}} = p ^ 36'd2;
endmodule
""")
    others = [p for p in gls.primitive_models(Tech(family="ecp5")) if p.stem != "MULT18X18D"]
    monkeypatch.setattr(gls, "primitive_models", lambda tech: [wrong, *others])
    res, lines = _gate_run(tmp_path / "run", "ecp5-25k", testcase="corner_cases")
    assert not res["ok"]
    m = re.fullmatch(r"C: first mismatch at index \(0, 0\): expected (-?\d+), actual (-?\d+) "
                     r"\(\d+ mismatching in total\); all operands at the format minimum, largest "
                     r"K \(M=1 K=\d+ N=2\); config mxu_ws_2x2_int8, test corner_cases, "
                     r"HWGEN_SEED=1", res["mismatch"])
    assert m, res["mismatch"]
    assert sim.failure_summary(res) == res["mismatch"]
    assert res["transactions"] == 0
    assert any("corner_cases failed" in line for line in lines)


# -- the known Yosys 0.70 ABC crash: one retry with the target's options --

def test_synth_retries_once_after_the_abc_crash(tmp_path, monkeypatch):
    """An ABC crash reruns synthesis with the target's ``retry_after_abc_crash`` options (the
    crashed log kept); a second crash, another failure, or a target without retry options
    raise as before."""
    from hwgen.flow import synth

    info, cfg = load(SMALL, [])
    crash = HwgenError(f"yosys failed (exit 1) in synth: Running ABC command; {tools.ABC_CRASH}")

    def fake_yosys(outcomes):
        calls = []

        def run(stage, tool, argv, *, cwd, log, progress, verbose=False):
            calls.append((cwd / argv[1]).read_text())
            log.write_text(f"run {len(calls)}\n")
            outcome = outcomes[len(calls) - 1]
            if outcome is not None:
                raise outcome
            name = cfg.module_name
            (cwd / f"{name}_stat.json").write_text(json.dumps(
                {"modules": {name: {"num_cells_by_type": {"LUT4": 3}}}}))
            return 0.1
        monkeypatch.setattr(synth, "run_tool", run)
        monkeypatch.setattr(synth, "find_tool", lambda tool: [tool])
        return calls

    lines = []
    calls = fake_yosys([crash, None])
    net = synth.synth_netlist(info, cfg, "ecp5-25k", tmp_path / "a", progress=lines.append)
    assert len(calls) == 2 and "synth_ecp5 -top mxu_ws_2x2_int8\n" in calls[0]
    assert "synth_ecp5 -top mxu_ws_2x2_int8 -dff\n" in calls[1]
    assert net.options == "-dff" and net.log.read_text() == "run 2\n"
    assert (tmp_path / "a" / "mxu_ws_2x2_int8_synth_abc_crash.log").read_text() == "run 1\n"
    assert lines[-1].endswith("; retrying with `synth_ecp5 -dff`")
    calls = fake_yosys([crash, crash])
    with pytest.raises(HwgenError, match="a toolchain crash"):
        synth.synth_netlist(info, cfg, "ecp5-25k", tmp_path / "b", progress=lines.append)
    assert len(calls) == 2
    other = HwgenError("yosys failed (exit 1) in synth: ERROR: syntax error")
    calls = fake_yosys([other])
    with pytest.raises(HwgenError, match="syntax error"):
        synth.synth_netlist(info, cfg, "ecp5-25k", tmp_path / "c", progress=lines.append)
    assert len(calls) == 1
    calls = fake_yosys([crash])                           # iCE40 has no retry options
    with pytest.raises(HwgenError, match="a toolchain crash"):
        synth.synth_netlist(info, cfg, "ice40-up5k", tmp_path / "d", progress=lines.append)
    assert len(calls) == 1


@pytest.mark.fpga
def test_bare_os_block_at_two_columns_builds_for_ecp5(tmp_path):
    """The bare output-stationary MXU at 2×2 with a saturating accumulator — the netlist on which
    Yosys 0.70's ABC crashes for ECP5 — synthesizes (retrying with the target's options if it
    crashes) and its netlist passes the gate-level check."""
    info, cfg = load("mxu-4x4-int8-os", ["rows=2", "cols=2", "overflow=saturate",
                                         "acc_width=20"])
    res = gls.run(info, cfg, "ecp5-25k", seed=2, workdir=tmp_path, progress=lambda line: None)
    assert res["ok"] and res["transactions"] >= 10, res
    net = (tmp_path / "synth" / "mxu_os_2x2_int8_net.v").read_text()
    assert net.count("MULT18X18D #(") == 4
