"""Config → Verilog, manifest JSON and FuseSoC core, written atomically into one directory."""

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import stream, wiring

from .. import __version__
from ..core.streams import describe_layout
from .templates import render

__all__ = ["ports_of", "manifest", "to_verilog", "primitive_models", "emit", "write_atomically"]

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


def primitive_models(tech) -> list[Path]:
    """Simulation models (``fpga/models/*.v``) of the primitives ``tech``-flavoured RTL may
    instantiate; empty for generic RTL."""
    if tech is None or tech.family == "generic":
        return []
    root = Path(str(resources.files("hwgen") / "fpga_targets" / "models"))
    return sorted(root.glob("*.v"))


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


def emit(info, cfg, outdir, *, tech=None) -> dict:
    """Elaborate ``cfg`` and write ``<name>.v``, ``<name>.json``, ``<name>.core``, ``files.f``.

    Everything is generated in memory first, so an elaboration error writes nothing.
    Returns the manifest (with ``files`` added).
    """
    name = cfg.module_name
    component = info.component(cfg)
    man = manifest(info, cfg, component)
    man["tech"] = tech.family if tech is not None else "generic"
    rtl = to_verilog(component, name, tech)
    core = render("fusesoc.core.j2", name=name, block=info.name, version=__version__,
                  summary=info.summary, config=cfg.to_dict())
    man["files"] = {"verilog": f"{name}.v", "manifest": f"{name}.json", "core": f"{name}.core"}
    files = {f"{name}.v": rtl, f"{name}.json": json.dumps(man, indent=2) + "\n",
             f"{name}.core": core, "files.f": f"{name}.v\n"}
    write_atomically(Path(outdir), files)
    return man
