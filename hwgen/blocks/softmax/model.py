"""Cycle model of the softmax unit (checked against measured simulations; exact).

``cycles`` counts clock edges from a job's first ``i_x`` transfer to its last ``o_p`` transfer,
with every input beat valid and ``o_p`` always ready, starting idle. Cycle 0 is the first
transfer. Each stage is in order and starts a row as soon as the stage before has finished it
(rules of ``rtl.py``):

* **ingest** takes one beat a cycle; row i starts when row i−1's beats are in and, for
  i ≥ ``buffers``, the cycle after emit has read the last beat of row i − ``buffers`` (its bank
  is free). Its max (safe) is known ``INGEST_SAFE`` + ``max_levels(lanes)`` = 5 + ⌈log2 lanes⌉
  cycles after its last beat; the online sum ``INGEST_ONLINE`` + ⌈log2 lanes⌉ = 13 + ⌈log2
  lanes⌉ cycles after (front end 3, max 2 + one per tree level, exp 5, beat sum 1, sum 1,
  hand-off 1).
* **sum** (safe): one cycle to load a row (overlapping the previous row's last beat), then one
  beat a cycle; the sum is known ``SUM_TAIL`` = 10 cycles after the last beat's read.
* **divide**: ``quotient_bits + 2`` cycles a row (start, one per quotient bit, write-back).
* **emit**: one cycle to load (overlapping the previous row's last beat), one beat a cycle; a
  beat leaves ``EMIT_TAIL_SAFE`` = 4 cycles (safe: the stored exp) or ``EMIT_TAIL`` = 10 cycles
  (online: the exp again) after its read.

So a row of ``n`` beats occupies a stage n cycles; throughput is one row per
``max(n, quotient_bits + 2)`` cycles (rows back to back, no bubble), and a row's latency is
``2n + 24 + quotient_bits + ⌈log2 lanes⌉`` (online) or ``3n + 20 + quotient_bits + ⌈log2
lanes⌉`` (safe) cycles.
"""

import math

from .rtl import EXP_LATENCY, FRONT_LATENCY, max_levels

__all__ = ["model", "TOLERANCE", "schedule"]

TOLERANCE = {"abs": 0, "rel": 0.0}

INGEST_SAFE = FRONT_LATENCY + 2
INGEST_ONLINE = FRONT_LATENCY + 5 + EXP_LATENCY
SUM_TAIL = 5 + EXP_LATENCY
EMIT_TAIL = 5 + EXP_LATENCY     # online (recomputes the exp)
EMIT_TAIL_SAFE = 4              # safe (reads the stored exp)


def schedule(cfg, rows: int, length: int) -> dict:
    """Per-stage cycle of every row of a job of ``rows`` rows of ``length`` elements."""
    nb_in = max(1, math.ceil(length / cfg.lanes))
    nb = min(nb_in, cfg.beats_max)
    qw = cfg.quotient_bits
    NB = cfg.buffers
    emit_tail = EMIT_TAIL_SAFE if cfg.algorithm == "safe" else EMIT_TAIL
    ingest_tail = (INGEST_SAFE if cfg.algorithm == "safe" else INGEST_ONLINE) \
        + max_levels(cfg.lanes)
    a_free = 0                      # first cycle ingest may take a row's first beat
    sum_free = div_free = emit_free = 0
    last_read = []                  # cycle of each row's last emit read
    out_last = []
    for i in range(rows):
        a = a_free
        if i >= NB:
            a = max(a, last_read[i - NB] + 1)
        a_last = a + nb_in - 1
        a_free = a_last + 1
        ready = a_last + ingest_tail
        if cfg.algorithm == "safe":
            load = max(ready, sum_free)
            sum_free = load + nb
            ready = load + nb + SUM_TAIL
        start = max(ready, div_free)
        div_free = start + qw + 2
        ready = start + qw + 2
        load = max(ready, emit_free)
        emit_free = load + nb
        last_read.append(load + nb)
        out_last.append(load + nb + emit_tail)
    return {"out_last": out_last, "last_read": last_read}


def model(cfg, rows=None, length=None) -> dict:
    """Static figures; with ``rows`` and ``length`` also the job's cycles."""
    nb = cfg.beats_max
    qw = cfg.quotient_bits
    tail = (INGEST_SAFE + SUM_TAIL + 1 if cfg.algorithm == "safe" else INGEST_ONLINE) \
        + max_levels(cfg.lanes)
    out = {"tolerance": TOLERANCE, "lanes": cfg.lanes, "buffers": cfg.buffers,
           "pipeline_latency": tail + qw + 2 + 1 + (EMIT_TAIL_SAFE if cfg.algorithm == "safe"
                                                    else EMIT_TAIL),
           "row_interval_max_len": max(nb, qw + 2),
           "buffer_bits": cfg.buffer_bits}
    if rows is None:
        return out
    s = schedule(cfg, rows, length)
    cycles = s["out_last"][-1]
    elems = rows * length
    out.update(cycles=cycles, rows=rows, length=length, elements=elems,
               elements_per_cycle=elems / max(1, cycles))
    return out
