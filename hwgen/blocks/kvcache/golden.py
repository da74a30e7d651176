"""The KV cache's specification: a bit-exact Python model of the controller's state (block
tables, reference counts, free-page list, sequence lengths, page memory) and of every command.

Commands (one row of ``ops``: ``[op, seq, a, b, c]``; unused columns are ignored)

==========  ==============================================================================
op          meaning
==========  ==============================================================================
0 RESET     Every sequence empty, every page free. Always OK.
1 APPEND    Append one token (its K row and V row, consumed in order from ``K`` and ``V``
            whether the command succeeds or not) to sequence ``seq``.
2 READ      Stream positions ``a … a+b−1`` of ``seq``: ``c`` = 1 K rows, 2 V rows, 3 both
            (a row on each output). ``b`` = 0 reads nothing (OK if ``a`` is in range).
3 FREE      Sequence ``seq`` releases its pages and becomes empty (OK when already empty).
4 FORK      Sequence ``a`` (dst, empty) shares the pages of ``seq`` (src): same length, same
            pages, each page's reference count + 1.
5–7         Answered with BAD_OP.
==========  ==============================================================================

Checks, in this order (the first failing one gives the status; see ``Status``):
APPEND: BAD_SEQ, SEQ_FULL (len = max_seq), OUT_OF_PAGES. READ: BAD_SEQ, BAD_OP (c ∉ {1,2,3}),
BAD_RANGE (not 0 ≤ lo ≤ a, 0 ≤ b, a + b ≤ len; lo = max(0, len − window) with a window, else 0).
FREE: BAD_SEQ. FORK: BAD_SEQ (src or dst out of range, or dst = src), SEQ_IN_USE (dst holds
tokens). A failing command changes nothing.

Pages. Token ``p`` of a sequence is in logical page ``lp = p // page_size`` at offset
``p % page_size``; the block table maps ``lp`` (in slot ``lp mod 2^slot_bits``) to a physical
page. A sequence of length ``len`` holds logical pages ``[max(0, n − R), n)`` with
``n = ceil(len / page_size)`` and R = ``ring_pages`` (only a window makes R < n). An APPEND at
offset 0 needs a page: without a window, or while it holds fewer than R pages, it allocates
one; when it holds R pages (window), it drops its oldest page (lp − R): reuses it in place if
its reference count is 1, else decrements that count and allocates. An APPEND at offset > 0
into a page whose reference count is above 1 copies the page's ``offset`` rows into a newly
allocated page first (copy on write) and decrements the old page's count. Allocation takes
the head of the free-page FIFO, or, when that is empty, the lowest page never allocated since
RESET (``fresh``); an allocated page's count is 1. FREE decrements the count of each held
page in logical order and pushes those that reach 0 onto the FIFO.
"""

import numpy as np

from .config import KVCacheConfig, Op, Status, What

__all__ = ["KVCacheModel", "golden", "encode", "to_streams", "counts", "from_streams",
           "FIELDS"]

#: The command word's fields in order, low bits first (widths from the config).
FIELDS = ("op", "seq", "a", "b", "what")


class KVCacheModel:
    """The controller's state and commands, exactly as the hardware keeps them.

    Members (read-only for callers): ``length[s]``; ``table[s][slot]`` (physical page; only
    the held slots mean anything); ``ref[p]`` (meaningful for pages below ``fresh``: RESET,
    like the hardware's, leaves the counts of pages it makes never-used as they were, and an
    allocation sets a page's count to 1); ``fifo`` (free pages, head first); ``fresh``;
    ``mem_k`` / ``mem_v`` (``capacity × row_elems`` int64, row ``page · page_size + offset``).
    """

    def __init__(self, cfg: KVCacheConfig):
        self.cfg = cfg
        self.table = [[0] * (1 << cfg.slot_bits) for _ in range(cfg.num_seqs)]
        self.ref = [0] * cfg.pages
        self.mem_k = np.zeros((cfg.capacity, cfg.row_elems), dtype=np.int64)
        self.mem_v = np.zeros((cfg.capacity, cfg.row_elems), dtype=np.int64)
        self.reset()

    # -- state --
    def reset(self) -> None:
        self.length = [0] * self.cfg.num_seqs
        self.fifo: list[int] = []
        self.fresh = 0

    @property
    def free_pages(self) -> int:
        return len(self.fifo) + self.cfg.pages - self.fresh

    def held(self, s: int) -> list[int]:
        """Logical pages sequence ``s`` holds, oldest first."""
        ps = self.cfg.page_size
        n = -(-self.length[s] // ps)
        return list(range(max(0, n - self.cfg.ring_pages), n))

    def slot(self, lp: int) -> int:
        return lp & ((1 << self.cfg.slot_bits) - 1)

    def pages_of(self, s: int) -> list[int]:
        """Physical pages of sequence ``s``, oldest first."""
        return [self.table[s][self.slot(lp)] for lp in self.held(s)]

    def low(self, s: int) -> int:
        """The first readable position of ``s``."""
        w = self.cfg.window
        return max(0, self.length[s] - w) if w else 0

    def _alloc(self) -> int:
        if self.fifo:
            p = self.fifo.pop(0)
        else:
            p = self.fresh
            self.fresh += 1
        self.ref[p] = 1
        return p

    def _row(self, s: int, pos: int) -> int:
        ps = self.cfg.page_size
        return self.table[s][self.slot(pos // ps)] * ps + pos % ps

    def _valid_seq(self, s: int) -> bool:
        return 0 <= s < self.cfg.num_seqs

    # -- commands --
    def append(self, s: int, k_row, v_row) -> Status:
        cfg = self.cfg
        if not self._valid_seq(s):
            return Status.BAD_SEQ
        n = self.length[s]
        if n >= cfg.seq_limit:
            return Status.SEQ_FULL
        ps, lp, off = cfg.page_size, n // cfg.page_size, n % cfg.page_size
        if off == 0:
            if lp >= cfg.ring_pages:                    # window: drop the oldest page
                old = self.table[s][self.slot(lp - cfg.ring_pages)]
                if self.ref[old] == 1:
                    page = old
                elif self.free_pages == 0:
                    return Status.OUT_OF_PAGES
                else:
                    self.ref[old] -= 1
                    page = self._alloc()
            elif self.free_pages == 0:
                return Status.OUT_OF_PAGES
            else:
                page = self._alloc()
            self.table[s][self.slot(lp)] = page
        else:
            page = self.table[s][self.slot(lp)]
            if self.ref[page] > 1:                      # copy on write
                if self.free_pages == 0:
                    return Status.OUT_OF_PAGES
                new = self._alloc()
                self.mem_k[new * ps:new * ps + off] = self.mem_k[page * ps:page * ps + off]
                self.mem_v[new * ps:new * ps + off] = self.mem_v[page * ps:page * ps + off]
                self.ref[page] -= 1
                self.table[s][self.slot(lp)] = page = new
        self.mem_k[page * ps + off] = k_row
        self.mem_v[page * ps + off] = v_row
        self.length[s] = n + 1
        return Status.OK

    def read_check(self, s: int, a: int, b: int, what: int) -> Status:
        if not self._valid_seq(s):
            return Status.BAD_SEQ
        if what not in (What.K, What.V, What.KV):
            return Status.BAD_OP
        if not (0 <= b and self.low(s) <= a and a + b <= self.length[s]):
            return Status.BAD_RANGE
        return Status.OK

    def read(self, s: int, a: int, b: int, what: int):
        """(status, K rows, V rows): rows are (count × row_elems), empty unless requested."""
        st = self.read_check(s, a, b, what)
        empty = np.zeros((0, self.cfg.row_elems), dtype=np.int64)
        if st != Status.OK:
            return st, empty, empty
        rows = [self._row(s, p) for p in range(a, a + b)]
        k = self.mem_k[rows] if what & What.K else empty
        v = self.mem_v[rows] if what & What.V else empty
        return st, k, v

    def free(self, s: int) -> Status:
        if not self._valid_seq(s):
            return Status.BAD_SEQ
        for p in self.pages_of(s):
            self.ref[p] -= 1
            if self.ref[p] == 0:
                self.fifo.append(p)
        self.length[s] = 0
        return Status.OK

    def fork(self, src: int, dst: int) -> Status:
        if not (self._valid_seq(src) and self._valid_seq(dst)) or src == dst:
            return Status.BAD_SEQ
        if self.length[dst]:
            return Status.SEQ_IN_USE
        for lp in self.held(src):
            p = self.table[src][self.slot(lp)]
            self.table[dst][self.slot(lp)] = p
            self.ref[p] += 1
        self.length[dst] = self.length[src]
        return Status.OK

    def command(self, op: int, seq: int, a: int, b: int, c: int, k_row=None, v_row=None):
        """One command: (status, K rows, V rows)."""
        empty = np.zeros((0, self.cfg.row_elems), dtype=np.int64)
        if op == Op.RESET:
            self.reset()
            return Status.OK, empty, empty
        if op == Op.APPEND:
            return self.append(seq, k_row, v_row), empty, empty
        if op == Op.READ:
            return self.read(seq, a, b, c)
        if op == Op.FREE:
            return self.free(seq), empty, empty
        if op == Op.FORK:
            return self.fork(seq, a), empty, empty
        return Status.BAD_OP, empty, empty


def golden(cfg: KVCacheConfig, ops, K, V) -> dict:
    """Run ``ops`` on an empty cache: ``status`` (n,), ``K_out``, ``V_out`` (rows read)."""
    ops = np.asarray(ops, dtype=np.int64).reshape(-1, 5)
    model = KVCacheModel(cfg)
    status, k_out, v_out = [], [], []
    i = 0
    for op, seq, a, b, c in ops.tolist():
        k_row = v_row = None
        if op == Op.APPEND:
            k_row, v_row = K[i], V[i]
            i += 1
        st, k, v = model.command(op, seq, a, b, c, k_row, v_row)
        status.append(int(st))
        k_out.append(k)
        v_out.append(v)
    re = cfg.row_elems
    return {"status": np.array(status, dtype=np.int64),
            "K_out": np.concatenate(k_out).reshape(-1, re).astype(np.int64) if k_out
            else np.zeros((0, re), dtype=np.int64),
            "V_out": np.concatenate(v_out).reshape(-1, re).astype(np.int64) if v_out
            else np.zeros((0, re), dtype=np.int64)}


# -- streams --

def encode(cfg: KVCacheConfig, op: int, seq: int, a: int, b: int, c: int) -> dict:
    """One command word (a dict of fields). Values a field cannot hold are sent as its
    reserved value, which the hardware answers as the golden model answers the original:
    all ones for ``seq``, ``a`` and ``b`` (never a valid id, position or count) and 0 for
    ``what`` (never a valid choice). Unused fields are sent as 0."""
    if not 0 <= op <= 7:
        raise ValueError(f"op must be in [0, 7] (a 3-bit field), not {op}")

    def clamp(v, bits):
        return v if 0 <= v < (1 << bits) else (1 << bits) - 1

    word = {"op": op, "seq": 0, "a": 0, "b": 0, "what": 0}
    if op in (Op.APPEND, Op.READ, Op.FREE, Op.FORK):
        word["seq"] = clamp(seq, cfg.seq_bits)
    if op in (Op.READ, Op.FORK):
        word["a"] = clamp(a, cfg.pos_bits)
    if op == Op.READ:
        word["b"] = clamp(b, cfg.pos_bits)
        word["what"] = c if 0 <= c <= 3 else 0
    return word


def _beats(cfg: KVCacheConfig, rows) -> list:
    be = cfg.beat_elems
    return [[int(x) for x in row[j * be:(j + 1) * be]] for row in np.asarray(rows)
            for j in range(cfg.beats)]


def to_streams(cfg: KVCacheConfig, ops, K, V) -> dict:
    """A RESET first (every job starts from an empty cache), then one command word per row of
    ``ops``; the K and V rows as beats (``port_elems`` elements each, element 0 first)."""
    ops = np.asarray(ops, dtype=np.int64).reshape(-1, 5)
    cmds = [encode(cfg, Op.RESET, 0, 0, 0, 0)]
    cmds += [encode(cfg, *map(int, row)) for row in ops]
    return {"i_cmd": cmds, "i_k": _beats(cfg, K), "i_v": _beats(cfg, V)}


def counts(cfg: KVCacheConfig, ops, K, V) -> dict:
    g = golden(cfg, ops, K, V)
    b = cfg.beats
    return {"o_status": len(g["status"]) + 1, "o_k": len(g["K_out"]) * b,
            "o_v": len(g["V_out"]) * b}


def from_streams(cfg: KVCacheConfig, streams: dict, ops, K, V) -> dict:
    """Statuses (the leading RESET's must be OK and is dropped) and the rows read."""
    st = [int(v) for v in streams["o_status"]]
    if not st or st[0] != Status.OK:
        raise ValueError(f"the job's leading RESET answered {st[:1]}, not [0]")
    re, b = cfg.row_elems, cfg.beats

    def rows(beats):
        if len(beats) % b:
            raise ValueError(f"{len(beats)} beats is not a whole number of {b}-beat rows")
        flat = np.array(beats, dtype=np.int64).reshape(-1)
        return flat.reshape(-1, re)

    return {"status": np.array(st[1:], dtype=np.int64), "K_out": rows(streams["o_k"]),
            "V_out": rows(streams["o_v"])}
