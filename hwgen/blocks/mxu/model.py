"""Analytical cycle and utilization model of the MXU (checked against measured simulations).

``cycles`` is the number of clock edges from the ``i_cmd`` transfer to the last ``o_c`` transfer
(so a transfer on the very next edge would count 1), with every input always valid and the output
always ready. Below, cycle 1 is the first edge after the command's. It follows the RTL's issue
rules exactly:

Weight-stationary (R×C, accumulator depth d; tiles in order nt → m-chunk → kt, each of
``rows`` = chunk rows)
    * the first tile's weights take R cycles to load (one row per cycle, written a cycle later);
      issue starts at cycle R + 4 (the command is registered, the walkers start two cycles
      later);
    * tile i+1 starts ``max(rows_i · s, R + max(C − 2, 0) + 2)`` cycles after tile i, where
      s = 4 for chunks of fewer than 4 rows (accumulator read-after-write spacing) and 1
      otherwise; the second term is the wait until the swap token has passed PE (0, C−1), then
      the R-cycle shadow reload (row r may be rewritten once the token has left row r);
    * the last row leaves ``R + C + 7`` cycles after it was issued (skew, multiply (two
      product registers), column
      adders, deskew, accumulate, output queue).
    Steady state: R·C MACs per cycle whenever chunk rows ≥ R + C (C ≥ 2).

Output-stationary (R×C; tiles in order mt → nt, each streaming K)
    * tile i+1 starts K cycles after tile i (one A column slice and one B row per cycle), but
      its last element waits until tile i's results have drained (R + C + rows + 4 cycles after
      tile i's last element);
    * the last result row leaves ``R + C + rows + 6`` cycles after the last element.

Measured counts equal it exactly (``TOLERANCE`` is zero): the amaranth.sim tests
(``tests/test_mxu_rtl.py``) and every cocotb run's ``no_stall_cycles`` assert equality.
"""

import math

__all__ = ["model", "TOLERANCE"]

# |measured − model| ≤ abs + rel · model: zero, the model is exact
TOLERANCE = {"abs": 0, "rel": 0.0}

WS_TAIL = 8     # cycles after R + C from the last issue to the last output transfer
OS_TAIL = 7


def _ws_cycles(cfg, M, K, N) -> int:
    R, C, d = cfg.rows, cfg.cols, cfg.acc_depth
    t = R + 4
    gap = R + max(C - 2, 0) + 2
    tiles = []
    for _nt in range(math.ceil(N / C)):
        for m0 in range(0, M, d):
            rows = min(d, M - m0)
            tiles += [rows] * math.ceil(K / R)
    for rows in tiles[:-1]:
        s = 4 if rows < 4 else 1
        t += max(rows * s, gap)
    rows = tiles[-1]
    t += (rows - 1) * (4 if rows < 4 else 1)
    return t + R + C + WS_TAIL - 1


def _os_cycles(cfg, M, K, N) -> int:
    R, C = cfg.rows, cfg.cols
    t = 3                        # command registered, then two cycles to start
    free = 0                     # first cycle a tile's last element may be issued
    tiles = [min(R, M - m0) for m0 in range(0, M, R) for _ in range(math.ceil(N / C))]
    for rows in tiles:
        last = max(t + K - 1, free)
        free = last + R + C + rows + 4
        t = last + 1
    return last + R + C + rows + OS_TAIL - 1


def model(cfg, M=None, K=None, N=None) -> dict:
    """Latency/throughput model; with M, K, N also that GEMM's cycles and utilization."""
    out = {"peak_macs_per_cycle": cfg.macs, "tolerance": TOLERANCE,
           "pipeline_latency": cfg.rows + cfg.cols + (WS_TAIL if cfg.dataflow == "ws" else OS_TAIL)}
    if M is None:
        return out
    cycles = _ws_cycles(cfg, M, K, N) if cfg.dataflow == "ws" else _os_cycles(cfg, M, K, N)
    macs = M * K * N
    out.update(cycles=cycles, macs=macs, macs_per_cycle=macs / cycles,
               utilization=macs / (cycles * cfg.macs))
    return out
