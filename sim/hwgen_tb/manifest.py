"""The design manifest (``<name>.json`` from ``hwgen.flow.emit``): ports bound by name."""

import dataclasses
import json
import os
from pathlib import Path

from hwgen.core.streams import pack, unpack

__all__ = ["Manifest", "Port"]


@dataclasses.dataclass(frozen=True)
class Port:
    """One stream port of the manifest.

    Members
    -------
    name : str
        Port name (``i_a``, ``o_c``).
    direction : "in" | "out"
        ``in``: the design consumes the stream (the bench drives it).
    width : int
        Payload bits.
    layout : dict
        Payload layout as described by ``hwgen.core.streams.describe_layout``.
    signals : dict
        Verilog names of ``valid``, ``ready`` and ``payload``.
    """

    name: str
    direction: str
    width: int
    layout: dict
    signals: dict

    def pack(self, value) -> int:
        """Pack a Python value (int / list / dict shaped like the layout) into payload bits."""
        try:
            return pack(self.layout, value)
        except ValueError as e:
            raise ValueError(f"{self.name}: cannot pack {value!r}: {e}") from e

    def unpack(self, raw: int):
        """Payload bits as a Python value (ints, lists for arrays, dicts for structs)."""
        return unpack(self.layout, raw)

    def handles(self, dut) -> tuple:
        """The DUT handles ``(valid, ready, payload)``; ``AttributeError`` names a missing one."""
        out = []
        for key in ("valid", "ready", "payload"):
            sig = self.signals[key]
            try:
                out.append(getattr(dut, sig))
            except AttributeError as e:
                raise AttributeError(f"port {self.name!r}: the design has no signal {sig!r} "
                                     f"(manifest and Verilog out of sync?)") from e
        return tuple(out)


class Manifest:
    """A loaded manifest; ``path`` defaults to the ``HWGEN_MANIFEST`` environment variable.

    Members
    -------
    path : Path
    data : dict
        The whole JSON document.
    name, block : str
        Verilog module name and registry block name.
    config : dict
        The config as ``cfg.to_dict()``.
    ports : dict[str, Port]
        Every stream port by name, in manifest order.
    """

    def __init__(self, path=None):
        if path is None:
            path = os.environ.get("HWGEN_MANIFEST")
            if not path:
                raise RuntimeError("HWGEN_MANIFEST is not set: it must name the design's "
                                   "manifest JSON (hwgen.flow.sim.run sets it)")
        self.path = Path(path)
        try:
            self.data = json.loads(self.path.read_text())
        except OSError as e:
            raise RuntimeError(f"cannot read manifest {str(self.path)!r}: {e.strerror}") from e
        self.name = self.data["name"]
        self.block = self.data["block"]
        self.config = self.data["config"]
        self.clock = self.data.get("clock", "clk")
        self.reset = self.data.get("reset", {}).get("signal", "rst")
        self.ports = {p["name"]: Port(name=p["name"], direction=p["direction"], width=p["width"],
                                      layout=p["payload"], signals=p["signals"])
                      for p in self.data["ports"] if p["kind"] == "stream"}

    def port(self, name: str) -> Port:
        """The stream port ``name``; ``KeyError`` lists the known ones."""
        if name not in self.ports:
            raise KeyError(f"{self.name}: no stream port {name!r}; ports: "
                           f"{', '.join(self.ports)}")
        return self.ports[name]

    def streams(self, direction: str | None = None) -> list[Port]:
        """Stream ports, optionally only those with ``direction`` ("in" or "out")."""
        return [p for p in self.ports.values() if direction in (None, p.direction)]

    def has(self, name: str) -> bool:
        return name in self.ports

    def block_config(self, info=None):
        """``(info, cfg)``: the block's ``BlockInfo`` (from the registry unless given) and the
        config rebuilt from the manifest."""
        from hwgen.blocks import get_block

        info = info if info is not None else get_block(self.block)
        return info, info.config.from_dict(self.config, where=str(self.path))

    def check(self, dut) -> None:
        """Check every stream signal exists on ``dut`` (``AttributeError`` names the first gap)."""
        for port in self.ports.values():
            port.handles(dut)
        for sig in (self.clock, self.reset):
            if not hasattr(dut, sig):
                raise AttributeError(f"the design has no signal {sig!r}")
