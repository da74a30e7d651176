"""Bit-exact golden model of the sparse engine, the N:M format helpers, and the stream protocol.

Numerics (the specification the RTL matches bit for bit)
--------------------------------------------------------
* W (rows × K) is ``w_fmt``, X (K × n) is ``x_fmt``, Y (rows × n) is ``acc_fmt``; int64 arrays.
* Every lane accumulates its row's products in ascending k, starting from 0:
  ``acc = fit(acc + W[r, k] · X[k, j])``, ``fit`` being two's-complement wrap or saturation to
  ``acc_fmt`` (``cfg.overflow``). A skipped product is a zero product, and ``fit(acc + 0) =
  acc``: every mode gives the same Y, and with ``wrap`` (or no overflow) Y is the plain integer
  product ``W @ X`` brought into ``acc_fmt``.

The N:M format (``mode = "nm"``)
--------------------------------
K is cut into ``G = ⌈K / group⌉`` groups of ``group`` positions (the last one padded with zero
weights). Each group keeps ``keep`` weights: ``W_vals[r, g·keep + s]`` is the s-th kept value
of group g of row r and ``W_idx[r, g·keep + s]`` its position in the group (0 … group − 1),
strictly increasing within the group — the layout of NVIDIA's 2:4 sparse tensor cores. A group
with fewer non-zeros than ``keep`` fills its slots with zero values at the lowest free
positions. :func:`prune_nm` makes W N:M sparse by magnitude, :func:`pack_nm` and
:func:`unpack_nm` convert between the dense and the compressed form.
"""

import numpy as np

__all__ = ["prune_nm", "pack_nm", "unpack_nm", "first_bad_group", "check_nm", "accumulate",
           "dense_weights", "golden", "naive", "to_streams", "from_streams", "counts", "stats"]


def _groups(W: np.ndarray, group: int) -> np.ndarray:
    """W (rows × K) padded with zeros to whole groups, as (rows × G × group)."""
    rows, K = W.shape
    G = -(-K // group)
    pad = np.zeros((rows, G * group), dtype=np.int64)
    pad[:, :K] = W
    return pad.reshape(rows, G, group)


def prune_nm(W, keep: int = 2, group: int = 4) -> np.ndarray:
    """W with all but the ``keep`` largest-magnitude weights of every group of ``group`` along K
    set to 0 (ties: the lower position is kept). Same shape as W."""
    W = np.asarray(W, dtype=np.int64)
    rows, K = W.shape
    g = _groups(W, group)
    # stable sort by descending magnitude: among equal magnitudes the lower position first
    order = np.argsort(-np.abs(g), axis=2, kind="stable")
    mask = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(mask, order[:, :, :keep], True, axis=2)
    return np.where(mask, g, 0).reshape(rows, -1)[:, :K]


def first_bad_group(W, keep: int, group: int):
    """``(row, group)`` of the first group (row-major) with more than ``keep`` non-zeros, or
    None when W is ``keep:group`` sparse."""
    W = np.asarray(W, dtype=np.int64)
    if W.size == 0:
        return None
    bad = np.argwhere((_groups(W, group) != 0).sum(axis=2) > keep)
    return (int(bad[0][0]), int(bad[0][1])) if bad.size else None


def check_nm(W, keep: int, group: int) -> None:
    """``ValueError`` naming the first group (row, group) of W with more than ``keep``
    non-zeros, if there is one."""
    W = np.asarray(W, dtype=np.int64)
    bad = first_bad_group(W, keep, group)
    if bad is not None:
        r, g = bad
        nz = int((_groups(W, group)[r, g] != 0).sum())
        last = min(W.shape[1], g * group + group) - 1
        raise ValueError(f"W is not {keep}:{group} sparse: row {r}, group {g} (k = {g * group}"
                         f"…{last}) has {nz} non-zeros, more than keep = {keep} (prune it with "
                         f"hwgen.blocks.sparse.prune_nm)")


def pack_nm(W, keep: int = 2, group: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(W_vals, W_idx)``, each rows × (G·keep), of a ``keep:group`` sparse W.

    Raises ``ValueError`` naming the first group (row, group) with more than ``keep``
    non-zeros (:func:`check_nm`)."""
    W = np.asarray(W, dtype=np.int64)
    check_nm(W, keep, group)
    g = _groups(W, group)
    rows, G, _ = g.shape
    # positions: the non-zeros first, then the lowest zero positions; keep ``keep``, sorted
    key = np.where(g != 0, 0, 1) * group + np.arange(group)
    pos = np.sort(np.argsort(key, axis=2, kind="stable")[:, :, :keep], axis=2)
    vals = np.take_along_axis(g, pos, axis=2)
    return vals.reshape(rows, G * keep), pos.reshape(rows, G * keep).astype(np.int64)


def unpack_nm(W_vals, W_idx, K: int, keep: int = 2, group: int = 4) -> np.ndarray:
    """Dense W (rows × K) of the compressed form.

    Raises ``ValueError`` naming the first offending group (row, group): a position outside
    [0, group), positions not strictly increasing, or a non-zero value at a padding position
    (k ≥ K)."""
    vals = np.asarray(W_vals, dtype=np.int64)
    idx = np.asarray(W_idx, dtype=np.int64)
    G = -(-K // group)
    if vals.shape != idx.shape or vals.ndim != 2 or vals.shape[1] != G * keep:
        raise ValueError(f"W_vals and W_idx must both have shape (rows, {G * keep}) "
                         f"(⌈K/group⌉·keep for K = {K}), not {vals.shape} and {idx.shape}")
    rows = vals.shape[0]
    v = vals.reshape(rows, G, keep)
    p = idx.reshape(rows, G, keep)
    k = np.arange(G)[None, :, None] * group + p
    rules = (
        ((p < 0) | (p >= group)).any(axis=2),
        (np.diff(p, axis=2) <= 0).any(axis=2),
        ((k >= K) & (v != 0)).any(axis=2),
    )
    texts = (f"a position outside [0, {group - 1}]", "positions not strictly increasing",
             f"a non-zero weight at a padding position (k ≥ K = {K})")
    first = None
    for bad, text in zip(rules, texts, strict=True):
        hits = np.argwhere(bad)
        if hits.size:
            cand = (int(hits[0][0]), int(hits[0][1]), text)
            if first is None or cand[:2] < first[:2]:
                first = cand
    if first is not None:
        r, g, text = first
        s = slice(g * keep, g * keep + keep)
        raise ValueError(f"W_idx/W_vals: row {r}, group {g} has {text} (positions "
                         f"{idx[r, s].tolist()}, values {vals[r, s].tolist()})")
    W = np.zeros((rows, G * group), dtype=np.int64)
    rr = np.repeat(np.arange(rows), G * keep)
    W[rr, k.reshape(-1)] = v.reshape(-1)
    return W[:, :K]


def dense_weights(cfg, *, X, W=None, W_vals=None, W_idx=None) -> np.ndarray:
    """The dense W the inputs stand for (in ``nm`` mode: N:M sparse, checked)."""
    K = np.shape(X)[0]
    if W is None:
        return unpack_nm(W_vals, W_idx, K, cfg.keep, cfg.group)
    W = np.asarray(W, dtype=np.int64)
    if cfg.nm:
        check_nm(W, cfg.keep, cfg.group)
    return W


def accumulate(cfg, W, X) -> np.ndarray:
    """Y exactly as the lanes compute it (see the module docstring)."""
    W = np.asarray(W, dtype=np.int64)
    X = np.asarray(X, dtype=np.int64)
    fmt = cfg.acc_fmt
    if cfg.overflow == "wrap":
        return fmt.wrap(W @ X)                    # exact: |W·X| < 2^47
    acc = np.zeros((W.shape[0], X.shape[1]), dtype=np.int64)
    for k in np.flatnonzero(W.any(axis=0) & X.any(axis=1)):
        acc = fmt.saturate(acc + np.outer(W[:, k], X[k]))
    return acc


def golden(cfg, *, X, W=None, W_vals=None, W_idx=None) -> dict:
    """The block contract's golden model: ``{"Y": accumulate(cfg, W, X)}``."""
    W = dense_weights(cfg, X=X, W=W, W_vals=W_vals, W_idx=W_idx)
    return {"Y": accumulate(cfg, W, X)}


def naive(cfg, W, X) -> np.ndarray:
    """Plain Python loops over exact integers: the reference for :func:`accumulate`."""
    lo, hi = cfg.acc_fmt.min, cfg.acc_fmt.max
    rows, K = len(W), len(X)
    n = len(X[0]) if K else 0
    Y = np.zeros((rows, n), dtype=np.int64)
    for r in range(rows):
        for j in range(n):
            acc = 0
            for k in range(K):
                acc += int(W[r][k]) * int(X[k][j])
                if cfg.overflow == "saturate":
                    acc = min(max(acc, lo), hi)
                else:
                    acc = (acc - lo) % (1 << cfg.acc_width) + lo
            Y[r, j] = acc
    return Y


def _compressed(cfg, W, W_vals, W_idx):
    """``(vals, idx)`` the hardware stores in ``nm`` mode."""
    if W is not None:
        return pack_nm(np.asarray(W, dtype=np.int64), cfg.keep, cfg.group)
    return np.asarray(W_vals, dtype=np.int64), np.asarray(W_idx, dtype=np.int64)


def _lanes(vec, n):
    out = [int(v) for v in vec]
    return out + [0] * (n - len(out))


def to_streams(cfg, *, X, W=None, W_vals=None, W_idx=None) -> dict:
    """The transfers the hardware expects, per input port, in order.

    ``i_cmd``: one ``{"k": K-1, "n": n-1, "t": tiles-1}``. Then for each tile of ``lanes`` rows:
    ``i_w`` gets the tile's weight words (``dense``/``act``: one per k, the lanes' W[r, k];
    ``nm``: one per kept slot, ``{"val": [...], "idx": [...]}``), and ``i_x`` gets every column
    of X, each as ⌈K/window⌉ beats of ``window`` elements. Rows beyond ``rows`` and elements
    beyond K are sent as 0 (the hardware never issues elements beyond K).
    """
    X = np.asarray(X, dtype=np.int64)
    K, n = X.shape
    L, win = cfg.lanes, cfg.window
    rows = np.shape(W)[0] if W is not None else np.shape(W_vals)[0]
    tiles = -(-rows // L)
    s = {"i_cmd": [{"k": K - 1, "n": n - 1, "t": tiles - 1}], "i_w": [], "i_x": []}
    nb = cfg.beats(K)
    xp = np.zeros((nb * win, n), dtype=np.int64)
    xp[:K] = X
    beats = [_lanes(xp[b * win:(b + 1) * win, j], win) for j in range(n) for b in range(nb)]
    if cfg.nm:
        vals, idx = _compressed(cfg, W, W_vals, W_idx)
    else:
        W = np.asarray(W, dtype=np.int64)
    for t in range(tiles):
        r = slice(t * L, t * L + L)
        if cfg.nm:
            s["i_w"] += [{"val": _lanes(vals[r, w], L), "idx": _lanes(idx[r, w], L)}
                         for w in range(vals.shape[1])]
        else:
            s["i_w"] += [_lanes(W[r, k], L) for k in range(K)]
        s["i_x"] += beats
    return s


def counts(cfg, *, X, W=None, W_vals=None, W_idx=None) -> dict:
    """Output transfers: one ``o_y`` beat per column per tile."""
    rows = np.shape(W)[0] if W is not None else np.shape(W_vals)[0]
    return {"o_y": -(-rows // cfg.lanes) * np.shape(X)[1]}


def from_streams(cfg, streams: dict, *, X, W=None, W_vals=None, W_idx=None) -> dict:
    """``{"Y": Y}`` from the ``o_y`` transfers (dicts with ``data`` and ``last``).

    Raises ``ValueError`` on a wrong count, wrong ``last`` flags, or a lane beyond ``rows``
    that is not 0."""
    rows = np.shape(W)[0] if W is not None else np.shape(W_vals)[0]
    n = np.shape(X)[1]
    L = cfg.lanes
    got = streams["o_y"]
    expect = -(-rows // L) * n
    if len(got) != expect:
        raise ValueError(f"o_y: expected {expect} transfers for rows={rows}, n={n}, "
                         f"got {len(got)}")
    Y = np.zeros((rows, n), dtype=np.int64)
    for i, beat in enumerate(got):
        t, j = divmod(i, n)
        data, last = beat["data"], beat["last"]
        if bool(last) != (i == expect - 1):
            raise ValueError(f"o_y transfer {i}: last={last}, expected {int(i == expect - 1)}")
        nr = min(L, rows - t * L)
        if any(data[nr:]):
            raise ValueError(f"o_y transfer {i}: lanes beyond rows must be 0, got {data[nr:]}")
        Y[t * L:t * L + nr, j] = data[:nr]
    return {"Y": Y}


def stats(cfg, X, rows: int) -> dict:
    """What the hardware counters count for a job: ``issued`` (weight slots sent to the lanes,
    each one product per lane), ``skipped`` (positions of the group-padded K not issued) and
    ``positions`` (their sum), over every tile and column."""
    X = np.asarray(X, dtype=np.int64)
    K, n = X.shape
    tiles = -(-rows // cfg.lanes)
    if cfg.nm:
        G = -(-K // cfg.group)
        per_col = np.full(n, G * cfg.keep)
        pos = G * cfg.group
    elif cfg.mode == "act":
        per_col = (X != 0).sum(axis=0)
        pos = K
    else:
        per_col = np.full(n, K)
        pos = K
    issued = tiles * int(per_col.sum())
    positions = tiles * n * pos
    return {"issued": issued, "skipped": positions - issued, "positions": positions}
