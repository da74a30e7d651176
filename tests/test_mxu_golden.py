"""The MXU golden model against independent references, and its stream protocol.

References used here (none calls the code under test):

* ``naive`` int64 triple loop (exact accumulator: nothing can overflow);
* ``ref_mxu``: Python ints, following the golden model's documented grouping. Weight-stationary
  sums each K tile of ``rows`` products exactly (one PE column) and only then updates the
  accumulator, so overflow is applied once per K tile; output-stationary updates (and
  overflows) after every product. The bias is added after the last update, with overflow.
  ``fit`` is two's-complement wrap (``(v - lo) mod 2**w + lo``) or a clamp to [lo, hi];
* ``stream_model``: consumes ``to_streams`` transfers in the documented order like the array
  would, so the stream contents are checked independently of ``golden``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwgen.blocks.mxu import INFO, TENSORS, MXUConfig, golden, matmul
from hwgen.blocks.mxu.golden import (
    counts,
    from_streams,
    n_transfers,
    naive,
    rows_to_c,
    to_streams,
)

MXU_PRESETS = sorted(INFO.presets)


# -- references --

def fmt_range(cfg_fmt) -> tuple[int, int, int]:
    return cfg_fmt.min, cfg_fmt.max, cfg_fmt.width


def ref_fit(v: int, lo: int, hi: int, width: int, mode: str) -> int:
    if mode == "saturate":
        return min(max(v, lo), hi)
    return (v - lo) % (1 << width) + lo


def ref_mxu(cfg, A, B, D=None):
    """Python-int reference with the documented grouping (see the module docstring)."""
    lo, hi, w = fmt_range(cfg.acc_fmt)
    group = cfg.rows if cfg.dataflow == "ws" else 1
    M, K = len(A), len(A[0])
    N = len(B[0])
    C = [[0] * N for _ in range(M)]
    for i in range(M):
        for j in range(N):
            acc = 0
            for k0 in range(0, K, group):
                s = sum(int(A[i][k]) * int(B[k][j]) for k in range(k0, min(K, k0 + group)))
                acc = ref_fit(acc + s, lo, hi, w, cfg.overflow)
            if D is not None:
                acc = ref_fit(acc + int(D[i][j]), lo, hi, w, cfg.overflow)
            C[i][j] = acc
    return np.array(C, dtype=np.int64)


def output_order(cfg, M, N):
    """(m, n0) of every o_c transfer. ws: N tiles, then M chunks of acc_depth rows, then rows;
    os: M tiles of ``rows`` rows, then N tiles, then the rows of the tile."""
    out = []
    if cfg.dataflow == "ws":
        for n0 in range(0, N, cfg.cols):
            for m0 in range(0, M, cfg.acc_depth):
                out += [(m, n0) for m in range(m0, min(M, m0 + cfg.acc_depth))]
    else:
        for m0 in range(0, M, cfg.rows):
            for n0 in range(0, N, cfg.cols):
                out += [(m, n0) for m in range(m0, min(M, m0 + cfg.rows))]
    return out


def fake_o_c(cfg, C):
    """The o_c transfers hardware would send for result C (unused lanes 0, last on the end)."""
    M, N = C.shape
    order = output_order(cfg, M, N)
    rows = []
    for i, (m, n0) in enumerate(order):
        lanes = [int(v) for v in C[m, n0:n0 + cfg.cols]]
        rows.append({"data": lanes + [0] * (cfg.cols - len(lanes)),
                     "last": int(i == len(order) - 1)})
    return rows


def stream_model(cfg, M, K, N, s):
    """Compute C from to_streams transfers the way the array consumes them (documented order)."""
    lo, hi, w = fmt_range(cfg.acc_fmt)
    R, Cc = cfg.rows, cfg.cols
    a_it, w_it = iter(s["i_a"]), iter(s["i_w"])
    d_it = iter(s.get("i_d", []))
    C = np.zeros((M, N), dtype=np.int64)

    def fit(v):
        return ref_fit(v, lo, hi, w, cfg.overflow)

    def tiles():
        if cfg.dataflow == "ws":
            for n0 in range(0, N, Cc):
                for m0 in range(0, M, cfg.acc_depth):
                    yield n0, m0, min(M, m0 + cfg.acc_depth)
        else:
            for m0 in range(0, M, R):
                for n0 in range(0, N, Cc):
                    yield n0, m0, min(M, m0 + R)

    for n0, m0, m1 in tiles():
        nc = min(Cc, N - n0)
        acc = [[0] * nc for _ in range(m1 - m0)]
        if cfg.dataflow == "ws":
            for k0 in range(0, K, R):
                kk = min(R, K - k0)
                wt = [next(w_it) for _ in range(kk)]
                assert all(len(x) == Cc and not any(x[nc:]) for x in wt)
                for i in range(m1 - m0):
                    a = next(a_it)
                    assert len(a) == R and not any(a[kk:])
                    for c in range(nc):
                        acc[i][c] = fit(acc[i][c] + sum(a[r] * wt[r][c] for r in range(kk)))
        else:
            for _ in range(K):
                a, wv = next(a_it), next(w_it)
                assert len(a) == R and not any(a[m1 - m0:]) and not any(wv[nc:])
                for i in range(m1 - m0):
                    for c in range(nc):
                        acc[i][c] = fit(acc[i][c] + a[i] * wv[c])
        if cfg.bias:
            for i in range(m1 - m0):
                d = next(d_it)
                assert not any(d[nc:])
                acc[i] = [fit(acc[i][c] + d[c]) for c in range(nc)]
        for i in range(m1 - m0):
            C[m0 + i, n0:n0 + nc] = acc[i]
    for it in (a_it, w_it, d_it):
        assert next(it, None) is None, "transfers left over"
    assert s["i_cmd"] == [{"m": M - 1, "k": K - 1, "n": N - 1}]
    return C


def random_inputs(cfg, rng, M, K, N, *, extreme=0.0, d_range=None):
    def draw(fmt, shape):
        x = fmt.random(rng, shape)
        if extreme:
            ends = rng.choice([fmt.min, fmt.max], size=shape)
            x = np.where(rng.random(shape) < extreme, ends, x)
        return x
    A = draw(cfg.a_fmt, (M, K))
    B = draw(cfg.b_fmt, (K, N))
    D = None
    if cfg.bias:
        lo, hi = d_range or (cfg.acc_fmt.min, cfg.acc_fmt.max)
        lo, hi = max(lo, cfg.acc_fmt.min), min(hi, cfg.acc_fmt.max)
        D = rng.integers(lo, hi, size=(M, N), endpoint=True, dtype=np.int64)
    return A, B, D


EXACT = [
    MXUConfig(rows=1, cols=1, max_m=16, max_k=16, max_n=16),
    MXUConfig(rows=2, cols=3, max_m=16, max_k=16, max_n=16, acc_depth=3),
    MXUConfig(rows=4, cols=4, max_m=16, max_k=16, max_n=16, bias=True),
    MXUConfig(rows=3, cols=2, dataflow="os", max_m=16, max_k=16, max_n=16),
    MXUConfig(rows=2, cols=2, a_type="uint8", b_type="int4", max_m=16, max_k=16, max_n=16,
              bias=True, acc_depth=5),
    MXUConfig(rows=4, cols=2, a_type="int16", b_type="int16", max_m=16, max_k=16, max_n=16),
    MXUConfig(rows=2, cols=5, a_type="uint1", b_type="uint16", dataflow="os", max_m=16,
              max_k=16, max_n=16, bias=True),
    MXUConfig(rows=5, cols=1, a_type="int2", b_type="uint3", max_m=16, max_k=16, max_n=16,
              overflow="saturate"),
]


# -- golden vs naive (exact accumulator) --

@pytest.mark.parametrize("cfg", EXACT, ids=lambda c: c.module_name + ("_b" if c.bias else ""))
@pytest.mark.parametrize("trial", range(4))
def test_golden_exact_vs_naive(cfg, trial, rng):
    M, K, N = (int(v) for v in rng.integers(1, 17, size=3))
    A, B, D = random_inputs(cfg, rng, M, K, N, extreme=0.3 * trial, d_range=(-1000, 1000))
    C = matmul(cfg, A, B, D)
    assert C.dtype == np.int64 and C.shape == (M, N)
    ref = naive(A, B, D)
    assert ref.min() >= cfg.acc_fmt.min and ref.max() <= cfg.acc_fmt.max   # nothing overflowed
    np.testing.assert_array_equal(C, ref)


@pytest.mark.parametrize("cfg", EXACT, ids=lambda c: c.module_name)
def test_golden_exact_at_max_k_extremes(cfg):
    # K = max_k with every product at its extreme reaches the ends of the exact accumulator
    K = cfg.max_k
    a, b = cfg.a_fmt, cfg.b_fmt
    for av, bv in [(a.min, b.min), (a.min, b.max), (a.max, b.min), (a.max, b.max)]:
        A = np.full((2, K), av, dtype=np.int64)
        B = np.full((K, 3), bv, dtype=np.int64)
        C = matmul(cfg, A, B)
        assert (C == K * av * bv).all()
        assert cfg.acc_fmt.min <= K * av * bv <= cfg.acc_fmt.max


def test_naive_reference():
    A = np.array([[1, 2], [3, 4]])
    B = np.array([[5, 6], [7, 8]])
    np.testing.assert_array_equal(naive(A, B), [[19, 22], [43, 50]])
    np.testing.assert_array_equal(naive(A, B, np.array([[1, 1], [1, -1]])), [[20, 23], [44, 49]])


# -- overflow: wrap and saturate with the documented grouping --

@st.composite
def overflow_cases(draw):
    a = draw(st.sampled_from(["int8", "uint8", "int4", "int16", "uint3"]))
    b = draw(st.sampled_from(["int8", "int4", "uint8", "int16"]))
    cfg0 = MXUConfig(a_type=a, b_type=b)
    extra = draw(st.integers(0, 3))
    cfg = MXUConfig(rows=draw(st.integers(1, 5)), cols=draw(st.integers(1, 4)), a_type=a,
                    b_type=b, dataflow=draw(st.sampled_from(["ws", "os"])),
                    acc_width=cfg0.product_fmt.width + extra,
                    overflow=draw(st.sampled_from(["wrap", "saturate"])),
                    bias=draw(st.booleans()), acc_depth=draw(st.integers(1, 6)),
                    max_m=32, max_k=32, max_n=32)
    M, K, N = (draw(st.integers(1, n)) for n in (7, 12, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    return cfg, M, K, N, seed


@settings(max_examples=150)
@given(overflow_cases())
def test_golden_overflow_vs_reference(case):
    cfg, M, K, N, seed = case
    rng = np.random.default_rng(seed)
    A, B, D = random_inputs(cfg, rng, M, K, N, extreme=0.7)
    C = matmul(cfg, A, B, D)
    np.testing.assert_array_equal(C, ref_mxu(cfg, A, B, D))
    assert C.min() >= cfg.acc_fmt.min and C.max() <= cfg.acc_fmt.max
    if cfg.overflow == "wrap":
        # wrapping is addition mod 2**w, whatever the grouping: C == wrap(exact result)
        lo, _, w = fmt_range(cfg.acc_fmt)
        exact = naive(A, B, D)
        np.testing.assert_array_equal(C, (exact - lo) % (1 << w) + lo)


def test_overflow_actually_happens():
    # the random cases above do overflow (else they would test nothing)
    rng = np.random.default_rng(7)
    cfg = MXUConfig(rows=2, cols=2, acc_width=16, overflow="saturate", max_k=32)
    A, B, _ = random_inputs(cfg, rng, 6, 12, 6, extreme=0.7)
    assert (matmul(cfg, A, B) != naive(A, B)).mean() > 0.3


def test_grouping_ws_vs_os():
    # int16 products of ±2**30; a 32-bit saturating accumulator. Column sums of one K tile:
    # +2**30 +2**30 -2**30 -2**30 (k = 0..3)
    a = np.array([[-32768, -32768, -32768, -32768]])
    b = np.array([[-32768], [-32768], [32767], [32767]])
    prods = [int(a[0, k]) * int(b[k, 0]) for k in range(4)]
    assert prods == [1 << 30, 1 << 30, -(1 << 30) + 32768, -(1 << 30) + 32768]
    ws = MXUConfig(rows=4, cols=1, a_type="int16", b_type="int16", acc_width=32,
                   overflow="saturate")
    os_ = MXUConfig(rows=4, cols=1, a_type="int16", b_type="int16", acc_width=32,
                    overflow="saturate", dataflow="os")
    # ws: one exact group sum (65536), no saturation at all
    assert matmul(ws, a, b)[0, 0] == sum(prods) == 65536
    # os: 2**30, then 2**31 saturates to 2**31 - 1, then two subtractions
    expect = (1 << 31) - 1 + prods[2] + prods[3]
    assert matmul(os_, a, b)[0, 0] == expect == 65535
    for cfg in (ws, os_):
        np.testing.assert_array_equal(matmul(cfg, a, b), ref_mxu(cfg, a, b))


def test_bias_overflow():
    cfg = MXUConfig(rows=1, cols=1, acc_width=16, overflow="saturate", bias=True)
    A, B = np.array([[127]]), np.array([[127]])
    assert matmul(cfg, A, B, np.array([[32767]]))[0, 0] == 32767
    cfg = MXUConfig(rows=1, cols=1, acc_width=16, overflow="wrap", bias=True)
    assert matmul(cfg, A, B, np.array([[32767]]))[0, 0] == 127 * 127 + 32767 - 65536
    assert matmul(cfg, A, B)[0, 0] == 127 * 127                 # D defaults to 0


# -- the stream protocol --

STREAM_CFGS = [INFO.presets[p] for p in MXU_PRESETS] + [
    MXUConfig(rows=3, cols=4, acc_depth=2, bias=True, max_m=64, max_k=64, max_n=64),
    MXUConfig(rows=1, cols=1, dataflow="os"),
    MXUConfig(rows=2, cols=3, dataflow="os", bias=True, acc_width=16, overflow="saturate"),
    MXUConfig(rows=2, cols=2, acc_width=16, overflow="wrap"),
]


@pytest.mark.parametrize("cfg", STREAM_CFGS, ids=lambda c: c.module_name)
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 6), (4, 4, 4), (9, 3, 11), (2, 13, 1)])
def test_streams_round_trip(cfg, shape, rng):
    M, K, N = shape
    A, B, D = random_inputs(cfg, rng, M, K, N, extreme=0.5)
    C = matmul(cfg, A, B, D)
    s = to_streams(cfg, A=A, B=B, D=D)
    n = n_transfers(cfg, M, K, N)
    assert len(s["i_a"]) == n["i_a"] and len(s["i_w"]) == n["i_w"]
    assert len(s.get("i_d", [])) == n["i_d"]
    assert n["macs"] == M * K * N
    # the streams carry exactly the data the array needs (checked without golden)
    np.testing.assert_array_equal(stream_model(cfg, M, K, N, s), C)
    # C -> o_c transfers -> C, partial tiles included
    rows = fake_o_c(cfg, C)
    assert len(rows) == n["o_c"] == counts(cfg, A=A, B=B, D=D)["o_c"]
    np.testing.assert_array_equal(from_streams(cfg, {"o_c": rows}, A=A, B=B, D=D)["C"], C)
    np.testing.assert_array_equal(golden(cfg, A=A, B=B, D=D)["C"], C)


def test_from_streams_errors():
    cfg = MXUConfig(rows=2, cols=4)
    C = np.arange(12).reshape(4, 3)
    rows = fake_o_c(cfg, C)
    with pytest.raises(ValueError, match=r"^o_c: expected 4 transfers for M=4, N=3, got 3$"):
        rows_to_c(cfg, 4, 3, rows[:3])
    bad = [dict(r) for r in rows]
    bad[0]["last"] = 1
    with pytest.raises(ValueError, match=r"^o_c transfer 0: last=1, expected 0$"):
        rows_to_c(cfg, 4, 3, bad)
    bad = [dict(r) for r in rows]
    bad[3]["last"] = 0
    with pytest.raises(ValueError, match=r"^o_c transfer 3: last=0, expected 1$"):
        rows_to_c(cfg, 4, 3, bad)
    bad = [dict(r) for r in rows]
    bad[1] = {"data": [3, 4, 5, 9], "last": 0}
    with pytest.raises(ValueError, match=r"^o_c transfer 1: lanes beyond N must be 0, "
                                         r"got \[9\]$"):
        rows_to_c(cfg, 4, 3, bad)


# -- input validation --

CFG = MXUConfig(rows=2, cols=2, max_m=4, max_k=8, max_n=4)
BIAS = MXUConfig(rows=2, cols=2, acc_width=32, bias=True)


@pytest.mark.parametrize(("cfg", "args", "message"), [
    (CFG, dict(A=np.zeros((2, 3)), B=np.zeros((3, 2), int)),
     r"A must be an integer array, not dtype float64"),
    (CFG, dict(A=None, B=np.zeros((3, 2), int)),
     r"missing array 'A' for block 'mxu' \(expected arrays: A, B, D\)"),
    (CFG, dict(A=np.zeros(3, int), B=np.zeros((3, 2), int)),
     r"A must be 2-D \(M, K\), not shape \(3,\)"),
    (CFG, dict(A=np.zeros((2, 3), int), B=np.zeros((3, 2, 1), int)),
     r"B must be 2-D \(K, N\), not shape \(3, 2, 1\)"),
    (CFG, dict(A=np.zeros((2, 3), int), B=np.zeros((4, 2), int)),
     r"B must have shape \(K, N\) with K = 3 as in A \(2, 3\), not \(4, 2\)"),
    (CFG, dict(A=np.zeros((5, 3), int), B=np.zeros((3, 2), int)),
     r"A has M = 5 \(shape \(5, 3\)\); M must be in \[1, 4\] \(max_m\)"),
    (CFG, dict(A=np.zeros((2, 0), int), B=np.zeros((0, 2), int)),
     r"A has K = 0 \(shape \(2, 0\)\); K must be in \[1, 8\] \(max_k\)"),
    (CFG, dict(A=np.zeros((2, 9), int), B=np.zeros((9, 2), int)),
     r"A has K = 9 \(shape \(2, 9\)\); K must be in \[1, 8\] \(max_k\)"),
    (CFG, dict(A=np.zeros((2, 3), int), B=np.zeros((3, 5), int)),
     r"B has N = 5 \(shape \(3, 5\)\); N must be in \[1, 4\] \(max_n\)"),
    (CFG, dict(A=np.full((2, 3), 128), B=np.zeros((3, 2), int)),
     r"A must hold int8 values in \[-128, 127\], not 128 \(at A\[0, 0\]\)"),
    (CFG, dict(A=np.zeros((2, 3), int), B=np.array([[0, 0], [0, -129], [0, 0]])),
     r"B must hold int8 values in \[-128, 127\], not -129 \(at B\[1, 1\]\)"),
    # regression: 2**63 in a uint64 array was reported as -9223372036854775808
    (CFG, dict(A=np.array([[1, 2**63, 3]], dtype=np.uint64), B=np.zeros((3, 2), int)),
     r"A must hold int8 values in \[-128, 127\], not 9223372036854775808 \(at A\[0, 1\]\)"),
    (CFG, dict(A=np.zeros((2, 3), int), B=np.zeros((3, 2), int), D=np.zeros((2, 2), int)),
     r"D given but the config has bias = false"),
    (BIAS, dict(A=np.zeros((2, 3), int), B=np.zeros((3, 2), int), D=np.zeros((2, 3), int)),
     r"D must have shape \(M, N\) with N = 2 as in B \(3, 2\), not \(2, 3\)"),
    (BIAS, dict(A=np.zeros((2, 3), int), B=np.zeros((3, 2), int), D=np.full((2, 2), 1 << 31)),
     r"D must hold int32 values in \[-2147483648, 2147483647\], not 2147483648 "
     r"\(at D\[0, 0\]\)"),
])
def test_input_validation(cfg, args, message):
    """One validator (the block's ``TENSORS``) behind the golden model, the stream mapping and
    ``hwgen sim --inputs``: it names the array, the rule and the offending value."""
    for fn in (golden, to_streams, lambda cfg, **a: TENSORS.validate(cfg, a, block="mxu"),
               lambda cfg, **a: INFO.check_inputs(cfg, a)):
        with pytest.raises(ValueError, match=rf"^{message}$"):
            fn(cfg, **args)
