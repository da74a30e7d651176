"""The sparse engine's golden model against independent references: numerics, the N:M format
helpers, input and config checks, the stream protocol, the counters and the cycle model.

References used here (none calls the code under test), written from the ``golden`` docstring:

* ``ref_acc``: Python ints, each product added in ascending k and the sum brought into
  ``int<acc_width>`` after every step (wrap: ``(v - lo) mod 2**w + lo``; saturate: a clamp);
* ``np.matmul`` in float64 (exact below 2**53) where no partial sum can leave the accumulator;
* ``ref_prune`` / ``ref_pack``: per-group Python loops (ties: the lower position first; a group
  with fewer non-zeros fills its slots at the lowest free positions);
* ``ideal_engine``: consumes the ``to_streams`` transfers like the hardware would and produces
  the ``o_y`` beats, so the stream contents are checked without ``golden``.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwgen.blocks.sparse import INFO, MODES, PRESETS, SparseConfig, model
from hwgen.blocks.sparse.golden import (
    accumulate,
    counts,
    first_bad_group,
    from_streams,
    golden,
    naive,
    pack_nm,
    prune_nm,
    stats,
    to_streams,
    unpack_nm,
)
from hwgen.blocks.sparse.rtl import PIPE

# -- references ---------------------------------------------------------------------------------

def int_range(name: str) -> tuple[int, int]:
    w = int(name.removeprefix("int"))
    return -(1 << (w - 1)), (1 << (w - 1)) - 1


def ref_acc(W, X, acc_width: int, overflow: str) -> np.ndarray:
    """Per-step fit in ascending k over exact Python ints."""
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    rows, K, n = len(W), len(X), len(X[0])
    Y = np.zeros((rows, n), dtype=np.int64)
    for r in range(rows):
        for j in range(n):
            acc = 0
            for k in range(K):
                acc += int(W[r][k]) * int(X[k][j])
                acc = min(max(acc, lo), hi) if overflow == "saturate" else \
                    (acc - lo) % (1 << acc_width) + lo
            Y[r, j] = acc
    return Y


def ref_words(cfg, K: int) -> int:
    return -(-K // cfg.group) * cfg.keep if cfg.mode == "nm" else K


def group_positions(K: int, group: int, g: int) -> range:
    """The real (k < K) positions of group g, as offsets in the group."""
    return range(min(group, K - g * group))


def ref_prune(W, keep: int, group: int) -> np.ndarray:
    out = np.zeros_like(W)
    rows, K = W.shape
    for r in range(rows):
        for g in range(-(-K // group)):
            base = g * group
            ps = sorted(group_positions(K, group, g), key=lambda p: (-abs(int(W[r, base + p])), p))
            for p in ps[:keep]:
                out[r, g * group + p] = W[r, g * group + p]
    return out


def ref_pack(W, keep: int, group: int) -> tuple[np.ndarray, np.ndarray]:
    rows, K = W.shape
    G = -(-K // group)
    vals = np.zeros((rows, G * keep), dtype=np.int64)
    idx = np.zeros((rows, G * keep), dtype=np.int64)
    for r in range(rows):
        for g in range(G):
            real = group_positions(K, group, g)
            nz = [p for p in real if W[r, g * group + p] != 0]
            free = [p for p in range(group) if p not in nz]
            ps = sorted(nz + free[:keep - len(nz)])
            for s, p in enumerate(ps):
                idx[r, g * keep + s] = p
                vals[r, g * keep + s] = W[r, g * group + p] if p in real else 0
    return vals, idx


def values(rng, fmt: str, shape, style: str) -> np.ndarray:
    lo, hi = int_range(fmt)
    if style == "zero":
        return np.zeros(shape, dtype=np.int64)
    if style == "extremes":
        return rng.choice(np.array([lo, hi], dtype=np.int64), shape)
    u = rng.integers(lo, hi, shape, endpoint=True, dtype=np.int64)
    ends = rng.choice(np.array([lo, hi, -1, 1, 0], dtype=np.int64), shape)
    pick = rng.random(shape)
    return np.where(pick < 0.3, ends, np.where(pick < 0.5, 0, u))


def sparsify(rng, W, keep: int, group: int) -> np.ndarray:
    """W with at most ``keep`` non-zeros in every group (a random subset of each group kept)."""
    W = W.copy()
    rows, K = W.shape
    for r in range(rows):
        for g in range(-(-K // group)):
            ps = np.array(list(group_positions(K, group, g))) + g * group
            drop = rng.permutation(ps)[rng.integers(0, keep + 1):]
            W[r, drop] = 0
    return W


@st.composite
def configs(draw, modes=MODES):
    mode = draw(st.sampled_from(modes))
    group = draw(st.sampled_from([2, 4, 8, 16]))
    window = draw(st.sampled_from([w for w in (1, 2, 4, 8, 16, 32, 64)
                                   if mode != "nm" or w % group == 0]))
    return SparseConfig(mode=mode, lanes=draw(st.integers(1, 32)), group=group,
                        keep=draw(st.integers(1, group - 1)), window=window,
                        max_k=draw(st.sampled_from(sorted({window, 2 * window, 64, 4096}))),
                        w_type=f"int{draw(st.integers(2, 18))}",
                        x_type=f"int{draw(st.integers(2, 18))}",
                        acc_width=draw(st.integers(8, 16) | st.integers(8, 48)),  # overflows
                        overflow=draw(st.sampled_from(["wrap", "saturate"])))


@st.composite
def jobs(draw, modes=MODES, max_rows=9):
    cfg = draw(configs(modes))
    rows, n = draw(st.integers(1, max_rows)), draw(st.integers(1, 4))
    K = draw(st.integers(1, min(cfg.max_k, 40)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    styles = st.sampled_from(["mixed", "mixed", "extremes", "zero"])
    W = values(rng, cfg.w_type, (rows, K), draw(styles))
    X = values(rng, cfg.x_type, (K, n), draw(styles))
    if cfg.mode == "nm":
        W = sparsify(rng, W, cfg.keep, cfg.group)
    return cfg, W, X


def no_overflow(cfg, W, X) -> bool:
    """No partial sum can leave the accumulator (bounded by Σ|w|·|x|)."""
    return (np.abs(W).astype(float) @ np.abs(X).astype(float)).max() < 2.0 ** (cfg.acc_width - 1)


# -- numerics -------------------------------------------------------------------------------------

@settings(max_examples=150)
@given(jobs())
def test_accumulate_vs_references(job):
    cfg, W, X = job
    Y = accumulate(cfg, W, X)
    assert Y.dtype == np.int64 and Y.shape == (W.shape[0], X.shape[1])
    ref = ref_acc(W, X, cfg.acc_width, cfg.overflow)
    np.testing.assert_array_equal(Y, ref)
    np.testing.assert_array_equal(naive(cfg, W, X), ref)
    np.testing.assert_array_equal(golden(cfg, W=W, X=X)["Y"], ref)
    if cfg.mode == "nm":
        vals, idx = ref_pack(W, cfg.keep, cfg.group)
        np.testing.assert_array_equal(golden(cfg, W_vals=vals, W_idx=idx, X=X)["Y"], ref)
    if cfg.overflow == "wrap":
        exact = W.astype(object) @ X.astype(object)
        lo = -(1 << (cfg.acc_width - 1))
        np.testing.assert_array_equal(Y, ((exact - lo) % (1 << cfg.acc_width) + lo).astype(int))
    if no_overflow(cfg, W, X):
        np.testing.assert_array_equal(Y, np.matmul(W.astype(float), X.astype(float)))
    if not W.any() or not X.any():
        assert not Y.any()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_vs_references(name, rng):
    cfg = PRESETS[name]
    L, win = cfg.lanes, cfg.window
    shapes = [(1, 1, 1), (1, win + 3, 1), (L + 1, 2 * win + 3, 3), (2 * L, cfg.max_k, 2),
              (3, cfg.max_k - 1, 1)]
    for rows, K, n in shapes:
        for style in ("mixed", "extremes", "zero"):
            W = values(rng, cfg.w_type, (rows, K), style)
            if cfg.mode == "nm":
                W = sparsify(rng, W, cfg.keep, cfg.group)
            X = values(rng, cfg.x_type, (K, n), "mixed" if style == "zero" else style)
            Y = golden(cfg, W=W, X=X)["Y"]
            np.testing.assert_array_equal(Y, ref_acc(W, X, cfg.acc_width, cfg.overflow))
            np.testing.assert_array_equal(Y, naive(cfg, W, X))
            if no_overflow(cfg, W, X):
                np.testing.assert_array_equal(Y, W.astype(float) @ X.astype(float))


@pytest.mark.parametrize("mode", MODES)
def test_int8_acc32_matches_float_at_max_k(mode, rng):
    # |Σ| ≤ 4096 · 2**14 = 2**26: nothing can overflow a 32-bit accumulator, whatever K
    cfg = SparseConfig(mode=mode, window=16, max_k=4096)
    for K in (1, 4095, 4096):
        W = values(rng, "int8", (3, K), "extremes")
        W = sparsify(rng, W, 2, 4) if mode == "nm" else W
        X = values(rng, "int8", (K, 2), "extremes")
        np.testing.assert_array_equal(golden(cfg, W=W, X=X)["Y"], W.astype(float) @ X)
    W, X = np.full((2, 4096), -128), np.full((4096, 1), -128)
    assert (golden(cfg.replace(mode="dense"), W=W, X=X)["Y"] == 4096 * 128 * 128).all()


def test_saturation_is_per_step_in_ascending_k():
    cfg = SparseConfig(mode="dense", acc_width=8, overflow="saturate")
    W = np.array([[127, 127, -128]])
    X = np.array([[1], [1], [1]])
    # 127, then 254 → 127, then -1; clipping the exact sum gives 126, descending k gives 126
    assert ref_acc(W, X, 8, "saturate")[0, 0] == -1
    assert ref_acc(W[:, ::-1], X[::-1], 8, "saturate")[0, 0] == 126
    assert accumulate(cfg, W, X)[0, 0] == -1 == naive(cfg, W, X)[0, 0]
    assert np.clip(W @ X, -128, 127)[0, 0] == 126
    # zeros in between change nothing, in every mode (2:4 sparse along K)
    W2 = np.array([[127, 0, 0, 0, 127, 0, 0, 0, -128, 0]])
    X2 = np.array([[1], [5], [9], [-3], [1], [0], [7], [7], [1], [4]])
    for mode in MODES:
        c = SparseConfig(mode=mode, acc_width=8, overflow="saturate")
        assert golden(c, W=W2, X=X2)["Y"][0, 0] == -1
    wrap = SparseConfig(mode="dense", acc_width=8, overflow="wrap")
    assert accumulate(wrap, W, X)[0, 0] == 126               # wrap: mod 256, the exact sum
    # random extremes: saturation happens, and the order matters for many outputs
    cfg = SparseConfig(mode="act", acc_width=8, overflow="saturate", window=4, max_k=64)
    W = values(np.random.default_rng(5), "int8", (8, 24), "extremes")
    X = values(np.random.default_rng(6), "int8", (24, 6), "mixed")
    Y = accumulate(cfg, W, X)
    np.testing.assert_array_equal(Y, ref_acc(W, X, 8, "saturate"))
    np.testing.assert_array_equal(Y, naive(cfg, W, X))
    assert (Y != np.clip(W @ X, -128, 127)).mean() > 0.2


@settings(max_examples=60)
@given(jobs(modes=("nm",)))
def test_mode_independence(job):
    cfg, W, X = job
    ref = ref_acc(W, X, cfg.acc_width, cfg.overflow)
    for mode in MODES:
        np.testing.assert_array_equal(golden(cfg.replace(mode=mode), W=W, X=X)["Y"], ref)


# -- the N:M format -------------------------------------------------------------------------------

@st.composite
def patterns(draw, lo=-4, hi=4):
    group = draw(st.sampled_from([2, 4, 8, 16]))
    keep = draw(st.integers(1, group - 1))
    rows, K = draw(st.integers(1, 4)), draw(st.integers(1, 40))
    W = np.array(draw(st.lists(st.integers(lo, hi), min_size=rows * K, max_size=rows * K)),
                 dtype=np.int64).reshape(rows, K)
    return W, keep, group


@settings(max_examples=150)
@given(patterns())
def test_prune_nm(case):
    W, keep, group = case
    P = prune_nm(W, keep, group)
    assert P.shape == W.shape
    np.testing.assert_array_equal(P, ref_prune(W, keep, group))
    assert first_bad_group(P, keep, group) is None
    np.testing.assert_array_equal(prune_nm(P, keep, group), P)
    assert ((P == W) | (P == 0)).all()
    S = sparsify(np.random.default_rng(int(np.abs(W).sum())), W, keep, group)
    np.testing.assert_array_equal(prune_nm(S, keep, group), S)  # already sparse: unchanged


@settings(max_examples=150)
@given(patterns(), st.integers(0, 2**32 - 1))
def test_pack_unpack(case, seed):
    W, keep, group = case
    W = sparsify(np.random.default_rng(seed), W, keep, group)
    rows, K = W.shape
    G = -(-K // group)
    vals, idx = pack_nm(W, keep, group)
    rv, ri = ref_pack(W, keep, group)
    np.testing.assert_array_equal(vals, rv)
    np.testing.assert_array_equal(idx, ri)
    assert vals.shape == idx.shape == (rows, G * keep)
    for r in range(rows):
        for g in range(G):
            ps = [int(p) for p in idx[r, g * keep:(g + 1) * keep]]
            assert all(0 <= p < group for p in ps)
            assert all(a < b for a, b in zip(ps, ps[1:], strict=False))
            nz = [p for p in group_positions(K, group, g) if W[r, g * group + p]]
            assert set(nz) <= set(ps)
            for s, p in enumerate(ps):
                k = g * group + p
                assert vals[r, g * keep + s] == (W[r, k] if k < K else 0)
    np.testing.assert_array_equal(unpack_nm(vals, idx, K, keep, group), W)


def test_nm_by_hand():
    # ties: the lower position is kept; short groups fill at the lowest free positions
    W = np.array([[3, -3, 3, 1, 0, 2, -2, 2, 5]])
    np.testing.assert_array_equal(prune_nm(W, 2, 4), [[3, -3, 0, 0, 0, 2, -2, 0, 5]])
    vals, idx = pack_nm(np.array([[0, 0, 0, 0, 0, 0, 7, 0, 0, 0]]), 2, 4)
    np.testing.assert_array_equal(idx, [[0, 1, 0, 2, 0, 1]])
    np.testing.assert_array_equal(vals, [[0, 0, 0, 7, 0, 0]])


@st.composite
def bad_patterns(draw):
    group = draw(st.sampled_from([2, 4, 8, 16]))
    keep = draw(st.integers(1, group - 1))
    rows, G = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    K = G * group - draw(st.integers(0, group - keep - 1))         # the last group still fits
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = sparsify(rng, rng.integers(-9, 10, (rows, K)), keep, group)
    bad = draw(st.lists(st.tuples(st.integers(0, rows - 1), st.integers(0, G - 1)), min_size=1,
                        max_size=3))
    for r, g in bad:
        ps = rng.permutation(list(group_positions(K, group, g)))[:keep + 1] + g * group
        W[r, ps] = rng.choice([-3, 2, 5], keep + 1)
    return W, keep, group, min(bad)


@settings(max_examples=100)
@given(bad_patterns())
def test_pack_nm_names_first_bad_group(case):
    W, keep, group, (r, g) = case
    assert first_bad_group(W, keep, group) == (r, g)
    with pytest.raises(ValueError, match=rf"not {keep}:{group} sparse: row {r}, group {g} \("):
        pack_nm(W, keep, group)
    cfg = SparseConfig(mode="nm", keep=keep, group=group, window=16, max_k=96)
    with pytest.raises(ValueError, match=rf"row {r}, group {g} \("):
        golden(cfg, W=W, X=np.ones((W.shape[1], 1), dtype=np.int64))
    with pytest.raises(ValueError, match=rf"row {r}, group {g} \("):
        INFO.check_inputs(cfg, {"W": W, "X": np.ones((W.shape[1], 2), dtype=np.int64)})


# 2:4 with K = 10: 3 groups, the last one with positions 2, 3 beyond K
OUTSIDE, ORDER = "a position outside [0, 3]", "positions not strictly increasing"
PAD = "a non-zero weight at a padding position (k ≥ K = 10)"


@pytest.mark.parametrize(("edits", "where", "text"), [
    ({(1, 1): ([1, 4], [5, 6])}, (1, 1), OUTSIDE),
    ({(1, 1): ([-1, 2], [5, 6])}, (1, 1), OUTSIDE),
    ({(1, 1): ([2, 1], [5, 6])}, (1, 1), ORDER),
    ({(1, 1): ([2, 2], [5, 0])}, (1, 1), ORDER),
    ({(1, 2): ([1, 2], [5, 6])}, (1, 2), PAD),
    ({(1, 2): ([1, 2], [5, 0]), (2, 0): ([0, 9], [1, 1])}, (2, 0), OUTSIDE),
    # the first offending group whatever the rule: (0, 2) padding before (2, 0) range
    ({(2, 0): ([0, 9], [1, 1]), (0, 2): ([0, 3], [1, 1]), (1, 1): ([3, 3], [0, 0])}, (0, 2), PAD),
    ({(2, 2): ([7, 1], [0, 0]), (1, 1): ([3, 0], [1, 1])}, (1, 1), ORDER),
])
def test_unpack_nm_errors(edits, where, text):
    vals, idx = np.arange(1, 19, dtype=np.int64).reshape(3, 6), np.tile([0, 1], (3, 3))
    assert unpack_nm(vals, idx, 10, 2, 4).shape == (3, 10)    # valid as given
    for (r, g), (ps, vs) in edits.items():
        idx[r, 2 * g:2 * g + 2] = ps
        vals[r, 2 * g:2 * g + 2] = vs
    r, g = where
    with pytest.raises(ValueError, match=re.escape(f"row {r}, group {g} has {text} (positions "
                                                   f"{idx[r, 2 * g:2 * g + 2].tolist()}")):
        unpack_nm(vals, idx, 10, 2, 4)
    cfg = SparseConfig(mode="nm", lanes=4, window=8, max_k=32)
    with pytest.raises(ValueError, match=re.escape(f"row {r}, group {g} has {text}")):
        INFO.check_inputs(cfg, {"W_vals": vals, "W_idx": idx, "X": np.ones((10, 2), int)})


# -- input and config checks ----------------------------------------------------------------------

NM = SparseConfig(mode="nm", lanes=4, keep=2, group=4, window=8, max_k=32)
ACT = SparseConfig(mode="act", lanes=4, window=8, max_k=32)


def put(a, index, v) -> np.ndarray:
    """A copy of ``a`` (int64) with ``a[index] = v``."""
    a = np.array(a, dtype=np.int64)
    a[index] = v
    return a


X10, ZV, IDX = np.ones((10, 2), dtype=np.int64), np.zeros((3, 6), int), np.tile([0, 1], (3, 3))
DENSE = put(put(np.zeros((3, 10)), (1, slice(4, 7)), 1), (2, slice(0, 4)), 2)  # bad: (1, 1)
BAD_IDX = put(IDX, (2, 3), 4)                                   # row 2, group 1: position 4
OVER = put(np.zeros((3, 10)), (0, 1), 128)


@pytest.mark.parametrize(("cfg", "arrays", "message"), [
    (NM, dict(W=DENSE, X=X10), "W is not 2:4 sparse: row 1, group 1 (k = 4…7) has 3 non-zeros"),
    (NM, dict(W_vals=ZV, W_idx=BAD_IDX, X=X10),
     "W_idx/W_vals: row 2, group 1 has a position outside [0, 3]"),
    (NM, dict(W=np.zeros((3, 10), int), W_vals=ZV, W_idx=IDX, X=X10),
     "give the weights as W, or W_vals and W_idx (given: W, W_vals, W_idx)"),
    (NM, dict(W=np.zeros((3, 10), int), W_vals=ZV, X=X10),
     "give the weights as W, or W_vals and W_idx (given: W, W_vals)"),
    (NM, dict(W_vals=ZV, X=X10), "give the weights as W, or W_vals and W_idx (given: W_vals)"),
    (ACT, dict(X=X10), "give the weights as W (given: none)"),
    (ACT, dict(W_vals=ZV, W_idx=IDX, X=X10),
     "W_vals given but mode is 'act' (the compressed form is for mode 'nm')"),
    (NM, dict(W_vals=ZV[:, :5], W_idx=IDX[:, :5], X=X10),
     "W_vals has 5 slots a row; K = 10 needs ⌈K/4⌉·2 = 6"),
    (ACT, dict(W=OVER, X=X10), "W must hold int8 values in [-128, 127], not 128 (at W[0, 1])"),
    (NM, dict(W=OVER, X=X10), "W must hold int8 values in [-128, 127], not 128 (at W[0, 1])"),
    (ACT, dict(W=np.zeros((2, 33), int), X=np.zeros((33, 2), int)),
     "W has K = 33 (shape (2, 33)); K must be in [1, 32] (max_k)"),
    (NM, dict(W_vals=np.zeros((2, 16), int), W_idx=np.tile([0, 1], (2, 8)),
              X=np.zeros((33, 2), int)), "X has K = 33 (shape (33, 2)); K must be in [1, 32]"),
])
def test_check_inputs(cfg, arrays, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        INFO.check_inputs(cfg, arrays)


def test_check_inputs_accepts_both_forms():
    W = np.zeros((3, 10), dtype=np.int64)
    W[0, [1, 3, 9]] = [-128, 127, 5]
    vals, idx = ref_pack(W, 2, 4)
    for arrays in (dict(W=W, X=X10), dict(W_vals=vals, W_idx=idx, X=X10)):
        out = INFO.check_inputs(NM, arrays)
        assert all(v.dtype == np.int64 for v in out.values())
    assert set(INFO.check_inputs(ACT, dict(W=DENSE, X=X10))) == {"W", "X"}


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(mode="sparse"), "mode must be one of 'nm', 'act', 'dense', not 'sparse'"),
    (dict(lanes=0), "lanes must be in [1, 32], not 0"),
    (dict(lanes=33), "lanes must be in [1, 32], not 33"),
    (dict(group=3), "group must be one of 2, 4, 8, 16, not 3"),
    (dict(group=32), "group must be in [2, 16], not 32"),
    (dict(keep=0), "keep must be in [1, 3], not 0"),
    (dict(keep=4), "keep must be in [1, 3], not 4"),
    (dict(mode="act", window=3), "window must be a power of two in [1, 64], not 3"),
    (dict(mode="act", window=128, max_k=256), "window must be in [1, 64], not 128"),
    (dict(window=2), "window must be a multiple of group (4) in nm mode, not 2"),
    (dict(group=16, keep=3, window=8), "window must be a multiple of group (16) in nm mode, "
                                       "not 8"),
    (dict(max_k=100), "max_k must be a multiple of window (8), not 100"),
    (dict(max_k=8192), "max_k must be in [1, 4096], not 8192"),
    (dict(w_type="uint8"), "w_type must be a signed integer format int2…int18, not 'uint8'"),
    (dict(w_type="int19"), "w_type must be a signed integer format int2…int18, not 'int19'"),
    (dict(x_type="q4.4"), "x_type must be a signed integer format int2…int18, not 'q4.4'"),
    (dict(acc_width=7), "acc_width must be in [8, 48], not 7"),
    (dict(acc_width=49), "acc_width must be in [8, 48], not 49"),
    (dict(overflow="clip"), "overflow must be one of 'wrap', 'saturate', not 'clip'"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SparseConfig(**kwargs)


# -- streams --------------------------------------------------------------------------------------

def ideal_engine(cfg, s, rows: int) -> list[dict]:
    """The o_y beats an ideal engine sends for the to_streams transfers ``s`` (``rows`` only
    to check the weights of lanes beyond it are 0)."""
    (cmd,) = s["i_cmd"]
    K, n, tiles = cmd["k"] + 1, cmd["n"] + 1, cmd["t"] + 1
    L, win, nm = cfg.lanes, cfg.window, cfg.mode == "nm"
    w_it, x_it = iter(s["i_w"]), iter(s["i_x"])
    out = []
    for t in range(tiles):
        Wt = np.zeros((L, K + cfg.group), dtype=np.int64)       # room for padding positions
        last = [-1] * L
        for w in range(ref_words(cfg, K)):
            word = next(w_it)
            if not nm:
                assert len(word) == L
                Wt[:, w] = word
                continue
            g, slot = divmod(w, cfg.keep)
            assert len(word["val"]) == len(word["idx"]) == L
            for lane, (p, v) in enumerate(zip(word["idx"], word["val"], strict=True)):
                if t * L + lane >= rows:                   # a lane beyond rows: sent as 0
                    assert v == 0
                    continue
                assert 0 <= p < cfg.group and (slot == 0 or p > last[lane])
                last[lane] = p
                Wt[lane, g * cfg.group + p] = v
        assert not Wt[:, K:].any()                          # nothing at padding positions
        Xt = np.zeros((-(-K // win) * win, n), dtype=np.int64)
        for j in range(n):
            for b in range(-(-K // win)):
                beat = next(x_it)
                assert len(beat) == win
                Xt[b * win:(b + 1) * win, j] = beat
        assert not Xt[K:].any()                             # nothing beyond K
        Y = ref_acc(Wt[:, :K], Xt[:K], cfg.acc_width, cfg.overflow)
        out += [{"data": [int(v) for v in Y[:, j]], "last": int(t == tiles - 1 and j == n - 1)}
                for j in range(n)]
    assert next(w_it, None) is None and next(x_it, None) is None, "transfers left over"
    return out


STREAM_CFGS = [PRESETS[p] for p in sorted(PRESETS)] + [
    SparseConfig(mode="nm", lanes=3, keep=1, group=2, window=2, max_k=64),
    SparseConfig(mode="nm", lanes=5, keep=3, group=8, window=16, max_k=64, w_type="int4",
                 acc_width=12, overflow="saturate"),
    SparseConfig(mode="dense", lanes=1, window=1, max_k=32, x_type="int18", acc_width=48),
    SparseConfig(mode="act", lanes=6, window=4, max_k=32, acc_width=8, overflow="saturate"),
]


@pytest.mark.parametrize("cfg", STREAM_CFGS, ids=lambda c: f"{c.module_name}_{c.overflow}")
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 9, 3), (7, 13, 2), (16, 16, 1), (3, 32, 4)])
def test_streams_round_trip(cfg, shape, rng):
    rows, K, n = shape
    W = values(rng, cfg.w_type, (rows, K), "mixed")
    W = sparsify(rng, W, cfg.keep, cfg.group) if cfg.mode == "nm" else W
    X = values(rng, cfg.x_type, (K, n), "mixed")
    Y = golden(cfg, W=W, X=X)["Y"]
    s = to_streams(cfg, W=W, X=X)
    tiles = -(-rows // cfg.lanes)
    assert s["i_cmd"] == [{"k": K - 1, "n": n - 1, "t": tiles - 1}]
    assert len(s["i_w"]) == tiles * ref_words(cfg, K)
    assert len(s["i_x"]) == tiles * n * -(-K // cfg.window)
    if cfg.mode == "nm":
        vals, idx = ref_pack(W, cfg.keep, cfg.group)
        assert to_streams(cfg, W_vals=vals, W_idx=idx, X=X) == s
    o_y = ideal_engine(cfg, s, rows)
    assert len(o_y) == counts(cfg, W=W, X=X)["o_y"] == tiles * n
    assert not any(any(b["data"][rows - t * cfg.lanes:]) for t in range(tiles)
                   for b in o_y[t * n:(t + 1) * n])
    np.testing.assert_array_equal(from_streams(cfg, {"o_y": o_y}, W=W, X=X)["Y"], Y)


def test_from_streams_errors():
    cfg = SparseConfig(mode="act", lanes=4, window=4, max_k=16)
    W, X = np.ones((6, 5), dtype=np.int64), np.ones((5, 3), dtype=np.int64)
    beats = ideal_engine(cfg, to_streams(cfg, W=W, X=X), 6)
    assert len(beats) == 6

    def call(bs):
        return from_streams(cfg, {"o_y": bs}, W=W, X=X)

    np.testing.assert_array_equal(call(beats)["Y"], np.full((6, 3), 5))
    with pytest.raises(ValueError, match=r"^o_y: expected 6 transfers for rows=6, n=3, got 5$"):
        call(beats[:5])
    with pytest.raises(ValueError, match=r"expected 6 transfers .* got 7$"):
        call(beats + beats[:1])
    for i, beat, message in [(0, {"last": 1}, "transfer 0: last=1, expected 0"),
                             (5, {"last": 0}, "transfer 5: last=0, expected 1"),
                             (3, {"data": [5, 5, 0, 7]}, "transfer 3: lanes beyond rows must be "
                                                         "0, got [0, 7]")]:
        bad = [dict(b) for b in beats]
        bad[i].update(beat)
        with pytest.raises(ValueError, match=f"^o_y {re.escape(message)}$"):
            call(bad)


# -- counters and cycle model ---------------------------------------------------------------------

def ref_counts(cfg, X, rows: int) -> tuple[int, int, int]:
    """(issued, positions, issue slots per tile) counted element by element."""
    K, n = X.shape
    tiles = -(-rows // cfg.lanes)
    G = -(-K // cfg.group)
    if cfg.mode == "nm":
        return tiles * n * G * cfg.keep, tiles * n * G * cfg.group, n * G * cfg.keep
    if cfg.mode == "dense":
        return tiles * n * K, tiles * n * K, n * K
    nnz, slots, win = 0, 0, cfg.window
    for j in range(n):                     # act: a column's last beat issues at least one slot
        for b in range(-(-K // win)):
            c = sum(1 for k in range(b * win, min(K, (b + 1) * win)) if X[k, j] != 0)
            nnz += c
            slots += max(c, 1) if (b + 1) * win >= K else c
    return tiles * nnz, tiles * n * K, slots


@settings(max_examples=60)
@given(jobs(max_rows=40))
def test_stats_and_model(job):
    cfg, W, X = job
    rows, (K, n) = W.shape[0], X.shape
    tiles = -(-rows // cfg.lanes)
    issued, positions, slots = ref_counts(cfg, X, rows)
    assert stats(cfg, X, rows) == {"issued": issued, "skipped": positions - issued,
                                   "positions": positions}
    m = model(cfg, rows=rows, X=X)
    assert (m["issued"], m["skipped"], m["positions"]) == (issued, positions - issued, positions)
    assert m["tiles"] == tiles and m["macs"] == rows * K * n
    assert m["cycles"] >= tiles * (ref_words(cfg, K) + slots) + PIPE   # result after PIPE
    static = model(cfg)
    assert "cycles" not in static and static["multipliers"] == cfg.lanes
    assert static["window"] == cfg.window
    assert static["weight_words_per_bank"] == ref_words(cfg, cfg.max_k)
    assert all(m[k] == v for k, v in static.items())


@settings(max_examples=40)
@given(configs(modes=("act",)), st.integers(1, 20), st.integers(1, 40), st.integers(1, 4),
       st.integers(0, 2**32 - 1))
def test_model_act_zeros_never_cost_cycles(cfg, rows, K, n, seed):
    rng = np.random.default_rng(seed)
    K = min(K, cfg.max_k)
    X = values(rng, cfg.x_type, (K, n), "mixed")
    before = model(cfg, rows=rows, X=X)["cycles"]
    for share in (0.2, 0.5, 1.0):
        X = np.where(rng.random(X.shape) < share, 0, X)
        after = model(cfg, rows=rows, X=X)["cycles"]
        assert after <= before
        before = after


@pytest.mark.parametrize("mode", ["dense", "nm"])
def test_model_cycles_do_not_depend_on_x_values(mode, rng):
    cfg = SparseConfig(mode=mode, lanes=4, window=8, max_k=64)
    for rows, K, n in [(1, 1, 1), (5, 13, 3), (9, 64, 2)]:
        cycles = {model(cfg, rows=rows, X=values(rng, "int8", (K, n), style))["cycles"]
                  for style in ("zero", "mixed", "extremes", "mixed")}
        assert len(cycles) == 1
