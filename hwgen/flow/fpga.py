"""FPGA build: synthesize the block → gate-level check of that netlist → link it, unchanged, into
the self-test top → nextpnr → icepack/ecppack; the report."""

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..core.errors import HwgenError
from . import gls
from .emit import to_verilog
from .harness import BlackBox, SelfTestTop
from .reports import critical_path, fmax, pnr_area, yosys_cells
from .sim import bench_path, failure_summary
from .synth import TARGETS, Netlist, Target, get_target, synth_netlist
from .templates import render
from .tools import find_tool, run_tool

__all__ = ["build", "synthesize", "Synthesized", "REPORT_KEYS", "VERIFY_SEED", "TARGETS"]

#: Keys every report returned by :func:`build` has.
REPORT_KEYS = ("target", "device", "package", "block", "config", "luts", "ffs", "dsps", "brams",
               "block_area", "block_cells", "synth_options", "fmax_mhz", "freq_target_mhz",
               "timing_met", "critical_path", "bitstream", "seed", "logs", "verified",
               "verified_transactions", "netlist")

#: Seed of the gate-level check ``build`` runs (fixed: a build is reproducible).
VERIFY_SEED = 1

_TOP = "top"


def _check_build_args(freq_mhz, seed):
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, int | float) or not freq_mhz > 0:
        raise HwgenError(f"FPGA frequency must be a positive number of MHz, not {freq_mhz!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise HwgenError(f"nextpnr seed must be a non-negative integer, not {seed!r}")


def _constraints(target: Target) -> str:
    leds = [{"port": f"led[{i}]", "pin": pin} for i, pin in enumerate(target.led_pins)]
    return render(target.constraints_template, version=__version__, target=target.name,
                  device=target.device, package=target.package, board=target.board,
                  clk={"port": "clk", "pin": target.clk_pin}, leds=leds,
                  io_type=target.io_type)


def _harness_script(target: Target, block: str, block_netlist: str) -> str:
    """Synthesize the self-test top around the block as a black box (its ports read from the
    block's netlist with ``-lib``: the block's cells are not read)."""
    return "\n".join([f"read_verilog -lib {block_netlist}", f"read_verilog {_TOP}_harness.v",
                      f"{target.synth_script} -top {_TOP}",
                      "tee -q -o yosys-harness-stat.json stat -json",
                      f"write_json {_TOP}_harness.json"]) + "\n"


def _link_script(block_json: str) -> str:
    """Link the block's netlist into the harness netlist as it is: no synthesis or optimization
    pass runs after the two are read, only the hierarchy is flattened."""
    return "\n".join([f"read_json {_TOP}_harness.json",
                      # the harness's black-box stand-in for the block and the cell library's
                      # boxes (the block's netlist brings the same library boxes again)
                      "delete =A:blackbox",
                      f"read_json {block_json}", f"hierarchy -top {_TOP}",
                      "flatten -noscopeinfo", "tee -q -o yosys-stat.json stat -json",
                      f"write_json {_TOP}.json"]) + "\n"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Synthesized:
    """The block's netlist for a target and, if it ran, its gate-level check (a summary dict);
    :func:`build` can place it again and again (other seeds, clocks) without resynthesis."""

    netlist: Netlist
    verification: dict | None
    seconds: float


def synthesize(info, cfg, target, outdir, *, verify=True,
               progress: Callable[[str], None] = print, verbose=False) -> Synthesized:
    """Steps 1 and 2 of :func:`build`: the block's netlist in ``outdir/block/`` and, with
    ``verify``, its gate-level check in ``outdir/verify/``."""
    tgt = get_target(target)
    find_tool("yosys")
    if verify:
        gls.check_tools(tgt)
        bench_path(info)
    out = Path(outdir).resolve()
    name = cfg.module_name
    progress(f"[fpga] elaborate: {info.name} {name} for {tgt.name} ({tgt.family})")
    (out / "block").mkdir(parents=True, exist_ok=True)
    (out / "block" / f"{name}.v").write_text(to_verilog(info.component(cfg), name, tgt.tech))
    start = time.monotonic()
    net = synth_netlist(info, cfg, tgt, out / "block", rtl=out / "block" / f"{name}.v",
                        progress=progress, verbose=verbose)
    seconds = time.monotonic() - start
    verification = None
    if verify:
        verification = _verify(info, cfg, tgt, net, out / "verify", progress)
    else:
        progress(f"[fpga] WARNING: gate-level verification skipped (verify=False): the "
                 f"{tgt.name} bitstream of {name} is UNVERIFIED")
    return Synthesized(netlist=net, verification=verification, seconds=seconds)


def build(info, cfg, target, *, freq_mhz=None, seed=1, outdir, report_path=None,
          verify=True, synthesized: Synthesized | None = None,
          progress: Callable[[str], None] = print, verbose=False,
          pnr_time_limit_s: float | None = None) -> dict:
    """Build ``cfg``'s block inside :class:`SelfTestTop` for ``target``; return the report.

    1. **synth**: the block, elaborated for the target, is synthesized alone
       (``synth_netlist``, in ``outdir/block/``) into one netlist, written as JSON and Verilog.
    2. **verify** (with ``verify``): that netlist runs the block's cocotb bench against its
       golden model in Icarus with the family's cell models (``hwgen.flow.gls.run``, seed
       :data:`VERIFY_SEED`, in ``outdir/verify/``). A failure raises ``HwgenError`` with the
       first mismatching transaction; nothing is placed.
    3. **harness**: the self-test top is synthesized around the block as a black box, then
       **link**: the block's netlist JSON is read in unchanged and the hierarchy flattened —
       no pass optimizes the block again, so the netlist placed is the one verified.
    4. **pnr**, **pack**: nextpnr (``--timing-allow-fail``), then the bitstream.

    Writes into ``outdir``: ``top_harness.v``, the constraints, the Yosys scripts, ``top.json``
    (the linked netlist), nextpnr's output and ``nextpnr-report.json``, the bitstream, one log
    per tool run, ``report.json`` and ``report.md``; ``report_path``, if given, gets a copy of
    the JSON report.

    Parameters
    ----------
    info, cfg
        As returned by ``hwgen.blocks.load``.
    target : str or Target
        A key of :data:`TARGETS`.
    freq_mhz : float, optional
        Timing constraint for nextpnr; the target's ``freq_mhz`` by default.
    seed : int
        nextpnr placement seed.
    verify : bool
        Run the gate-level check (report ``verified``, ``verified_transactions``); without it
        the report says ``verified: false`` and ``progress`` gets a warning.
    synthesized : Synthesized, optional
        Steps 1 and 2 done already (:func:`synthesize`, same block and target): place that
        netlist (``verify`` is then ignored; the report carries its verification).
    progress : callable
        Receives one line per stage start/end and a heartbeat every 10 s; with ``verbose``,
        also the command lines and every line of tool output.
    pnr_time_limit_s : float, optional
        Stop place and route after this many seconds (an error: a router that does not
        converge otherwise holds the build indefinitely).

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
    if verify and synthesized is None:
        gls.check_tools(tgt)
        bench_path(info)
    if synthesized is not None and (synthesized.netlist.target.name != tgt.name
                                    or synthesized.netlist.top != cfg.module_name):
        raise HwgenError(f"synthesized netlist {synthesized.netlist.json} is of "
                         f"{synthesized.netlist.top} for {synthesized.netlist.target.name}, not "
                         f"of {cfg.module_name} for {tgt.name}")
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    name = cfg.module_name
    pnr_out = f"{_TOP}.{tgt.pnr_output_ext}"
    bitstream = out / f"{_TOP}.{tgt.bitstream_ext}"
    # Outputs of an earlier run must not pass for this run's.
    for stale in (f"{_TOP}_harness.json", f"{_TOP}.json", "yosys-stat.json",
                  "yosys-harness-stat.json",
                  "nextpnr-report.json", pnr_out, bitstream.name, "report.json", "report.md"):
        (out / stale).unlink(missing_ok=True)
    logs: dict[str, Path] = {}
    seconds: dict[str, float] = {}

    if synthesized is None:
        synthesized = synthesize(info, cfg, tgt, out, verify=verify, progress=progress,
                                 verbose=verbose)
        seconds["synth"] = synthesized.seconds
    net, verification = synthesized.netlist, synthesized.verification
    logs["synth"] = net.log
    if verification is not None:
        seconds["verify"] = verification["seconds"]
        logs["verify"] = Path(verification["log"])

    block = info.component(cfg)
    top = SelfTestTop(BlackBox(block, name=name), signature_width=len(tgt.led_pins))
    (out / f"{_TOP}_harness.v").write_text(to_verilog(top, _TOP, tgt.tech))
    cons = f"{_TOP}.{tgt.constraints_ext}"
    (out / cons).write_text(_constraints(tgt))
    block_v = _relative(net.verilog, out)
    block_json = _relative(net.json, out)
    (out / "harness.ys").write_text(_harness_script(tgt, name, block_v))
    (out / "link.ys").write_text(_link_script(block_json))
    run = {"cwd": out, "progress": progress, "verbose": verbose}
    logs["harness"] = out / "yosys-harness.log"
    seconds["harness"] = run_tool("harness", "yosys", ["-s", "harness.ys"],
                                  log=logs["harness"], **run)
    logs["link"] = out / "yosys-link.log"
    seconds["link"] = run_tool("link", "yosys", ["-s", "link.ys"], log=logs["link"], **run)
    cells = yosys_cells(out / "yosys-stat.json", _TOP)
    _check_link(cells, yosys_cells(out / "yosys-harness-stat.json", _TOP), net)

    pnr_args = [*tgt.pnr_args, "--json", f"{_TOP}.json", tgt.constraints_flag, cons,
                tgt.pnr_output_flag, pnr_out, "--freq", f"{freq:g}", "--seed", str(seed),
                "--report", "nextpnr-report.json", "--timing-allow-fail"]
    logs["pnr"] = out / "nextpnr.log"
    seconds["pnr"] = run_tool("pnr", tgt.pnr_tool, pnr_args, log=logs["pnr"],
                              time_limit_s=pnr_time_limit_s, **run)
    logs["pack"] = out / "pack.log"
    seconds["pack"] = run_tool("pack", tgt.pack_tool, [*tgt.pack_args, pnr_out, bitstream.name],
                               log=logs["pack"], **run)
    if not bitstream.is_file() or bitstream.stat().st_size == 0:
        raise HwgenError(f"{tgt.pack_tool} wrote no bitstream {bitstream} (log: {logs['pack']})")

    pnr_report = json.loads((out / "nextpnr-report.json").read_text())
    util = pnr_report.get("utilization", {})
    f_max = fmax(pnr_report)
    lut_src = tgt.report_sources["luts"]
    report = {
        "target": tgt.name,
        "device": tgt.device,
        "package": tgt.package,
        "block": info.name,
        "config": cfg.to_dict(),
        "module": name,
        **pnr_area(tgt.report_sources, util, cells),
        "luts_available": (int(util.get(lut_src.partition(":")[2], {}).get("available", 0))
                           if lut_src.startswith("nextpnr:") else None),
        "block_area": net.area,
        "block_cells": net.cells,
        "synth_options": net.options,
        "fmax_mhz": f_max,
        "freq_target_mhz": float(freq),
        "timing_met": f_max is not None and f_max >= freq,
        "critical_path": critical_path(pnr_report),
        "bitstream": str(bitstream),
        "seed": seed,
        "logs": {stage: str(path) for stage, path in logs.items()},
        "tool_seconds": {stage: round(s, 2) for stage, s in seconds.items()},
        "elapsed_s": round(time.monotonic() - t0, 2),
        "utilization": {cell: u for cell, u in sorted(util.items()) if u.get("used")},
        "yosys_cells": cells,
        "harness": {"stimulus_bits": top.stimulus_bits, "observed_bits": top.observed_bits,
                    "signature_width": top.signature_width},
        "netlist": {"verilog": str(net.verilog), "json": str(net.json),
                    "linked": str(out / f"{_TOP}.json")},
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
                                          module=name, sources=tgt.report_sources))
    fmax_text = f"{f_max:.1f}" if f_max is not None else "n/a"
    progress(f"[fpga] {tgt.name}: {report['luts']} LUTs, {report['ffs']} FFs, "
             f"{report['dsps']} DSPs, {report['brams']} BRAMs, Fmax {fmax_text} MHz "
             f"(target {freq:g}, {'met' if report['timing_met'] else 'NOT met'}), "
             + (f"gate-level verified ({report['verified_transactions']} transactions), "
                if verification else "UNVERIFIED, ")
             + f"{report['elapsed_s']:.1f} s")
    return report


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (YoWASP tools see only the tree they run in): a file
    outside it is copied in first."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        copy = root / "block" / path.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(path.read_bytes())
        return str(copy.relative_to(root))


def _check_link(linked: dict, harness: dict, net) -> None:
    """The linked design must hold the harness's cells and the block's netlist, cell for cell
    (Yosys cell counts by type): linking re-optimized nothing."""
    expect = dict(harness)
    if expect.pop(net.top, 0) != 1:
        raise HwgenError(f"harness netlist has no black box {net.top!r}; cannot link the block")
    for cell, n in net.cells.items():
        expect[cell] = expect.get(cell, 0) + n
    if linked != expect:
        diff = {c: (expect.get(c, 0), linked.get(c, 0)) for c in sorted({*expect, *linked})
                if expect.get(c, 0) != linked.get(c, 0)}
        raise HwgenError(f"linking changed the netlist: cells (expected, linked) {diff}")


def _verify(info, cfg, tgt: Target, net, workdir: Path, progress) -> dict:
    """The gate-level check of :func:`build` on ``net``: its summary, or ``HwgenError``."""
    progress(f"[fpga] verify: gate-level simulation of the {tgt.name} netlist of "
             f"{cfg.module_name} (Icarus, Yosys' {tgt.family} cell models, seed {VERIFY_SEED})")
    res = gls.run(info, cfg, tgt, seed=VERIFY_SEED, netlist=net, workdir=workdir,
                  progress=progress)
    if not res["ok"] or res["transactions"] == 0:
        why = failure_summary(res) if not res["ok"] else "no result was checked"
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
