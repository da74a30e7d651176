"""KV-cache configuration: sequences, pages, rows, ports; command encoding and status codes."""

import dataclasses
import enum

from ...core.config import BlockConfig, check_choice, check_int
from ...core.numerics import NumFormat

__all__ = ["KVCacheConfig", "Op", "Status", "What", "PRESETS", "DTYPES"]

DTYPES = ("int8", "int16")
MAX_SEQS = 64
MAX_PAGES = 4096
MAX_PAGE_SIZE = 256
MAX_ROW = 1024              # elements of a K (or V) row
MAX_POSITION = 1 << 24      # max_seq bound (window mode: absolute positions)


class Op(enum.IntEnum):
    """Command op codes (the ``op`` field, 3 bits; 5–7 are answered with ``BAD_OP``)."""

    RESET = 0
    APPEND = 1
    READ = 2
    FREE = 3
    FORK = 4


class What(enum.IntEnum):
    """What a READ streams back (the ``what`` field; 0 is answered with ``BAD_OP``)."""

    K = 1
    V = 2
    KV = 3


class Status(enum.IntEnum):
    """Status codes, one per command on ``o_status``. Every non-zero code leaves the cache
    exactly as it was before the command (an APPEND still consumes its K and V rows)."""

    OK = 0
    OUT_OF_PAGES = 1    # APPEND needs a page (new page, copy-on-write, window) and none is free
    SEQ_FULL = 2        # APPEND to a sequence that holds max_seq tokens
    BAD_SEQ = 3         # seq (or FORK's dst) not in [0, num_seqs), or FORK with dst = src
    BAD_RANGE = 4       # READ outside the readable positions [lo, len)
    SEQ_IN_USE = 5      # FORK into a sequence that holds tokens
    BAD_OP = 6          # op code 5–7, or READ with what not in {1, 2, 3}


@dataclasses.dataclass(frozen=True, kw_only=True)
class KVCacheConfig(BlockConfig):
    """A paged key/value cache for ``num_seqs`` sequences sharing ``capacity`` token slots.

    Parameters
    ----------
    num_seqs : int
        Sequences (1 … 64); commands name one by its id in [0, num_seqs).
    capacity : int
        Token slots of on-chip memory shared by all sequences (a multiple of ``page_size``;
        ``capacity / page_size`` physical pages, 2 … 4096).
    page_size : int
        Tokens per page (a power of two, 1 … 256).
    max_seq : int
        Longest sequence in tokens (a multiple of ``page_size``); sizes the block table.
        0 = ``capacity`` (without a window) or 65536 (with one: positions are absolute).
    window : int
        0 = off. Otherwise a sliding window of the last ``window`` tokens per sequence (a
        multiple of ``page_size``): a sequence holds at most ``window / page_size + 1`` pages
        in a ring, reuses its oldest page when it is not shared, and only positions
        ``[len − window, len)`` are readable.
    kv_heads, head_dim : int
        A K (or V) row is ``kv_heads × head_dim`` elements (at most 1024), row-major by head.
    dtype : "int8" | "int16"
        Element type of K and V.
    port_elems : int
        Elements per stream beat and memory word; 0 = a whole row. A row is
        ``row_elems / port_elems`` beats (a power of two), element 0 first.
    """

    block = "kvcache"
    num_seqs: int = 4
    capacity: int = 512
    page_size: int = 16
    max_seq: int = 0
    window: int = 0
    kv_heads: int = 2
    head_dim: int = 32
    dtype: str = "int8"
    port_elems: int = 0

    def __post_init__(self):
        super().__post_init__()
        check_int("num_seqs", self.num_seqs, 1, MAX_SEQS)
        check_int("page_size", self.page_size, 1, MAX_PAGE_SIZE)
        if self.page_size & (self.page_size - 1):
            raise ValueError(f"page_size must be a power of two in [1, {MAX_PAGE_SIZE}], "
                             f"not {self.page_size!r}")
        check_int("capacity", self.capacity, 1, MAX_PAGES * MAX_PAGE_SIZE)
        if self.capacity % self.page_size:
            raise ValueError(f"capacity must be a multiple of page_size ({self.page_size}), "
                             f"not {self.capacity!r}")
        if not 2 <= self.pages <= MAX_PAGES:
            raise ValueError(f"capacity / page_size must be in [2, {MAX_PAGES}] pages, not "
                             f"{self.pages} (capacity {self.capacity}, page_size "
                             f"{self.page_size})")
        check_int("window", self.window, 0, MAX_POSITION)
        if self.window:
            if self.window % self.page_size:
                raise ValueError(f"window must be 0 (off) or a multiple of page_size "
                                 f"({self.page_size}), not {self.window!r}")
            if self.ring_pages > self.pages:
                raise ValueError(f"window must be at most {(self.pages - 1) * self.page_size} "
                                 f"(a sequence holds window / page_size + 1 of the "
                                 f"{self.pages} pages), not {self.window!r}")
        check_int("max_seq", self.max_seq, 0, MAX_POSITION)
        if self.max_seq:
            if self.max_seq % self.page_size:
                raise ValueError(f"max_seq must be 0 (auto) or a multiple of page_size "
                                 f"({self.page_size}), not {self.max_seq!r}")
            if not self.window and self.max_seq > self.capacity:
                raise ValueError(f"max_seq must be 0 (auto) or at most capacity "
                                 f"({self.capacity}) without a window, not {self.max_seq!r}")
        check_int("kv_heads", self.kv_heads, 1, 64)
        check_int("head_dim", self.head_dim, 1, MAX_ROW)
        if self.row_elems > MAX_ROW:
            raise ValueError(f"kv_heads × head_dim must be at most {MAX_ROW}, not "
                             f"{self.row_elems} ({self.kv_heads} × {self.head_dim})")
        check_choice("dtype", self.dtype, DTYPES)
        check_int("port_elems", self.port_elems, 0, MAX_ROW)
        if self.port_elems:
            b = self.row_elems // self.port_elems
            if self.row_elems % self.port_elems or b & (b - 1):
                raise ValueError(f"port_elems must be 0 (a whole row) or row_elems "
                                 f"({self.row_elems}) divided by a power of two, not "
                                 f"{self.port_elems!r}")

    def default_name(self) -> str:
        w = f"_w{self.window}" if self.window else ""
        b = f"_b{self.beats}" if self.beats > 1 else ""
        return (f"kvcache_{self.num_seqs}s_{self.capacity}x{self.page_size}{w}_"
                f"{self.kv_heads}x{self.head_dim}_{self.dtype}{b}")

    # -- derived values (RTL, golden model and testbench read these; none recomputes them) --
    @property
    def pages(self) -> int:
        """Physical pages."""
        return self.capacity // self.page_size

    @property
    def seq_limit(self) -> int:
        """The longest sequence (``max_seq`` resolved)."""
        if self.max_seq:
            return self.max_seq
        return 1 << 16 if self.window else self.capacity

    @property
    def ring_pages(self) -> int:
        """Pages a sequence holds at most: R = window / page_size + 1 with a window."""
        if self.window:
            return self.window // self.page_size + 1
        return self.seq_limit // self.page_size

    @property
    def slot_bits(self) -> int:
        """Block-table index bits per sequence: logical page lp lives in slot lp mod 2^bits."""
        return max(0, (self.ring_pages - 1).bit_length())

    @property
    def row_elems(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def elem_fmt(self) -> NumFormat:
        return NumFormat(signed=True, width=8 if self.dtype == "int8" else 16)

    @property
    def beat_elems(self) -> int:
        return self.port_elems or self.row_elems

    @property
    def beats(self) -> int:
        """Beats (memory words) of one row."""
        return self.row_elems // self.beat_elems

    @property
    def beat_bits(self) -> int:
        return self.beat_elems * self.elem_fmt.width

    @property
    def row_bytes(self) -> int:
        return self.row_elems * self.elem_fmt.width // 8

    # field widths of the command word (see ``golden.encode``)
    @property
    def seq_bits(self) -> int:
        """The ``seq`` field: holds num_seqs, so its all-ones value is never a valid id."""
        return self.num_seqs.bit_length()

    @property
    def pos_bits(self) -> int:
        """The ``a`` and ``b`` fields: hold max_seq + 1 and num_seqs (FORK's dst), so all ones
        is never a valid position, count or id."""
        return max((self.seq_limit + 1).bit_length(), self.seq_bits)

    @property
    def len_bits(self) -> int:
        return self.seq_limit.bit_length()

    @property
    def page_bits(self) -> int:
        return max(1, (self.pages - 1).bit_length())

    @property
    def ref_bits(self) -> int:
        """A reference count holds 0 … num_seqs (a sequence holds a page at most once)."""
        return self.num_seqs.bit_length()

    @property
    def words(self) -> int:
        """Words of the K memory (and of the V memory)."""
        return self.capacity * self.beats

    @property
    def memory_bits(self) -> int:
        return 2 * self.words * self.beat_bits


_BASE = KVCacheConfig()

PRESETS = {
    "kvcache-4seq-512": _BASE,
    "kvcache-2seq-128-up5k": dataclasses.replace(_BASE, num_seqs=2, capacity=128, page_size=8,
                                                 kv_heads=1, head_dim=16, port_elems=8),
    "kvcache-4seq-window": dataclasses.replace(_BASE, capacity=256, page_size=8, window=32,
                                               max_seq=4096, kv_heads=1, head_dim=16,
                                               dtype="int16"),
}
