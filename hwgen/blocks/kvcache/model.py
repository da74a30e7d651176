"""Cycle model of the KV-cache controller (exact: checked against every simulated job).

``cycles`` counts clock edges from a job's first ``i_cmd`` transfer (the leading RESET) to its
last output transfer, with every input valid and every output ready. The leading RESET is
accepted in the cycle of its transfer (``CMD_LATENCY`` = 0). A command is accepted in cycle c
(its status is transferred in c + 1); the next is accepted in

=====================================  ==========================================================
command                                next command at
=====================================  ==========================================================
RESET, failed command, BAD_OP          c + 1
APPEND (fast path)                     c + beats
APPEND, tail maybe shared (after FORK)  + 3 before c (count check); + ``offset · beats`` + 2 more
                                       when it copies (copy on write)
APPEND, window ring full               + 4 before c (drop the oldest page)
READ of b rows                         c + 1 + b · beats (its last beat leaves in c + b · beats + 3)
FREE, FORK of a sequence with h pages  c + 1 + 3h
=====================================  ==========================================================

Commands other than READ also wait for the READ pipeline and outputs to drain: they start no
earlier than 4 cycles after a READ's last issued beat (``READ_DRAIN``). So APPEND and READ
stream at one beat a cycle; a READ costs one cycle of overhead and the first non-READ command
after it three.
"""

from .config import KVCacheConfig, Op, Status
from .golden import KVCacheModel
from .rtl import CMD_LATENCY

__all__ = ["model", "schedule", "TOLERANCE", "READ_LATENCY"]

TOLERANCE = {"abs": 0, "rel": 0.0}
READ_LATENCY = 3        # issue → table → data memory → output register
READ_DRAIN = 4          # last issue → a non-READ command may start (outputs empty)
COW_CHECK = 3           # IDLE → COW_REF → COW_DEC → IDLE
DROP = 4                # IDLE → DROP_BT → DROP_REF → DROP_DEC → IDLE


def schedule(cfg: KVCacheConfig, ops) -> dict:
    """Accept cycle of every command (after the leading RESET), the last output cycle, the
    rows appended and the rows (positions) read."""
    nb = cfg.beats
    st = KVCacheModel(cfg)
    shared = [False] * cfg.num_seqs
    t = CMD_LATENCY + 1     # the leading RESET is accepted in cycle CMD_LATENCY
    drain_at = 0            # earliest cycle a non-READ command may be accepted
    last = t                # the RESET's status transfer
    accepts = []
    append_rows = read_rows = 0
    for op, s, a, b, c in (list(map(int, row)) for row in ops):
        if op != Op.READ:
            t = max(t, drain_at)
        if op == Op.APPEND and 0 <= s < cfg.num_seqs and st.length[s] < cfg.seq_limit:
            n = st.length[s]
            lp, off = divmod(n, cfg.page_size)
            if off == 0 and lp >= cfg.ring_pages:
                t += DROP
            elif off and shared[s]:
                t += COW_CHECK
                tail = st.table[s][st.slot(lp)]
                if st.ref[tail] == 1:
                    shared[s] = False
                elif st.free_pages:
                    t += off * nb + 2
                    shared[s] = False
        accepts.append(t)
        last = max(last, t + 1)
        held = len(st.held(s)) if 0 <= s < cfg.num_seqs else 0
        status, k, v = st.command(op, s, a, b, c, k_row=0, v_row=0)
        nxt = t + 1
        if status == Status.OK:
            if op == Op.APPEND:
                nxt = t + nb
                append_rows += 1
                if st.length[s] % cfg.page_size == 1 or cfg.page_size == 1:
                    shared[s] = False
            elif op == Op.READ and b:
                nxt = t + 1 + b * nb
                last = max(last, t + b * nb + READ_LATENCY)
                drain_at = t + b * nb + READ_DRAIN
                read_rows += b
            elif op == Op.FREE:
                nxt = t + 1 + 3 * held
                shared[s] = False
            elif op == Op.FORK:
                nxt = t + 1 + 3 * held
                shared[s] = shared[a] = True
            elif op == Op.RESET:
                shared = [False] * cfg.num_seqs
        elif op == Op.APPEND:
            nxt = t + nb
        t = nxt
    return {"accepts": accepts, "last": last, "append_rows": append_rows,
            "read_rows": read_rows}


def model(cfg: KVCacheConfig, ops=None) -> dict:
    """Static figures; with ``ops`` (a job's commands) also its exact ``cycles``."""
    out = {"pipeline_latency": READ_LATENCY + 2, "read_latency": READ_LATENCY,
           "append_rows_per_cycle": 1 / cfg.beats, "read_rows_per_cycle": 1 / cfg.beats,
           "pages": cfg.pages, "memory_bits": cfg.memory_bits}
    if ops is None:
        return out
    sch = schedule(cfg, ops)
    return {**out, "cycles": sch["last"], "tolerance": TOLERANCE,
            "append_rows": sch["append_rows"], "read_rows": sch["read_rows"]}
