"""Softmax configuration: lanes, row length, formats, algorithm; every derived numeric width."""

import dataclasses
import math

from ...core.config import BlockConfig, check_choice, check_int
from ...core.numerics import NumFormat, parse_format, range_bits

__all__ = ["SoftmaxConfig", "ALGORITHMS", "PRESETS", "LOG2E"]

ALGORITHMS = ("safe", "online")
LANES = (1, 2, 4, 8)
MAX_LEN = 1 << 16
LOG2E = 1.4426950408889634          # log2(e), the float64 value (math.log2(math.e))
K_BITS = 17                         # the front-end constant K lies in [2^16, 2^17)
T_INT_MAX = 16                      # scores saturate at ±2^16 in base-2 units
MAX_PRODUCT_BITS = 60               # the front-end product x · K (int64 in the golden model)
MAX_SHIFT = 60                      # the front end's rounding shift


@dataclasses.dataclass(frozen=True, kw_only=True)
class SoftmaxConfig(BlockConfig):
    """A streaming fixed-point softmax over rows of up to ``max_len`` scores.

    Parameters
    ----------
    lanes : int
        Elements per beat (1, 2, 4 or 8); the unit takes and gives ``lanes`` elements a cycle.
    max_len : int
        Longest row in elements (a multiple of ``lanes``, at most 65536); sizes the row buffers.
    in_type : str
        Input format, signed: ``int8``…``int32`` or fixed point ``q<i>.<f>`` of 4 to 32 bits
        (``q8.8`` = int16 with 8 fractional bits).
    scale : float
        The real score of an input ``x`` is ``value(x) · scale`` (``value`` reads the fixed-point
        format). Fold the dequantization and ``1/√d`` in here to feed MXU accumulators
        (``int32``) directly: the front end multiplies by one integer constant that also holds
        ``log2(e)``.
    out_frac : int
        F: the output is unsigned ``Q0.F`` (8 to 16 fractional bits), saturating at 1 − 2^−F.
    algorithm : "safe" | "online"
        ``safe``: the row's max first, then the sum of exps, then normalize (three passes over
        the row buffer). ``online``: running max and a running sum rescaled by powers of two as
        the row streams in (Milakov & Gimelshein 2018), then normalize (two passes).
    exp_bits : int
        E, fractional bits of the exp word (``e = 2^(t−max)`` in ``Q1.E``); 0 = the smallest
        that meets the accuracy goals for ``out_frac`` and ``max_len``.
    row_buffers : int
        Rows in flight (banks of the row buffers), 1…7; 0 = enough that no stage waits for a
        bank (``buffers``). Fewer trade throughput for area: with 1 the passes run one after
        another on one row (about 3n cycles a row for ``safe``) and one row descriptor remains.
    """

    block = "softmax"
    lanes: int = 1
    max_len: int = 64
    in_type: str = "q8.8"
    scale: float = 1.0
    out_frac: int = 16
    algorithm: str = "safe"
    exp_bits: int = 0
    row_buffers: int = 0

    def __post_init__(self):
        super().__post_init__()
        check_int("lanes", self.lanes, 1, 8)
        if self.lanes not in LANES:
            raise ValueError(f"lanes must be one of 1, 2, 4, 8, not {self.lanes!r}")
        check_int("max_len", self.max_len, 1, MAX_LEN)
        if self.max_len % self.lanes:
            raise ValueError(f"max_len must be a multiple of lanes ({self.lanes}), "
                             f"not {self.max_len!r}")
        fmt = parse_format(self.in_type, "in_type")
        if not fmt.signed or not 4 <= fmt.width <= 32:
            raise ValueError(f"in_type must be a signed format of 4 to 32 bits (int8, q8.8, "
                             f"int32, ...), not {self.in_type!r}")
        if isinstance(self.scale, bool) or not isinstance(self.scale, int | float):
            raise TypeError(f"scale must be a number, not {self.scale!r}")
        if not (2.0 ** -40 <= self.scale <= 2.0 ** 16) or math.isnan(self.scale):
            raise ValueError(f"scale must be in [2^-40, 2^16] (a positive real), "
                             f"not {self.scale!r}")
        check_int("out_frac", self.out_frac, 8, 16)
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        top = 2.0 ** (MAX_PRODUCT_BITS - fmt.width) / (LOG2E * 2.0 ** (self.out_frac + 2
                                                                         - fmt.frac))
        if self.scale >= top:
            raise ValueError(f"scale must be below {top:.6g} for in_type {self.in_type!r} and "
                             f"out_frac {self.out_frac} (x · scale · log2(e) · 2^T must stay "
                             f"within {MAX_PRODUCT_BITS} bits), not {self.scale!r}")
        check_int("exp_bits", self.exp_bits, 0, 28)
        check_int("row_buffers", self.row_buffers, 0, 7)
        lo = self.out_frac
        if self.exp_bits and self.exp_bits < lo:
            raise ValueError(f"exp_bits must be 0 (auto) or in [{lo}, 28] for out_frac "
                             f"{self.out_frac}, not {self.exp_bits!r}")
        bottom = 2.0 ** (K_BITS - 1 - MAX_SHIFT) / (LOG2E * 2.0 ** (self.out_frac + 2
                                                                    - fmt.frac))
        if self.scale < bottom:
            raise ValueError(f"scale must be at least {bottom:.6g} for in_type "
                             f"{self.in_type!r} and out_frac {self.out_frac} (the front end "
                             f"shifts by at most {MAX_SHIFT}), not {self.scale!r}")
        z = self.e_frac + self.sum_extra + self.recip_frac + self.sum_guard + 1
        if z > MAX_PRODUCT_BITS:
            raise ValueError(f"exp_bits ({self.e_frac}) is too large for max_len "
                             f"{self.max_len} and out_frac {self.out_frac}: the reciprocal "
                             f"needs 2^{z}, at most 2^{MAX_PRODUCT_BITS}; lower exp_bits to at "
                             f"most {self.e_frac - (z - MAX_PRODUCT_BITS)} or use 0 (auto)")

    def default_name(self) -> str:
        rb = f"_rb{self.row_buffers}" if self.row_buffers else ""
        return (f"softmax_{self.algorithm}_{self.max_len}x{self.lanes}_"
                f"{self.in_fmt.name.replace('.', '_')}_q{self.out_frac}{rb}")

    # -- derived values (RTL, golden model and testbench read these; none recomputes them) --
    @property
    def in_fmt(self) -> NumFormat:
        return parse_format(self.in_type)

    @property
    def beats_max(self) -> int:
        """Beats of the longest row."""
        return self.max_len // self.lanes

    @property
    def len_bits(self) -> int:
        """Width of the per-row ``length`` field (holds 0 … max_len)."""
        return self.max_len.bit_length()

    @property
    def t_frac(self) -> int:
        """T: fractional bits of the base-2 score ``t = x · scale · log2(e)``."""
        return self.out_frac + 2

    @property
    def front(self) -> tuple[int, int]:
        """(K, shift): ``t = round_half_up(x · K / 2^shift)``, K in [2^16, 2^17) unless
        shift = 0."""
        c = self.scale * LOG2E * 2.0 ** (self.t_frac - self.in_fmt.frac)
        shift = max(0, K_BITS - 1 - math.floor(math.log2(c)))
        k = round(c * 2.0 ** shift)
        if k >= 1 << K_BITS and shift > 0:          # log2 rounding at a power of two
            shift -= 1
            k = round(c * 2.0 ** shift)
        return int(k), int(shift)

    @property
    def product_width(self) -> int:
        k, _ = self.front
        return self.in_fmt.width + k.bit_length()

    @property
    def t_range(self) -> tuple[int, int]:
        """The base-2 scores the input range gives, before saturation."""
        k, s = self.front
        return ((self.in_fmt.min * k + (1 << s >> 1)) >> s,
                (self.in_fmt.max * k + (1 << s >> 1)) >> s)

    @property
    def t_saturates(self) -> bool:
        """Whether some input's score is beyond ``t_fmt`` (then the front end saturates)."""
        lo, hi = self.t_range
        return lo < self.t_fmt.min or hi > self.t_fmt.max

    @property
    def t_fmt(self) -> NumFormat:
        """The base-2 score: signed, T fractional bits, saturated at ±2^16 (or narrower when
        the input range is)."""
        lo, hi = self.t_range
        width = max(self.t_frac + 2, min(range_bits(lo, hi), T_INT_MAX + 1 + self.t_frac))
        return NumFormat(signed=True, width=width, frac=self.t_frac)

    @property
    def e_frac(self) -> int:
        """E: the exp word is ``Q1.E``, e in [0, 2^E]."""
        if self.exp_bits:
            return self.exp_bits
        grow = max(0, (self.max_len - 1).bit_length() - 6)      # doublings beyond 64
        if self.out_frac <= 10:         # goal ≤ 1 LSB
            return self.out_frac + 4 + -(-2 * grow // 3)
        return self.out_frac + 1 + -(-grow // 2)                # goal ≤ 4 LSB

    @property
    def table_bits(self) -> int:
        """B: index bits of the 2^-f table."""
        if self.interpolate:
            return 5
        return self.out_frac - (1 if self.algorithm == "online" else 2)     # F = 8: 7 / 6

    @property
    def interpolate(self) -> bool:
        """Linear interpolation between table entries (for F > 8)."""
        return self.out_frac > 8

    @property
    def exp_guard(self) -> int:
        """G: guard bits of the table entries below the exp word's LSB."""
        return 2

    @property
    def table(self) -> tuple[int, ...]:
        """``round(2^(-j / 2^B) · 2^(E+G))`` for j = 0 … 2^B (round half to even of the
        float64 value, which is exact enough: entries have at most 31 bits)."""
        b, eg = self.table_bits, self.e_frac + self.exp_guard
        return tuple(int(round(2.0 ** (eg - j / (1 << b)))) for j in range((1 << b) + 1))

    @property
    def sum_extra(self) -> int:
        """X: extra fractional bits of the exps that are summed (the exp word of the sum is
        ``Q1.(E+X)``; the normalize multiply uses ``Q1.E``). Small exps rounded to E bits would
        err coherently — n − 1 equal scores round the same way — by up to (n − 1)/2 units of the
        exp word; X grows with the row length instead of E (cheaper: only the adder and the
        divider widen). ``online`` takes one more: its largest exp can be as small as half the
        safe algorithm's (the running max is rounded up to an integer)."""
        online = 1 if self.algorithm == "online" else 0
        return max(2, (self.max_len - 1).bit_length() - 3 + online)

    @property
    def q_max(self) -> int:
        """Integer parts of d from which every exp is 0 (d is clamped to ``q_max · 2^T``)."""
        return self.e_frac + self.exp_guard + self.sum_extra + 1

    @property
    def d_bits(self) -> int:
        """Width of the (clamped) exp unit input d ≥ 0."""
        return self.t_frac + self.q_max.bit_length()

    @property
    def sum_guard(self) -> int:
        """Guard bits of the running sum (online: the rescaling shifts truncate below them)."""
        return 4 if self.algorithm == "online" else 0

    @property
    def sum_bits(self) -> int:
        return (self.e_frac + self.sum_extra + 1 + max(1, (self.max_len - 1).bit_length())
                + self.sum_guard)

    @property
    def recip_frac(self) -> int:
        """P: the reciprocal ``r ≈ 2^(E+X+P+Gs) / S`` (``S`` ≥ 2^(E+X+Gs) safe, > 2^(E+X+Gs−1)
        online)."""
        return self.out_frac + 2

    @property
    def recip_bits(self) -> int:
        return self.recip_frac + (2 if self.algorithm == "online" else 1)

    @property
    def quotient_bits(self) -> int:
        """Quotient bits of the one division per row (one more than r, for rounding)."""
        return self.recip_bits + 1

    @property
    def out_fmt(self) -> NumFormat:
        return NumFormat(signed=False, width=self.out_frac, frac=self.out_frac)

    @property
    def passes(self) -> int:
        return 3 if self.algorithm == "safe" else 2

    @property
    def buffers(self) -> int:
        """Row buffers (banks), one per row in flight: ``row_buffers`` if set, else enough that
        a bank comes free as fast as the slowest stage takes rows, so no stage waits for one (at
        least one per stage: ingest, [sum,] divide, emit; at most 7).

        A bank is held from a row's first beat in to its last beat read by emit:
        ``n + 5 + L + n + 10 + (Q + 2) + n`` cycles (safe) or ``n + 13 + L + (Q + 2) + n``
        (online) for n = ``beats_max``, L = ⌈log2 lanes⌉, Q = ``quotient_bits``; rows come
        every ``max(n, Q + 2)`` cycles."""
        if self.row_buffers:
            return self.row_buffers
        n, q = self.beats_max, self.quotient_bits
        lv = (self.lanes - 1).bit_length()
        if self.algorithm == "safe":
            held, stages = 3 * n + 5 + lv + 10 + q + 2, 4
        else:
            held, stages = 2 * n + 13 + lv + q + 2, 3
        return min(7, max(stages, -(-held // max(n, q + 2))))

    @property
    def buffer_bits(self) -> int:
        """Bits of row-buffer memory: the t buffer, and for ``safe`` the e buffer of normalize
        exps (``Q1.E``) the sum pass writes for the emit pass."""
        word = self.t_fmt.width + (self.e_frac + 1 if self.algorithm == "safe" else 0)
        return self.buffers * self.max_len * word


_BASE = SoftmaxConfig()

PRESETS = {
    "softmax-64-int16": _BASE,
    "softmax-64x4-int8": dataclasses.replace(_BASE, lanes=4, in_type="q4.4", out_frac=8),
    "softmax-4096-int32": dataclasses.replace(_BASE, lanes=2, max_len=4096, in_type="int32",
                                              scale=2.0 ** -12, algorithm="online"),
    "softmax-16x2-q8-online": dataclasses.replace(_BASE, lanes=2, max_len=16, in_type="q5.3",
                                                  out_frac=8, algorithm="online"),
}
