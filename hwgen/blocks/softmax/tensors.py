"""The softmax unit's user tensors: X (rows × len) and optional lengths (rows,) in; P out."""

import numpy as np

from ...core.numerics import NumFormat
from ...core.tensors import Array, Tensors

__all__ = ["TENSORS", "random_rows"]


def _sizes(cfg) -> dict:
    return {"rows": (1, 1 << 20, "rows per job"), "len": (1, cfg.max_len, "max_len")}


def _check(cfg, arrays) -> None:
    lengths = arrays.get("lengths")
    if lengths is None:
        return
    n = arrays["X"].shape[1]
    bad = np.flatnonzero(lengths > n)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"lengths must be in [0, {n}] (the row length), not {int(lengths[i])} "
                         f"(at lengths[{i}])")


def _shape(cfg, arrays) -> dict:
    X = arrays["X"]
    return {"rows": int(X.shape[0]), "length": int(X.shape[1])}


def random_rows(cfg, rng: np.random.Generator, rows: int, n: int, *, std: float = 3.0) -> dict:
    """Rows of n scores, normal with standard deviation ``std`` in real units, quantized."""
    s = rng.normal(0.0, std, size=(rows, n)) / cfg.scale * 2.0 ** cfg.in_fmt.frac
    return {"X": cfg.in_fmt.saturate(np.round(s).astype(np.int64))}


def _example(cfg, rng) -> dict:
    n = min(cfg.max_len, 2 * cfg.lanes + 1)
    arrays = random_rows(cfg, rng, 3, n)
    arrays["lengths"] = np.array([n, n // 2, 0], dtype=np.int64)
    return arrays


TENSORS = Tensors(
    inputs=(
        Array(name="X", doc="score rows in in_fmt", dims=("rows", "len"),
              fmt=lambda cfg: cfg.in_fmt),
        Array(name="lengths", doc="valid length of each row (absent: all valid); elements at "
              "or past it are masked and come out as 0", dims=("rows",),
              fmt=lambda cfg: NumFormat(signed=False, width=cfg.len_bits), required=False),
    ),
    outputs=(Array(name="P", doc="probabilities, Q0.F codes (0 past each row's length)",
                   dims=("rows", "len"), fmt=lambda cfg: cfg.out_fmt),),
    sizes=_sizes,
    example=_example,
    check=_check,
    shape=_shape,
)
