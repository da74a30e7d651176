"""FPGA targets (data from ``fpga/*.toml``) and synthesis of a block into a gate-level netlist."""

import dataclasses
import shutil
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from ..core.errors import HwgenError
from ..core.tech import Tech
from .emit import to_verilog
from .reports import AREA_KEYS, block_area, yosys_cells
from .tools import TOOLS, find_tool, run_tool

__all__ = ["Target", "TARGETS", "get_target", "Netlist", "synth_netlist", "yosys_script"]


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
    block_area_rules: dict

    @property
    def tools(self) -> tuple[str, ...]:
        return ("yosys", self.pnr_tool, self.pack_tool)

    @property
    def tech(self) -> Tech:
        """The elaboration hint every build for this target uses."""
        return Tech(family=self.family)


def _target_from_toml(name: str, data: dict, where: str) -> Target:
    def get(path):
        node = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise HwgenError(f"{where}: missing key {path!r}")
            node = node[part]
        return node

    report = get("report")
    for key in AREA_KEYS:
        src = report.get(key)
        if not isinstance(src, str) or src.partition(":")[0] not in ("nextpnr", "yosys"):
            raise HwgenError(f"{where}: report.{key} must be 'nextpnr:<cell>' or "
                             f"'yosys:<prefix>*', not {src!r}")
    rules = get("report.block")
    for key in AREA_KEYS:
        rule = rules.get(key)
        sums = rule if isinstance(rule, list) else [rule]
        if not sums or not all(isinstance(s, dict) and s and all(
                isinstance(w, int) for w in s.values()) for s in sums):
            raise HwgenError(f"{where}: report.block.{key} must be a table of cell weights or "
                             f"a list of them, not {rule!r}")
    for tool in (get("pnr.tool"), get("pack.tool")):
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
        io_type=data["pins"].get("io_type", ""),
        report_sources={k: report[k] for k in AREA_KEYS}, block_area_rules=dict(rules))


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


def yosys_script(target: Target, top: str, *, out: str, stat: str,
                 verilog: bool = True) -> str:
    """Synthesize ``<top>.v`` with the target's script; write ``<out>.json`` (the netlist that
    place and route reads), ``<out>.v`` (the same netlist as Verilog, for simulation) and a
    ``stat -json`` report — all from the one in-memory netlist."""
    lines = [f"read_verilog {top}.v", f"{target.synth_script} -top {top}",
             f"tee -q -o {stat} stat -json", f"write_json {out}.json"]
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
    """

    top: str
    target: Target
    verilog: Path
    json: Path
    cells: dict
    area: dict
    log: Path


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
    (out / script).write_text(yosys_script(tgt, name, out=f"{name}_net",
                                           stat=f"{name}_stat.json"))
    log = out / f"{name}_synth.log"
    run_tool("synth", "yosys", ["-s", script], cwd=out, log=log, progress=progress,
             verbose=verbose)
    cells = yosys_cells(out / f"{name}_stat.json", name)
    return Netlist(top=name, target=tgt, verilog=out / f"{name}_net.v",
                   json=out / f"{name}_net.json", cells=cells,
                   area=block_area(tgt.block_area_rules, cells), log=log)
