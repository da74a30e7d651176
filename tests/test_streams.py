# amaranth: UnusedElaboratable=no
"""Payload layouts: describe_layout of real Amaranth layouts; pack/unpack proven against
Amaranth's own ``data.Const`` bit order."""

import pytest
from amaranth.hdl import Const, Shape, signed, unsigned
from amaranth.lib import data
from hypothesis import given
from hypothesis import strategies as st

from hwgen.blocks import presets
from hwgen.blocks.mxu import MXU
from hwgen.core.streams import describe_layout, layout_width, pack, unpack

STRUCT = data.StructLayout({"data": data.ArrayLayout(signed(5), 3), "last": 1})
NESTED = data.StructLayout({
    "hdr": data.StructLayout({"op": unsigned(3), "neg": signed(4)}),
    "rows": data.ArrayLayout(data.ArrayLayout(unsigned(2), 2), 3),
    "tag": signed(7),
})


class Pixel(data.Struct):
    r: unsigned(5)
    g: signed(6)
    b: unsigned(5)


LAYOUTS = [
    signed(8), unsigned(1), unsigned(13), signed(2),
    data.ArrayLayout(signed(8), 4), data.ArrayLayout(unsigned(3), 5),
    data.ArrayLayout(signed(28), 4),
    STRUCT, NESTED, data.ArrayLayout(STRUCT, 2), Pixel, data.ArrayLayout(Pixel, 3),
]


# -- an independent view of Amaranth's constants as Python values --

def from_amaranth(c):
    """A ``data.Const`` (or int) as nested ints / lists / dicts."""
    if isinstance(c, int):
        return c
    layout = c.shape()
    if isinstance(layout, data.ArrayLayout):
        return [from_amaranth(c[i]) for i in range(layout.length)]
    return {name: from_amaranth(c[name]) for name, _ in layout}


def amaranth_bits(shape, value) -> int:
    """Pack ``value`` with Amaranth itself; the result as an unsigned int."""
    if isinstance(shape, data.Layout | type):
        layout = data.Layout.cast(shape)
        return layout.const(value).as_value().value
    shape = Shape.cast(shape)
    return Const(value, shape).value & ((1 << shape.width) - 1)


def values_for(shape):
    """A Hypothesis strategy of values fitting ``shape``."""
    if not isinstance(shape, data.Layout):
        try:
            shape = data.Layout.cast(shape)
        except TypeError:
            shape = Shape.cast(shape)
            lo = -(1 << (shape.width - 1)) if shape.signed else 0
            hi = (1 << (shape.width - 1)) - 1 if shape.signed else (1 << shape.width) - 1
            return st.integers(lo, hi)
    if isinstance(shape, data.ArrayLayout):
        return st.lists(values_for(shape.elem_shape), min_size=shape.length,
                        max_size=shape.length)
    return st.fixed_dictionaries({name: values_for(f.shape) for name, f in shape})


# -- describe_layout --

def test_describe_int():
    assert describe_layout(signed(8)) == {"kind": "int", "signed": True, "width": 8}
    assert describe_layout(unsigned(3)) == {"kind": "int", "signed": False, "width": 3}
    assert describe_layout(5) == {"kind": "int", "signed": False, "width": 5}


def test_describe_array_and_struct():
    assert describe_layout(data.ArrayLayout(signed(8), 4)) == {
        "kind": "array", "elem": {"kind": "int", "signed": True, "width": 8}, "length": 4,
        "width": 32}
    assert describe_layout(STRUCT) == {
        "kind": "struct", "width": 16, "fields": {
            "data": {"offset": 0, "layout": {
                "kind": "array", "elem": {"kind": "int", "signed": True, "width": 5},
                "length": 3, "width": 15}},
            "last": {"offset": 15, "layout": {"kind": "int", "signed": False, "width": 1}}}}


def test_describe_struct_class():
    # a data.Struct subclass is described by its layout, not as a flat integer
    desc = describe_layout(Pixel)
    assert desc["kind"] == "struct" and list(desc["fields"]) == ["r", "g", "b"]
    assert [f["offset"] for f in desc["fields"].values()] == [0, 5, 11]
    assert desc["fields"]["g"]["layout"] == {"kind": "int", "signed": True, "width": 6}


@pytest.mark.parametrize("shape", LAYOUTS, ids=repr)
def test_describe_width_matches_amaranth(shape):
    desc = describe_layout(shape)
    size = Shape.cast(shape).width
    assert layout_width(desc) == desc["width"] == size


# -- pack / unpack --

@pytest.mark.parametrize("shape", LAYOUTS, ids=repr)
@given(st.data())
def test_pack_matches_amaranth(shape, draw):
    value = draw.draw(values_for(shape))
    desc = describe_layout(shape)
    raw = pack(desc, value)
    assert 0 <= raw < 1 << desc["width"]
    assert raw == amaranth_bits(shape, value)
    assert unpack(desc, raw) == value


@pytest.mark.parametrize("shape", [s for s in LAYOUTS if isinstance(s, data.Layout | type)],
                         ids=repr)
@given(st.data())
def test_unpack_matches_amaranth(shape, draw):
    desc = describe_layout(shape)
    raw = draw.draw(st.integers(0, (1 << desc["width"]) - 1))
    expect = from_amaranth(data.Const(data.Layout.cast(shape), raw))
    assert unpack(desc, raw) == expect
    assert pack(desc, expect) == raw


def test_known_bit_order():
    # element i of an array sits at bits [i*w, (i+1)*w); struct fields at their offsets
    desc = describe_layout(data.ArrayLayout(signed(8), 4))
    assert pack(desc, [1, -2, 3, -4]) == 0xFC_03_FE_01
    assert unpack(desc, 0xFC_03_FE_01) == [1, -2, 3, -4]
    desc = describe_layout(STRUCT)
    assert pack(desc, {"data": [-1, 2, -16], "last": 1}) == (1 << 15) | (0b10000 << 10) \
        | (0b00010 << 5) | 0b11111


def test_pack_errors():
    with pytest.raises(ValueError, match=r"^value 128 does not fit int8$"):
        pack(describe_layout(signed(8)), 128)
    with pytest.raises(ValueError, match=r"^value -1 does not fit uint3$"):
        pack(describe_layout(unsigned(3)), -1)
    with pytest.raises(ValueError, match=r"^expected 4 elements, got 3$"):
        pack(describe_layout(data.ArrayLayout(signed(8), 4)), [1, 2, 3])
    with pytest.raises(ValueError, match=r"^missing field 'last'$"):
        pack(describe_layout(STRUCT), {"data": [0, 0, 0]})
    with pytest.raises(ValueError, match=r"^unknown layout kind 'float'$"):
        pack({"kind": "float", "width": 32}, 1.0)


def test_unpack_ignores_bits_above_width():
    assert unpack(describe_layout(signed(4)), 0x1F) == -1
    assert unpack(describe_layout(unsigned(4)), 0x1F) == 15


@pytest.mark.parametrize("name", sorted(p for p, (i, _) in presets().items() if i.name == "mxu"))
def test_mxu_ports_round_trip(name, rng):
    """The real MXU payload layouts (as the manifest describes them) pack like Amaranth does."""
    cfg = presets()[name][1]
    dut = MXU(cfg)
    for port, member in dut.signature.members.items():
        shape = member.signature.members["payload"].shape
        desc = describe_layout(shape)
        for _ in range(5):
            value = _random_value(desc, rng)
            raw = pack(desc, value)
            assert raw == amaranth_bits(shape, value), port
            assert unpack(desc, raw) == value


def _random_value(desc, rng):
    if desc["kind"] == "int":
        w = desc["width"]
        lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if desc["signed"] else (0, (1 << w) - 1)
        return int(rng.integers(lo, hi, endpoint=True))
    if desc["kind"] == "array":
        return [_random_value(desc["elem"], rng) for _ in range(desc["length"])]
    return {name: _random_value(f["layout"], rng) for name, f in desc["fields"].items()}
