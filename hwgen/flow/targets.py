"""FPGA targets: the data of ``fpga_targets/*.toml`` (device, tools, pins, report rules) as
:class:`Target` objects. Emission (``emit(..., target=)``), synthesis, place and route read them."""

import dataclasses
import tomllib
from importlib import resources

from ..core.errors import HwgenError
from ..core.tech import Tech
from .reports import AREA_KEYS
from .tools import TOOLS

__all__ = ["Target", "TARGETS", "get_target"]


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
    synth_retry: str
    synth_keep: tuple = ()
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
    keep = data["synth"].get("keep_cells", [])
    if not isinstance(keep, list) or not all(isinstance(c, str) and c.isidentifier() for c in keep):
        raise HwgenError(f"{where}: synth.keep_cells must be a list of cell names, not {keep!r}")
    for tool in (get("pnr.tool"), get("pack.tool")):
        if tool not in TOOLS:
            raise HwgenError(f"{where}: unknown tool {tool!r}; known tools: {', '.join(TOOLS)}")
    return Target(
        name=name, description=get("description"), family=get("family"), device=get("device"),
        package=get("package"), board=get("board"), freq_mhz=float(get("freq_mhz")),
        synth_script=get("synth.script"),
        synth_retry=str(data["synth"].get("retry_after_abc_crash", "")),
        synth_keep=tuple(keep), pnr_tool=get("pnr.tool"),
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
