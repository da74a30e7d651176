"""Synthesis of a block into a gate-level netlist for an FPGA target (the targets themselves
are ``hwgen.flow.targets``, re-exported here)."""

import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from ..core.errors import HwgenError
from .emit import primitive_models_all, to_verilog
from .reports import block_area, yosys_cells
from .targets import TARGETS, Target, get_target
from .tools import ABC_CRASH, find_tool, run_tool

__all__ = ["Target", "TARGETS", "get_target", "Netlist", "synth_netlist", "yosys_script"]


#: Prefix of the black-box type a kept cell has while the synth command runs.
KEEP_PREFIX = "HWGEN_KEEP_"


def keep_stub(cell: str) -> str:
    """The black box a kept ``cell`` (``Target.synth_keep``) is renamed to during synthesis:
    hwgen's model of it (``fpga/models/<cell>.v``, its simulation-only checks left out under
    Yosys' ``SYNTHESIS`` define) under the name ``HWGEN_KEEP_<cell>``."""
    paths = [p for p in primitive_models_all() if p.stem == cell]
    if not paths:
        raise HwgenError(f"no model fpga/models/{cell}.v for the kept cell {cell!r}")
    path = paths[0]
    text = path.read_text()
    if not re.search(rf"^module {cell}\b", text, re.M) or re.search(r"^EOT$", text, re.M):
        raise HwgenError(f"{path}: expected one `module {cell}` and no line `EOT`")
    return re.sub(rf"^module {cell}\b", f"module {KEEP_PREFIX}{cell}", text, count=1, flags=re.M)


def yosys_script(target: Target, top: str, *, out: str, stat: str,
                 verilog: bool = True, options: str = "") -> str:
    """Synthesize ``<top>.v`` with the target's script; write ``<out>.json`` (the netlist that
    place and route reads), ``<out>.v`` (the same netlist as Verilog, for simulation) and a
    ``stat -json`` report — all from the one in-memory netlist.

    The target's ``keep_cells`` (hand-instantiated primitives the synth command would
    re-configure) are renamed to black boxes (:func:`keep_stub`) around the synth command."""
    keep = target.synth_keep
    lines = [f"read_verilog {top}.v"]
    for cell in keep:
        lines += [f"chtype -map {cell} {KEEP_PREFIX}{cell}", "read_verilog -lib <<EOT",
                  keep_stub(cell).rstrip("\n"), "EOT"]
    lines.append(f"{target.synth_script} -top {top}" + (f" {options}" if options else ""))
    for cell in keep:           # back to the real cell; the black box goes
        lines += [f"chtype -map {KEEP_PREFIX}{cell} {cell}", f"delete {KEEP_PREFIX}{cell}"]
    lines += [f"tee -q -o {stat} stat -json", f"write_json {out}.json"]
    if verilog:
        lines.append(f"write_verilog -noattr {out}.v")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Netlist:
    """A block synthesized for a target.

    Members
    -------
    top : str
        The block's module name (kept by synthesis, with every port).
    target : Target
    verilog : Path
        ``write_verilog -noattr`` of the netlist (what gate-level simulation runs).
    json : Path
        ``write_json`` of the same netlist (what ``hwgen fpga`` places and routes).
    cells : dict
        Yosys cell counts; ``area`` the target's figures from them (``[report.block]``).
    log : Path
    options : str
        Options added to the target's synth command: its ``retry_after_abc_crash`` when the
        first run hit the known ABC crash, else empty.
    """

    top: str
    target: Target
    verilog: Path
    json: Path
    cells: dict
    area: dict
    log: Path
    options: str = ""


def synth_netlist(info, cfg, target, outdir, *, rtl=None,
                  progress: Callable[[str], None] = print, verbose=False) -> Netlist:
    """Synthesize the bare block (no harness) for ``target`` with Yosys.

    The block is elaborated for the target (``target.tech`` as the platform), unless ``rtl``
    names a Verilog file of that same elaboration (what ``emit(..., tech=target.tech)`` wrote).
    Writes ``<name>.v``, ``<name>_synth.ys``, ``<name>_synth.log``, ``<name>_stat.json``,
    ``<name>_net.json`` and ``<name>_net.v`` into ``outdir``.
    """
    tgt = get_target(target)
    find_tool("yosys")
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    name = cfg.module_name
    for stale in (f"{name}_net.v", f"{name}_net.json", f"{name}_stat.json"):
        (out / stale).unlink(missing_ok=True)
    if rtl is None:
        (out / f"{name}.v").write_text(to_verilog(info.component(cfg), name, tgt.tech))
    elif Path(rtl).resolve() != out / f"{name}.v":
        shutil.copyfile(rtl, out / f"{name}.v")
    script = f"{name}_synth.ys"
    log = out / f"{name}_synth.log"
    options = ""
    while True:
        (out / script).write_text(yosys_script(tgt, name, out=f"{name}_net",
                                               stat=f"{name}_stat.json", options=options))
        try:
            run_tool("synth", "yosys", ["-s", script], cwd=out, log=log, progress=progress,
                     verbose=verbose)
            break
        except HwgenError as e:
            if options or not tgt.synth_retry or ABC_CRASH not in str(e):
                raise
            # the known ABC crash of Yosys 0.70 (docs/fpga.md): once more with the target's
            # retry options; the crashed run's log is kept beside the new one
            options = tgt.synth_retry
            shutil.move(log, out / f"{name}_synth_abc_crash.log")
            progress(f"[fpga] synth: {e}; retrying with `{tgt.synth_script} {options}`")
    cells = yosys_cells(out / f"{name}_stat.json", name)
    return Netlist(top=name, target=tgt, verilog=out / f"{name}_net.v",
                   json=out / f"{name}_net.json", cells=cells,
                   area=block_area(tgt.block_area_rules, cells), log=log, options=options)
