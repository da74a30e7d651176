"""The sparse engine's user tensors (W or W_vals + W_idx, X in; Y out) and sparse workloads."""

import numpy as np

from ...core.tensors import Array, Tensors
from .config import MAX_DIM
from .golden import check_nm, prune_nm, unpack_nm

__all__ = ["TENSORS", "sparse_x", "random_weights", "random_job"]


def _sizes(cfg) -> dict:
    return {"rows": (1, MAX_DIM, "rows of W per job"), "K": (1, cfg.max_k, "max_k"),
            "n": (1, MAX_DIM, "columns of X per job"),
            "slots": (1, cfg.max_words, "⌈max_k/group⌉·keep")}


def _nm_only(cfg):
    return None if cfg.nm else f"mode is {cfg.mode!r} (the compressed form is for mode 'nm')"


def _check(cfg, arrays) -> None:
    has_w = "W" in arrays
    parts = [k for k in ("W_vals", "W_idx") if k in arrays]
    if has_w == bool(parts) or len(parts) == 1:
        want = "W, or W_vals and W_idx" if cfg.nm else "W"
        given = ", ".join(k for k in ("W", "W_vals", "W_idx") if k in arrays) or "none"
        raise ValueError(f"give the weights as {want} (given: {given})")
    K = arrays["X"].shape[0]
    if has_w:
        if cfg.nm:
            check_nm(arrays["W"], cfg.keep, cfg.group)
        return
    if arrays["W_vals"].shape != arrays["W_idx"].shape:
        raise ValueError(f"W_vals and W_idx must have the same shape, not "
                         f"{arrays['W_vals'].shape} and {arrays['W_idx'].shape}")
    if arrays["W_vals"].shape[1] != cfg.words(K):
        raise ValueError(f"W_vals has {arrays['W_vals'].shape[1]} slots a row; K = {K} needs "
                         f"⌈K/{cfg.group}⌉·{cfg.keep} = {cfg.words(K)}")
    unpack_nm(arrays["W_vals"], arrays["W_idx"], K, cfg.keep, cfg.group)


def _shape(cfg, arrays) -> dict:
    X = arrays["X"]
    rows = (arrays["W"] if "W" in arrays else arrays["W_vals"]).shape[0]
    return {"rows": int(rows), "X": X}


def sparse_x(cfg, rng: np.random.Generator, K: int, n: int, zeros: float,
             layout: str = "random") -> np.ndarray:
    """X (K × n) with a share ``zeros`` of zero elements (the rest uniform non-zero).

    ``layout``: ``random`` (independent positions), ``lane`` (every non-zero of a column at its
    front, the rest zero: full beats, then all-zero ones), ``one_beat`` (the non-zeros fill one
    beat of ``window`` elements in the middle of each column, every other beat zero),
    ``alternate`` (every other element non-zero), ``end`` (one non-zero at the very end of each
    column), ``empty`` (every column zero), ``extremes`` (x_fmt min/max/±1 at the non-zeros).
    """
    f = cfg.x_fmt
    vals = rng.integers(f.min, f.max, (K, n), endpoint=True)
    vals[vals == 0] = 1
    if layout == "extremes":
        vals = rng.choice(np.array([f.min, f.max, 1, -1], dtype=np.int64), (K, n))
    if layout in ("random", "extremes"):
        keep = rng.random((K, n)) >= zeros
    elif layout == "lane":
        keep = np.zeros((K, n), dtype=bool)
        nnz = round((1 - zeros) * K)
        keep[:nnz] = True
    elif layout == "one_beat":
        keep = np.zeros((K, n), dtype=bool)
        win = cfg.window
        b0 = (K // win // 2) * win
        keep[b0:b0 + win] = True
    elif layout == "alternate":
        keep = (np.arange(K) % 2 == 1)[:, None].repeat(n, axis=1)
    elif layout == "end":
        keep = np.zeros((K, n), dtype=bool)
        keep[K - 1] = True
    elif layout == "empty":
        keep = np.zeros((K, n), dtype=bool)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return np.where(keep, vals, 0)


def random_weights(cfg, rng: np.random.Generator, rows: int, K: int,
                   kind: str = "uniform") -> np.ndarray:
    """W (rows × K): uniform (``kind = "extremes"``: min/max/±1), pruned to N:M in ``nm``
    mode."""
    f = cfg.w_fmt
    if kind == "extremes":
        W = rng.choice(np.array([f.min, f.max, 1, -1], dtype=np.int64), (rows, K))
    else:
        W = rng.integers(f.min, f.max, (rows, K), endpoint=True)
    return prune_nm(W, cfg.keep, cfg.group) if cfg.nm else W


def random_job(cfg, rng: np.random.Generator, rows: int, K: int, n: int, zeros: float = 0.5,
               layout: str = "random", kind: str = "uniform") -> dict:
    """``{"W", "X"}`` for one job."""
    return {"W": random_weights(cfg, rng, rows, K, kind),
            "X": sparse_x(cfg, rng, K, n, zeros, layout)}


def _example(cfg, rng) -> dict:
    K = min(cfg.max_k, 2 * cfg.window + 3)
    return random_job(cfg, rng, cfg.lanes + 1, K, 3)


TENSORS = Tensors(
    inputs=(
        Array(name="W", doc="weights, dense (in nm mode already N:M sparse along K)",
              dims=("rows", "K"), fmt=lambda cfg: cfg.w_fmt, required=False),
        Array(name="W_vals", doc="nm mode, instead of W: the kept weights of each group, in "
              "order", dims=("rows", "slots"), fmt=lambda cfg: cfg.w_fmt, required=False,
              forbidden=_nm_only),
        Array(name="W_idx", doc="nm mode, with W_vals: each kept weight's position in its "
              "group", dims=("rows", "slots"), required=False, forbidden=_nm_only),
        Array(name="X", doc="activations, one column per input vector", dims=("K", "n"),
              fmt=lambda cfg: cfg.x_fmt),
    ),
    outputs=(Array(name="Y", doc="W·X in acc_fmt (see docs/sparse.md), as int64",
                   dims=("rows", "n"), fmt=lambda cfg: cfg.acc_fmt),),
    sizes=_sizes,
    example=_example,
    check=_check,
    shape=_shape,
)
