"""The MXU's user tensors: A (M×K), B (K×N), optional D (M×N) in; C (M×N) out."""

import numpy as np

from ...core.tensors import Array, Tensors

__all__ = ["TENSORS", "random_operands"]


def _sizes(cfg) -> dict:
    return {"M": (1, cfg.max_m, "max_m"), "K": (1, cfg.max_k, "max_k"),
            "N": (1, cfg.max_n, "max_n")}


def random_operands(cfg, rng: np.random.Generator, M: int, K: int, N: int,
                    bias: bool | None = None) -> dict:
    """Uniformly random A, B (and D when ``bias``, by default for bias configs)."""
    arrays = {"A": cfg.a_fmt.random(rng, (M, K)), "B": cfg.b_fmt.random(rng, (K, N))}
    if cfg.bias if bias is None else bias:
        arrays["D"] = cfg.acc_fmt.random(rng, (M, N))
    return arrays


def _example(cfg, rng) -> dict:
    R, C = cfg.rows, cfg.cols
    return random_operands(cfg, rng, min(cfg.max_m, 7), min(cfg.max_k, 2 * R + 1),
                           min(cfg.max_n, C + 2))


TENSORS = Tensors(
    inputs=(
        Array(name="A", doc="activations", dims=("M", "K"), fmt=lambda cfg: cfg.a_fmt),
        Array(name="B", doc="weights", dims=("K", "N"), fmt=lambda cfg: cfg.b_fmt),
        Array(name="D", doc="bias (bias configs; zeros when left out)", dims=("M", "N"),
              fmt=lambda cfg: cfg.acc_fmt, required=False,
              forbidden=lambda cfg: None if cfg.bias else "the config has bias = false"),
    ),
    outputs=(Array(name="C", doc="A·B (+ D) in acc_fmt, as int64", dims=("M", "N"),
                   fmt=lambda cfg: cfg.acc_fmt),),
    sizes=_sizes,
    example=_example,
)
