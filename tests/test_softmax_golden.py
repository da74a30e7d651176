"""The softmax golden model against independent references, its accuracy goals, streams, inputs
and config checks.

References used here (none calls the code under test):

* ``ref_table``: the 2^-f table from 60-digit decimal arithmetic, rounded half up;
* ``ref_exp`` / ``ref_softmax_row``: Python ints, written from the numeric spec in the
  ``hwgen.blocks.softmax.golden`` docstring, one row at a time with the online normalizer
  processed beat by beat (the summed exps with X = ``ref_sum_extra`` extra bits, the
  normalize step's without);
* ``Fraction`` for the front end's and the reciprocal's round-half-up (floor(a/b + 1/2)), and
  float64 ``2^(-d/2^T)`` for the exp unit, with an error bound derived below.

Accuracy is measured by ``hwgen.blocks.softmax.accuracy`` (the benchmark uses it too).
"""

import dataclasses
import functools
import math
import re
from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwgen.blocks.softmax import accuracy
from hwgen.blocks.softmax.config import ALGORITHMS, PRESETS, SoftmaxConfig
from hwgen.blocks.softmax.golden import (
    counts,
    dequantize,
    exp2neg,
    float_softmax,
    from_streams,
    front_end,
    golden,
    normalize,
    reciprocal,
    row_streams,
    softmax_fixed,
    to_streams,
)
from hwgen.blocks.softmax.tensors import TENSORS
from hwgen.core.errors import HwgenError

PRESET_NAMES = sorted(PRESETS)
IN_TYPES = ["q4.4", "int8", "q8.8", "int16", "int32"]

#: Configs beyond the presets whose accuracy goals are checked too.
EXTRA = {
    "q16-f12": SoftmaxConfig(out_frac=12),
    "online-q8-64": SoftmaxConfig(algorithm="online", out_frac=8),
    "lanes8-int8": SoftmaxConfig(lanes=8, in_type="int8", scale=0.125),
    "online-lanes8-q16": SoftmaxConfig(lanes=8, algorithm="online"),
}
ALL_CFGS = {**PRESETS, **EXTRA}


# -- references -------------------------------------------------------------------------------

def rsh(v: int, s: int) -> int:
    """Round half up, then shift right (Python ints)."""
    return v if s == 0 else (v + (1 << (s - 1))) >> s


def round_half_up(num: int, den: int) -> int:
    return math.floor(Fraction(num, den) + Fraction(1, 2))


@functools.cache
def ref_table(b: int, eg: int) -> tuple[int, ...]:
    """round(2^(eg - j/2^b)) for j = 0 … 2^b, from 60-digit decimals (ties only at j = 0, 2^b,
    where the value is a power of two, so half up vs half even does not matter)."""
    with localcontext() as ctx:
        ctx.prec = 60
        out = []
        for j in range((1 << b) + 1):
            v = Decimal(2) ** (Decimal(eg) - Decimal(j) / (1 << b))
            out.append(int((v + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR)))
    return tuple(out)


def ref_sum_extra(max_len: int, algorithm: str) -> int:
    """X = max(2, ceil(log2 max_len) − 3, + 1 for online), from exact integer arithmetic."""
    ceil_log2 = next(k for k in range(20) if 1 << k >= max_len)
    return max(2, ceil_log2 - 3 + (algorithm == "online"))


def ref_exp(cfg, d: int, x: int = 0) -> int:
    """Step 4 of the spec for one d ≥ 0 with ``x`` extra fractional bits (``Q1.(E+x)``)."""
    T, B, G, E = cfg.t_frac, cfg.table_bits, cfg.exp_guard, cfg.e_frac
    X = ref_sum_extra(cfg.max_len, cfg.algorithm)
    tab = ref_table(B, E + G)
    q, f = d >> T, d % (1 << T)
    if q >= E + G + X + 1:                      # q_max
        return 0
    if cfg.out_frac > 8:                        # interpolation: all but F = 8
        s = T - B
        j, r = f >> s, f % (1 << s)
        g = tab[j] - rsh((tab[j] - tab[j + 1]) * r, s)
    else:
        g = tab[rsh(f, T - B)]
    return rsh(g << x, G + q)


def ref_softmax_row(cfg, x, length: int) -> tuple[list[int], dict]:
    """Steps 1–7 of the spec for one row (Python ints); also ``{m, S, r, t, e, es}`` (``es``:
    the summed exps, against the final m for the online normalizer too)."""
    T, E, P, F, Gs = cfg.t_frac, cfg.e_frac, cfg.recip_frac, cfg.out_frac, cfg.sum_guard
    X = ref_sum_extra(cfg.max_len, cfg.algorithm)
    K, shift = cfg.front
    tf = cfg.t_fmt
    n = len(x)
    t = [min(max(rsh(int(v) * K, shift), tf.min), tf.max) for v in x]
    valid = [i < length for i in range(n)]
    m, S = None, 0
    if cfg.algorithm == "safe":
        vt = [t[i] for i in range(n) if valid[i]]
        if vt:
            m = max(vt)
            S = sum(ref_exp(cfg, m - ti, X) for ti in vt)
    else:
        one = 1 << T
        for b0 in range(0, n, cfg.lanes):                 # one beat
            vt = [t[i] for i in range(b0, min(n, b0 + cfg.lanes)) if valid[i]]
            if not vt:
                continue
            ceil_max = -(-max(vt) // one) * one
            m_new = ceil_max if m is None else max(m, ceil_max)
            if m is not None:
                S >>= (m_new - m) // one
            S += sum(ref_exp(cfg, m_new - ti, X) for ti in vt) << Gs
            m = m_new
    r = ((1 << (E + X + P + Gs + 1)) // S + 1) >> 1 if S else 0
    e = [ref_exp(cfg, m - t[i]) if valid[i] else 0 for i in range(n)]
    es = [ref_exp(cfg, m - t[i], X) if valid[i] else 0 for i in range(n)]
    p = [min((1 << F) - 1, rsh(e[i] * r, E + P - F)) if valid[i] else 0 for i in range(n)]
    return p, {"m": m, "S": S, "r": r, "t": t, "e": e, "es": es}


def ref_softmax(cfg, X, lengths=None) -> np.ndarray:
    rows, n = np.shape(X)
    lengths = [n] * rows if lengths is None else lengths
    return np.array([ref_softmax_row(cfg, X[i], int(lengths[i]))[0] for i in range(rows)],
                    dtype=np.int64).reshape(rows, n)


def exp_error_bound(cfg, d: np.ndarray, v: np.ndarray, x: int = 0) -> np.ndarray:
    """Bound on |exp2neg(d, x) − v|, v = 2^(E + x − d/2^T), for q = d >> T < q_max (units of
    2^−(E+x)).

    ``e = rsh(g·2^x, G+q)`` is within ½ of ``g·2^x / 2^(G+q)``, and ``v = g*·2^x / 2^(G+q)``
    with ``g* = 2^(E+G−f/2^T)``. Table entries are within ½ of exact.

    * No interpolation: ``g = tab[j']``, ``j' = rsh(f, T−B)``, so ``j'/2^B = f/2^T + δ`` with
      ``|δ| ≤ 2^(−B−1)``: ``|g − g*| ≤ ½ + g*·(2^(2^(−B−1)) − 1)``, hence
      ``|e − v| ≤ ½ + ½·2^(x−G−q) + v·(2^(2^(−B−1)) − 1)``.
    * Interpolation over ``[x0, x0 + 2^−B]``: the chord of ``h(x) = 2^(E+G−x)`` errs by at most
      ``h''(x0)/8 · 2^(−2B) = (ln 2)²/8 · 2^(−2B) · h(x0)`` with ``h(x0) ≤ g*·2^(2^−B)``; the
      interpolated rounded entries err by ≤ ½ and the rounded product by ≤ ½:
      ``|e − v| ≤ ½ + 2^(x−G−q) + v·2^(2^−B)·(ln 2)²·2^(−2B)/8``.

    Plus 1e-9 of float slack (v is a float64 within 1e-16 relative).
    """
    B, G, T = cfg.table_bits, cfg.exp_guard, cfg.t_frac
    q = d >> T
    if cfg.interpolate:
        rel = 2.0 ** (2.0 ** -B) * math.log(2) ** 2 * 2.0 ** (-2 * B) / 8
        return 0.5 + 2.0 ** (x - G - q) + v * rel + 1e-9
    rel = 2.0 ** (2.0 ** (-B - 1)) - 1
    return 0.5 + 0.5 * 2.0 ** (x - G - q) + v * rel + 1e-9


def exp_exact(cfg, d: np.ndarray, x: int = 0) -> np.ndarray:
    return 2.0 ** (cfg.e_frac + x - d / 2.0 ** cfg.t_frac)


def extras(cfg) -> list[int]:
    """The two exp words of the spec: x = 0 (normalize) and x = X (sum)."""
    return [0, ref_sum_extra(cfg.max_len, cfg.algorithm)]


# -- the 2^-f table and the exp unit --------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_derived_exp_values(algorithm):
    # the spec's derived values: X = max(2, ceil(log2 max_len) − 3 (+ 1 online)),
    # q_max = E + G + X + 1,
    # interpolation for every F but 8 (B = 5; F = 8: 6 safe / 7 online)
    for max_len in (1, 2, 8, 16, 17, 32, 33, 64, 65, 128, 256, 1000, 1024, 4096, 4104, 65536):
        cfg = SoftmaxConfig(max_len=max_len, lanes=8 if max_len % 8 == 0 else 1,
                            algorithm=algorithm)
        X = cfg.sum_extra
        online = algorithm == "online"
        assert X == ref_sum_extra(max_len, algorithm) == max(
            2, math.ceil(math.log2(max_len)) - 3 + online)
        assert cfg.q_max == cfg.e_frac + cfg.exp_guard + X + 1
    assert [SoftmaxConfig(max_len=m).sum_extra for m in (16, 32, 64, 128, 4096)] == [2, 2, 3, 4, 9]
    for F in range(8, 17):
        cfg = SoftmaxConfig(out_frac=F, algorithm=algorithm)
        assert cfg.interpolate == (F > 8)
        assert cfg.table_bits == (5 if F > 8 else 6 if algorithm == "safe" else 7)


def test_table_exactly_rounded():
    # every (B, E + G) a config can have: B = 5 (interpolated, F > 8), 6 / 7 (F = 8 safe / online)
    seen = 0
    for b, kw in ((5, dict(out_frac=9)), (6, dict(out_frac=8)),
                  (7, dict(out_frac=8, algorithm="online"))):
        for e in range(kw["out_frac"], 28 + 1):
            cfg = SoftmaxConfig(exp_bits=e, **kw)
            eg = e + cfg.exp_guard
            assert cfg.table_bits == b
            assert cfg.table == ref_table(b, eg)
            assert cfg.table[0] == 1 << eg and cfg.table[-1] == 1 << (eg - 1)
            seen += 1
    assert seen == 20 + 21 + 21


F8_EXP_CFGS = [PRESETS["softmax-64x4-int8"], PRESETS["softmax-16x2-q8-online"],
               SoftmaxConfig(out_frac=8, exp_bits=28)]


def check_exp(cfg, d, picks):
    """exp2neg over sorted ``d`` (starting at 0), both words: within the derived error bound of
    the exact value, 2^(E+x) at d = 0, monotone non-increasing; equal to the Python-int
    reference at the indices ``picks``."""
    E = cfg.e_frac
    for x in extras(cfg):
        e = exp2neg(cfg, d, x)
        v = exp_exact(cfg, d, x)
        bound = exp_error_bound(cfg, d, v, x)
        assert np.all(np.abs(e - v) <= bound), (x, float(np.max(np.abs(e - v) - bound)))
        assert e[0] == 1 << (E + x) and e.max() == 1 << (E + x) and e.min() >= 0
        assert np.all(np.diff(e) <= 0)
        for i in picks:
            assert e[i] == ref_exp(cfg, int(d[i]), x)


@pytest.mark.parametrize("cfg", F8_EXP_CFGS, ids=lambda c: f"{c.algorithm}_E{c.e_frac}")
def test_exp2neg_exhaustive_f8(cfg):
    T = cfg.t_frac
    assert not cfg.interpolate and cfg.q_max << T <= 1 << 16
    d = np.arange(cfg.q_max << T, dtype=np.int64)
    # spot-check the Python-int reference (it is what softmax_fixed is compared with below)
    check_exp(cfg, d, np.linspace(0, d.size - 1, 97).astype(int))
    assert exp2neg(cfg, d).tolist() == exp2neg(cfg, d, 0).tolist()   # default: x = 0


F16_EXP_CFGS = [PRESETS["softmax-64-int16"], PRESETS["softmax-4096-int32"],
                SoftmaxConfig(out_frac=16, exp_bits=28), SoftmaxConfig(out_frac=9)]


@pytest.mark.parametrize("cfg", F16_EXP_CFGS, ids=lambda c: f"F{c.out_frac}_E{c.e_frac}")
def test_exp2neg_sampled_interpolated(cfg, rng):
    T, s = cfg.t_frac, cfg.t_frac - cfg.table_bits
    assert cfg.interpolate
    top = cfg.q_max << T
    # all of q = 0 (the largest values), then random d, then every table-interval boundary
    # ±1 at every q
    bounds = (np.arange(cfg.q_max)[:, None] << T) + (np.arange(1 << cfg.table_bits) << s)
    d = np.unique(np.concatenate([np.arange(1 << T), rng.integers(0, top, 1 << 17),
                                  (bounds.ravel()[:, None] + [-1, 0, 1]).ravel().clip(0, top - 1),
                                  [top - 1]]))
    check_exp(cfg, d, rng.integers(0, d.size, 64))


@pytest.mark.parametrize("cfg", F8_EXP_CFGS + F16_EXP_CFGS, ids=lambda c: c.module_name)
def test_exp2neg_zero_beyond_q_max(cfg, rng):
    T, E, G, X = cfg.t_frac, cfg.e_frac, cfg.exp_guard, ref_sum_extra(cfg.max_len, cfg.algorithm)
    assert cfg.sum_extra == X and cfg.q_max == E + G + X + 1
    lo = cfg.q_max << T
    d = np.concatenate([[lo, lo + 1, (lo << 1), (1 << 40)], rng.integers(lo, 1 << 50, 100)])
    for x in extras(cfg):
        assert not exp2neg(cfg, d, x).any()
    # below q_max: e ≈ 2^(E+x−q) is exactly 1 at q = E + x, ½ rounded up at q = E + x + 1
    # (f = 0), and ≤ ¼ → 0 from q = E + x + 2 (= q_max − 1 for x = X, G = 2)
    for x in extras(cfg):
        assert exp2neg(cfg, [(E + x) << T, (E + x + 1) << T], x).tolist() == [1, 1]
        assert not exp2neg(cfg, np.arange((E + x + 2) << T, lo), x).any()
    assert exp2neg(cfg, np.zeros(0, dtype=np.int64)).shape == (0,)
    with pytest.raises(ValueError, match="exp2neg takes d >= 0"):
        exp2neg(cfg, [3, -1])


# -- reciprocal, normalize ------------------------------------------------------------------

@pytest.mark.parametrize("cfg", list(ALL_CFGS.values()), ids=list(ALL_CFGS))
def test_reciprocal(cfg, rng):
    E, P, Gs = cfg.e_frac, cfg.recip_frac, cfg.sum_guard
    X = ref_sum_extra(cfg.max_len, cfg.algorithm)
    num = 1 << (E + X + P + Gs)
    s_max = (1 << cfg.sum_bits) - 1
    # the smallest sum of a row with a valid element: its max has e = 2^(E+X) (safe) /
    # e ≥ 2^(E+X−1) against the rounded-up running max (online), times 2^Gs; the largest:
    # max_len elements of e ≤ 2^(E+X), times 2^Gs
    s_min = 1 << (E + X) if cfg.algorithm == "safe" else 1 << (E + X - 1 + Gs)
    s_top = cfg.max_len << (E + X + Gs)
    S = np.concatenate([[1, 2, 3, 1 << E, (1 << E) - 1, (1 << E) + 1, s_min, s_min + 1,
                         s_min - 1, s_max, s_max - 1, s_top],
                        rng.integers(1, s_max, 500, endpoint=True)])
    r = reciprocal(cfg, S)
    assert [int(v) for v in r] == [round_half_up(num, int(s)) for s in S]
    assert reciprocal(cfg, [0]).tolist() == [0]
    # r of every reachable sum fits recip_bits; sums fit sum_bits (no wider than needed)
    assert int(reciprocal(cfg, [s_min])[0]) < 1 << cfg.recip_bits
    assert s_top <= s_max < s_top << 2
    # normalize: the largest e times the largest r saturates at 2^F - 1
    F = cfg.out_frac
    assert normalize(cfg, [1 << E], reciprocal(cfg, [s_min]))[0] == (1 << F) - 1
    assert normalize(cfg, [0], reciprocal(cfg, [s_min]))[0] == 0


# -- the front end --------------------------------------------------------------------------

def ref_front(cfg, x) -> list[int]:
    K, shift = cfg.front
    tf = cfg.t_fmt
    return [min(max(round_half_up(int(v) * K, 1 << shift), tf.min), tf.max) for v in x]


def check_front(cfg, rng):
    K, shift = cfg.front
    c = cfg.scale / math.log(2) * 2.0 ** (cfg.t_frac - cfg.in_fmt.frac + shift)
    assert abs(K - c) <= c * 2.0 ** -16
    assert (1 << 16) <= K < (1 << 17) or shift == 0
    f = cfg.in_fmt
    x = np.concatenate([[f.min, f.min + 1, -1, 0, 1, f.max - 1, f.max], f.random(rng, 300)])
    assert max(-f.min, f.max) * K < 1 << 60         # the config's scale limit
    t = front_end(cfg, x)
    assert t.tolist() == ref_front(cfg, x)
    assert t.min() >= cfg.t_fmt.min and t.max() <= cfg.t_fmt.max
    assert np.all(np.diff(t[np.argsort(x, kind="stable")]) >= 0)     # monotone in x
    # t ≈ value(x)·scale·log2(e)·2^T, unless saturated at ±2^16 base-2 units
    ideal = dequantize(cfg, x) / math.log(2) * 2.0 ** cfg.t_frac
    inside = (ideal > cfg.t_fmt.min) & (ideal < cfg.t_fmt.max)
    assert np.all(np.abs(t - ideal)[inside] <= 0.5 + np.abs(ideal[inside]) * 2.0 ** -16)


@pytest.mark.parametrize("cfg", list(ALL_CFGS.values()), ids=list(ALL_CFGS))
def test_front_end_presets(cfg, rng):
    check_front(cfg, rng)


def scale_limit(in_type: str, out_frac: int) -> float:
    """The spec's bound: scale < 2^(60 − in_width) / (log2(e) · 2^(out_frac + 2 − in_frac))."""
    m = re.fullmatch(r"int(\d+)|q(\d+)\.(\d+)", in_type)
    width, frac = (int(m[1]), 0) if m[1] else (int(m[2]) + int(m[3]), int(m[3]))
    return 2.0 ** (60 - width) / (math.log2(math.e) * 2.0 ** (out_frac + 2 - frac))


@settings(max_examples=150)
@given(in_type=st.sampled_from(IN_TYPES + ["q2.2", "q16.16", "int4", "q1.7"]),
       log_scale=st.floats(-40, 16), out_frac=st.integers(8, 16), seed=st.integers(0, 2**32))
def test_front_end_vs_reference(in_type, log_scale, out_frac, seed):
    scale = 2.0 ** log_scale
    if scale >= scale_limit(in_type, out_frac):
        with pytest.raises(ValueError, match=r"^scale must be below "):
            SoftmaxConfig(in_type=in_type, scale=scale, out_frac=out_frac)
        return
    cfg = SoftmaxConfig(in_type=in_type, scale=scale, out_frac=out_frac)
    check_front(cfg, np.random.default_rng(seed))


@pytest.mark.parametrize(("in_type", "out_frac"), [("int32", 16), ("int32", 10), ("int32", 8),
                                                   ("q16.16", 16)])
def test_front_end_largest_scale(in_type, out_frac, rng):
    # regression: x·K once overflowed int64 (int32 inputs, scale ≥ ~2^13.5 at F = 16) and the
    # largest input came out as the most negative score. The config now rejects scale ≥ the
    # limit (only int32 at F ≥ 10 has one below the general 2^16 cap), so |x|·K < 2^60, and
    # the largest scale it takes saturates cleanly at both ends.
    top = scale_limit(in_type, out_frac)
    assert (top < 2.0 ** 16) == (in_type == "int32" and out_frac >= 10)
    for bad in (top, top * (1 + 1e-12), 2.0 ** 16):
        if top <= bad <= 2.0 ** 16:
            with pytest.raises(ValueError, match=r"^scale must be below .*not "):
                SoftmaxConfig(in_type=in_type, scale=bad, out_frac=out_frac)
    cfg = SoftmaxConfig(in_type=in_type, scale=min(top * (1 - 1e-12), 2.0 ** 16),
                        out_frac=out_frac)
    check_front(cfg, rng)
    x = np.array([cfg.in_fmt.max, cfg.in_fmt.min])
    assert front_end(cfg, x).tolist() == ref_front(cfg, x) == [cfg.t_fmt.max, cfg.t_fmt.min]


@pytest.mark.parametrize(("in_type", "scale"), [("q4.4", 2.0 ** -6), ("int8", 2.0 ** -12),
                                                ("q4.4", 2.0 ** -15), ("int32", 2.0 ** -40)])
def test_t_fmt_narrow_score_range(in_type, scale, rng):
    # regression: scores spanning less than a base-2 unit once gave t_fmt fewer bits than T
    cfg = SoftmaxConfig(in_type=in_type, scale=scale, out_frac=8)
    assert cfg.t_fmt.width >= cfg.t_frac + 2 and cfg.t_fmt.frac == cfg.t_frac
    check_front(cfg, rng)
    X = cfg.in_fmt.random(rng, (4, 8))
    check_against_reference(cfg, X, np.array([8, 3, 1, 0]))


# -- softmax_fixed against the Python-int reference ----------------------------------------

def draw_inputs(cfg, rng, rows, n, mode):
    f = cfg.in_fmt
    if mode == "full":
        return f.random(rng, (rows, n))
    if mode == "extreme":
        return rng.choice([f.min, f.min + 1, -1, 0, 1, f.max - 1, f.max], (rows, n))
    if mode == "ties":
        return rng.choice(f.random(rng, 3), (rows, n))
    std = rng.choice([0.05, 1.0, 3.0, 8.0, 30.0])                          # "normal"
    return f.saturate(np.round(rng.normal(0, std, (rows, n)) / cfg.scale * 2.0 ** f.frac)
                      .astype(np.int64))


@st.composite
def softmax_cases(draw):
    lanes = draw(st.sampled_from([1, 2, 4, 8]))
    out_frac = draw(st.integers(8, 16))
    cfg = SoftmaxConfig(
        lanes=lanes, max_len=lanes * draw(st.integers(1, 8)),
        in_type=draw(st.sampled_from(IN_TYPES)),
        scale=draw(st.sampled_from([1.0, 0.125, 0.3, 3.7, 2.0 ** -12, 2.0 ** -20])
                   | st.floats(2.0 ** -16, 16.0)),
        out_frac=out_frac, algorithm=draw(st.sampled_from(ALGORITHMS)),
        exp_bits=draw(st.just(0) | st.integers(out_frac, 28)))
    n = draw(st.integers(1, cfg.max_len))
    rows = draw(st.integers(1, 5))
    masked = draw(st.booleans())
    mode = draw(st.sampled_from(["full", "extreme", "ties", "normal"]))
    return cfg, n, rows, masked, mode, draw(st.integers(0, 2**32))


def check_against_reference(cfg, X, lengths):
    P, tr = softmax_fixed(cfg, X, lengths, trace=True)
    assert P.dtype == np.int64 and P.shape == X.shape
    rows, n = X.shape
    lens = [n] * rows if lengths is None else [int(v) for v in lengths]
    E, Gs, XX = cfg.e_frac, cfg.sum_guard, ref_sum_extra(cfg.max_len, cfg.algorithm)
    for i in range(rows):
        p, ref = ref_softmax_row(cfg, X[i], lens[i])
        assert P[i].tolist() == p, (i, lens[i])
        assert tr["r"][i] == ref["r"] and tr["S"][i] == ref["S"]
        assert tr["e"][i].tolist() == ref["e"]
        if lens[i]:
            assert tr["m"][i] == ref["m"]
            # every intermediate fits its derived width
            assert cfg.t_fmt.min <= min(ref["t"]) and max(ref["t"]) <= cfg.t_fmt.max
            assert ref["S"] < 1 << cfg.sum_bits
            assert ref["S"] >= (1 << (E + XX) if cfg.algorithm == "safe"
                                else 1 << (E + XX - 1 + Gs))
            assert 0 < ref["r"] < 1 << cfg.recip_bits
            assert max(ref["e"]) <= 1 << E and max(ref["es"]) <= 1 << (E + XX)
            if cfg.algorithm == "safe":
                assert ref["S"] == sum(ref["es"])
    return P


@settings(max_examples=250)
@given(softmax_cases())
def test_softmax_fixed_vs_reference(case):
    cfg, n, rows, masked, mode, seed = case
    rng = np.random.default_rng(seed)
    X = draw_inputs(cfg, rng, rows, n, mode)
    lengths = rng.integers(0, n, rows, endpoint=True) if masked else None
    P = check_against_reference(cfg, X, lengths)
    np.testing.assert_array_equal(golden(cfg, X=X, lengths=lengths)["P"], P)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_softmax_fixed_vs_reference_datasets(name):
    cfg = PRESETS[name]
    n = min(64, cfg.max_len)
    for X, lengths in accuracy.datasets(cfg, np.random.default_rng(3), n, 6).values():
        check_against_reference(cfg, X, lengths)


def test_softmax_fixed_vs_reference_long_online():
    # 4096 elements, 2048 beats of running-max updates and rescaling shifts
    cfg = PRESETS["softmax-4096-int32"]
    rng = np.random.default_rng(11)
    data = accuracy.datasets(cfg, rng, cfg.max_len, 2)
    for name in ("ascending", "masked"):
        check_against_reference(cfg, *data[name])


def test_online_rescales():
    # the reference is not vacuous: an ascending row really shifts the running sum
    cfg = SoftmaxConfig(lanes=1, max_len=8, in_type="int8", scale=0.125, out_frac=8,
                        algorithm="online")
    X = np.array([[0, 8, 16, 24, 32, 40, 48, 56]])            # 0, 1, …, 7 real units
    first = ref_softmax_row(cfg, X[0, :1], 1)[1]
    _, ref = ref_softmax_row(cfg, X[0], 8)
    assert ref["m"] == -(-front_end(cfg, [56])[0] // (1 << cfg.t_frac)) << cfg.t_frac
    assert ref["m"] - first["m"] >= 10 << cfg.t_frac             # ≥ 10 one-bit shifts of S
    P = check_against_reference(cfg, X, None)
    assert P[0].tolist() == [0, 0, 1, 3, 8, 22, 60, 162]    # round(256·softmax(0 … 7))
    np.testing.assert_allclose(P, 256 * float_softmax(np.arange(8.0)[None]), atol=0.6)


# -- accuracy goals -------------------------------------------------------------------------

ACC_RUNS = {name: accuracy.default_runs(cfg) for name, cfg in ALL_CFGS.items()}


@functools.cache
def accuracy_table() -> dict:
    rows = accuracy.table(ALL_CFGS, ACC_RUNS)
    return {(r["config"], r["len"], r["data"]): r for r in rows}


def _acc_params():
    return [pytest.param((name, n, data), id=f"{name}-{n}-{data}")
            for name, runs in ACC_RUNS.items() for n, _ in runs for data in accuracy.DATASETS]


# Every (config, run, data set) meets the goals. Regression: 4096-int32 / random / 4096 once
# missed (4.60 LSB, E = 20 without X: the mass of the 4095 non-maximal elements of a row with
# one dominant score, p_max ≈ 0.943, rounded coarsely); with X = 9 extra sum bits it is 0.59.
@pytest.mark.parametrize("key", _acc_params())
def test_accuracy_goals(key):
    res = accuracy_table()[key]
    cfg = ALL_CFGS[key[0]]
    assert res["p_above_one"] == 0 and res["masked_nonzero"] == 0
    assert res["argmax_among_max"] == 1.0
    assert accuracy.check_goals(cfg, res) == []


def test_accuracy_table_covers_presets():
    keys = accuracy_table()
    assert {(c, n) for c, n, _ in keys} >= {(name, min(64, PRESETS[name].max_len))
                                            for name in PRESETS}
    assert ("softmax-4096-int32", 4096, "ascending") in keys
    assert ACC_RUNS["softmax-4096-int32"] == [(64, 200), (4096, 8)]
    text = accuracy.format_table(list(keys.values()))
    assert text.splitlines()[0].startswith("| config | data set | len | max LSB |")
    assert len(text.splitlines()) >= 2 + len(keys)
    assert "Goals missed" not in text and "✗" not in text


def test_check_goals_flags_misses():
    q8, q16 = PRESETS["softmax-64x4-int8"], PRESETS["softmax-64-int16"]
    ok = {"p_above_one": 0, "masked_nonzero": 0, "max_abs_lsb": 1.0, "mean_abs_lsb": 0.25,
          "floor_mean_lsb": 0.2, "argmax_strict": 0.7, "argmax_among_max": 1.0}
    assert accuracy.check_goals(q8, ok) == []
    assert len(accuracy.check_goals(q8, ok | {"max_abs_lsb": 1.01})) == 1
    assert len(accuracy.check_goals(q8, ok | {"mean_abs_lsb": 0.26})) == 1
    # F = 8: perfect rounding above 0.25 allows floor + 0.01
    assert accuracy.check_goals(q8, ok | {"mean_abs_lsb": 0.265, "floor_mean_lsb": 0.256}) == []
    assert len(accuracy.check_goals(q8, ok | {"mean_abs_lsb": 0.267,
                                              "floor_mean_lsb": 0.256})) == 1
    assert len(accuracy.check_goals(q8, ok | {"argmax_among_max": 0.99})) == 1
    assert len(accuracy.check_goals(q8, ok | {"p_above_one": 1, "masked_nonzero": 2})) == 2
    # F = 16: 4 LSB, 0.3 mean, strict argmax
    assert accuracy.check_goals(q16, ok | {"max_abs_lsb": 4.0, "mean_abs_lsb": 0.3,
                                           "argmax_strict": 1.0}) == []
    assert len(accuracy.check_goals(q16, ok)) == 1                   # strict 70 %
    assert accuracy.check_goals(q16, ok | {"argmax_strict": None}) == []   # no untied rows
    assert len(accuracy.check_goals(q16, ok | {"argmax_strict": 1.0, "max_abs_lsb": 4.1})) == 1


def test_measure_reference_cases():
    cfg = PRESETS["softmax-64x4-int8"]
    # a one-hot row: 255 instead of 256 (1 LSB, all of it irreducible); all masked: nothing
    X = np.array([[120, -128, -128, -128], [0, 0, 0, 0], [5, 5, 5, 5]])
    res = accuracy.measure(cfg, X, np.array([4, 0, 4]))
    assert res["max_abs_lsb"] == pytest.approx(1.0, abs=1e-3)
    assert res["floor_max_lsb"] == pytest.approx(1.0, abs=1e-3)
    assert res["row_sum_lsb"] == (-1, 0)
    assert res["elements"] == 8 and res["untied_rows"] == 1
    assert res["argmax_strict"] == 1.0 and res["argmax_among_max"] == 1.0
    assert res["p_above_one"] == 0 and res["masked_nonzero"] == 0


def test_datasets_shapes_and_ranges():
    for cfg in (PRESETS["softmax-64x4-int8"], PRESETS["softmax-4096-int32"],
                SoftmaxConfig(in_type="int8", scale=2.0 ** -5)):
        data = accuracy.datasets(cfg, np.random.default_rng(1), 32, 10)
        assert tuple(data) == accuracy.DATASETS
        limit = cfg.in_fmt.max * 2.0 ** -cfg.in_fmt.frac * cfg.scale
        for name, (X, lengths) in data.items():
            assert X.shape == (10, 32) and X.dtype == np.int64
            assert X.min() >= cfg.in_fmt.min and X.max() <= cfg.in_fmt.max
            # meaningful: no set is mostly saturated, and rows are not constant (but flat)
            sat = np.mean((X == cfg.in_fmt.min) | (X == cfg.in_fmt.max))
            assert sat < 0.05, (name, sat)
            if name != "flat":
                assert np.all(X.max(axis=1) > X.min(axis=1)), name
            assert (lengths is not None) == (name == "masked")
        lengths = data["masked"][1]
        assert lengths[0] == 0 and lengths[-1] == 32 and lengths.max() <= 32
        assert np.all(np.diff(data["ascending"][0], axis=1) >= 0)
        assert len(np.unique(data["bits4"][0])) <= 16 < len(np.unique(data["bits8"][0])) <= 256
        # peaked: the gap is 50–55 real units, or the format's whole range scaled down
        s = dequantize(cfg, data["peaked"][0])
        top2 = np.sort(s, axis=1)[:, -2:]
        gap = top2[:, 1] - top2[:, 0]
        assert gap.min() > min(40.0, limit * 0.5), gap.min()
        # same generator state, same data
        again = accuracy.datasets(cfg, np.random.default_rng(1), 32, 10)
        for name in data:
            np.testing.assert_array_equal(data[name][0], again[name][0])
    # q4.4 holds [-8, 8): std 3 is cut to 7.94/3 and the set still spreads
    q44 = accuracy.datasets(PRESETS["softmax-64x4-int8"], np.random.default_rng(2), 64, 50)
    std = dequantize(PRESETS["softmax-64x4-int8"], q44["random"][0]).std()
    assert 2.4 < std < 2.9


@pytest.mark.parametrize("name", list(ALL_CFGS))
def test_special_rows(name, rng):
    cfg = ALL_CFGS[name]
    F, f = cfg.out_frac, cfg.in_fmt
    n = min(cfg.max_len, 2 * cfg.lanes + 1)
    X = np.concatenate([f.random(rng, (6, n)), np.full((2, n), f.max), np.full((2, n), f.min)])
    # all masked → all zeros; length 1 → exactly 2^F - 1 then zeros
    P = softmax_fixed(cfg, X, np.zeros(len(X), dtype=np.int64))
    assert not P.any()
    P = softmax_fixed(cfg, X, np.ones(len(X), dtype=np.int64))
    assert np.all(P[:, 0] == (1 << F) - 1) and not P[:, 1:].any()
    # one-element rows
    P = softmax_fixed(cfg, X[:, :1])
    assert np.all(P == (1 << F) - 1)
    # random lengths: masked outputs exactly 0, nothing above 2^F − 1
    lengths = rng.integers(0, n, len(X), endpoint=True)
    P = softmax_fixed(cfg, X, lengths)
    assert not P[np.arange(n)[None, :] >= lengths[:, None]].any()
    assert P.max() <= (1 << F) - 1 and P.min() >= 0
    # constant rows: equal outputs ≈ 2^F / length
    for i in range(6, 10):
        k = int(lengths[i])
        if k:
            assert len(set(P[i, :k].tolist())) == 1
            assert abs(P[i, 0] - (1 << F) / k) <= 1


def equal_rest_rows(cfg, n):
    """One score ``gap`` above n − 1 equal scores (0), one row per gap: gaps from 4 real units
    to past the point where the rest's exps flush to 0 (``q_max`` base-2 units, at least 20),
    in steps of 1/64 (1/16 for rows longer than 256)."""
    top = max(20.0, (cfg.q_max + 1) * math.log(2))
    gaps = np.arange(4.0, top, 1 / 64 if n <= 256 else 1 / 16)
    s = np.zeros((gaps.size, n))
    s[:, 0] = gaps
    f = cfg.in_fmt
    return f.saturate(np.round(s / cfg.scale * 2.0 ** f.frac).astype(np.int64))


#: The equal-rest rows of every config (at n = max_len, where the n − 1 small exps all round
#: the same way and their error adds up), plus one at max_len = 32 next to the known miss.
EQUAL_REST_CFGS = {**ALL_CFGS,
                   "online-32-f12": SoftmaxConfig(max_len=32, out_frac=12, algorithm="online")}
EQUAL_REST_MISSES: dict[str, str] = {}   # none since online takes one more sum bit


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=EQUAL_REST_MISSES[name])]
                 if name in EQUAL_REST_MISSES else []) for name in EQUAL_REST_CFGS])
def test_accuracy_equal_rest_rows(name):
    # regression: without the sum's X extra bits the exp word rounded the n − 1 equal small
    # terms all the same way: the sum was off by up to (n − 1)/2 exp LSBs, (n − 1)·2^(F−E−1)
    # output LSBs (64-int16: 16 LSB at gap 11.4; 4096-int32 at n = 4096: up to 4095·2^−5 ≈ 128 LSB)
    cfg = EQUAL_REST_CFGS[name]
    res = accuracy.measure(cfg, equal_rest_rows(cfg, cfg.max_len))
    assert res["p_above_one"] == 0 and res["argmax_among_max"] == 1.0
    assert accuracy.check_goals(cfg, res) == []


# -- streams --------------------------------------------------------------------------------

def fake_o_p(cfg, P):
    """The o_p beats the unit would send for result P (padding lanes 0)."""
    rows, n = P.shape
    L = cfg.lanes
    per = max(1, -(-n // L))
    out = []
    for row in P:
        pad = list(map(int, row)) + [0] * (per * L - n)
        out += [{"data": pad[b * L:(b + 1) * L], "last": int(b == per - 1), "too_long": 0}
                for b in range(per)]
    return out


STREAM_CFGS = {**PRESETS, "lanes8": EXTRA["lanes8-int8"], "lanes1": SoftmaxConfig(max_len=8)}


@pytest.mark.parametrize("name", list(STREAM_CFGS))
def test_streams_round_trip(name, rng):
    cfg = STREAM_CFGS[name]
    L = cfg.lanes
    for n in sorted({1, L, min(cfg.max_len, L + 1), min(cfg.max_len, 3 * L - 1), cfg.max_len}):
        if n > min(cfg.max_len, 64):
            continue
        X = cfg.in_fmt.random(rng, (3, n))
        for lengths in (None, np.array([n, 0, max(0, n - 1)])):
            s = to_streams(cfg, X=X, lengths=lengths)
            per = -(-n // L)
            beats = s["i_x"]
            assert len(beats) == 3 * per == counts(cfg, X=X, lengths=lengths)["o_p"]
            lens = [n] * 3 if lengths is None else lengths
            for i, beat in enumerate(beats):
                row, b = divmod(i, per)
                assert beat["last"] == int(b == per - 1)
                assert beat["length"] == lens[row]
                assert len(beat["data"]) == L
                idx = b * L + np.arange(L)
                np.testing.assert_array_equal(
                    beat["data"], np.where(idx < n, X[row, np.minimum(idx, n - 1)], 0))
            # padding lanes of the last beat are masked: the length field never exceeds n
            assert all(beat["length"] <= n for beat in beats)
            P = softmax_fixed(cfg, X, lengths)
            back = from_streams(cfg, {"o_p": fake_o_p(cfg, P)}, X=X, lengths=lengths)["P"]
            np.testing.assert_array_equal(back, P)


def test_row_streams_too_long_row():
    cfg = SoftmaxConfig(lanes=4, max_len=8)
    x = np.arange(11)
    beats = row_streams(cfg, x, 11)
    assert len(beats) == 3 and [b["last"] for b in beats] == [0, 0, 1]
    assert beats[2]["data"] == [8, 9, 10, 0]
    assert all(b["length"] == 11 for b in beats)
    # length clamps to the field: len_bits = 4 holds at most 15
    assert cfg.len_bits == 4 and row_streams(cfg, x, 100)[0]["length"] == 15


def test_from_streams_errors():
    cfg = SoftmaxConfig(lanes=2, max_len=8)
    X = np.zeros((3, 5), dtype=np.int64)
    P = softmax_fixed(cfg, X)
    beats = fake_o_p(cfg, P)
    assert len(beats) == 9

    def run(b):
        return from_streams(cfg, {"o_p": b}, X=X)

    np.testing.assert_array_equal(run(beats)["P"], P)
    with pytest.raises(ValueError, match=r"^o_p: expected 9 transfers for 3 rows of 5, got 8$"):
        run(beats[:-1])
    bad = [dict(b) for b in beats]
    bad[0]["last"] = 1
    with pytest.raises(ValueError, match=r"^o_p transfer 0 \(row 0, beat 0\): last=1, "
                                         r"expected 0$"):
        run(bad)
    bad = [dict(b) for b in beats]
    bad[5]["last"] = 0
    with pytest.raises(ValueError, match=r"^o_p transfer 5 \(row 1, beat 2\): last=0, "
                                         r"expected 1$"):
        run(bad)
    bad = [dict(b) for b in beats]
    bad[4]["too_long"] = 1
    with pytest.raises(ValueError, match=r"^o_p transfer 4 \(row 1\): too_long is set"):
        run(bad)
    bad = [dict(b) for b in beats]
    bad[8] = {**bad[8], "data": [bad[8]["data"][0], 7]}
    with pytest.raises(ValueError, match=r"^o_p: padding lanes past the row length 5 must "
                                         r"be 0$"):
        run(bad)


# -- input validation (TENSORS) --------------------------------------------------------------

CFG = SoftmaxConfig(lanes=2, max_len=8, in_type="q4.4", out_frac=8)


@pytest.mark.parametrize(("args", "message"), [
    (dict(X=np.zeros((2, 5), int), lengths=np.array([5, 6])),
     r"lengths must be in \[0, 5\] \(the row length\), not 6 \(at lengths\[1\]\)"),
    (dict(X=np.zeros((3, 5), int), lengths=np.array([0, 2, 8])),
     r"lengths must be in \[0, 5\] \(the row length\), not 8 \(at lengths\[2\]\)"),
    (dict(X=np.zeros((2, 5), int), lengths=np.array([-1, 2])),
     r"lengths must hold uint4 values in \[0, 15\], not -1 \(at lengths\[0\]\)"),
    (dict(X=np.array([[0, 128, 1]]), lengths=None),
     r"X must hold q4\.4 values in \[-128, 127\], not 128 \(at X\[0, 1\]\)"),
    (dict(X=np.array([[0, 1], [-129, 1]]), lengths=None),
     r"X must hold q4\.4 values in \[-128, 127\], not -129 \(at X\[1, 0\]\)"),
    (dict(X=np.zeros((2, 9), int), lengths=None),
     r"X has len = 9 \(shape \(2, 9\)\); len must be in \[1, 8\] \(max_len\)"),
    (dict(X=np.zeros((2, 5), int), lengths=np.array([1, 2, 3])),
     r"lengths must have shape \(rows,\) with rows = 2 as in X \(2, 5\), not \(3,\)"),
])
def test_input_validation(args, message):
    for fn in (golden, lambda cfg, **a: TENSORS.validate(cfg, a, block="softmax")):
        with pytest.raises(ValueError, match=rf"^{message}$"):
            fn(CFG, **args)


def test_input_validation_accepts_edges():
    X = np.array([[-128, 127, 0, 5, 6]])
    for lengths in (None, np.array([0]), np.array([5])):
        arrays = TENSORS.validate(CFG, {"X": X, "lengths": lengths}, block="softmax")
        assert arrays["X"].dtype == np.int64
        P = golden(CFG, X=X, lengths=lengths)["P"]
        ref = ref_softmax(CFG, X, lengths)
        np.testing.assert_array_equal(P, ref)


# -- config errors --------------------------------------------------------------------------

@pytest.mark.parametrize(("kw", "exc", "message"), [
    (dict(lanes=3), ValueError, r"lanes must be one of 1, 2, 4, 8, not 3"),
    (dict(lanes=16), ValueError, r"lanes must be in \[1, 8\], not 16"),
    (dict(lanes=2.0), TypeError, r"lanes must be an integer, not 2\.0"),
    (dict(lanes=4, max_len=6), ValueError, r"max_len must be a multiple of lanes \(4\), not 6"),
    (dict(max_len=0), ValueError, r"max_len must be in \[1, 65536\], not 0"),
    (dict(max_len=65537), ValueError, r"max_len must be in \[1, 65536\], not 65537"),
    (dict(in_type="uint8"), ValueError, r"in_type must be a signed format .*not 'uint8'"),
    (dict(in_type="int40"), ValueError, r"in_type must be a signed format .*not 'int40'"),
    (dict(in_type="q2.1"), ValueError, r"in_type must be a signed format .*not 'q2\.1'"),
    (dict(in_type="float"), ValueError, r"in_type must look like .*not 'float'"),
    (dict(in_type=8), TypeError, r"in_type must be a string .*not 8"),
    (dict(scale=0), ValueError, r"scale must be in \[2\^-40, 2\^16\].*not 0"),
    (dict(scale=-1), ValueError, r"scale must be in \[2\^-40, 2\^16\].*not -1"),
    (dict(scale=float("nan")), ValueError, r"scale must be in \[2\^-40, 2\^16\].*not nan"),
    (dict(scale=float("inf")), ValueError, r"scale must be in \[2\^-40, 2\^16\].*not inf"),
    (dict(scale=True), TypeError, r"scale must be a number, not True"),
    (dict(scale="1"), TypeError, r"scale must be a number, not '1'"),
    # x · K must fit 60 bits: scale < 2^(60 − 32) / (log2(e) · 2^(F + 2)) for int32
    (dict(in_type="int32", scale=2**16), ValueError,
     r"scale must be below 709\.783 for in_type 'int32' and out_frac 16 \(x · scale · "
     r"log2\(e\) · 2\^T must stay within 60 bits\), not 65536"),
    (dict(in_type="int32", scale=45427.0, out_frac=10), ValueError,
     r"scale must be below 45426\.1 for in_type 'int32' and out_frac 10 \(.*\), not 45427\.0"),
    (dict(in_type="q1.31", scale=2.0 ** -40, out_frac=8), ValueError,
     r"scale must be at least 8\.26296e-08 for in_type 'q1\.31' and out_frac 8 \(the front "
     r"end shifts by at most 60\), not 9\.094947017729282e-13"),
    (dict(max_len=65536, exp_bits=28, algorithm="online"), ValueError,
     r"exp_bits \(28\) is too large for max_len 65536 and out_frac 16: the reciprocal needs "
     r"2\^65, at most 2\^60; lower exp_bits to at most 23 or use 0 \(auto\)"),
    (dict(out_frac=7), ValueError, r"out_frac must be in \[8, 16\], not 7"),
    (dict(out_frac=17), ValueError, r"out_frac must be in \[8, 16\], not 17"),
    (dict(algorithm="x"), ValueError, r"algorithm must be one of 'safe', 'online', not 'x'"),
    (dict(exp_bits=15), ValueError,
     r"exp_bits must be 0 \(auto\) or in \[16, 28\] for out_frac 16, not 15"),
    (dict(exp_bits=7, out_frac=8), ValueError,
     r"exp_bits must be 0 \(auto\) or in \[8, 28\] for out_frac 8, not 7"),
    (dict(exp_bits=29), ValueError, r"exp_bits must be in \[0, 28\], not 29"),
])
def test_config_errors(kw, exc, message):
    with pytest.raises(exc, match=rf"^{message}$"):
        SoftmaxConfig(**kw)
    with pytest.raises(HwgenError, match=rf"^config: {message}$"):
        SoftmaxConfig.from_dict(kw)


def test_config_edges_accepted():
    for kw in (dict(max_len=65536, lanes=8), dict(max_len=1), dict(in_type="q2.2"),
               dict(in_type="int32"), dict(scale=2.0 ** -40), dict(scale=2.0 ** 16),
               dict(out_frac=8, exp_bits=8), dict(exp_bits=28)):
        cfg = SoftmaxConfig(**kw)
        assert SoftmaxConfig.from_dict(cfg.to_dict()) == cfg
    assert dataclasses.replace(PRESETS["softmax-64-int16"], lanes=2).lanes == 2


def test_float_softmax_reference():
    s = np.array([[0.0, math.log(3.0), 5.0], [1.0, 1.0, 1.0]])
    p = float_softmax(s, np.array([2, 0]))
    np.testing.assert_allclose(p, [[0.25, 0.75, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(float_softmax(s[1:]), [[1 / 3] * 3])
