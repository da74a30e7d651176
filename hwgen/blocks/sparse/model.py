"""Cycle model of the sparse engine: exact (tolerance 0) for a job streamed without stalls.

The rules (``rtl.py``), cycle 0 being the command's transfer:

* Each tile loads its weight words one a cycle from the second cycle after the command (or
  after the previous tile's last issue); it runs from the cycle after its last word.
* ``i_x`` beats enter the input register one a cycle from the tile's first load cycle on,
  while it is empty or the 2-entry queue has room; the register moves into the queue when the
  queue has room (counted at the start of the cycle). A beat that is all zero (``act``) and
  does not end a column is dropped on the way.
* The issue register takes the queue's head in the cycle its previous beat issues its last
  slot (or any cycle it is empty); it sends one slot a cycle while the tile runs: ``act``: each
  non-zero valid element (a beat ending a column with none sends one empty slot), ``dense``:
  each valid element, ``nm``: ``keep`` slots per valid group.
* A column's result leaves ``PIPE`` cycles after its last slot issues.
"""

import numpy as np

from .config import OUT_DEPTH
from .golden import stats
from .rtl import PIPE

__all__ = ["model", "issue_costs"]


def issue_costs(cfg, X) -> tuple[np.ndarray, np.ndarray]:
    """Per beat of one tile (column-major): issue slots and whether the beat is kept (queued)."""
    X = np.asarray(X, dtype=np.int64)
    K, n = X.shape
    win = cfg.window
    nb = cfg.beats(K)
    valid = np.zeros(nb * win, dtype=bool)
    valid[:K] = True
    xp = np.zeros((nb * win, n), dtype=np.int64)
    xp[:K] = X
    lb = np.zeros((n, nb), dtype=bool)
    lb[:, -1] = True
    if cfg.mode == "act":
        nnz = ((xp != 0) & valid[:, None]).T.reshape(n, nb, win).sum(axis=2)
        cost = np.where(lb & (nnz == 0), 1, nnz)
        kept = (nnz > 0) | lb
    else:
        units = valid.reshape(nb, cfg.units, cfg.unit).any(axis=2).sum(axis=1)
        cost = np.broadcast_to(units * cfg.slots, (n, nb))
        kept = np.ones((n, nb), dtype=bool)
    return cost.reshape(-1), kept.reshape(-1)


def _simulate(cost, kept, p0: int, words: int) -> int:
    """Replay the input register, the queue and the issue register cycle by cycle (exact):
    the cycle of the tile's last issue, its load starting at cycle ``p0``."""
    run = p0 + words                       # first cycle a slot may issue
    inputs = list(zip(cost.tolist(), kept.tolist(), strict=True))
    n, i, t = len(inputs), 0, p0
    queue: list[int] = []                  # slots of the kept beats in the queue
    r = None                               # (slots, kept) of the beat in the input register
    b_left = 0                             # slots left in the issue register
    while True:
        count = len(queue)                 # queue entries at the start of the cycle
        fire = b_left > 0 and t >= run
        load = (b_left == 0 or (fire and b_left == 1)) and count > 0
        move = r is not None and count != 2
        take = i < n and (r is None or count != 2)
        if fire:
            b_left -= 1
        if load:
            b_left = queue.pop(0)
        if move:
            if r[1]:
                queue.append(r[0])
            r = None
        if take:
            r = inputs[i]
            i += 1
        if fire and b_left == 0 and i == n and r is None and not queue:
            return t
        t += 1


def model(cfg, rows: int | None = None, X=None) -> dict:
    """Without a job: static figures. With ``rows`` and ``X``: ``cycles`` (command to the last
    ``o_y`` transfer, no stalls), ``tolerance`` 0, the counters' ``issued`` / ``skipped`` /
    ``positions``, and ``macs`` (dense-equivalent multiply-accumulates, rows·K·n)."""
    static = {"multipliers": cfg.lanes, "window": cfg.window, "pipeline_latency": PIPE,
              "out_depth": OUT_DEPTH, "weight_words_per_bank": cfg.max_words}
    if X is None:
        return static
    X = np.asarray(X, dtype=np.int64)
    K, n = X.shape
    tiles = -(-rows // cfg.lanes)
    cost, kept = issue_costs(cfg, X)
    words = cfg.words(K)
    p = 2                                  # the command's registers load in cycle 1
    fin = 0
    for _ in range(tiles):
        fin = _simulate(cost, kept, p, words)
        p = fin + 2
    s = stats(cfg, X, rows)
    return {**static, "cycles": fin + PIPE, "tolerance": {"abs": 0, "rel": 0.0},
            "tiles": tiles, "macs": rows * K * n, **s}
