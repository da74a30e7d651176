"""NumFormat parsing and ranges; wrap, saturate, round_shift and bits_for_range vs naive Python."""

import math
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from hypothesis import assume, given
from hypothesis import strategies as st

from hwgen.core.numerics import (
    NumFormat,
    bits_for_range,
    parse_format,
    round_shift,
    saturate,
    sum_range,
    wrap,
)

INT64 = st.integers(-(1 << 63), (1 << 63) - 1)


# -- naive references --

def ref_range(is_signed: bool, width: int) -> tuple[int, int]:
    """Every bit pattern of ``width`` bits read as two's complement (or unsigned): min and max."""
    vals = [p - (1 << width) if is_signed and p >> (width - 1) else p for p in range(1 << width)]
    return min(vals), max(vals)


def ref_wrap(x: int, width: int, is_signed: bool) -> int:
    y = x % (1 << width)
    return y - (1 << width) if is_signed and y >= 1 << (width - 1) else y


def ref_round_shift(x: int, s: int) -> int:
    """Round half up (toward +inf) of x / 2**s, with exact rationals."""
    return math.floor(Fraction(x, 1 << s) + Fraction(1, 2)) if s else x


def bounds(is_signed: bool, width: int) -> tuple[int, int]:
    """Closed-form range (checked against ``ref_range`` in test_ranges_and_shape)."""
    if is_signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def ref_bits(lo: int, hi: int) -> NumFormat:
    """The narrowest format holding [lo, hi], found by trying widths in turn."""
    is_signed = lo < 0
    width = 2 if is_signed else 1
    while not (bounds(is_signed, width)[0] <= lo and hi <= bounds(is_signed, width)[1]):
        width += 1
    return NumFormat(signed=is_signed, width=width)


# -- NumFormat and parse_format --

@pytest.mark.parametrize(("text", "is_signed", "width", "frac"), [
    ("int8", True, 8, 0), ("uint8", False, 8, 0), ("uint1", False, 1, 0), ("int2", True, 2, 0),
    ("int64", True, 64, 0), ("q4.12", True, 16, 12), ("uq0.8", False, 8, 8),
    ("q1.15", True, 16, 15), ("uq8.0", False, 8, 0),
])
def test_parse_format(text, is_signed, width, frac):
    fmt = parse_format(text)
    assert (fmt.signed, fmt.width, fmt.frac) == (is_signed, width, frac)
    assert parse_format(fmt.name) == fmt
    assert str(fmt) == fmt.name


@pytest.mark.parametrize("text", ["int", "float8", "q4", "int8 ", " int8", "Int8", "s8", "q.4",
                                  "uint-4", ""])
def test_parse_format_malformed(text):
    with pytest.raises(ValueError, match=rf"^a_type must look like int8, uint8, q4\.12 or uq0\.8, "
                                         rf"not {text!r}$"):
        parse_format(text, "a_type")


@pytest.mark.parametrize(("text", "message"), [
    ("int1", r"a signed format needs at least 2 bits, not 1"),
    ("uint0", r"format width must be in \[1, 64\], not 0"),
    ("int65", r"format width must be in \[1, 64\], not 65"),
    ("q40.40", r"format width must be in \[1, 64\], not 80"),
])
def test_parse_format_bad_width(text, message):
    with pytest.raises(ValueError, match=rf"^fmt {text!r}: {message}$"):
        parse_format(text, "fmt")


def test_parse_format_type_error():
    with pytest.raises(TypeError, match=r"^format must be a string such as 'int8', not 8$"):
        parse_format(8)


def test_numformat_errors():
    with pytest.raises(ValueError, match=r"^format width must be in \[1, 64\], not 0$"):
        NumFormat(signed=False, width=0)
    with pytest.raises(ValueError, match=r"^a signed format needs at least 2 bits, not 1$"):
        NumFormat(signed=True, width=1)
    with pytest.raises(ValueError, match=r"^format fraction bits must be in \[0, 8\], not 9$"):
        NumFormat(signed=True, width=8, frac=9)


@pytest.mark.parametrize("is_signed", [True, False])
@pytest.mark.parametrize("width", range(1, 13))
def test_ranges_and_shape(is_signed, width):
    if is_signed and width < 2:
        return
    fmt = NumFormat(signed=is_signed, width=width)
    assert (fmt.min, fmt.max) == ref_range(is_signed, width) == bounds(is_signed, width)
    assert fmt.shape == (signed(width) if is_signed else unsigned(width))


def test_wide_ranges():
    assert (NumFormat(signed=True, width=64).min, NumFormat(signed=True, width=64).max) == \
        (-(1 << 63), (1 << 63) - 1)
    assert NumFormat(signed=False, width=64).max == (1 << 64) - 1


def test_check():
    fmt = parse_format("int4")
    fmt.check(np.array([[-8, 7], [0, 1]]), "A")
    fmt.check(np.zeros((0, 3), dtype=np.int64), "A")
    with pytest.raises(ValueError, match=r"^A must hold int4 values in \[-8, 7\], found 8$"):
        fmt.check(np.array([1, 8, -3]), "A")
    with pytest.raises(ValueError, match=r"^B must hold uint4 values in \[0, 15\], found -1$"):
        parse_format("uint4").check([-1, 16], "B")


def test_overflow_modes():
    fmt = parse_format("int4")
    x = np.array([-20, -9, -8, 0, 7, 8, 20])
    assert fmt.overflow(x, "wrap").tolist() == [ref_wrap(int(v), 4, True) for v in x]
    assert fmt.overflow(x, "saturate").tolist() == [-8, -8, -8, 0, 7, 7, 7]
    with pytest.raises(ValueError, match=r"^overflow must be one of \('wrap', 'saturate'\), "
                                         r"not 'clip'$"):
        fmt.overflow(x, "clip")


def test_random_covers_range(rng):
    for text in ("int2", "uint3", "int8"):
        fmt = parse_format(text)
        x = fmt.random(rng, (4000,))
        assert x.dtype == np.int64
        assert x.min() == fmt.min and x.max() == fmt.max


# -- wrap / saturate / round_shift vs naive Python --

@st.composite
def formats(draw, max_width=64):
    is_signed = draw(st.booleans())
    width = draw(st.integers(2 if is_signed else 1, max_width))
    return is_signed, width


@given(st.lists(INT64, min_size=1, max_size=20), formats())
def test_wrap(xs, fmt):
    is_signed, width = fmt
    assume(is_signed or width < 64)     # uint64 values do not fit the int64 arrays
    got = wrap(np.array(xs, dtype=np.int64), width, is_signed)
    assert got.dtype == np.int64
    assert got.tolist() == [ref_wrap(x, width, is_signed) for x in xs]


@given(INT64, formats())
def test_wrap_scalar_and_methods(x, fmt):
    is_signed, width = fmt
    assume(is_signed or width < 64)
    f = NumFormat(signed=is_signed, width=width)
    assert int(f.wrap(x)) == ref_wrap(x, width, is_signed)
    assert int(f.overflow(x, "wrap")) == ref_wrap(x, width, is_signed)


@given(st.lists(INT64, min_size=1, max_size=20), formats(max_width=63))
def test_saturate(xs, fmt):
    is_signed, width = fmt
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if is_signed else (0, (1 << width) - 1)
    got = saturate(np.array(xs, dtype=np.int64), lo, hi)
    assert got.tolist() == [min(max(x, lo), hi) for x in xs]
    f = NumFormat(signed=is_signed, width=width)
    assert f.saturate(np.array(xs)).tolist() == got.tolist()


@given(st.lists(st.integers(-(1 << 61), 1 << 61), min_size=1, max_size=20), st.integers(0, 60))
def test_round_shift(xs, s):
    got = round_shift(np.array(xs, dtype=np.int64), s)
    assert got.tolist() == [ref_round_shift(x, s) for x in xs]


def test_wrap_edges():
    # 63-bit signed wrap needs 2**63, which is no int64: computed without it
    x = np.array([(1 << 62), -(1 << 62) - 1, (1 << 63) - 1, -(1 << 63), 5], dtype=np.int64)
    assert wrap(x, 63, True).tolist() == [ref_wrap(int(v), 63, True) for v in x]
    assert wrap(x, 64, True).tolist() == x.tolist()
    assert wrap(x, 1, False).tolist() == [0, 1, 1, 0, 1]


def test_round_shift_halves_go_up():
    # -2.5 -> -2, -1.5 -> -1, -0.5 -> 0, 0.5 -> 1, 1.5 -> 2, 2.5 -> 3 (s = 1: x / 2)
    assert round_shift(np.array([-5, -3, -1, 1, 3, 5]), 1).tolist() == [-2, -1, 0, 1, 2, 3]
    assert round_shift(np.array([-6, -2, 2, 6]), 2).tolist() == [-1, 0, 1, 2]   # ±0.5, ±1.5
    assert round_shift(np.array([7, -7]), 0).tolist() == [7, -7]


# -- bits_for_range and sum_range vs brute force --

def test_bits_for_range_small_exhaustive():
    for lo in range(-70, 70):
        for hi in range(lo, 70):
            assert bits_for_range(lo, hi) == ref_bits(lo, hi), (lo, hi)


@given(st.integers(-(1 << 62), 1 << 62), st.integers(0, 1 << 62))
def test_bits_for_range_large(lo, span):
    hi = lo + span
    assume(hi < 1 << 63)
    assert bits_for_range(lo, hi) == ref_bits(lo, hi)


def test_bits_for_range_edges():
    assert bits_for_range(-8, -8) == NumFormat(signed=True, width=4)
    assert bits_for_range(-1, 0) == NumFormat(signed=True, width=2)     # signed needs 2 bits
    assert bits_for_range(0, 0) == NumFormat(signed=False, width=1)
    assert bits_for_range(-(1 << 63), (1 << 63) - 1) == NumFormat(signed=True, width=64)


def test_bits_for_range_empty():
    with pytest.raises(ValueError, match=r"^empty range \[3, 2\]$"):
        bits_for_range(3, 2)


@pytest.mark.parametrize("a", ["int2", "int4", "uint1", "uint3", "int5"])
@pytest.mark.parametrize("b", ["int2", "uint2", "int3", "uint4"])
@pytest.mark.parametrize("terms", [1, 2, 3, 7])
def test_sum_range_brute_force(a, b, terms):
    fa, fb = parse_format(a), parse_format(b)
    prods = [x * y for x in range(fa.min, fa.max + 1) for y in range(fb.min, fb.max + 1)]
    assert sum_range(fa, fb, terms) == (terms * min(prods), terms * max(prods))


# -- add_fit (RTL accumulator update) vs the numpy overflow rules --

@pytest.mark.parametrize(("fmt_name", "addend"), [
    ("int4", signed(4)), ("int4", signed(2)), ("int4", signed(6)), ("int4", unsigned(3)),
    ("uint4", unsigned(4)), ("uint4", unsigned(2)), ("uint4", unsigned(5)),
])
@pytest.mark.parametrize("mode", ["wrap", "saturate"])
def test_add_fit_is_fit_of_the_sum(fmt_name, addend, mode):
    """Every acc in the format and every addend value: ``add_fit`` equals the reference
    wrap/saturate of the exact sum (the fast overflow-bit form and the fallback alike)."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from hwgen.core.numerics import add_fit

    fmt = parse_format(fmt_name)
    acc, b = Signal(fmt.shape), Signal(addend)
    y = Signal(fmt.shape)
    m = Module()
    m.d.comb += y.eq(add_fit(acc, b, fmt, mode))
    lo_b = -(1 << (addend.width - 1)) if addend.signed else 0
    hi_b = (1 << (addend.width - 1)) - 1 if addend.signed else (1 << addend.width) - 1
    got, want = [], []

    async def bench(ctx):
        for a in range(fmt.min, fmt.max + 1):
            for v in range(lo_b, hi_b + 1):
                ctx.set(acc, a)
                ctx.set(b, v)
                got.append(ctx.get(y))
                want.append(int(fmt.overflow(np.array([a + v]), mode)[0]))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == want
