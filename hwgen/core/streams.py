"""Payload layouts as plain data (for the manifest) and int <-> value packing for testbenches."""

from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = ["describe_layout", "pack", "unpack", "layout_width"]


def describe_layout(shape) -> dict:
    """An Amaranth shape or ``data.Layout`` as JSON-able data (the manifest's payload layout).

    ``{"kind": "int", "signed": bool, "width": w}``, ``{"kind": "array", "elem": L, "length": n,
    "width": w}`` (element i at bits ``[i*elem.width, (i+1)*elem.width)``) or ``{"kind": "struct",
    "fields": {name: {"offset": o, "layout": L}}, "width": w}``.
    """
    if not isinstance(shape, data.Layout):
        try:                            # a data.Struct / data.View class: describe its layout
            shape = data.Layout.cast(shape)
        except TypeError:
            pass
    if isinstance(shape, data.ArrayLayout):
        return {"kind": "array", "elem": describe_layout(shape.elem_shape),
                "length": shape.length, "width": shape.size}
    if isinstance(shape, data.StructLayout | data.UnionLayout | data.FlexibleLayout):
        fields = {name: {"offset": f.offset, "layout": describe_layout(f.shape)}
                  for name, f in shape}
        return {"kind": "struct", "fields": fields, "width": shape.size}
    if isinstance(shape, data.Layout):
        raise TypeError(f"unsupported layout {shape!r}")
    s = Shape.cast(shape)
    return {"kind": "int", "signed": s.signed, "width": s.width}


def layout_width(desc: dict) -> int:
    return desc["width"]


def pack(desc: dict, value) -> int:
    """Pack ``value`` (int / sequence / dict, nested like ``desc``) into an unsigned int."""
    kind = desc["kind"]
    if kind == "int":
        w = desc["width"]
        v = int(value)
        lo = -(1 << (w - 1)) if desc["signed"] else 0
        hi = (1 << (w - 1)) - 1 if desc["signed"] else (1 << w) - 1
        if not lo <= v <= hi:
            raise ValueError(f"value {v} does not fit {'' if desc['signed'] else 'u'}int{w}")
        return v & ((1 << w) - 1)
    if kind == "array":
        ew = desc["elem"]["width"]
        if len(value) != desc["length"]:
            raise ValueError(f"expected {desc['length']} elements, got {len(value)}")
        out = 0
        for i, v in enumerate(value):
            out |= pack(desc["elem"], v) << (i * ew)
        return out
    if kind == "struct":
        out = 0
        for name, f in desc["fields"].items():
            if name not in value:
                raise ValueError(f"missing field {name!r}")
            out |= pack(f["layout"], value[name]) << f["offset"]
        return out
    raise ValueError(f"unknown layout kind {kind!r}")


def unpack(desc: dict, raw: int):
    """Inverse of ``pack``: ints for ``int``, lists for ``array``, dicts for ``struct``."""
    kind = desc["kind"]
    raw = int(raw)
    if kind == "int":
        w = desc["width"]
        v = raw & ((1 << w) - 1)
        if desc["signed"] and v >> (w - 1):
            v -= 1 << w
        return v
    if kind == "array":
        ew = desc["elem"]["width"]
        return [unpack(desc["elem"], raw >> (i * ew)) for i in range(desc["length"])]
    if kind == "struct":
        return {name: unpack(f["layout"], raw >> f["offset"]) for name, f in desc["fields"].items()}
    raise ValueError(f"unknown layout kind {kind!r}")
