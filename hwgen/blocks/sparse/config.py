"""Sparse engine configuration: mode, lanes, N:M pattern, window, formats; derived sizes."""

import dataclasses
import math

from ...core.config import BlockConfig, check_choice, check_int
from ...core.numerics import OVERFLOW_MODES, NumFormat, parse_format

__all__ = ["SparseConfig", "MODES", "PRESETS", "MAX_DIM", "OUT_DEPTH"]

MODES = ("nm", "act", "dense")
MAX_DIM = 4096           # largest rows and n of a job (command fields, 40-bit counters)
MAX_K = 4096
OUT_DEPTH = 16           # output FIFO entries (credits): more than the issue → output latency


def _pow2(x: int) -> bool:
    return x > 0 and not x & (x - 1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SparseConfig(BlockConfig):
    """A zero-skipping matrix-vector engine computing ``Y = W · X`` for runtime rows, K, n.

    ``lanes`` multipliers each own one row of a tile of ``lanes`` rows of W, held in on-chip
    memory (two banks, one per tile in turn: a tile's load starts the cycle after the previous
    tile's last issue, while its products drain). The columns of X stream in as beats of
    ``window`` elements; an issue stage sends one weight slot a cycle to all lanes.

    Parameters
    ----------
    mode : "nm" | "act" | "dense"
        ``nm``: W is N:M structured sparse (``keep`` of every ``group`` along K); only the kept
        weights are stored and issued, each lane picks its activation from the group by the
        weight's position. ``act``: dense W; zero activations are skipped (only non-zero
        elements of a beat are issued, lowest index first). ``dense``: every element is issued
        (the baseline, same multipliers).
    lanes : int
        Multipliers (rows of W per tile), 1…32.
    keep, group : int
        The N:M pattern (``nm`` only): ``group`` is 2, 4, 8 or 16; ``keep`` in [1, group − 1].
    window : int
        Activation elements per beat of ``i_x`` (the compaction window), a power of two 1…64;
        in ``nm`` mode a multiple of ``group``.
    max_k : int
        Largest K: sizes the weight memory (a multiple of ``window``, at most 4096).
    w_type, x_type : str
        Signed formats of W and X, ``int2``…``int18``.
    acc_width : int
        Accumulator (and Y) bits, 8…48.
    overflow : "wrap" | "saturate"
        What the accumulator does when a sum leaves its range; saturation is applied after
        every product, in ascending k (skipped zeros change nothing).
    """

    block = "sparse"
    mode: str = "nm"
    lanes: int = 8
    keep: int = 2
    group: int = 4
    window: int = 8
    max_k: int = 256
    w_type: str = "int8"
    x_type: str = "int8"
    acc_width: int = 32
    overflow: str = "wrap"

    def __post_init__(self):
        super().__post_init__()
        check_choice("mode", self.mode, MODES)
        check_int("lanes", self.lanes, 1, 32)
        check_int("group", self.group, 2, 16)
        if not _pow2(self.group):
            raise ValueError(f"group must be one of 2, 4, 8, 16, not {self.group!r}")
        check_int("keep", self.keep, 1, self.group - 1)
        check_int("window", self.window, 1, 64)
        if not _pow2(self.window):
            raise ValueError(f"window must be a power of two in [1, 64], not {self.window!r}")
        if self.mode == "nm" and self.window % self.group:
            raise ValueError(f"window must be a multiple of group ({self.group}) in nm mode, "
                             f"not {self.window!r}")
        check_int("max_k", self.max_k, 1, MAX_K)
        if self.max_k % self.window:
            raise ValueError(f"max_k must be a multiple of window ({self.window}), "
                             f"not {self.max_k!r}")
        for key in ("w_type", "x_type"):
            fmt = parse_format(getattr(self, key), key)
            if not fmt.signed or fmt.frac or not 2 <= fmt.width <= 18:
                raise ValueError(f"{key} must be a signed integer format int2…int18, "
                                 f"not {getattr(self, key)!r}")
        check_int("acc_width", self.acc_width, 8, 48)
        check_choice("overflow", self.overflow, OVERFLOW_MODES)

    def default_name(self) -> str:
        mode = f"nm{self.keep}of{self.group}" if self.nm else self.mode
        sat = "s" if self.overflow == "saturate" else ""
        return (f"sparse_{mode}_{self.lanes}x{self.window}_k{self.max_k}_"
                f"{self.w_fmt.width}x{self.x_fmt.width}_a{self.acc_width}{sat}")

    # -- formats --
    @property
    def w_fmt(self) -> NumFormat:
        return parse_format(self.w_type)

    @property
    def x_fmt(self) -> NumFormat:
        return parse_format(self.x_type)

    @property
    def acc_fmt(self) -> NumFormat:
        return NumFormat(signed=True, width=self.acc_width)

    # -- derived sizes --
    @property
    def nm(self) -> bool:
        return self.mode == "nm"

    @property
    def idx_bits(self) -> int:
        """Bits of a kept weight's position in its group."""
        return self.group.bit_length() - 1

    @property
    def unit(self) -> int:
        """Elements per issue unit: a group in ``nm`` mode, one element otherwise."""
        return self.group if self.nm else 1

    @property
    def slots(self) -> int:
        """Issue slots (cycles) per unit: ``keep`` in ``nm`` mode, 1 otherwise."""
        return self.keep if self.nm else 1

    @property
    def units(self) -> int:
        """Issue units per beat."""
        return self.window // self.unit

    def words(self, K: int) -> int:
        """Weight memory words (``i_w`` transfers) per tile for a K: K, or ⌈K/group⌉·keep."""
        return -(-K // self.group) * self.keep if self.nm else K

    @property
    def max_words(self) -> int:
        return self.words(self.max_k)

    def beats(self, K: int) -> int:
        """``i_x`` transfers per column."""
        return -(-K // self.window)

    @property
    def addr_bits(self) -> int:
        """Weight memory address bits within a bank."""
        return max(1, (self.max_words - 1).bit_length())

    @property
    def k_bits(self) -> int:
        return max(1, (self.max_k - 1).bit_length())

    @property
    def dim_bits(self) -> int:
        return max(1, (MAX_DIM - 1).bit_length())

    @property
    def tile_bits(self) -> int:
        return max(1, (math.ceil(MAX_DIM / self.lanes) - 1).bit_length())

    @property
    def stat_bits(self) -> int:
        """Counter width: holds every count of the largest job."""
        return 40


PRESETS = {
    "sparse-8lane-int8": SparseConfig(mode="nm", lanes=8, window=8, max_k=256),
    "sparse-4lane-int16-sat": SparseConfig(mode="act", lanes=4, window=8, max_k=256,
                                           w_type="int16", x_type="int16", overflow="saturate"),
    "sparse-8lane-int8-w32": SparseConfig(mode="act", lanes=8, window=32, max_k=1024),
    "sparse-2lane-int8-up5k": SparseConfig(mode="nm", lanes=2, window=4, max_k=64),
}
