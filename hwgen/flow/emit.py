"""Config → Verilog, manifest JSON and FuseSoC core, written atomically into one directory."""

import json
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import stream, wiring

from .. import __version__
from ..core.errors import HwgenError
from ..core.streams import describe_layout
from .targets import get_target
from .templates import render

__all__ = ["ports_of", "manifest", "to_verilog", "PRIMITIVES", "primitive_models",
           "primitive_models_all", "emit", "write_atomically"]

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def ports_of(component: wiring.Component) -> list[dict]:
    """Every port of ``component`` with direction, Verilog names, width and payload layout."""
    ports = [
        {"name": "clk", "kind": "clock", "direction": "in", "width": 1, "signal": "clk"},
        {"name": "rst", "kind": "reset", "direction": "in", "width": 1, "signal": "rst"},
    ]
    for name, member in component.signature.members.items():
        sig = member.signature if member.is_signature else None
        if isinstance(sig, wiring.FlippedSignature):
            sig = sig.flip()
        if isinstance(sig, stream.Signature):
            # In(stream.Signature): the component consumes the stream.
            direction = "in" if member.flow == wiring.In else "out"
            layout = describe_layout(sig.members["payload"].shape)
            ports.append({
                "name": name, "kind": "stream", "direction": direction,
                "width": layout["width"], "payload": layout,
                "signals": {"valid": f"{name}__valid", "ready": f"{name}__ready",
                            "payload": f"{name}__payload"},
            })
        elif member.is_port:
            layout = describe_layout(member.shape)
            ports.append({"name": name, "kind": "port",
                          "direction": "in" if member.flow == wiring.In else "out",
                          "width": layout["width"], "payload": layout, "signal": name})
        else:
            raise TypeError(f"port {name!r}: only streams and plain ports are supported")
    return ports


def manifest(info, cfg, component) -> dict:
    return {
        "hwgen_version": __version__,
        "block": info.name,
        "name": cfg.module_name,
        "top": cfg.module_name,
        "config": cfg.to_dict(),
        "describe": info.describe(cfg).line,
        "derived": info.describe(cfg).facts,
        "clock": "clk",
        "reset": {"signal": "rst", "active": "high", "sync": True},
        "ports": ports_of(component),
        "model": info.model(cfg),
        "tensors": info.tensors.describe(cfg),
        "cycles_from": info.transactions.start,
    }


def to_verilog(component, name: str, tech=None) -> str:
    """Verilog of ``component``; ``tech`` (a ``core.tech.Tech``) selects target primitives."""
    return verilog.convert(component, name=name, emit_src=False, platform=tech)


#: The primitives each family's RTL may instantiate by hand (a model ``fpga/models/<name>.v`` each).
PRIMITIVES = {"ecp5": ("DP16KD", "MULT18X18D"), "ice40": ("SB_MAC16",)}


def primitive_models(tech) -> list[Path]:
    """Simulation models (``fpga/models/*.v``) of the primitives ``tech``-flavoured RTL may
    instantiate; empty for generic RTL."""
    if tech is None or tech.family == "generic":
        return []
    return [p for p in primitive_models_all() if p.stem in PRIMITIVES.get(tech.family, ())]


def primitive_models_all() -> list[Path]:
    """Every model in ``fpga/models/``."""
    root = Path(str(resources.files("hwgen") / "fpga_targets" / "models"))
    return sorted(root.glob("*.v"))


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
    some of them (ECP5's ``TRELLIS_COMB``, a nextpnr cell no netlist holds); a file left with no
    module is left out.
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
        lines, mine = [], 0
        for item in items:
            if isinstance(item, str):
                lines.append(item)
            elif item[0] in want and item[0] not in kept:
                kept.add(item[0])
                lines += item[1]
                mine += 1
        if mine:                    # a file none of whose modules is used is left out
            out.append((path.name, "\n".join(lines) + "\n"))
    return out


def write_atomically(outdir: Path, files: dict[str, str]) -> list[Path]:
    """Write every file or none: render into a temp dir beside ``outdir``, then move in."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(dir=outdir, prefix=".hwgen-") as tmp:
        for fname, text in files.items():
            (Path(tmp) / fname).write_text(text)
        for fname in files:
            dst = outdir / fname
            shutil.move(str(Path(tmp) / fname), dst)
            written.append(dst)
    return written


def emit(info, cfg, outdir, *, target=None, tech=None) -> dict:
    """Elaborate ``cfg`` and write ``<name>.v``, ``<name>.json``, ``<name>.core``, ``files.f``.

    ``target`` (an FPGA target name such as ``"ecp5-25k"``, or a ``targets.Target``) elaborates
    the block exactly as ``hwgen fpga --target`` does: the target family's hand-instantiated
    primitives (e.g. ECP5 MULT18X18D with its registers, DP16KD with its output registers)
    instead of generic RTL. The simulation models of the primitives the Verilog instantiates
    are written beside it (``<PRIMITIVE>.v``) and listed in ``files.f`` (before the design) and in
    the FuseSoC core (fileset ``sim_models``, used by its ``sim`` target only: synthesis tools
    know the primitives). ``tech`` (a ``core.tech.Tech``) is the family alone, for callers
    without a target. Without either the Verilog is generic (portable, not target-tuned).

    Everything is generated in memory first, so an elaboration error writes nothing.
    Returns the manifest (with ``files`` added; ``target`` and ``tech`` record the elaboration).
    """
    tgt = None
    if target is not None:
        tgt = get_target(target)
        if tech is not None and tech.family != tgt.tech.family:
            raise HwgenError(f"tech {tech.family!r} contradicts target {tgt.name!r} "
                             f"(family {tgt.family!r})")
        tech = tgt.tech
    name = cfg.module_name
    component = info.component(cfg)
    man = manifest(info, cfg, component)
    man["tech"] = tech.family if tech is not None else "generic"
    man["target"] = tgt.name if tgt is not None else None
    rtl = to_verilog(component, name, tech)
    models = models_for(rtl, primitive_models(tech))
    # hand-configured cells the target's synth command must not re-map (Target.synth_keep)
    man["synth_keep"] = [c for c in (tgt.synth_keep if tgt is not None else ())
                         if f"{c}.v" in dict(models)]
    core = render("fusesoc.core.j2", name=name, block=info.name, version=__version__,
                  summary=info.summary, config=cfg.to_dict(), target=man["target"],
                  tech=man["tech"], models=[fname for fname, _ in models],
                  keep=man["synth_keep"])
    man["files"] = {"verilog": f"{name}.v", "manifest": f"{name}.json", "core": f"{name}.core",
                    "models": [fname for fname, _ in models]}
    files = {f"{name}.v": rtl, f"{name}.json": json.dumps(man, indent=2) + "\n",
             f"{name}.core": core, **dict(models),
             "files.f": "".join(f"{f}\n" for f in [*man["files"]["models"], f"{name}.v"])}
    write_atomically(Path(outdir), files)
    return man
