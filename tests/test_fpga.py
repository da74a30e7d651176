# amaranth: UnusedElaboratable=no
"""FPGA flow: the self-test harness (amaranth.sim), the toolchain driver's errors, smoke builds."""

import dataclasses
import json
import os
import re
import stat
import types
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwgen.blocks import load
from hwgen.core.errors import HwgenError
from hwgen.flow import fpga, synth, tools
from hwgen.flow.harness import BlackBox, Prbs, SelfTestTop
from hwgen.flow.reports import yosys_cells


class _Acc(wiring.Component):
    """Stream accumulator: ``o_sum`` carries the running sum of ``i_x`` (a tiny test block)."""

    i_x: In(stream.Signature(8))
    o_sum: Out(stream.Signature(16))

    def elaborate(self, platform):
        m = Module()
        acc = Signal(16)
        take = ~self.o_sum.valid | self.o_sum.ready
        m.d.comb += self.i_x.ready.eq(take)
        with m.If(take):
            m.d.sync += self.o_sum.valid.eq(self.i_x.valid)
            with m.If(self.i_x.valid):
                m.d.sync += [acc.eq(acc + self.i_x.payload),
                             self.o_sum.payload.eq(acc + self.i_x.payload)]
        return m


class _Impulse(wiring.Component):
    """A plain output port that is zero except for bit ``bit`` in one cycle."""

    def __init__(self, *, width, bit, at=24):
        self.bit = bit
        self.at = at
        super().__init__({"o_y": Out(width)})

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self.at + 2))
        with m.If(count <= self.at):
            m.d.sync += count.eq(count + 1)
        with m.If(count == self.at):
            m.d.comb += self.o_y[self.bit].eq(1)
        return m


def _acc_block():
    """A registry-like (info, cfg) pair for the test block, accepted by ``fpga.build``."""
    info = types.SimpleNamespace(name="acc", component=lambda cfg: _Acc(),
                                 cocotb_bench="acc/test_acc.py")
    cfg = types.SimpleNamespace(module_name="acc", to_dict=lambda: {"block": "acc"})
    return info, cfg


def _simulate(top, cycles, sample):
    """Clock ``top.clk`` for ``cycles`` cycles; ``sample(ctx)`` after every rising edge."""
    sim = Simulator(top)

    async def clock(ctx):
        while True:
            ctx.set(top.clk, 0)
            await ctx.delay(0.5e-6)
            ctx.set(top.clk, 1)
            await ctx.delay(0.5e-6)

    async def bench(ctx):
        for _ in range(cycles):
            await ctx.posedge(top.clk)
            sample(ctx)

    sim.add_process(clock)
    sim.add_testbench(bench)
    sim.run()


# -- harness (amaranth only, no tools) --

def test_harness_ports_are_clock_and_led():
    top = SelfTestTop(_Acc(), signature_width=5)
    text = verilog.convert(top, name="top", emit_src=False)
    header = text[text.index("module top("):].split(";")[0]
    assert header == "module top(led, clk)"
    assert "output [4:0] led;" in text
    assert top.stimulus_bits == 8 + 1 + 1      # i_x payload + valid, o_sum ready
    assert top.observed_bits == 16 + 1 + 1     # o_sum payload + valid, i_x ready


def test_harness_signature_changes_and_streams_obey_rules():
    top = SelfTestTop(_Acc(), signature_width=4)
    leds, x, sums = [], [], []

    def sample(ctx):
        leds.append(ctx.get(top.led))
        x.append((ctx.get(top.block.i_x.valid), ctx.get(top.block.i_x.ready),
                  ctx.get(top.block.i_x.payload)))
        sums.append((ctx.get(top.block.o_sum.valid), ctx.get(top.block.o_sum.ready)))

    _simulate(top, 200, sample)
    assert len(set(leds[30:])) >= 8                     # the signature keeps moving
    transfers = sum(v and r for v, r, _ in x)
    stalls = sum(v and not r for v, r, _ in x)
    assert transfers >= 30 and stalls >= 5              # pseudo-random valid and back-pressure
    assert sum(r for _, r in sums) not in (0, len(sums))
    for (v0, r0, p0), (v1, _, p1) in zip(x[:-1], x[1:], strict=True):
        if v0 and not r0:                                # held until the transfer
            assert v1 == 1 and p1 == p0


@pytest.mark.parametrize("bit", range(0, 37, 4))
def test_harness_every_observed_bit_reaches_the_signature(bit):
    # 37 observed bits, folded 37 → 10 → 3: a single-cycle pulse on any one of them must
    # show on the LEDs (the signature is linear, so this is what keeps Yosys from pruning).
    top = SelfTestTop(_Impulse(width=37, bit=bit), signature_width=3)
    leds = []
    _simulate(top, 50, lambda ctx: leds.append(ctx.get(top.led)))
    assert all(v == 0 for v in leds[:20])
    assert any(v != 0 for v in leds[24:])


def test_prbs_bits_move_and_hold():
    prbs = Prbs(width=40, seed=5)
    m = Module()
    m.submodules.prbs = prbs
    sim = Simulator(m)
    sim.add_clock(1e-6)
    seen = []

    async def bench(ctx):
        for i in range(80):
            ctx.set(prbs.en, i < 70)
            await ctx.tick()
            seen.append(ctx.get(prbs.out))

    sim.add_testbench(bench)
    sim.run()
    assert len(set(seen[:70])) == 70
    assert len(set(seen[71:])) == 1                      # en low: state held


def test_harness_rejects_bad_parameters():
    with pytest.raises(TypeError, match=r"^block must be a wiring.Component"):
        SelfTestTop(Module())
    with pytest.raises(TypeError, match=r"^signature_width must be an integer in \[1, 64\]"):
        SelfTestTop(_Acc(), signature_width=0)
    with pytest.raises(ValueError, match=r"^PRBS seed must have a non-zero low 31 bits"):
        Prbs(width=3, seed=1 << 31)


# -- target data and errors --

def test_targets_are_loaded_from_data():
    assert {"ice40-up5k", "ecp5-25k", "ecp5-45k", "ecp5-85k"} <= set(synth.TARGETS)
    up5k = synth.TARGETS["ice40-up5k"]
    assert (up5k.device, up5k.package, up5k.clk_pin, up5k.freq_mhz) == ("iCE40UP5K", "SG48",
                                                                        "35", 48.0)
    assert synth.TARGETS["ecp5-85k"].pnr_args[0] == "--85k"
    for tgt in synth.TARGETS.values():
        assert tgt.led_pins and all(t in tools.TOOLS for t in tgt.tools)


def test_unknown_target_lists_valid_targets(tmp_path):
    info, cfg = _acc_block()
    with pytest.raises(HwgenError, match=r"^unknown FPGA target 'ice40-hx8k'; valid targets: "
                                         r"ecp5-25k, ecp5-45k, ecp5-85k, ice40-up5k$"):
        fpga.build(info, cfg, "ice40-hx8k", outdir=tmp_path)


def test_bad_frequency_and_seed(tmp_path):
    info, cfg = _acc_block()
    with pytest.raises(HwgenError, match=r"^FPGA frequency must be a positive number of MHz"):
        fpga.build(info, cfg, "ice40-up5k", freq_mhz=0, outdir=tmp_path)
    with pytest.raises(HwgenError, match=r"^nextpnr seed must be a non-negative integer"):
        fpga.build(info, cfg, "ice40-up5k", seed=-1, outdir=tmp_path)


@pytest.mark.fpga
@pytest.mark.parametrize("env, tool, target", [
    ("NEXTPNR_ICE40", "nextpnr-ice40", "ice40-up5k"),
    ("ECPPACK", "ecppack", "ecp5-25k"),
])
def test_missing_tool_is_named(monkeypatch, tmp_path, env, tool, target):
    monkeypatch.setenv(env, str(tmp_path / "no-such-tool"))
    info, cfg = _acc_block()
    with pytest.raises(HwgenError, match=rf"^{tool} not found: {env}=.*no-such-tool.*"
                                         rf"pip install -e \.\[fpga\]"):
        fpga.build(info, cfg, target, outdir=tmp_path / "out")
    assert not (tmp_path / "out").exists()               # checked before any work


@pytest.mark.fpga
def test_failing_tool_reports_its_error_and_log(monkeypatch, tmp_path):
    fake = tmp_path / "fake-yosys"
    fake.write_text("#!/bin/sh\necho 'reading the script'\nsleep 0.7\n"
                    "echo 'ERROR: syntax error, unexpected TOK_ID'\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("YOSYS", str(fake))
    monkeypatch.setattr(tools, "HEARTBEAT_S", 0.2)
    info, cfg = _acc_block()
    lines = []
    out = tmp_path / "out"
    with pytest.raises(HwgenError) as exc:
        fpga.build(info, cfg, "ice40-up5k", outdir=out, verify=False, progress=lines.append)
    log = out / "block" / "acc_synth.log"
    assert str(exc.value) == (f"yosys failed (exit 1) in synth: ERROR: syntax error, unexpected "
                              f"TOK_ID (log: {log})")
    assert "reading the script" in log.read_text()
    assert any("synth: yosys running" in line for line in lines)   # heartbeat


def test_tool_over_its_time_limit_is_stopped(monkeypatch, tmp_path):
    """A tool run longer than ``time_limit_s`` is killed and reported with its last line."""
    fake = tmp_path / "fake-nextpnr"
    fake.write_text("#!/bin/sh\necho 'Info: routing iteration 1'\nsleep 60\necho never\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("NEXTPNR_ECP5", str(fake))
    log = tmp_path / "pnr.log"
    with pytest.raises(HwgenError) as exc:
        tools.run_tool("pnr", "nextpnr-ecp5", [], cwd=tmp_path, log=log,
                       progress=lambda line: None, time_limit_s=1)
    assert re.fullmatch(r"nextpnr-ecp5 stopped after \d+ s in pnr: over its time limit of 1 s; "
                        r"its last line: Info: routing iteration 1 \(log: .*pnr\.log\)",
                        str(exc.value)), str(exc.value)
    assert "never" not in log.read_text()


@pytest.mark.fpga
def test_real_tool_error_line_and_log(tmp_path):
    bad = dataclasses.replace(synth.TARGETS["ice40-up5k"], name="bad", clk_pin="99")
    info, cfg = _acc_block()
    with pytest.raises(HwgenError, match=r"^nextpnr-ice40 failed \(exit \d+\) in pnr: ERROR: .*99.*"
                                         r"\(log: .*nextpnr\.log\)$"):
        fpga.build(info, cfg, bad, outdir=tmp_path, verify=False, progress=lambda line: None)
    assert not (tmp_path / "report.json").exists()


# -- real builds (YoWASP; the first call per tool compiles WebAssembly) --

def _check_report(report, target, outdir):
    assert set(fpga.REPORT_KEYS) <= set(report)
    assert report["target"] == target and report["device"] == synth.TARGETS[target].device
    assert report["luts"] > 0 and report["ffs"] > 0
    assert report["dsps"] >= 0 and report["brams"] >= 0
    assert report["fmax_mhz"] > 0
    assert report["timing_met"] == (report["fmax_mhz"] >= report["freq_target_mhz"])
    bit = Path(report["bitstream"])
    assert bit.is_file() and bit.stat().st_size > 0
    assert all(Path(p).is_file() for p in report["logs"].values())
    cp = report["critical_path"]
    assert cp["from"] and cp["to"] and cp["delay_ns"] > 0
    assert json.loads((outdir / "report.json").read_text()) == report
    assert (outdir / "report.md").read_text().startswith("# FPGA report")


@pytest.mark.fpga
def test_build_test_block_ice40_unverified(tmp_path):
    info, cfg = _acc_block()           # no cocotb bench: it can only be built with verify=False
    lines = []
    report = fpga.build(info, cfg, "ice40-up5k", freq_mhz=30, seed=3, outdir=tmp_path,
                        report_path=tmp_path / "copy" / "r.json", verify=False,
                        progress=lines.append, verbose=True)
    _check_report(report, "ice40-up5k", tmp_path)
    assert report["freq_target_mhz"] == 30 and report["seed"] == 3
    assert json.loads((tmp_path / "copy" / "r.json").read_text()) == report
    assert any(line.startswith("  nextpnr-ice40: ") for line in lines)   # verbose tool output
    assert "set_io led[6] 21" in (tmp_path / "top.pcf").read_text()
    assert (report["verified"], report["verified_transactions"]) == (False, 0)
    assert report["verification"] is None and "verify" not in report["tool_seconds"]
    assert ("[fpga] WARNING: gate-level verification skipped (verify=False): the ice40-up5k "
            "bitstream of acc is UNVERIFIED") in lines
    assert "**UNVERIFIED:**" in (tmp_path / "report.md").read_text()


@pytest.mark.fpga
def test_verify_needs_a_bench(tmp_path):
    info, cfg = _acc_block()
    with pytest.raises(HwgenError, match=r"^block 'acc' has no cocotb bench \(expected "):
        fpga.build(info, cfg, "ecp5-25k", outdir=tmp_path / "out")
    assert not (tmp_path / "out").exists()               # checked before any work


@pytest.mark.fpga
@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-25k"])
def test_smallest_mxu_builds_verified(tmp_path, target):
    info, cfg = load("mxu-2x2-int8")
    lines = []
    report = fpga.build(info, cfg, target, outdir=tmp_path, progress=lines.append)
    _check_report(report, target, tmp_path)
    # the gate-level check ran on this target's netlist, before place and route, and passed
    assert report["verified"] is True and report["verified_transactions"] >= 10
    v = report["verification"]
    assert v["seed"] == fpga.VERIFY_SEED and v["simulator"] == "icarus"
    assert v["tests"] == {"random_vectors": "PASS", "corner_cases": "PASS",
                          "no_stall_cycles": "PASS", "reset_mid_transfer": "PASS",
                          "user_tensors": "SKIP"}
    assert report["logs"]["verify"] == v["log"] and report["tool_seconds"]["verify"] > 0
    # the block synthesized once; that netlist verified, then linked into the harness, placed
    stages = [line for line in lines if line.startswith("[fpga] ") and line.endswith(" started")]
    assert stages == ["[fpga] synth: yosys started", "[fpga] harness: yosys started",
                      "[fpga] link: yosys started",
                      f"[fpga] pnr: {synth.TARGETS[target].pnr_tool} started",
                      f"[fpga] pack: {synth.TARGETS[target].pack_tool} started"]
    net = report["netlist"]
    assert Path(v["netlist"]) == Path(net["verilog"]).with_name(f"{cfg.module_name}_sim.v")
    assert Path(net["json"]) == Path(net["verilog"]).with_suffix(".json")
    # the linked netlist that was placed holds the harness and the verified block, cell for cell
    linked = yosys_cells(tmp_path / "yosys-stat.json", "top")
    harness = yosys_cells(tmp_path / "yosys-harness-stat.json", "top")
    assert harness.pop(cfg.module_name) == 1
    assert report["block_cells"] and linked == {
        c: harness.get(c, 0) + report["block_cells"].get(c, 0)
        for c in {*harness, *report["block_cells"]}}
    assert report["block_area"]["luts"] > 0
    assert any(line.startswith("[fpga] verify: passed, ") for line in lines)
    assert "**Gate-level verified:**" in (tmp_path / "report.md").read_text()
    assert report["block"] == "mxu" and report["config"] == cfg.to_dict()
    assert report["freq_target_mhz"] == synth.TARGETS[target].freq_mhz
    # the block survived synthesis: far more logic than the harness alone
    assert report["luts"] > 4 * report["harness"]["observed_bits"]


@pytest.mark.fpga
def test_synth_netlist_is_the_bare_block(tmp_path):
    info, cfg = load("mxu-2x2-int8")
    net = synth.synth_netlist(info, cfg, "ecp5-25k", tmp_path, progress=lambda line: None)
    text = net.verilog.read_text()
    assert net.verilog.name == f"{cfg.module_name}_net.v" and net.json.is_file()
    assert net.cells["TRELLIS_FF"] == net.area["ffs"] > 0
    assert f"module {cfg.module_name}(" in text and "TRELLIS_FF" in text
    assert "module top" not in text
    assert os.path.getsize(tmp_path / f"{cfg.module_name}_stat.json") > 0


# -- linking the verified netlist --

def test_blackbox_has_the_blocks_ports():
    info, cfg = load("mxu-2x2-int8")
    block = info.component(cfg)
    box = BlackBox(block, name=cfg.module_name)
    assert box.signature == block.signature
    text = verilog.convert(box, name="wrap", emit_src=False)
    inst = text[text.index(f"{cfg.module_name} block ("):]
    for port in ("clk", "rst", "i_cmd__payload", "i_cmd__valid", "i_cmd__ready", "o_c__payload",
                 "o_c__valid", "o_c__ready"):
        assert f".{port}(" in inst


def test_link_check_catches_a_changed_netlist():
    net = types.SimpleNamespace(top="blk", cells={"LUT4": 10, "TRELLIS_FF": 4})
    harness = {"blk": 1, "LUT4": 3}
    fpga._check_link({"LUT4": 13, "TRELLIS_FF": 4}, harness, net)
    with pytest.raises(HwgenError, match=r"^linking changed the netlist: cells \(expected, "
                                         r"linked\) \{'LUT4': \(13, 12\)\}$"):
        fpga._check_link({"LUT4": 12, "TRELLIS_FF": 4}, harness, net)
    with pytest.raises(HwgenError, match=r"^harness netlist has no black box 'blk'"):
        fpga._check_link({"LUT4": 13, "TRELLIS_FF": 4}, {"LUT4": 3}, net)


def test_yosys_script_hides_kept_cells():
    """A target's keep_cells become a black box for exactly the synth command: renamed before
    it (with hwgen's model as the port list), renamed back and the black box deleted after."""
    up5k = synth.TARGETS["ice40-up5k"]
    assert up5k.synth_keep == ("SB_MAC16",)
    lines = synth.yosys_script(up5k, "top", out="n", stat="s.json").splitlines()
    i_synth = lines.index("synth_ice40 -dsp -top top")
    assert lines[1] == "chtype -map SB_MAC16 HWGEN_KEEP_SB_MAC16"
    assert lines[2] == "read_verilog -lib <<EOT" and lines.index("EOT") < i_synth
    stub = "\n".join(lines[3:lines.index("EOT")])
    assert "module HWGEN_KEEP_SB_MAC16 (" in stub and "`ifndef SYNTHESIS" in stub
    assert lines[i_synth + 1:i_synth + 3] == ["chtype -map HWGEN_KEEP_SB_MAC16 SB_MAC16",
                                              "delete HWGEN_KEEP_SB_MAC16"]
    ecp5 = synth.TARGETS["ecp5-25k"]
    assert synth.yosys_script(ecp5, "top", out="n", stat="s.json").splitlines()[:2] == [
        "read_verilog top.v", "synth_ecp5 -top top"]
    with pytest.raises(HwgenError, match=r"no model fpga/models/NOPE\.v for the kept cell"):
        synth.keep_stub("NOPE")


def _mac16_params(netlist: Path) -> list[dict]:
    """The parameters of every SB_MAC16 in a Yosys JSON netlist."""
    cells = json.loads(netlist.read_text())["modules"]
    return [{k: int(v, 2) for k, v in c["parameters"].items()}
            for m in cells.values() for c in m["cells"].values() if c["type"] == "SB_MAC16"]


@pytest.mark.fpga
def test_hand_instantiated_sb_mac16_survives_synthesis(tmp_path):
    """The WS MXU's SB_MAC16s (registers and adder inside) come out of `synth_ice40 -dsp`
    configured as written. Without keep_cells Yosys 0.70's ice40_dsp re-derives them from the
    fabric and drops the registers and the C:D adder input — if a Yosys update stops doing
    that, the second half of this test says so (keep_cells could then go)."""
    info, cfg = load("mxu-2x2-int8")
    net = synth.synth_netlist(info, cfg, "ice40-up5k", tmp_path / "kept", progress=lambda s: None)
    params = _mac16_params(net.json)
    assert len(params) == 4 and net.cells.get("SB_MAC16") == 4
    for p in params:
        assert (p["A_REG"], p["B_REG"], p["PIPELINE_16x16_MULT_REG1"],
                p["PIPELINE_16x16_MULT_REG2"], p["TOPOUTPUT_SELECT"], p["BOTOUTPUT_SELECT"],
                p["TOPADDSUB_UPPERINPUT"], p["TOPADDSUB_CARRYSELECT"]) == (1, 1, 1, 1, 1, 1, 1, 2)
    bare = dataclasses.replace(synth.TARGETS["ice40-up5k"], synth_keep=())
    net = synth.synth_netlist(info, cfg, bare, tmp_path / "bare", progress=lambda s: None)
    assert any(p["A_REG"] == 0 or p["TOPOUTPUT_SELECT"] != 1 for p in _mac16_params(net.json))
