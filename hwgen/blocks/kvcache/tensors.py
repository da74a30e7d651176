"""The KV cache's user tensors (ops, K, V in; status, K_out, V_out out) and command workloads."""

import numpy as np

from ...core.numerics import NumFormat
from ...core.tensors import Array, Tensors
from .config import KVCacheConfig, Op, What
from .golden import KVCacheModel

__all__ = ["TENSORS", "random_ops", "decode_workload", "rows_for"]

MAX_OPS = 1 << 20


def _sizes(cfg) -> dict:
    return {"n": (1, MAX_OPS, "commands per job"),
            "appends": (0, MAX_OPS, "the APPENDs in ops"),
            "row": (cfg.row_elems, cfg.row_elems, "kv_heads × head_dim")}


def _check(cfg, arrays) -> None:
    ops = arrays["ops"]
    bad = np.flatnonzero((ops[:, 0] < 0) | (ops[:, 0] > 7))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"ops[{i}, 0] (the op code) must be in [0, 7] (a 3-bit field), "
                         f"not {int(ops[i, 0])}")
    n = int((ops[:, 0] == Op.APPEND).sum())
    for name in ("K", "V"):
        if arrays[name].shape[0] != n:
            raise ValueError(f"{name} must have one row per APPEND in ops ({n}), not "
                             f"{arrays[name].shape[0]} (shape {arrays[name].shape})")


def _shape(cfg, arrays) -> dict:
    return {"ops": arrays["ops"]}


def rows_for(cfg: KVCacheConfig, rng: np.random.Generator, n: int,
             kind: str = "uniform") -> np.ndarray:
    """``n`` K (or V) rows: ``uniform`` over the element range, or ``extremes`` (min, max, 0,
    ±1)."""
    f = cfg.elem_fmt
    if kind == "extremes":
        return rng.choice(np.array([f.min, f.max, 0, -1, 1], dtype=np.int64),
                          (n, cfg.row_elems))
    return rng.integers(f.min, f.max, (n, cfg.row_elems), endpoint=True)


def random_ops(cfg: KVCacheConfig, rng: np.random.Generator, n: int, *,
               errors: float = 0.1, weights: dict | None = None, max_read: int | None = None,
               data: str = "uniform") -> dict:
    """``n`` random commands that mostly succeed — appends to interleaved sequences, reads of
    readable ranges, forks into empty sequences, frees — with a share ``errors`` of deliberate
    failures (ids and ranges out of range, forks into sequences in use, bad op codes and
    ``what``); pressure on the pages makes OUT_OF_PAGES and SEQ_FULL happen by themselves.
    Returns ``{"ops", "K", "V"}``."""
    w = {"append": 8, "read": 3, "fork": 1, "free": 1, "reset": 0.05}
    w.update(weights or {})
    names = list(w)
    p = np.array([w[k] for k in names], dtype=float)
    p /= p.sum()
    model = KVCacheModel(cfg)
    S = cfg.num_seqs
    top = max_read or 2 * cfg.page_size + 3
    big = 1 << cfg.pos_bits
    ops = []
    for _ in range(n):
        kind = names[int(rng.choice(len(names), p=p))]
        bad = rng.random() < errors
        s = int(rng.integers(S))
        if kind == "append":
            row = [Op.APPEND, s if not bad else int(rng.choice([S, -1, big])), 0, 0, 0]
        elif kind == "read":
            length, lo = model.length[s], model.low(s)
            a = int(rng.integers(lo, length + 1))
            b = int(rng.integers(0, min(top, length - a) + 1))
            if length and rng.random() < 0.1:
                a, b = lo, length - lo                       # everything readable
            c = int(rng.choice([What.K, What.V, What.KV]))
            if bad:
                which = int(rng.integers(5))
                if which == 0:
                    b = length - a + 1 + int(rng.integers(3))
                elif which == 1:
                    a = int(rng.choice([lo - 1, length + 1, -1, big]))
                elif which == 2:
                    b = int(rng.choice([-1, big, 2 * big]))
                elif which == 3:
                    c = int(rng.choice([0, 4, -1]))
                else:
                    s = int(rng.choice([S, big]))
            row = [Op.READ, s, a, b, c]
        elif kind == "fork":
            empty = [i for i in range(S) if model.length[i] == 0 and i != s]
            dst = int(rng.choice(empty)) if empty else (s + 1) % S
            if bad:
                dst = int(rng.choice([s, S, -1, (s + 1) % S]))
            row = [Op.FORK, s, dst, 0, 0]
        elif kind == "free":
            row = [Op.FREE, s if not bad else int(rng.choice([S, big])), 0, 0, 0]
        else:
            row = [Op.RESET, 0, 0, 0, 0]
        if bad and rng.random() < 0.1:
            row = [int(rng.integers(5, 8)), s, 0, 0, 0]
        model.command(*row, k_row=0, v_row=0)
        ops.append(row)
    ops = np.array(ops, dtype=np.int64).reshape(-1, 5)
    appends = int((ops[:, 0] == Op.APPEND).sum())
    return {"ops": ops, "K": rows_for(cfg, rng, appends, data),
            "V": rows_for(cfg, rng, appends, data)}


def decode_workload(cfg: KVCacheConfig, rng: np.random.Generator, *, prompt: int,
                    steps: int, read: str = "KV") -> dict:
    """Decoding as a server runs it: every sequence appends a prompt of ``prompt`` tokens, then
    ``steps`` rounds in which each sequence appends one token and reads its readable
    positions back (``read``: ``K``, ``V`` or ``KV``)."""
    ops = []
    what = What[read]
    model = KVCacheModel(cfg)
    for s in range(cfg.num_seqs):
        for _ in range(prompt):
            ops.append([Op.APPEND, s, 0, 0, 0])
            model.command(*ops[-1], k_row=0, v_row=0)
    for _ in range(steps):
        for s in range(cfg.num_seqs):
            ops.append([Op.APPEND, s, 0, 0, 0])
            model.command(*ops[-1], k_row=0, v_row=0)
            lo, n = model.low(s), model.length[s]
            ops.append([Op.READ, s, lo, n - lo, int(what)])
    ops = np.array(ops, dtype=np.int64).reshape(-1, 5)
    appends = int((ops[:, 0] == Op.APPEND).sum())
    return {"ops": ops, "K": rows_for(cfg, rng, appends), "V": rows_for(cfg, rng, appends)}


def _example(cfg, rng) -> dict:
    return random_ops(cfg, rng, 24)


TENSORS = Tensors(
    inputs=(
        Array(name="ops", doc="commands, one a row: [op, seq, a, b, c] (docs/kvcache.md)",
              dims=("n", 5)),
        Array(name="K", doc="the K row of each APPEND, in order", dims=("appends", "row"),
              fmt=lambda cfg: cfg.elem_fmt),
        Array(name="V", doc="the V row of each APPEND, in order", dims=("appends", "row"),
              fmt=lambda cfg: cfg.elem_fmt),
    ),
    outputs=(
        Array(name="status", doc="one status code per command (0 = OK)", dims=("n",),
              fmt=lambda cfg: NumFormat(signed=False, width=3)),
        Array(name="K_out", doc="K rows the READs returned, in order", dims=("k_rows", "row"),
              fmt=lambda cfg: cfg.elem_fmt),
        Array(name="V_out", doc="V rows the READs returned, in order", dims=("v_rows", "row"),
              fmt=lambda cfg: cfg.elem_fmt),
    ),
    sizes=_sizes,
    example=_example,
    check=_check,
    shape=_shape,
)
