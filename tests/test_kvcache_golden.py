"""The KV-cache golden model against an independent logical reference, its state invariants,
hand-computed scenarios, the command encoding, streams, inputs, config checks and cycle model.

The reference (``NaiveCache``, written from the ``hwgen.blocks.kvcache.golden`` docstring; it
never calls ``KVCacheModel``) keeps no physical pages, block tables, counts or free list: a
sequence is a Python list of ``Page`` objects, each holding its tokens as (K row, V row) tuples.
FORK shares page objects (sharing is by identity), APPEND into a shared partly filled page
copies it first, a window drops the oldest page object, FREE forgets the list. Pages in use are
the distinct page objects any sequence holds; an allocation fails when they number ``pages``.
"""

import copy
import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwgen.blocks.kvcache import INFO
from hwgen.blocks.kvcache.config import DTYPES, PRESETS, KVCacheConfig, Op, Status, What
from hwgen.blocks.kvcache.golden import (
    FIELDS,
    KVCacheModel,
    counts,
    encode,
    from_streams,
    golden,
    to_streams,
)
from hwgen.blocks.kvcache.model import model, schedule
from hwgen.blocks.kvcache.rtl import CMD_LATENCY
from hwgen.blocks.kvcache.tensors import TENSORS, decode_workload, random_ops, rows_for

PRESET_NAMES = sorted(PRESETS)


# -- the naive reference ----------------------------------------------------------------------

class Page:
    """One logical page: the tokens written into it, oldest first."""

    __slots__ = ("tokens",)

    def __init__(self, tokens=()):
        self.tokens = list(tokens)


class NaiveCache:
    """Sequences as lists of shared ``Page`` objects (see the module docstring)."""

    def __init__(self, cfg: KVCacheConfig):
        self.cfg = cfg
        self.reset()

    def reset(self):
        self.pages = [[] for _ in range(self.cfg.num_seqs)]     # held pages, oldest first
        self.length = [0] * self.cfg.num_seqs

    # pages in use: distinct page objects any sequence holds
    def in_use(self) -> int:
        return len({id(p) for ps in self.pages for p in ps})

    def holders(self, page) -> int:
        return sum(any(q is page for q in ps) for ps in self.pages)

    def can_allocate(self) -> bool:
        return self.in_use() < self.cfg.pages

    def low(self, s: int) -> int:
        w = self.cfg.window
        return max(0, self.length[s] - w) if w else 0

    def valid(self, s: int) -> bool:
        return 0 <= s < self.cfg.num_seqs

    def token(self, s: int, pos: int):
        ps = self.cfg.page_size
        n = -(-self.length[s] // ps)                   # logical pages so far
        first = n - len(self.pages[s])                 # logical page of pages[s][0]
        i = pos // ps - first
        assert 0 <= i < len(self.pages[s]), "a readable position outside the held pages"
        return self.pages[s][i].tokens[pos % ps]

    def append(self, s, k, v) -> Status:
        cfg = self.cfg
        if not self.valid(s):
            return Status.BAD_SEQ
        n = self.length[s]
        if n == cfg.seq_limit:
            return Status.SEQ_FULL
        off = n % cfg.page_size
        held = self.pages[s]
        if off == 0:
            ring_full = cfg.window and len(held) == cfg.window // cfg.page_size + 1
            if ring_full and self.holders(held[0]) == 1:
                pass                                    # the dropped page is reused
            elif not self.can_allocate():
                return Status.OUT_OF_PAGES
            if ring_full:
                held.pop(0)
            held.append(Page())
        elif self.holders(held[-1]) > 1:                # copy on write
            if not self.can_allocate():
                return Status.OUT_OF_PAGES
            held[-1] = Page(held[-1].tokens[:off])
        assert len(held[-1].tokens) == off
        held[-1].tokens.append((tuple(k), tuple(v)))
        self.length[s] = n + 1
        return Status.OK

    def read(self, s, a, b, c):
        if not self.valid(s):
            return Status.BAD_SEQ, []
        if c not in (1, 2, 3):
            return Status.BAD_OP, []
        if not (b >= 0 and self.low(s) <= a and a + b <= self.length[s]):
            return Status.BAD_RANGE, []
        return Status.OK, [self.token(s, p) for p in range(a, a + b)]

    def free(self, s) -> Status:
        if not self.valid(s):
            return Status.BAD_SEQ
        self.pages[s] = []
        self.length[s] = 0
        return Status.OK

    def fork(self, src, dst) -> Status:
        if not (self.valid(src) and self.valid(dst)) or src == dst:
            return Status.BAD_SEQ
        if self.length[dst]:
            return Status.SEQ_IN_USE
        self.pages[dst] = list(self.pages[src])
        self.length[dst] = self.length[src]
        return Status.OK


def naive(cfg: KVCacheConfig, ops, K, V) -> dict:
    """The reference's ``golden``: statuses and the K / V rows read."""
    ref = NaiveCache(cfg)
    status, k_out, v_out = [], [], []
    i = 0
    for op, s, a, b, c in np.asarray(ops, dtype=np.int64).reshape(-1, 5).tolist():
        if op == Op.RESET:
            ref.reset()
            st_ = Status.OK
        elif op == Op.APPEND:
            st_ = ref.append(s, [int(x) for x in K[i]], [int(x) for x in V[i]])
            i += 1
        elif op == Op.READ:
            st_, toks = ref.read(s, a, b, c)
            if c & What.K:
                k_out += [t[0] for t in toks]
            if c & What.V:
                v_out += [t[1] for t in toks]
        elif op == Op.FREE:
            st_ = ref.free(s)
        elif op == Op.FORK:
            st_ = ref.fork(s, a)
        else:
            st_ = Status.BAD_OP
        status.append(int(st_))
    re_ = cfg.row_elems
    return {"status": np.array(status, dtype=np.int64),
            "K_out": np.array(k_out, dtype=np.int64).reshape(-1, re_),
            "V_out": np.array(v_out, dtype=np.int64).reshape(-1, re_)}


def assert_same(cfg, job):
    got = golden(cfg, job["ops"], job["K"], job["V"])
    want = naive(cfg, job["ops"], job["K"], job["V"])
    bad = np.flatnonzero(got["status"] != want["status"])
    assert not bad.size, (f"{cfg}: command {bad[0]} {job['ops'][bad[0]].tolist()}: golden "
                          f"{got['status'][bad[0]]}, reference {want['status'][bad[0]]}")
    for key in ("K_out", "V_out"):
        assert got[key].dtype == np.int64
        assert got[key].shape == want[key].shape, key
        assert np.array_equal(got[key], want[key]), key
    return got


# -- random small configs -----------------------------------------------------------------------

@st.composite
def small_cfgs(draw):
    """num_seqs 1–5, page_size 1/2/4/8, 2–6 pages, window 0 or a multiple of page_size, max_seq
    small enough for SEQ_FULL, small rows, int8/int16, every legal port width."""
    ps = draw(st.sampled_from([1, 2, 4, 8]))
    pages = draw(st.integers(2, 6))
    window = ps * draw(st.integers(1, pages - 1)) if draw(st.booleans()) else 0
    top = 4 * pages if window else pages
    max_seq = ps * draw(st.integers(1, top)) if draw(st.integers(0, 4)) else 0
    kv_heads, head_dim = draw(st.integers(1, 2)), draw(st.integers(1, 4))
    row = kv_heads * head_dim
    ports = [0] + [row >> j for j in range(row.bit_length()) if row % (1 << j) == 0]
    return KVCacheConfig(num_seqs=draw(st.integers(1, 5)), capacity=ps * pages, page_size=ps,
                         window=window, max_seq=max_seq, kv_heads=kv_heads, head_dim=head_dim,
                         dtype=draw(st.sampled_from(DTYPES)),
                         port_elems=draw(st.sampled_from(ports)))


WEIGHTS = [None, {"fork": 3, "free": 2}, {"read": 1, "fork": 4, "free": 1, "reset": 0.2}]


# -- golden == reference ----------------------------------------------------------------------

@pytest.mark.parametrize("name", PRESET_NAMES)
@pytest.mark.parametrize("weights", WEIGHTS)
def test_golden_matches_reference_presets(name, weights, rng):
    cfg = PRESETS[name]
    job = random_ops(cfg, rng, 700, errors=0.15, weights=weights)
    got = assert_same(cfg, job)
    assert (got["status"] == Status.OK).mean() > 0.5


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_golden_matches_reference_decode(name, rng):
    cfg = PRESETS[name]
    job = decode_workload(cfg, rng, prompt=cfg.capacity // cfg.num_seqs // 2, steps=3)
    got = assert_same(cfg, job)
    assert not got["status"].any()


@settings(max_examples=60)
@given(small_cfgs(), st.integers(0, 2**32 - 1), st.sampled_from(WEIGHTS),
       st.sampled_from([0.0, 0.1, 0.3]), st.sampled_from(["uniform", "extremes"]))
def test_golden_matches_reference_small_configs(cfg, seed, weights, errors, data):
    rng = np.random.default_rng(seed)
    job = random_ops(cfg, rng, 120, errors=errors, weights=weights, data=data)
    assert_same(cfg, job)


def test_random_streams_reach_every_status(rng):
    """The comparisons above see every status code (so none is compared only vacuously)."""
    seen = set()
    for _ in range(30):
        cfg = KVCacheConfig(num_seqs=3, capacity=16, page_size=2, max_seq=8, kv_heads=1,
                            head_dim=2)
        job = random_ops(cfg, rng, 100, errors=0.2, weights={"fork": 3, "free": 1})
        seen |= set(assert_same(cfg, job)["status"].tolist())
    assert seen == {int(s) for s in Status}


# -- invariants of the model's state ----------------------------------------------------------

def held_entries(m: KVCacheModel) -> list:
    return [[(lp, m.table[s][m.slot(lp)]) for lp in m.held(s)] for s in range(m.cfg.num_seqs)]


def snapshot(m: KVCacheModel) -> dict:
    rows = []
    for s in range(m.cfg.num_seqs):
        lo = m.low(s)
        st_, k, v = m.read(s, lo, m.length[s] - lo, What.KV)
        assert st_ == Status.OK
        rows.append((k.tolist(), v.tolist()))
    return copy.deepcopy({"length": m.length, "held": held_entries(m), "ref": m.ref,
                          "fifo": m.fifo, "fresh": m.fresh, "rows": rows})


def check_invariants(m: KVCacheModel, *, after_reset: bool):
    cfg = m.cfg
    count = [0] * cfg.pages
    for entries in held_entries(m):
        assert len(entries) <= cfg.ring_pages
        pages = [p for _, p in entries]
        assert len(set(pages)) == len(pages), "a sequence holds a page twice"
        for p in pages:
            count[p] += 1
    assert 0 <= m.fresh <= cfg.pages
    # RESET restarts fresh and empties the FIFO but leaves the counts of pages >= fresh as they
    # were (they are rewritten to 1 on allocation), so those are only checked before a RESET.
    live = range(m.fresh) if after_reset else range(cfg.pages)
    for p in live:
        assert m.ref[p] == count[p], f"ref[{p}] = {m.ref[p]}, held {count[p]} times"
    assert all(count[p] == 0 for p in range(m.fresh, cfg.pages)), "a held page >= fresh"
    assert len(set(m.fifo)) == len(m.fifo), f"FIFO {m.fifo} repeats a page"
    assert all(p < m.fresh and m.ref[p] == 0 for p in m.fifo), (m.fifo, m.fresh, m.ref)
    in_use = sum(m.ref[p] > 0 for p in range(m.fresh))
    assert len(m.fifo) + (cfg.pages - m.fresh) + in_use == cfg.pages
    assert m.free_pages == cfg.pages - in_use
    # memory efficiency: sharing only saves pages
    need = sum(min(-(-n // cfg.page_size), cfg.ring_pages) for n in m.length)
    assert in_use == len({p for e in held_entries(m) for _, p in e}) <= need
    if not cfg.window:
        assert in_use <= sum(-(-n // cfg.page_size) for n in m.length)
    for s in range(cfg.num_seqs):
        assert 0 <= m.length[s] <= cfg.seq_limit


def run_checked(cfg, job):
    m = KVCacheModel(cfg)
    after_reset = False
    i = 0
    statuses = []
    for op, s, a, b, c in job["ops"].tolist():
        before = snapshot(m)
        k = v = None
        if op == Op.APPEND:
            k, v = job["K"][i], job["V"][i]
            i += 1
        status, _, _ = m.command(op, s, a, b, c, k, v)
        statuses.append(int(status))
        after_reset |= op == Op.RESET
        check_invariants(m, after_reset=after_reset)
        if status != Status.OK or op == Op.READ:
            assert snapshot(m) == before, f"{Status(status).name} {[op, s, a, b, c]} changed state"
    return statuses


@pytest.mark.parametrize("name", PRESET_NAMES)
@pytest.mark.parametrize("reset", [0, 0.1])
def test_invariants_presets(name, reset, rng):
    """With ``reset`` = 0 the counts of pages >= fresh are checked (0) all along."""
    cfg = PRESETS[name]
    job = random_ops(cfg, rng, 250, errors=0.2, weights={"fork": 3, "free": 1, "reset": reset})
    statuses = run_checked(cfg, job)
    assert statuses == golden(cfg, job["ops"], job["K"], job["V"])["status"].tolist()


@settings(max_examples=40)
@given(small_cfgs(), st.integers(0, 2**32 - 1), st.sampled_from(WEIGHTS))
def test_invariants_small_configs(cfg, seed, weights):
    job = random_ops(cfg, np.random.default_rng(seed), 80, errors=0.2, weights=weights)
    run_checked(cfg, job)


def test_reset_stale_counts_are_never_seen():
    """After a RESET every page is free again whatever its old count: pages come back in
    order 0, 1, … each with count 1, and a fork/free cycle returns them all to the FIFO."""
    cfg = KVCacheConfig(num_seqs=3, capacity=8, page_size=2, kv_heads=1, head_dim=1)
    m = KVCacheModel(cfg)
    for _ in range(5):
        m.command(Op.APPEND, 0, 0, 0, 0, [1], [1])
    assert m.command(Op.FORK, 0, 1, 0, 0)[0] == Status.OK
    m.command(Op.RESET, 0, 0, 0, 0)
    assert (m.length, m.fifo, m.fresh, m.free_pages) == ([0, 0, 0], [], 0, 4)
    for _ in range(8):
        assert m.command(Op.APPEND, 2, 0, 0, 0, [2], [2])[0] == Status.OK
    assert m.pages_of(2) == [0, 1, 2, 3] and m.ref == [1, 1, 1, 1]
    assert m.command(Op.FREE, 2, 0, 0, 0)[0] == Status.OK
    assert m.fifo == [0, 1, 2, 3] and m.free_pages == 4


# -- hand-computed scenarios --------------------------------------------------------------------

def tok(t: int, row: int = 2):
    """K and V rows of token ``t`` (distinct per token)."""
    return [t + j for j in range(row)], [-t - j for j in range(row)]


class Driver:
    """A ``KVCacheModel`` driven one command at a time, tokens numbered as appended."""

    def __init__(self, **kw):
        self.cfg = KVCacheConfig(**{"kv_heads": 1, "head_dim": 2, **kw})
        self.m = KVCacheModel(self.cfg)

    def append(self, s, t):
        return self.m.command(Op.APPEND, s, 0, 0, 0, *tok(t, self.cfg.row_elems))[0]

    def read(self, s, a, b, what=What.KV):
        st_, k, v = self.m.command(Op.READ, s, a, b, what)
        return st_, k.tolist(), v.tolist()

    def tokens(self, s, a, b):
        """The tokens a READ of ``[a, a + b)`` returns (checks K and V agree)."""
        st_, k, v = self.read(s, a, b)
        assert st_ == Status.OK
        ts = [row[0] for row in k]
        assert k == [tok(t, self.cfg.row_elems)[0] for t in ts]
        assert v == [tok(t, self.cfg.row_elems)[1] for t in ts]
        return ts

    def cmd(self, op, s=0, a=0, b=0, c=0):
        return self.m.command(op, s, a, b, c)[0]


def test_out_of_pages_then_free_reuses_pages_in_fifo_order():
    d = Driver(num_seqs=3, capacity=8, page_size=2)           # 4 pages
    for t in range(4):
        assert d.append(0, t) == Status.OK
    for t in range(10, 14):
        assert d.append(1, t) == Status.OK
    m = d.m
    assert (m.pages_of(0), m.pages_of(1), m.fresh, m.free_pages) == ([0, 1], [2, 3], 4, 0)
    before = snapshot(m)
    assert d.append(2, 20) == Status.OUT_OF_PAGES             # a new sequence
    assert d.append(0, 4) == Status.OUT_OF_PAGES              # a new page of a full one
    assert snapshot(m) == before
    assert d.cmd(Op.FREE, 1) == Status.OK
    assert d.cmd(Op.FREE, 0) == Status.OK
    assert (m.fifo, m.ref, m.length) == ([2, 3, 0, 1], [0, 0, 0, 0], [0, 0, 0])
    assert d.cmd(Op.FREE, 0) == Status.OK                     # already empty: OK, no change
    assert m.fifo == [2, 3, 0, 1]
    for t in range(20, 23):
        assert d.append(2, t) == Status.OK
    assert d.append(0, 30) == Status.OK
    assert (m.pages_of(2), m.pages_of(0), m.fifo) == ([2, 3], [0], [1])
    assert [m.table[2][0], m.table[2][1], m.table[0][0]] == [2, 3, 0]
    assert d.tokens(2, 0, 3) == [20, 21, 22] and d.tokens(0, 0, 1) == [30]


def test_seq_full_at_max_seq_and_check_order():
    d = Driver(num_seqs=3, capacity=8, page_size=2, max_seq=4)
    for s in (0, 1):
        for t in range(4):
            assert d.append(s, 10 * s + t) == Status.OK
    assert d.append(0, 9) == Status.SEQ_FULL                  # before OUT_OF_PAGES
    assert d.append(2, 9) == Status.OUT_OF_PAGES
    assert d.append(3, 9) == Status.BAD_SEQ                   # before anything
    assert d.append(-1, 9) == Status.BAD_SEQ
    assert d.m.length == [4, 4, 0]
    assert d.tokens(0, 0, 4) == [0, 1, 2, 3]
    assert d.cmd(Op.FREE, 1) == Status.OK
    assert d.append(0, 9) == Status.SEQ_FULL                  # full whatever the free pages
    assert d.append(2, 9) == Status.OK


def test_fork_at_partly_filled_page_copies_on_write():
    d = Driver(num_seqs=3, capacity=16, page_size=4)          # 4 pages of 4
    for t in range(6):
        assert d.append(0, t) == Status.OK                    # pages 0 (full), 1 (2 tokens)
    m = d.m
    assert d.cmd(Op.FORK, 0, 1) == Status.OK
    assert (m.length, m.pages_of(1), m.ref) == ([6, 6, 0], [0, 1], [2, 2, 0, 0])
    assert d.append(0, 100) == Status.OK                      # src: copy page 1 to page 2
    assert (m.pages_of(0), m.pages_of(1), m.ref) == ([0, 2], [0, 1], [2, 1, 1, 0])
    assert d.append(1, 200) == Status.OK                      # dst: page 1 no longer shared
    assert (m.pages_of(0), m.pages_of(1), m.ref) == ([0, 2], [0, 1], [2, 1, 1, 0])
    assert d.tokens(0, 0, 7) == [0, 1, 2, 3, 4, 5, 100]
    assert d.tokens(1, 0, 7) == [0, 1, 2, 3, 4, 5, 200]
    assert (m.fresh, m.free_pages) == (3, 1)
    # filling the shared pages' successors: the full page 0 stays shared
    assert d.append(0, 101) == Status.OK and d.append(1, 201) == Status.OK
    assert d.append(0, 102) == Status.OK                      # src: a new page (3)
    assert (m.pages_of(0), m.ref) == ([0, 2, 3], [2, 1, 1, 1])
    assert d.append(1, 202) == Status.OUT_OF_PAGES            # dst needs a 5th page
    assert d.cmd(Op.FREE, 0) == Status.OK
    assert (m.fifo, m.ref) == ([2, 3], [1, 1, 0, 0])
    assert d.append(1, 202) == Status.OK
    assert (m.pages_of(1), m.fifo) == ([0, 1, 2], [3])
    assert d.tokens(1, 0, 9) == [0, 1, 2, 3, 4, 5, 200, 201, 202]


def test_copy_on_write_needs_a_free_page():
    d = Driver(num_seqs=3, capacity=4, page_size=2)           # 2 pages
    for t in range(3):
        assert d.append(0, t) == Status.OK                    # page 0 full, page 1 holds 1
    assert d.cmd(Op.FORK, 0, 2) == Status.OK                  # page 1 shared, partly filled
    before = snapshot(d.m)
    assert d.append(2, 3) == Status.OUT_OF_PAGES
    assert d.append(0, 3) == Status.OUT_OF_PAGES
    assert snapshot(d.m) == before
    assert d.cmd(Op.FREE, 0) == Status.OK
    assert d.m.ref == [1, 1] and d.m.fifo == []
    assert d.append(2, 3) == Status.OK                        # sole holder: in place
    assert d.m.pages_of(2) == [0, 1] and d.tokens(2, 0, 4) == [0, 1, 2, 3]


def test_fork_errors():
    d = Driver(num_seqs=3, capacity=8, page_size=2)
    assert d.append(0, 0) == Status.OK and d.append(1, 1) == Status.OK
    before = snapshot(d.m)
    assert d.cmd(Op.FORK, 0, 0) == Status.BAD_SEQ             # into itself
    assert d.cmd(Op.FORK, 2, 2) == Status.BAD_SEQ             # even when empty
    assert d.cmd(Op.FORK, 0, 1) == Status.SEQ_IN_USE
    assert d.cmd(Op.FORK, 3, 2) == Status.BAD_SEQ             # src out of range
    assert d.cmd(Op.FORK, -1, 2) == Status.BAD_SEQ
    assert d.cmd(Op.FORK, 0, 3) == Status.BAD_SEQ             # dst out of range
    assert d.cmd(Op.FORK, 0, -1) == Status.BAD_SEQ
    assert d.cmd(Op.FORK, 3, 1) == Status.BAD_SEQ             # BAD_SEQ before SEQ_IN_USE
    assert snapshot(d.m) == before
    assert d.cmd(Op.FORK, 2, 0) == Status.SEQ_IN_USE          # an empty src, a busy dst
    assert d.cmd(Op.FORK, 2, 1) == Status.SEQ_IN_USE
    assert snapshot(d.m) == before
    assert d.cmd(Op.FORK, 0, 2) == Status.OK
    assert d.m.ref[:2] == [2, 1] and d.m.length == [1, 1, 1]
    assert d.cmd(Op.FREE, 2) == Status.OK and d.cmd(Op.FREE, 0) == Status.OK
    assert d.cmd(Op.FORK, 0, 2) == Status.OK                  # an empty src: OK, nothing held
    assert d.m.length == [0, 1, 0] and d.m.fifo == [0]


def test_read_range_and_what():
    d = Driver(num_seqs=2, capacity=8, page_size=2)
    for t in range(5):
        assert d.append(0, t) == Status.OK
    assert d.read(0, 5, 0) == (Status.OK, [], [])             # b = 0 at a = len
    assert d.read(0, 0, 0) == (Status.OK, [], [])
    assert d.read(1, 0, 0) == (Status.OK, [], [])             # an empty sequence
    assert d.read(0, 6, 0)[0] == Status.BAD_RANGE             # a = len + 1
    assert d.read(0, 4, 2)[0] == Status.BAD_RANGE             # past the end
    assert d.read(0, -1, 1)[0] == Status.BAD_RANGE
    assert d.read(0, 1, -1)[0] == Status.BAD_RANGE
    assert d.read(1, 0, 1)[0] == Status.BAD_RANGE
    for what in (0, 4, -1, 7):
        assert d.read(0, 0, 1, what)[0] == Status.BAD_OP
        assert d.read(0, 9, 9, what)[0] == Status.BAD_OP      # BAD_OP before BAD_RANGE
        assert d.read(2, 0, 1, what)[0] == Status.BAD_SEQ     # BAD_SEQ before BAD_OP
    assert d.tokens(0, 1, 4) == [1, 2, 3, 4]
    st_, k, v = d.read(0, 2, 2, What.K)
    assert st_ == Status.OK and k == [tok(2)[0], tok(3)[0]] and v == []
    st_, k, v = d.read(0, 2, 2, What.V)
    assert st_ == Status.OK and k == [] and v == [tok(2)[1], tok(3)[1]]


def test_bad_op_codes_and_reset():
    d = Driver(num_seqs=2, capacity=8, page_size=2)
    for t in range(3):
        assert d.append(0, t) == Status.OK
    assert d.cmd(Op.FORK, 0, 1) == Status.OK
    assert d.append(1, 9) == Status.OK
    before = snapshot(d.m)
    for op in (5, 6, 7):
        assert d.cmd(op, 0, 0, 1, What.KV) == Status.BAD_OP
        assert d.cmd(op, 9, 9, 9, 9) == Status.BAD_OP
    assert snapshot(d.m) == before
    assert d.cmd(Op.RESET, 7, 7, 7, 7) == Status.OK           # fields ignored
    m = d.m
    assert (m.length, m.fifo, m.fresh, m.free_pages) == ([0, 0], [], 0, 4)
    assert d.read(0, 0, 1)[0] == Status.BAD_RANGE and d.read(0, 0, 0)[0] == Status.OK
    assert d.append(1, 50) == Status.OK and m.pages_of(1) == [0]
    assert d.tokens(1, 0, 1) == [50]


def test_window_positions_and_wrap_around():
    d = Driver(num_seqs=2, capacity=8, page_size=2, window=4)   # R = 3 pages, 4 slots
    m = d.m
    assert (d.cfg.ring_pages, d.cfg.slot_bits) == (3, 2)
    for t in range(50):
        assert d.append(0, t) == Status.OK
        lo = max(0, t + 1 - 4)
        assert m.low(0) == lo
        assert d.tokens(0, lo, t + 1 - lo) == list(range(lo, t + 1))
    assert m.length[0] == 50 and m.fresh == 3 and m.fifo == []
    assert m.pages_of(0) == [22 % 3, 23 % 3, 24 % 3]           # logical page lp → lp mod 3
    assert d.read(0, 45, 1)[0] == Status.BAD_RANGE             # below len − window
    assert d.read(0, 0, 0)[0] == Status.BAD_RANGE
    assert d.read(0, 46, 0)[0] == Status.OK
    assert d.tokens(0, 47, 2) == [47, 48]
    assert d.append(0, 50) == Status.OK                        # low now mid-page
    assert d.tokens(0, 47, 4) == [47, 48, 49, 50] and d.read(0, 46, 1)[0] == Status.BAD_RANGE
    # the other sequence gets the fourth page, then none: seq 0's ring keeps its three
    assert d.append(1, 100) == Status.OK and d.append(1, 101) == Status.OK
    assert (m.pages_of(1), m.fresh, m.free_pages) == ([3], 4, 0)
    assert d.append(1, 102) == Status.OUT_OF_PAGES
    assert d.cmd(Op.FREE, 0) == Status.OK                      # logical pages 23, 24, 25
    assert m.fifo == [23 % 3, 24 % 3, 25 % 3]
    for t in range(102, 120):
        assert d.append(1, t) == Status.OK
    # logical pages 0, 1, 2 took pages 3, 2, 0; from then on the ring reuses them in turn
    assert (m.pages_of(1), m.fifo) == ([[3, 2, 0][lp % 3] for lp in (7, 8, 9)], [1])
    assert d.tokens(1, 16, 4) == [116, 117, 118, 119]


def test_window_fork_drops_shared_pages_by_decrementing():
    d = Driver(num_seqs=2, capacity=8, page_size=2, window=4)  # 4 pages, R = 3
    m = d.m
    for t in range(6):
        assert d.append(0, t) == Status.OK                     # 3 full pages: ring full
    assert d.cmd(Op.FORK, 0, 1) == Status.OK
    assert (m.ref, m.free_pages) == ([2, 2, 2, 0], 1)
    assert d.append(0, 100) == Status.OK                       # drop page 0 (shared): new page 3
    assert (m.pages_of(0), m.ref, m.free_pages) == ([1, 2, 3], [1, 2, 2, 1], 0)
    assert d.append(1, 200) == Status.OK                       # page 0 now its own: reuse it
    assert (m.pages_of(1), m.ref, m.free_pages) == ([1, 2, 0], [1, 2, 2, 1], 0)
    assert d.append(0, 101) == Status.OK and d.append(1, 201) == Status.OK   # in place
    before = snapshot(m)
    assert d.append(0, 102) == Status.OUT_OF_PAGES             # drop shared page 1: none free
    assert d.append(1, 202) == Status.OUT_OF_PAGES
    assert snapshot(m) == before
    assert d.tokens(0, 4, 4) == [4, 5, 100, 101]
    assert d.tokens(1, 4, 4) == [4, 5, 200, 201]
    assert d.cmd(Op.FREE, 1) == Status.OK                      # pages 1, 2, 0 in logical order
    assert (m.ref, m.fifo) == ([0, 1, 1, 1], [0])
    assert d.append(0, 102) == Status.OK                       # page 1 its own again: reuse
    assert (m.pages_of(0), m.fifo) == ([2, 3, 1], [0])
    assert d.tokens(0, 5, 4) == [5, 100, 101, 102]


# -- encode: clamped fields answer as the originals ---------------------------------------------

def decode_word(word: dict) -> list:
    return [word[f] for f in FIELDS]


def test_encode_fields():
    cfg = PRESETS["kvcache-2seq-128-up5k"]                     # seq 2 bits, a/b 8 bits
    assert (cfg.seq_bits, cfg.pos_bits) == (2, 8)
    assert encode(cfg, Op.READ, 1, 5, 7, 3) == {"op": 2, "seq": 1, "a": 5, "b": 7, "what": 3}
    assert encode(cfg, Op.READ, 4, -1, 256, 4) == {"op": 2, "seq": 3, "a": 255, "b": 255,
                                                  "what": 0}
    assert encode(cfg, Op.READ, -5, 255, 0, -1) == {"op": 2, "seq": 3, "a": 255, "b": 0,
                                                   "what": 0}
    assert encode(cfg, Op.APPEND, 1, 9, 9, 9) == {"op": 1, "seq": 1, "a": 0, "b": 0, "what": 0}
    assert encode(cfg, Op.FORK, 0, 1 << 40, 9, 9) == {"op": 4, "seq": 0, "a": 255, "b": 0,
                                                     "what": 0}
    assert encode(cfg, Op.FREE, 2, 9, 9, 9) == {"op": 3, "seq": 2, "a": 0, "b": 0, "what": 0}
    assert encode(cfg, Op.RESET, 9, 9, 9, 9) == {"op": 0, "seq": 0, "a": 0, "b": 0, "what": 0}
    assert encode(cfg, 6, 9, 9, 9, 9) == {"op": 6, "seq": 0, "a": 0, "b": 0, "what": 0}
    for op in (8, -1):
        with pytest.raises(ValueError, match=rf"^op must be in \[0, 7\] \(a 3-bit field\), "
                                             rf"not {op}$"):
            encode(cfg, op, 0, 0, 0, 0)


def field_values(cfg):
    big = 1 << cfg.pos_bits
    return st.one_of(st.integers(-2, cfg.num_seqs + 2), st.integers(0, cfg.seq_limit + 2),
                     st.sampled_from([-1, -(1 << 40), 1 << 40, big - 1, big, big + 1,
                                      (1 << cfg.seq_bits) - 1, 1 << cfg.seq_bits,
                                      cfg.seq_limit, cfg.seq_limit + 1, 1 << 62]))


@st.composite
def wild_jobs(draw):
    """A small config and commands with fields anywhere, huge and negative included."""
    cfg = draw(small_cfgs())
    vals = field_values(cfg)
    ops = draw(st.lists(st.tuples(st.sampled_from([0, 1, 1, 1, 1, 2, 2, 3, 4, 4, 5, 7]),
                                  vals, vals, vals, st.integers(-2, 5)),
                        min_size=1, max_size=60))
    ops = np.array(ops, dtype=np.int64).reshape(-1, 5)
    n = int((ops[:, 0] == Op.APPEND).sum())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return cfg, {"ops": ops, "K": rows_for(cfg, rng, n), "V": rows_for(cfg, rng, n)}


@settings(max_examples=120)
@given(wild_jobs())
def test_encode_clamping_keeps_the_answers(job):
    """The hardware sees the fixed-width fields ``encode`` sends; the golden model answers the
    decoded word exactly as it answers the original command (and so does the reference)."""
    cfg, job = job
    want = assert_same(cfg, job)
    words = [encode(cfg, *map(int, row)) for row in job["ops"]]
    for w in words:
        for f, bits in (("seq", cfg.seq_bits), ("a", cfg.pos_bits), ("b", cfg.pos_bits),
                        ("what", 2), ("op", 3)):
            assert 0 <= w[f] < (1 << bits), (f, w)
    clamped = np.array([decode_word(w) for w in words], dtype=np.int64)
    got = golden(cfg, clamped, job["K"], job["V"])
    assert got["status"].tolist() == want["status"].tolist()
    assert np.array_equal(got["K_out"], want["K_out"])
    assert np.array_equal(got["V_out"], want["V_out"])


# -- streams ----------------------------------------------------------------------------------

def beats_of(cfg, rows):
    be = cfg.beat_elems
    return [list(map(int, r[j * be:(j + 1) * be])) for r in rows for j in range(cfg.beats)]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_streams_round_trip(name, rng):
    cfg = PRESETS[name]
    job = random_ops(cfg, rng, 200)
    streams = to_streams(cfg, job["ops"], job["K"], job["V"])
    n = len(job["ops"])
    assert len(streams["i_cmd"]) == n + 1
    assert streams["i_cmd"][0] == {"op": 0, "seq": 0, "a": 0, "b": 0, "what": 0}
    assert streams["i_cmd"][1:] == [encode(cfg, *map(int, r)) for r in job["ops"]]
    for name_, x in (("i_k", job["K"]), ("i_v", job["V"])):
        beats = streams[name_]
        assert len(beats) == len(x) * cfg.beats
        assert all(len(b) == cfg.beat_elems for b in beats)
        assert np.array_equal(np.array(beats).reshape(-1, cfg.row_elems), x)
    g = golden(cfg, job["ops"], job["K"], job["V"])
    out = {"o_status": [0] + g["status"].tolist(), "o_k": beats_of(cfg, g["K_out"]),
           "o_v": beats_of(cfg, g["V_out"])}
    assert counts(cfg, job["ops"], job["K"], job["V"]) == {
        "o_status": n + 1, "o_k": len(out["o_k"]), "o_v": len(out["o_v"])}
    back = from_streams(cfg, out, job["ops"], job["K"], job["V"])
    for key in ("status", "K_out", "V_out"):
        assert np.array_equal(back[key], g[key]), key
        assert back[key].dtype == np.int64


def test_streams_beats_per_row():
    cfg = KVCacheConfig(num_seqs=1, capacity=4, page_size=1, kv_heads=2, head_dim=4,
                        port_elems=2)
    assert cfg.beats == 4
    K = np.arange(16).reshape(2, 8)
    V = -K
    ops = [[Op.APPEND, 0, 0, 0, 0], [Op.APPEND, 0, 0, 0, 0], [Op.READ, 0, 1, 1, What.V]]
    s = to_streams(cfg, ops, K, V)
    assert s["i_k"] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11], [12, 13], [14, 15]]
    assert s["i_v"][0] == [0, -1] and len(s["i_v"]) == 8
    assert counts(cfg, ops, K, V) == {"o_status": 4, "o_k": 0, "o_v": 4}
    g = golden(cfg, ops, K, V)
    assert g["V_out"].tolist() == [[-8, -9, -10, -11, -12, -13, -14, -15]]
    assert g["K_out"].shape == (0, 8)


def test_from_streams_errors():
    cfg = PRESETS["kvcache-2seq-128-up5k"]                     # 2 beats a row
    ops = [[Op.READ, 0, 0, 0, What.K]]
    K = V = np.zeros((0, 16), dtype=np.int64)
    ok = {"o_status": [0, 0], "o_k": [], "o_v": []}
    assert from_streams(cfg, ok, ops, K, V)["status"].tolist() == [0]
    with pytest.raises(ValueError, match=r"^the job's leading RESET answered \[3\], not \[0\]$"):
        from_streams(cfg, {**ok, "o_status": [3, 0]}, ops, K, V)
    with pytest.raises(ValueError, match=r"^the job's leading RESET answered \[\], not \[0\]$"):
        from_streams(cfg, {**ok, "o_status": []}, ops, K, V)
    with pytest.raises(ValueError, match=r"^3 beats is not a whole number of 2-beat rows$"):
        from_streams(cfg, {**ok, "o_k": [[0] * 8] * 3}, ops, K, V)
    with pytest.raises(ValueError, match=r"^1 beats is not a whole number of 2-beat rows$"):
        from_streams(cfg, {**ok, "o_v": [[0] * 8]}, ops, K, V)


# -- TENSORS ----------------------------------------------------------------------------------

CFG8 = PRESETS["kvcache-2seq-128-up5k"]                        # int8, row 16
CFG16 = PRESETS["kvcache-4seq-window"]                         # int16, row 16
A = [Op.APPEND, 0, 0, 0, 0]
R = [Op.READ, 0, 0, 1, What.K]


def z(n, w=16):
    return np.zeros((n, w), dtype=np.int64)


@pytest.mark.parametrize(("cfg", "args", "message"), [
    (CFG8, dict(ops=[A, R, [8, 0, 0, 0, 0]], K=z(1), V=z(1)),
     r"ops\[2, 0\] \(the op code\) must be in \[0, 7\] \(a 3-bit field\), not 8"),
    (CFG8, dict(ops=[[-1, 0, 0, 0, 0], A], K=z(1), V=z(1)),
     r"ops\[0, 0\] \(the op code\) must be in \[0, 7\] \(a 3-bit field\), not -1"),
    (CFG8, dict(ops=[A, A, R], K=z(3), V=z(3)),
     r"K must have one row per APPEND in ops \(2\), not 3 \(shape \(3, 16\)\)"),
    (CFG8, dict(ops=[A, A, R], K=z(1), V=z(1)),
     r"K must have one row per APPEND in ops \(2\), not 1 \(shape \(1, 16\)\)"),
    (CFG8, dict(ops=[A], K=z(1), V=z(2)),
     r"V must have shape \(appends, row\) with appends = 1 as in K \(1, 16\), not \(2, 16\)"),
    (CFG8, dict(ops=[A], K=z(1, 8), V=z(1, 8)),
     r"K has row = 8 \(shape \(1, 8\)\); row must be 16 \(kv_heads × head_dim\)"),
    (CFG8, dict(ops=[A], K=z(1), V=z(1, 17)),
     r"V must have shape \(appends, row\) with row = 16 as in K \(1, 16\), not \(1, 17\)"),
    (CFG8, dict(ops=[A], K=np.full((1, 16), 128), V=z(1)),
     r"K must hold int8 values in \[-128, 127\], not 128 \(at K\[0, 0\]\)"),
    (CFG8, dict(ops=[A], K=z(1), V=np.array([[0] * 5 + [-129] + [0] * 10])),
     r"V must hold int8 values in \[-128, 127\], not -129 \(at V\[0, 5\]\)"),
    (CFG16, dict(ops=[A], K=np.full((1, 16), 1 << 15), V=z(1)),
     r"K must hold int16 values in \[-32768, 32767\], not 32768 \(at K\[0, 0\]\)"),
    (CFG8, dict(ops=np.zeros((0, 5), dtype=np.int64), K=z(0), V=z(0)),
     r"ops has n = 0 \(shape \(0, 5\)\); n must be in \[1, 1048576\] \(commands per job\)"),
    (CFG8, dict(ops=[[1, 0, 0, 0]], K=z(1), V=z(1)),
     r"ops must have shape \(n, 5\), not \(1, 4\)"),
    (CFG8, dict(ops=[[1.0, 0, 0, 0, 0]], K=z(1), V=z(1)),
     r"ops must be an integer array, not dtype float64"),
    (CFG8, dict(ops=[A], K=z(1)),
     r"missing array 'V' for block 'kvcache' \(expected arrays: ops, K, V\)"),
])
def test_input_validation(cfg, args, message):
    args = {k: np.asarray(v) for k, v in args.items()}
    with pytest.raises(ValueError, match=rf"^{message}$"):
        INFO.check_inputs(cfg, args)
    if "block" not in message:
        with pytest.raises(ValueError, match=rf"^{message}$"):
            TENSORS.validate(cfg, args)


def test_input_validation_accepts_examples(rng):
    for cfg in PRESETS.values():
        ex = TENSORS.example(cfg, rng)
        out = INFO.check_inputs(cfg, ex)
        assert set(out) == {"ops", "K", "V"} and all(v.dtype == np.int64 for v in out.values())
        assert INFO.tensors.model_shape(cfg, out).keys() == {"ops"}
        extremes = random_ops(cfg, rng, 50, data="extremes")
        INFO.check_inputs(cfg, extremes)
        f = cfg.elem_fmt
        assert {f.min, f.max} <= set(extremes["K"].ravel().tolist())


# -- config validation ------------------------------------------------------------------------

@pytest.mark.parametrize(("kw", "message"), [
    (dict(num_seqs=0), r"num_seqs must be in [1, 64], not 0"),
    (dict(num_seqs=65), r"num_seqs must be in [1, 64], not 65"),
    (dict(page_size=0), r"page_size must be in [1, 256], not 0"),
    (dict(page_size=512, capacity=4096), r"page_size must be in [1, 256], not 512"),
    (dict(page_size=3, capacity=96), r"page_size must be a power of two in [1, 256], not 3"),
    (dict(page_size=12, capacity=96), r"page_size must be a power of two in [1, 256], not 12"),
    (dict(capacity=0), r"capacity must be in [1, 1048576], not 0"),
    (dict(capacity=100), r"capacity must be a multiple of page_size (16), not 100"),
    (dict(capacity=16), r"capacity / page_size must be in [2, 4096] pages, not 1 "
                        r"(capacity 16, page_size 16)"),
    (dict(capacity=8192, page_size=1), r"capacity / page_size must be in [2, 4096] pages, not "
                                       r"8192 (capacity 8192, page_size 1)"),
    (dict(window=-16), r"window must be in [0, 16777216], not -16"),
    (dict(window=20), r"window must be 0 (off) or a multiple of page_size (16), not 20"),
    (dict(capacity=64, window=64), r"window must be at most 48 (a sequence holds window / "
                                   r"page_size + 1 of the 4 pages), not 64"),
    (dict(max_seq=-1), r"max_seq must be in [0, 16777216], not -1"),
    (dict(max_seq=100), r"max_seq must be 0 (auto) or a multiple of page_size (16), not 100"),
    (dict(max_seq=528), r"max_seq must be 0 (auto) or at most capacity (512) without a window, "
                        r"not 528"),
    (dict(window=32, max_seq=(1 << 24) + 16), r"max_seq must be in [0, 16777216], not 16777232"),
    (dict(kv_heads=0), r"kv_heads must be in [1, 64], not 0"),
    (dict(kv_heads=65), r"kv_heads must be in [1, 64], not 65"),
    (dict(head_dim=0), r"head_dim must be in [1, 1024], not 0"),
    (dict(head_dim=1025), r"head_dim must be in [1, 1024], not 1025"),
    (dict(kv_heads=2, head_dim=513), r"kv_heads × head_dim must be at most 1024, not 1026 "
                                     r"(2 × 513)"),
    (dict(dtype="int4"), r"dtype must be one of 'int8', 'int16', not 'int4'"),
    (dict(port_elems=-1), r"port_elems must be in [0, 1024], not -1"),
    (dict(port_elems=24), r"port_elems must be 0 (a whole row) or row_elems (64) divided by a "
                          r"power of two, not 24"),
    (dict(port_elems=128), r"port_elems must be 0 (a whole row) or row_elems (64) divided by "
                           r"a power of two, not 128"),
    (dict(kv_heads=1, head_dim=12, port_elems=4),
     r"port_elems must be 0 (a whole row) or row_elems (12) divided by a power of two, not 4"),
])
def test_config_errors(kw, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        KVCacheConfig(**kw)


@pytest.mark.parametrize(("kw", "message"), [
    (dict(num_seqs=2.0), r"num_seqs must be an integer, not 2.0"),
    (dict(page_size=True), r"page_size must be an integer, not True"),
    (dict(dtype=8), r"dtype must be a string, one of 'int8', 'int16', not 8"),
])
def test_config_type_errors(kw, message):
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        KVCacheConfig(**kw)


def test_config_limits_accepted():
    """The edges of every range are legal."""
    for kw in (dict(num_seqs=1), dict(num_seqs=64), dict(capacity=32, page_size=16),
               dict(capacity=4096, page_size=1), dict(capacity=1 << 20, page_size=256),
               dict(capacity=64, window=48), dict(window=16, max_seq=1 << 24),
               dict(max_seq=512), dict(window=32, max_seq=16),
               dict(kv_heads=1, head_dim=1024), dict(kv_heads=64, head_dim=16),
               dict(port_elems=64), dict(port_elems=1), dict(kv_heads=1, head_dim=12,
                                                             port_elems=3)):
        cfg = KVCacheConfig(**kw)
        assert cfg.row_elems % cfg.beat_elems == 0
        assert cfg.beats & (cfg.beats - 1) == 0
        assert cfg.ring_pages <= cfg.pages
    w = KVCacheConfig(window=32)
    assert (w.seq_limit, w.ring_pages) == (1 << 16, 3)
    assert KVCacheConfig().seq_limit == 512
    assert dataclasses.replace(KVCacheConfig(), max_seq=256).ring_pages == 16


def test_field_widths_reserve_all_ones():
    """All ones in ``seq`` is never an id; in ``a`` / ``b`` never a position, count or id."""
    for cfg in (*PRESETS.values(), KVCacheConfig(num_seqs=64), KVCacheConfig(num_seqs=1),
                KVCacheConfig(num_seqs=64, capacity=32, page_size=16)):
        assert (1 << cfg.seq_bits) - 1 >= cfg.num_seqs
        top = (1 << cfg.pos_bits) - 1
        assert top > cfg.seq_limit and top >= cfg.num_seqs


# -- cycle model (smoke) ----------------------------------------------------------------------

@pytest.mark.parametrize("name", PRESET_NAMES)
def test_model_smoke(name, rng):
    cfg = PRESETS[name]
    static = model(cfg)
    assert static["pages"] == cfg.pages and static["memory_bits"] == cfg.memory_bits
    assert "cycles" not in static
    job = random_ops(cfg, rng, 300, errors=0.1, weights={"fork": 2, "free": 1})
    out = model(cfg, job["ops"])
    assert out["cycles"] >= len(job["ops"]) + 1
    sch = schedule(cfg, job["ops"])
    assert len(sch["accepts"]) == len(job["ops"])
    assert all(x < y for x, y in zip(sch["accepts"], sch["accepts"][1:], strict=False))
    assert out["cycles"] == sch["last"] > sch["accepts"][-1]
    g = golden(cfg, job["ops"], job["K"], job["V"])
    ok_appends = int(((job["ops"][:, 0] == Op.APPEND) & (g["status"] == 0)).sum())
    assert out["append_rows"] == ok_appends
    ok_reads = (job["ops"][:, 0] == Op.READ) & (g["status"] == 0)
    assert out["read_rows"] == int(job["ops"][ok_reads, 3].sum())


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_model_pure_appends(n):
    """RESET in cycle 0, one single-beat APPEND a cycle from cycle 1, the last status one cycle
    after the last APPEND: n + 1 cycles, plus the command FIFO's latency."""
    cfg = KVCacheConfig(num_seqs=2, capacity=64, page_size=4, kv_heads=1, head_dim=8)
    ops = [[Op.APPEND, i % 2, 0, 0, 0] for i in range(n)]
    out = model(cfg, ops)
    assert out["cycles"] == CMD_LATENCY + n + 1
    assert schedule(cfg, ops)["accepts"] == list(range(CMD_LATENCY + 1, CMD_LATENCY + n + 1))
    assert out["append_rows"] == n and out["read_rows"] == 0


@pytest.mark.parametrize(("port", "what", "b"), [(0, What.K, 3), (0, What.KV, 5),
                                                  (2, What.V, 4), (4, What.KV, 2)])
def test_model_counts_read_rows(port, what, b):
    """n appends of ``beats`` beats each, then a READ of b rows accepted in 1 + n · beats whose
    last beat leaves b · beats + 3 cycles later."""
    cfg = KVCacheConfig(num_seqs=1, capacity=16, page_size=4, kv_heads=1, head_dim=8,
                        port_elems=port)
    nb, n = cfg.beats, 6
    ops = [[Op.APPEND, 0, 0, 0, 0]] * n + [[Op.READ, 0, 1, b, int(what)]]
    out = model(cfg, ops)
    assert out["append_rows"] == n
    assert out["read_rows"] == b
    accept = CMD_LATENCY + 1 + n * nb
    assert schedule(cfg, ops)["accepts"][-1] == accept
    assert out["cycles"] == accept + b * nb + 3
