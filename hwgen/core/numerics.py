"""Number formats shared by RTL, golden models and testbenches."""

import dataclasses
import re

import numpy as np
from amaranth.hdl import Shape, signed, unsigned

__all__ = ["NumFormat", "parse_format", "sum_range", "bits_for_range", "wrap", "saturate",
           "round_shift", "fit_value", "add_fit", "range_bits", "OVERFLOW_MODES"]

OVERFLOW_MODES = ("wrap", "saturate")

_FORMAT_RE = re.compile(r"^(u?)int(\d+)$|^(u?)q(\d+)\.(\d+)$")


@dataclasses.dataclass(frozen=True)
class NumFormat:
    """A two's-complement (or unsigned) fixed-point format.

    ``width`` counts every bit (sign included); ``frac`` of them are fractional. Integer formats
    have ``frac == 0``. Spelled ``int8``, ``uint4``, ``q4.12`` (signed, 4 integer bits including the
    sign, 12 fractional), ``uq0.8``.
    """

    signed: bool
    width: int
    frac: int = 0

    def __post_init__(self):
        if not isinstance(self.width, int) or self.width < 1 or self.width > 64:
            raise ValueError(f"format width must be in [1, 64], not {self.width!r}")
        if self.signed and self.width < 2:
            raise ValueError(f"a signed format needs at least 2 bits, not {self.width!r}")
        if not 0 <= self.frac <= self.width:
            raise ValueError(f"format fraction bits must be in [0, {self.width}], "
                             f"not {self.frac!r}")

    @property
    def shape(self) -> Shape:
        return signed(self.width) if self.signed else unsigned(self.width)

    @property
    def min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def name(self) -> str:
        u = "" if self.signed else "u"
        if self.frac == 0:
            return f"{u}int{self.width}"
        return f"{u}q{self.width - self.frac}.{self.frac}"

    def __str__(self):
        return self.name

    def check(self, x: np.ndarray, what: str) -> None:
        """Raise ``ValueError`` naming ``what`` if any element of ``x`` is outside the format."""
        x = np.asarray(x)
        if x.size and (x.min() < self.min or x.max() > self.max):
            bad = x.min() if x.min() < self.min else x.max()
            raise ValueError(f"{what} must hold {self.name} values in [{self.min}, {self.max}], "
                             f"found {int(bad)}")

    def wrap(self, x):
        return wrap(x, self.width, self.signed)

    def saturate(self, x):
        return saturate(x, self.min, self.max)

    def overflow(self, x, mode: str):
        """Bring ``x`` into range with ``mode`` ("wrap" or "saturate")."""
        if mode == "wrap":
            return self.wrap(x)
        if mode == "saturate":
            return self.saturate(x)
        raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {mode!r}")

    def random(self, rng: np.random.Generator, shape) -> np.ndarray:
        return rng.integers(self.min, self.max, size=shape, endpoint=True, dtype=np.int64)


def parse_format(text: str, what: str = "format") -> NumFormat:
    """Parse ``int8`` / ``uint4`` / ``q4.12`` / ``uq0.8``; errors name ``what``."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string such as 'int8', not {text!r}")
    m = _FORMAT_RE.match(text)
    if not m:
        raise ValueError(f"{what} must look like int8, uint8, q4.12 or uq0.8, not {text!r}")
    try:
        if m.group(2) is not None:
            return NumFormat(signed=not m.group(1), width=int(m.group(2)))
        ib, fb = int(m.group(4)), int(m.group(5))
        return NumFormat(signed=not m.group(3), width=ib + fb, frac=fb)
    except ValueError as e:     # name ``what``: "a_type: 'int99': format width must be ..."
        raise ValueError(f"{what} {text!r}: {e}") from None


def sum_range(a: NumFormat, b: NumFormat, terms: int) -> tuple[int, int]:
    """Exact [min, max] of a sum of ``terms`` products a*b."""
    corners = [x * y for x in (a.min, a.max) for y in (b.min, b.max)]
    return terms * min(corners), terms * max(corners)


def range_bits(lo: int, hi: int) -> int:
    """Bits of the narrowest integer format holding [lo, hi] (any size; see bits_for_range)."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo >= 0:
        return max(1, hi.bit_length())
    return max(2, max((-lo - 1).bit_length(), max(hi, 0).bit_length()) + 1)


def bits_for_range(lo: int, hi: int) -> NumFormat:
    """The narrowest integer format holding every value in [lo, hi] (signed: at least 2 bits)."""
    return NumFormat(signed=lo < 0, width=range_bits(lo, hi))


def wrap(x, width: int, is_signed: bool):
    """Two's-complement wrap of int64 array ``x`` to ``width`` bits."""
    x = np.asarray(x, dtype=np.int64)
    if width >= 64:
        return x
    mask = (1 << width) - 1
    y = x & mask
    if is_signed:
        # y - mask - 1 == y - 2**width without a Python int that overflows int64 (width 63)
        y = np.where(y >= (1 << (width - 1)), y - mask - 1, y)
    return y.astype(np.int64)


def saturate(x, lo: int, hi: int):
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def round_shift(x, s: int):
    """Round half up then arithmetic shift right: ``(x + (1 << (s-1))) >> s`` (``x`` if s == 0)."""
    x = np.asarray(x, dtype=np.int64)
    if s == 0:
        return x
    return (x + (1 << (s - 1))) >> s


def fit_value(value, fmt: NumFormat, mode: str):
    """Amaranth expression: ``value`` brought into ``fmt`` by wrap or saturate (RTL twin of
    ``NumFormat.overflow``). The result has exactly ``fmt.shape``."""
    from amaranth.hdl import Cat, Const, Mux, Value

    value = Value.cast(value)
    if mode == "saturate":
        value = Mux(value > fmt.max, fmt.max, Mux(value < fmt.min, fmt.min, value))
    elif mode != "wrap":
        raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {mode!r}")
    shape = value.shape()
    if shape.width < fmt.width:
        fill = value[-1] if shape.signed else Const(0, 1)
        value = Cat(value, fill.replicate(fmt.width - shape.width))
    bits = value[:fmt.width]
    return bits.as_signed() if fmt.signed else bits


def add_fit(acc, addend, fmt: NumFormat, mode: str):
    """Amaranth expression: ``fit_value(acc + addend, fmt, mode)`` for ``acc`` already in
    ``fmt`` — the accumulator update. Saturating, with an addend of ``acc``'s signedness and no
    wider than ``fmt``, the sum has one bit more than ``fmt`` and overflows exactly when its top
    two bits differ (signed) or its top bit is set (unsigned): one adder and a 2-input select,
    no comparison against the limits after it (a second carry chain on the critical path).
    Otherwise (wrap, or a wider addend) it is ``fit_value``."""
    from amaranth.hdl import Mux, Value

    acc, addend = Value.cast(acc), Value.cast(addend)
    a, b = acc.shape(), addend.shape()
    if (mode != "saturate" or a != fmt.shape or b.width > fmt.width
            or b.signed != fmt.signed):
        return fit_value(acc + addend, fmt, mode)
    total = acc + addend                              # fmt.width + 1 bits
    if fmt.signed:
        over = total[-1] ^ total[-2]
        return Mux(over, Mux(total[-1], fmt.min, fmt.max), total[:fmt.width]).as_signed()
    return Mux(total[-1], fmt.max, total[:fmt.width])
