"""Bit-exact numpy golden model of the softmax unit, and its stream protocol.

Numerics (the specification the RTL matches bit for bit; T, E, G, B, X, P, Gs, K, shift are
the config's derived ``t_frac``, ``e_frac``, ``exp_guard``, ``table_bits``, ``sum_extra``,
``recip_frac``, ``sum_guard`` and ``front``; ``rsh(v, s) = (v + 2^(s-1)) >> s`` rounds half
up, ``>>`` is an arithmetic shift)
--------------------------------------------------------------------------------------------
1. **Front end** (base-2 score). ``t = sat(rsh(x · K, shift))`` in ``t_fmt`` (signed, T
   fractional bits): ``t ≈ value(x) · scale · log2(e) · 2^T``. K (17 bits) holds
   ``scale · log2(e)``, so the input's dequantization, ``1/√d`` and ``log2(e)`` cost one
   multiplier.
2. **Mask.** Element i of a row is valid iff ``i < length`` (the row's valid length); masked
   elements take no part in the max and the sum and come out as exactly 0.
3. **Max.** ``safe``: ``m = max t`` over the valid elements. ``online``: an integer running max
   ``m = ceil(max t / 2^T) · 2^T``, updated once per beat (so every difference below is ≥ 0 and
   rescaling is a shift).
4. **Exp** ``e = exp2neg(d, x)`` of ``d = m − t ≥ 0`` with ``x`` extra bits: ``q = d >> T``,
   ``f = d mod 2^T``. Table ``tab[j] = round(2^(−j/2^B) · 2^(E+G))``, j = 0…2^B. Without
   interpolation (F = 8) ``g = tab[rsh(f, T−B)]``; with it
   ``g = tab[j] − rsh((tab[j] − tab[j+1]) · r, T−B)`` for ``j = f >> (T−B)``,
   ``r = f mod 2^(T−B)``. Then ``e = rsh(g · 2^x, G + q)`` (``Q1.(E+x)``, in [0, 2^(E+x)]);
   ``e = 0`` when ``q ≥ q_max = E + G + X + 1``. The sum takes ``x = X`` (``sum_extra``), the
   normalize step ``x = 0``.
5. **Sum** of the ``x = X`` exps. ``safe``: ``S = Σ e`` (exact). ``online``: per beat, in order,
   ``S = (S >> (m_new − m_old)/2^T) + (Σ_beat e) · 2^Gs`` with the beat's e taken against
   ``m_new`` (the shift truncates; Gs guard bits keep what it drops).
6. **Reciprocal**, once per row: ``r = (2^(E+X+P+Gs+1) // S + 1) >> 1`` (round half up of
   ``2^(E+X+P+Gs)/S``); r = 0 when S = 0 (no valid element).
7. **Normalize.** ``p = min(2^F − 1, rsh(e · r, E + P − F))`` with e recomputed from the stored t
   and the final m; ``Q0.F`` saturates at 1 − 2^−F.

Streams: a row is ``ceil(len / lanes)`` beats on ``i_x`` (``data``: lanes × in_fmt, element i of
the row in lane ``i mod lanes`` of beat ``i // lanes``; ``length``: the valid length, read on
the row's first beat, values ≥ the row's element count mean all valid; ``last`` on the row's
final beat). Padding lanes of the last beat are masked. ``o_p`` gives the same beats
(``data``: lanes × uQ0.F, ``last``, ``too_long``). A row of more than ``max_len`` elements is
truncated to its first ``max_len`` (its softmax is of those), its extra beats are consumed and
dropped, and its output beats carry ``too_long = 1``.
"""

import numpy as np

from ...core.numerics import round_shift
from .tensors import TENSORS

__all__ = ["golden", "softmax_fixed", "front_end", "exp2neg", "reciprocal", "normalize",
           "row_max", "float_softmax", "dequantize", "to_streams", "from_streams", "counts",
           "row_streams", "row_outputs"]


def front_end(cfg, x) -> np.ndarray:
    """Step 1: the base-2 score ``t`` (int64) of inputs ``x``."""
    k, s = cfg.front
    t = round_shift(np.asarray(x, dtype=np.int64) * k, s)
    return cfg.t_fmt.saturate(t)


def exp2neg(cfg, d, extra: int = 0) -> np.ndarray:
    """Step 4: ``e ≈ 2^(−d / 2^T) · 2^(E + extra)`` for ``d ≥ 0`` (int64 array)."""
    d = np.asarray(d, dtype=np.int64)
    if d.size and d.min() < 0:
        raise ValueError("exp2neg takes d >= 0")
    T, B, G = cfg.t_frac, cfg.table_bits, cfg.exp_guard
    tab = np.array(cfg.table, dtype=np.int64)
    q = d >> T
    f = d & ((1 << T) - 1)
    if cfg.interpolate:
        j = f >> (T - B)
        r = f & ((1 << (T - B)) - 1)
        g = tab[j] - round_shift((tab[j] - tab[j + 1]) * r, T - B)
    else:
        g = tab[round_shift(f, T - B)]
    zero = q >= cfg.q_max
    qs = np.minimum(q, cfg.q_max)
    e = ((g << extra) + (np.int64(1) << (G + qs - 1))) >> (G + qs)
    return np.where(zero, 0, e).astype(np.int64)


def reciprocal(cfg, S) -> np.ndarray:
    """Step 6: ``r = round(2^(E+P+Gs) / S)``, 0 for S = 0 (int64 array)."""
    S = np.asarray(S, dtype=np.int64)
    num = np.int64(1) << (cfg.e_frac + cfg.sum_extra + cfg.recip_frac + cfg.sum_guard + 1)
    q = num // np.maximum(S, 1)
    return np.where(S > 0, (q + 1) >> 1, 0).astype(np.int64)


def normalize(cfg, e, r) -> np.ndarray:
    """Step 7: ``p = min(2^F − 1, rsh(e · r, E + P − F))``."""
    p = round_shift(np.asarray(e, dtype=np.int64) * np.asarray(r, dtype=np.int64),
                    cfg.e_frac + cfg.recip_frac - cfg.out_frac)
    return np.minimum(p, (1 << cfg.out_frac) - 1)


def row_max(cfg, t, valid) -> tuple[np.ndarray, np.ndarray]:
    """Steps 3 and 5 over rows ``t`` (rows × len, int64) with mask ``valid``: ``(m, S)``."""
    rows, n = t.shape
    if cfg.algorithm == "safe":
        lo = np.int64(cfg.t_fmt.min)
        m = np.where(valid, t, lo).max(axis=1, initial=lo)
        e = np.where(valid, exp2neg(cfg, np.where(valid, m[:, None] - t, 0), cfg.sum_extra), 0)
        return m, e.sum(axis=1)
    T, L, Gs = cfg.t_frac, cfg.lanes, cfg.sum_guard
    m = np.zeros(rows, dtype=np.int64)
    seen = np.zeros(rows, dtype=bool)
    S = np.zeros(rows, dtype=np.int64)
    lo = np.int64(cfg.t_fmt.min)
    for b0 in range(0, n, L):
        tb, vb = t[:, b0:b0 + L], valid[:, b0:b0 + L]
        any_v = vb.any(axis=1)
        bmax = np.where(vb, tb, lo).max(axis=1)
        bceil = -((-bmax) >> T) << T
        m_new = np.where(seen, np.maximum(m, bceil), bceil)
        m_new = np.where(any_v, m_new, m)
        k = np.where(seen, (m_new - m) >> T, 0)
        es = np.where(vb, exp2neg(cfg, np.where(vb, m_new[:, None] - tb, 0), cfg.sum_extra),
                      0).sum(axis=1)
        shifted = np.where(k >= 63, 0, S >> np.minimum(k, 62))
        S = np.where(any_v, shifted + (es << Gs), S)
        m, seen = m_new, seen | any_v
    return m, S


def softmax_fixed(cfg, X, lengths=None, *, trace=False):
    """The unit's output P (rows × len, int64 Q0.F codes) for inputs X (rows × len, in_fmt).

    ``lengths`` (rows,) are the valid lengths (default: all valid). With ``trace`` also returns
    the intermediates ``{t, m, S, r, e}``.
    """
    X = np.asarray(X, dtype=np.int64)
    rows, n = X.shape
    lengths = np.full(rows, n, dtype=np.int64) if lengths is None else np.asarray(lengths)
    valid = np.arange(n)[None, :] < lengths[:, None]
    t = front_end(cfg, X)
    m, S = row_max(cfg, t, valid)
    r = reciprocal(cfg, S)
    e = np.where(valid, exp2neg(cfg, np.where(valid, m[:, None] - t, 0)), 0)
    P = np.where(valid, normalize(cfg, e, r[:, None]), 0).astype(np.int64)
    if trace:
        return P, {"t": t, "m": m, "S": S, "r": r, "e": e}
    return P


def golden(cfg, *, X, lengths=None) -> dict:
    """The block contract's golden model: ``{"P": softmax_fixed(cfg, X, lengths)}``."""
    arrays = TENSORS.validate(cfg, {"X": X, "lengths": lengths}, block="softmax")
    return {"P": softmax_fixed(cfg, arrays["X"], arrays.get("lengths"))}


# -- float references -----------------------------------------------------------------------

def dequantize(cfg, X) -> np.ndarray:
    """The real scores of inputs X: ``value(x) · scale`` (float64)."""
    return np.asarray(X, dtype=np.float64) * 2.0 ** -cfg.in_fmt.frac * cfg.scale


def float_softmax(scores, lengths=None) -> np.ndarray:
    """float64 softmax of each row over its first ``lengths`` elements (0 elsewhere)."""
    s = np.asarray(scores, dtype=np.float64)
    rows, n = s.shape
    lengths = np.full(rows, n) if lengths is None else np.asarray(lengths)
    valid = np.arange(n)[None, :] < lengths[:, None]
    z = np.where(valid, s, -np.inf)
    mx = np.where(lengths > 0, z.max(axis=1, initial=-np.inf), 0.0)
    ex = np.where(valid, np.exp(z - mx[:, None]), 0.0)
    tot = ex.sum(axis=1, keepdims=True)
    return np.where(tot > 0, ex / np.where(tot > 0, tot, 1.0), 0.0)


# -- streams --------------------------------------------------------------------------------

def row_streams(cfg, x, length) -> list[dict]:
    """The ``i_x`` beats of one row ``x`` (any length ≥ 1, may exceed max_len) with valid
    length ``length``."""
    L = cfg.lanes
    n = len(x)
    beats = max(1, -(-n // L))
    pad = np.zeros(beats * L, dtype=np.int64)
    pad[:n] = x
    lf = min(int(length), (1 << cfg.len_bits) - 1)
    return [{"data": [int(v) for v in pad[b * L:(b + 1) * L]], "length": lf,
             "last": int(b == beats - 1)} for b in range(beats)]


def row_outputs(cfg, x, length) -> list[dict]:
    """The ``o_p`` beats the unit gives for the row :func:`row_streams` sends (any length; a
    row longer than max_len is truncated and flagged ``too_long``)."""
    L = cfg.lanes
    n = min(len(x), cfg.max_len)
    P = softmax_fixed(cfg, np.asarray(x[:n], dtype=np.int64)[None, :],
                      np.array([min(int(length), n)]))[0]
    beats = max(1, -(-n // L))
    pad = np.zeros(beats * L, dtype=np.int64)
    pad[:n] = P
    return [{"data": [int(v) for v in pad[b * L:(b + 1) * L]], "last": int(b == beats - 1),
             "too_long": int(len(x) > cfg.max_len)} for b in range(beats)]


def to_streams(cfg, *, X, lengths=None) -> dict:
    X = np.asarray(X, dtype=np.int64)
    n = X.shape[1]
    lengths = np.full(X.shape[0], n) if lengths is None else np.asarray(lengths)
    beats = []
    for x, ln in zip(X, lengths, strict=True):
        beats += row_streams(cfg, x, ln)
    return {"i_x": beats}


def counts(cfg, *, X, lengths=None) -> dict:
    rows, n = np.shape(X)
    return {"o_p": rows * max(1, -(-n // cfg.lanes))}


def from_streams(cfg, streams: dict, *, X, lengths=None) -> dict:
    """``{"P": P}`` from the ``o_p`` beats; ``ValueError`` on wrong count, ``last``,
    ``too_long`` or a non-zero padding lane."""
    rows, n = np.shape(X)
    L = cfg.lanes
    per_row = max(1, -(-n // L))
    beats = streams["o_p"]
    if len(beats) != rows * per_row:
        raise ValueError(f"o_p: expected {rows * per_row} transfers for {rows} rows of {n}, "
                         f"got {len(beats)}")
    P = np.zeros((rows, per_row * L), dtype=np.int64)
    for i, beat in enumerate(beats):
        row, b = divmod(i, per_row)
        if bool(beat["last"]) != (b == per_row - 1):
            raise ValueError(f"o_p transfer {i} (row {row}, beat {b}): last={beat['last']}, "
                             f"expected {int(b == per_row - 1)}")
        if beat["too_long"]:
            raise ValueError(f"o_p transfer {i} (row {row}): too_long is set for a row of "
                             f"{n} ≤ max_len")
        P[row, b * L:(b + 1) * L] = beat["data"]
    if np.any(P[:, n:]):
        raise ValueError(f"o_p: padding lanes past the row length {n} must be 0")
    return {"P": P[:, :n]}
