"""Gate-level simulation: a block's post-synthesis netlist, with the FPGA family's cell models,
runs the block's cocotb bench against its golden model (the edalize ``flows/gls`` idea).

``run`` synthesizes (``hwgen.flow.synth``), prepares the netlist for Icarus (cell models cut to
what it uses, open ports tied to their defaults, ports checked against the manifest) and hands
it to ``hwgen.flow.sim.run`` as a prepared ``Design``.
"""

import re
from collections.abc import Callable
from pathlib import Path

from ..core.errors import HwgenError
from ..core.tech import Tech
from ..core.tensors import check_writable
from .emit import _INSTANCE, _MODULE_START, emit, models_for, primitive_models
from .sim import TIMEOUT_S, Design
from .sim import run as sim_run
from .synth import Netlist, Target, get_target, synth_netlist
from .tools import find_simulator, find_tool, yosys_share

__all__ = ["run", "prepare", "CELL_MODELS", "NETLIST_VECTORS", "cell_models", "port_defaults",
           "models_for", "tie_open_ports", "check_netlist_ports"]

#: Per FPGA family: Yosys' cell models (a path inside its share directory) and the defines
#: Icarus needs to read them. Icarus 11 cannot parse the default values the iCE40 models give
#: some input ports (``input I0 = 1'b0``), so they are turned off and :func:`tie_open_ports`
#: connects those ports in the netlist instead. The third field says whether Yosys' model of a
#: primitive wins over hwgen's own (``fpga/models/``): on iCE40 it does, so a netlist's
#: SB_MAC16 is simulated by a model independent of the one the RTL simulations use; on ECP5
#: hwgen's models win (Yosys has no MULT18X18D model).
CELL_MODELS = {
    "ice40": ("ice40/cells_sim.v", {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1}, True),
    "ecp5": ("ecp5/cells_sim.v", {}, False),
}

#: ``HWGEN_VECTORS`` of a gate-level run unless ``vectors`` is given (gate-level is slow).
NETLIST_VECTORS = 2


def cell_models(family: str) -> tuple[list[Path], dict]:
    """``(files, defines)`` that simulate a ``family`` netlist in Icarus.

    The files are hwgen's models of the primitives its RTL instantiates by hand
    (``fpga/models/``, e.g. MULT18X18D, which Yosys has no model of) and Yosys' cell models
    for the family (:data:`CELL_MODELS`, from the share directory of the Yosys hwgen runs), in
    the order of precedence :data:`CELL_MODELS` gives (:func:`models_for` keeps a module's
    first definition and cuts the files down to what a netlist uses).
    """
    if family not in CELL_MODELS:
        raise HwgenError(f"no gate-level cell models for FPGA family {family!r}; families with "
                         f"models: {', '.join(sorted(CELL_MODELS))}")
    rel, defines, yosys_first = CELL_MODELS[family]
    path = yosys_share() / rel
    if not path.is_file():
        raise HwgenError(f"Yosys' {family} cell models {str(path)!r} do not exist")
    own = primitive_models(Tech(family=family))
    return ([path, *own] if yosys_first else [*own, path]), dict(defines)


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


def check_tools(target: Target) -> None:
    """Fail now, before any work, if a tool of a gate-level run of ``target`` is missing."""
    find_simulator("icarus")
    find_tool("yosys")
    cell_models(target.family)


def prepare(netlist: Netlist, manifest: dict, manifest_path: Path, workdir: Path,
            progress: Callable[[str], None]) -> Design:
    """The :class:`~hwgen.flow.sim.Design` that simulates ``netlist``: its ports checked against
    the manifest, the cell models it uses copied to ``workdir/models/``, and open cell ports tied
    to their model defaults in a copy (``<name>_sim.v``)."""
    target = netlist.target
    text = netlist.verilog.read_text()
    check_netlist_ports(text, netlist.top, manifest, where=str(netlist.verilog))
    files, defines = cell_models(target.family)
    used = models_for(text, files)
    models: list[Path] = []
    defaults: dict[str, dict[str, str]] = {}
    for fname, model in used:
        models.append(Path(workdir) / "models" / fname)
        models[-1].parent.mkdir(parents=True, exist_ok=True)
        models[-1].write_text(model)
        for cell, ports in port_defaults(model).items():
            defaults.setdefault(cell, ports)
    text, tied = tie_open_ports(text, defaults)
    design = netlist.verilog.with_name(f"{netlist.top}_sim.v")
    design.write_text(text)
    progress(f"[sim] gate-level: {netlist.verilog.name} with "
             f"{', '.join(fname for fname, _ in used)}"
             + (f"; {tied} open ports tied to their model defaults" if tied else ""))
    return Design(top=netlist.top, manifest=Path(manifest_path), sources=[design, *models],
                  defines=defines, label=f"{target.name} netlist",
                  env={"HWGEN_NETLIST": target.name})


def run(info, cfg, target, *, seed: int | None = None, vectors: int | None = None,
        workdir=None, netlist: Netlist | None = None, testcase=None, waves: bool = False,
        inputs=None, outputs=None, timeout_s: float = TIMEOUT_S,
        progress: Callable[[str], None] | None = None) -> dict:
    """Run the block's cocotb bench on its post-synthesis netlist for ``target`` (Icarus).

    The block is emitted as a build for ``target`` elaborates it (``target.tech``) into
    ``<workdir>/rtl/`` and synthesized with the target's Yosys script into ``<workdir>/synth/``
    — or ``netlist`` (from ``hwgen.flow.synth.synth_netlist`` of the same elaboration) is
    simulated as it is. ``vectors`` defaults to :data:`NETLIST_VECTORS`; ``inputs``,
    ``outputs``, ``testcase``, ``waves`` and ``timeout_s`` are those of ``sim.run``. Returns
    ``hwgen.flow.sim.run``'s result with ``netlist`` (the simulated file) and ``target``.
    """
    tgt = get_target(target)
    say = progress if progress is not None else (lambda line: None)
    check_tools(tgt)
    if inputs is not None:                   # fail before synthesis (sim.run checks again)
        info.read_inputs(cfg, inputs)
        if outputs is not None:
            check_writable(outputs, "outputs file")
    if workdir is None:
        workdir = Path("build") / cfg.module_name / f"sim-netlist-{tgt.name}"
    workdir = Path(workdir).resolve()
    if workdir.exists() and not workdir.is_dir():
        raise HwgenError(f"work directory {str(workdir)!r} exists and is not a directory")
    man = emit(info, cfg, workdir / "rtl", tech=tgt.tech)
    manifest_path = workdir / "rtl" / man["files"]["manifest"]
    if netlist is None:
        say(f"[sim] gate-level: {man['top']} synthesized for {tgt.name} ({tgt.synth_script})")
        netlist = synth_netlist(info, cfg, tgt, workdir / "synth",
                                rtl=workdir / "rtl" / man["files"]["verilog"], progress=say)
    elif netlist.target.name != tgt.name or netlist.top != man["top"]:
        raise HwgenError(f"netlist {netlist.verilog} is of {netlist.top} for "
                         f"{netlist.target.name}, not of {man['top']} for {tgt.name}")
    design = prepare(netlist, man, manifest_path, workdir, say)
    res = sim_run(info, cfg, simulator="icarus", seed=seed,
                  vectors=NETLIST_VECTORS if vectors is None else vectors, workdir=workdir,
                  design=design, testcase=testcase, waves=waves, inputs=inputs,
                  outputs=outputs, timeout_s=timeout_s, progress=progress)
    return {**res, "netlist": str(design.sources[0]), "target": tgt.name}
