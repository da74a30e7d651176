"""MXU configuration: formats, array size, dataflow, accumulator; derived widths; presets."""

import dataclasses
import math

from ...core.config import BlockConfig, check_bool, check_choice, check_int
from ...core.numerics import (
    OVERFLOW_MODES,
    NumFormat,
    bits_for_range,
    parse_format,
    range_bits,
    sum_range,
)

__all__ = ["MXUConfig", "DATAFLOWS", "MULTS", "PRESETS"]

DATAFLOWS = ("ws", "os")
MULTS = ("auto", "lut")
MAX_DIM = 1 << 20


@dataclasses.dataclass(frozen=True, kw_only=True)
class MXUConfig(BlockConfig):
    """A systolic int matrix unit computing ``C = A·B (+ D)`` for runtime M, K, N.

    Parameters
    ----------
    rows, cols : int
        The array is ``rows × cols`` PEs (R × C), each one multiply-accumulate per cycle.
        Weight-stationary: R spans K, C spans N. Output-stationary: R spans M, C spans N.
    a_type, b_type : str
        Operand formats of A (activations) and B (weights): ``int2``…``int16`` or
        ``uint1``…``uint16``.
    dataflow : "ws" | "os"
        Weight-stationary (weights held in PEs, partial sums flow down, K tiled through an
        on-chip accumulator) or output-stationary (outputs held in PEs, K streamed).
    max_m, max_k, max_n : int
        Largest runtime dimensions; they size the command fields. ``max_k`` also sizes the exact
        accumulator.
    acc_width : int
        Accumulator bits; 0 means exact: wide enough for ``max_k`` products without overflow.
    overflow : "wrap" | "saturate"
        What the accumulator does when a sum leaves its range (only reachable with an explicit
        ``acc_width``, ``K > max_k`` or the bias add).
    acc_depth : int
        Weight-stationary only: rows of the on-chip accumulator, the M chunk of the tiling.
    bias : bool
        Adds an ``i_d`` input stream: ``C = A·B + D``.
    mult : "auto" | "lut"
        ``auto`` lets synthesis map the (pipelined) multipliers to DSP blocks; ``lut`` keeps them
        in logic (Yosys ``(* mul2dsp *)`` is disabled by a ``nomult`` attribute).
    """

    block = "mxu"
    rows: int = 4
    cols: int = 4
    a_type: str = "int8"
    b_type: str = "int8"
    dataflow: str = "ws"
    max_m: int = 4096
    max_k: int = 4096
    max_n: int = 4096
    acc_width: int = 0
    overflow: str = "wrap"
    acc_depth: int = 32
    bias: bool = False
    mult: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        check_int("rows", self.rows, 1, 64)
        check_int("cols", self.cols, 1, 64)
        for key in ("a_type", "b_type"):
            fmt = parse_format(getattr(self, key), key)
            if fmt.frac or not (2 if fmt.signed else 1) <= fmt.width <= 16:
                raise ValueError(f"{key} must be an integer format int2..int16 or uint1..uint16, "
                                 f"not {getattr(self, key)!r}")
        check_choice("dataflow", self.dataflow, DATAFLOWS)
        for key in ("max_m", "max_k", "max_n"):
            check_int(key, getattr(self, key), 1, MAX_DIM)
        check_int("acc_depth", self.acc_depth, 1, 4096)
        check_choice("overflow", self.overflow, OVERFLOW_MODES)
        check_bool("bias", self.bias)
        check_choice("mult", self.mult, MULTS)
        check_int("acc_width", self.acc_width, 0, 62)
        lo = self.product_fmt.width
        if self.acc_width and self.acc_width < lo:
            raise ValueError(f"acc_width must be 0 (exact) or in [{lo}, 62] for "
                             f"{self.a_type}×{self.b_type}, not {self.acc_width!r}")
        exact = range_bits(*sum_range(self.a_fmt, self.b_fmt, self.max_k))
        if self.acc_width == 0 and exact > 62:
            raise ValueError(f"max_k ({self.max_k}) needs a {exact}-bit exact accumulator; "
                             f"set acc_width (at most 62) or lower max_k")

    def default_name(self) -> str:
        a = self.a_type if self.a_type == self.b_type else f"{self.a_type}_{self.b_type}"
        return f"mxu_{self.dataflow}_{self.rows}x{self.cols}_{a}"

    # -- derived values (RTL, golden model and testbench read these; none recomputes them) --
    @property
    def a_fmt(self) -> NumFormat:
        return parse_format(self.a_type)

    @property
    def b_fmt(self) -> NumFormat:
        return parse_format(self.b_type)

    @property
    def product_fmt(self) -> NumFormat:
        return bits_for_range(*sum_range(self.a_fmt, self.b_fmt, 1))

    @property
    def group(self) -> int:
        """Products summed exactly before each accumulator update (R for ws, 1 for os)."""
        return self.rows if self.dataflow == "ws" else 1

    @property
    def psum_fmt(self) -> NumFormat:
        """Exact format of a column's partial sum over one K tile (weight-stationary)."""
        return bits_for_range(*sum_range(self.a_fmt, self.b_fmt, self.group))

    @property
    def exact_acc_fmt(self) -> NumFormat:
        return bits_for_range(*sum_range(self.a_fmt, self.b_fmt, self.max_k))

    @property
    def acc_fmt(self) -> NumFormat:
        if self.acc_width == 0:
            return self.exact_acc_fmt
        signed = self.a_fmt.signed or self.b_fmt.signed
        return NumFormat(signed=signed, width=self.acc_width)

    @property
    def dim_bits(self) -> dict:
        """Width of each command field (they carry dimension − 1)."""
        return {d: max(1, (getattr(self, f"max_{d}") - 1).bit_length()) for d in "mkn"}

    @property
    def out_fifo_depth(self) -> int:
        """Output FIFO rows: covers the credit round trip so the array never waits for it."""
        extra = self.rows if self.dataflow == "os" else 0
        return self.rows + self.cols + 9 + extra

    @property
    def macs(self) -> int:
        return self.rows * self.cols

    def tiles(self, m: int, k: int, n: int) -> dict:
        """Tile counts of an M×K×N GEMM."""
        if self.dataflow == "ws":
            return {"n_tiles": math.ceil(n / self.cols), "k_tiles": math.ceil(k / self.rows),
                    "m_chunks": math.ceil(m / self.acc_depth)}
        return {"n_tiles": math.ceil(n / self.cols), "m_tiles": math.ceil(m / self.rows)}


_BASE = MXUConfig()

PRESETS = {
    "mxu-2x2-int8": dataclasses.replace(_BASE, rows=2, cols=2),
    "mxu-4x4-int8": _BASE,
    "mxu-8x8-int8": dataclasses.replace(_BASE, rows=8, cols=8),
    # the largest array of ECP5-85k: 144 of its 156 MULT18X18D, one per MAC
    "mxu-12x12-int8": dataclasses.replace(_BASE, rows=12, cols=12),
    # multipliers in logic, for devices with few DSPs (iCE40 UP5K has 8)
    "mxu-4x4-int8-lut": dataclasses.replace(_BASE, mult="lut"),
    "mxu-2x4-int8": dataclasses.replace(_BASE, rows=2, cols=4),
    "mxu-4x4-int8-os": dataclasses.replace(_BASE, dataflow="os"),
    "mxu-4x4-int16-sat": dataclasses.replace(_BASE, a_type="int16", b_type="int16", acc_width=32,
                                             overflow="saturate", bias=True),
    "mxu-3x5-uint8-bias": dataclasses.replace(_BASE, rows=3, cols=5, a_type="uint8",
                                              b_type="int4", bias=True, acc_depth=8),
}
