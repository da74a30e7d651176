"""Bit-exact numpy golden model of the MXU, and its stream protocol (tensors <-> transfers).

Numerics (the specification the RTL matches bit for bit)
--------------------------------------------------------
* A is ``a_fmt`` (M×K), B is ``b_fmt`` (K×N), D (optional) and C are ``acc_fmt`` (M×N), all as
  int64 numpy arrays.
* Products are exact. They are summed exactly in groups of ``cfg.group`` consecutive k
  (``rows`` for weight-stationary: one K tile down a PE column; 1 for output-stationary).
* Accumulator: ``acc = fit(acc + group_sum)`` for each group in k order, starting from 0, where
  ``fit`` is two's-complement wrap or saturation to ``acc_fmt`` (``cfg.overflow``). With the exact
  accumulator (``acc_width = 0``) and ``K <= max_k`` nothing ever overflows.
* Bias: ``C = fit(acc + D)``; without bias ``C = acc``.
"""

import math

import numpy as np

from .tensors import TENSORS

__all__ = ["golden", "matmul", "naive", "to_streams", "from_streams", "rows_to_c", "counts",
           "n_transfers"]


def _normalize(cfg, A, B, D):
    """Validated int64 operands (``TENSORS``); D defaults to zeros for bias configs."""
    arrays = TENSORS.validate(cfg, {"A": A, "B": B, "D": D}, block="mxu")
    A, B, D = arrays["A"], arrays["B"], arrays.get("D")
    if D is None and cfg.bias:
        D = np.zeros((A.shape[0], B.shape[1]), dtype=np.int64)
    return A, B, D


def matmul(cfg, A, B, D=None) -> np.ndarray:
    """C (M×N, int64) exactly as the hardware computes it; see the module docstring."""
    A, B, D = _normalize(cfg, A, B, D)
    K = A.shape[1]
    g = cfg.group
    acc = np.zeros((A.shape[0], B.shape[1]), dtype=np.int64)
    fmt, mode = cfg.acc_fmt, cfg.overflow
    for k0 in range(0, K, g):
        part = A[:, k0:k0 + g] @ B[k0:k0 + g, :]          # exact: |part| < 2**40
        acc = fmt.overflow(acc + part, mode)
    if D is not None:
        acc = fmt.overflow(acc + D, mode)
    return acc


def golden(cfg, *, A, B, D=None) -> dict:
    """The block contract's golden model: ``{"C": matmul(cfg, A, B, D)}``."""
    return {"C": matmul(cfg, A, B, D)}


def naive(A, B, D=None) -> np.ndarray:
    """Plain int64 ``A @ B (+ D)`` by explicit loops: the reference for the golden model."""
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64)
    M, K = A.shape
    N = B.shape[1]
    C = np.zeros((M, N), dtype=np.int64)
    for i in range(M):
        for j in range(N):
            s = 0
            for k in range(K):
                s += int(A[i, k]) * int(B[k, j])
            C[i, j] = s
    return C if D is None else C + np.asarray(D, dtype=np.int64)


def _lanes(vec, n):
    out = list(int(v) for v in vec)
    return out + [0] * (n - len(out))


def to_streams(cfg, *, A, B, D=None) -> dict:
    """The transfers the hardware expects, per input port, in its documented order.

    Returns ``{"i_cmd": [{"m":..,"k":..,"n":..}], "i_a": [[lanes]...], "i_w": [...],
    "i_d": [...] (bias only)}``. Unused lanes (beyond K, M or N in a partial tile) are sent as 0
    here; the hardware ignores them whatever their value.
    """
    A, B, D = _normalize(cfg, A, B, D)
    M, K = A.shape
    N = B.shape[1]
    R, C = cfg.rows, cfg.cols
    s = {"i_cmd": [{"m": M - 1, "k": K - 1, "n": N - 1}], "i_a": [], "i_w": []}
    if cfg.bias:
        s["i_d"] = []
    for n0, m0, m1 in _out_tiles(cfg, M, N):
        if cfg.dataflow == "ws":
            for k0 in range(0, K, R):
                for k in range(k0, min(K, k0 + R)):
                    s["i_w"].append(_lanes(B[k, n0:n0 + C], C))
                for m in range(m0, m1):
                    s["i_a"].append(_lanes(A[m, k0:k0 + R], R))
        else:
            for k in range(K):
                s["i_a"].append(_lanes(A[m0:m1, k], R))
                s["i_w"].append(_lanes(B[k, n0:n0 + C], C))
        if cfg.bias:
            for m in range(m0, m1):
                s["i_d"].append(_lanes(D[m, n0:n0 + C], C))
    return s


def _out_tiles(cfg, M, N):
    """(n0, m0, m1) for each group of output rows, in output order."""
    C = cfg.cols
    if cfg.dataflow == "ws":
        d = cfg.acc_depth
        return [(n0, m0, min(M, m0 + d)) for n0 in range(0, N, C) for m0 in range(0, M, d)]
    R = cfg.rows
    return [(n0, m0, min(M, m0 + R)) for m0 in range(0, M, R) for n0 in range(0, N, C)]


def from_streams(cfg, streams: dict, *, A, B, D=None) -> dict:
    """``{"C": C}`` from the ``o_c`` transfers of the GEMM of ``A``, ``B`` (see ``rows_to_c``)."""
    return {"C": rows_to_c(cfg, np.shape(A)[0], np.shape(B)[1], streams["o_c"])}


def counts(cfg, *, A, B, D=None) -> dict:
    """Output transfers of the GEMM of ``A``, ``B``: ``{"o_c": n}``."""
    (M, K), N = np.shape(A), np.shape(B)[1]
    return {"o_c": n_transfers(cfg, M, K, N)["o_c"]}


def rows_to_c(cfg, M: int, N: int, rows: list) -> np.ndarray:
    """Reassemble C (M×N) from ``o_c`` transfers (dicts with ``data`` and ``last``).

    Raises ``ValueError`` if the count or ``last`` flags are wrong, or a lane beyond N is not 0.
    """
    tiles = _out_tiles(cfg, M, N)
    expect = sum(m1 - m0 for _, m0, m1 in tiles)
    if len(rows) != expect:
        raise ValueError(f"o_c: expected {expect} transfers for M={M}, N={N}, got {len(rows)}")
    C = np.zeros((M, N), dtype=np.int64)
    i = 0
    for n0, m0, m1 in tiles:
        nc = min(cfg.cols, N - n0)
        for m in range(m0, m1):
            data, last = rows[i]["data"], rows[i]["last"]
            if bool(last) != (i == expect - 1):
                raise ValueError(f"o_c transfer {i}: last={last}, expected {int(i == expect - 1)}")
            if any(data[nc:]):
                raise ValueError(f"o_c transfer {i}: lanes beyond N must be 0, got {data[nc:]}")
            C[m, n0:n0 + nc] = data[:nc]
            i += 1
    return C


def n_transfers(cfg, M, K, N) -> dict:
    """Number of transfers on each port for an M×K×N GEMM."""
    t = cfg.tiles(M, K, N)
    if cfg.dataflow == "ws":
        a = t["n_tiles"] * t["k_tiles"] * M
        w = t["n_tiles"] * t["m_chunks"] * K
    else:
        a = w = t["n_tiles"] * t["m_tiles"] * K
    out = t["n_tiles"] * M
    return {"i_a": a, "i_w": w, "o_c": out, "i_d": out if cfg.bias else 0,
            "macs": M * K * N, "tiles": math.prod(t.values())}
