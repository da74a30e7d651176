"""cocotb bench of the KV cache: jobs are command sequences (each starts from an empty cache);
random ones interleave sequences, forks, frees and deliberate errors; the corner cases fill
every page, run sequences to max_seq, chain forks with copy on write, free and refill, and
send every kind of bad command. The library's standard tests compare every status and every
row read to the golden model with random gaps and stalls on all six streams."""

import hwgen_tb as tb
import numpy as np

from hwgen.blocks.kvcache import Op, What, random_ops
from hwgen.blocks.kvcache.tensors import rows_for

__all__ = ["KVCacheStimulus"]

A, R, F, K, RST = Op.APPEND, Op.READ, Op.FREE, Op.FORK, Op.RESET
#: a gate-level netlist simulates slowly: shorter random jobs there (the corner cases stay)
_GATE = tb.Settings.from_env().netlist is not None


class KVCacheStimulus(tb.Stimulus):
    """Command sequences as jobs (``ops``, ``K``, ``V``)."""

    def job(self, what: str, ops, data: str = "uniform") -> tb.Job:
        ops = np.array(ops, dtype=np.int64).reshape(-1, 5)
        n = int((ops[:, 0] == A).sum())
        rows = rows_for(self.cfg, self.rng, n, data)
        vals = rows_for(self.cfg, self.rng, n, data)
        return tb.Job(what=f"{what} ({len(ops)} commands)",
                      inputs={"ops": ops, "K": rows, "V": vals})

    def random(self, index: int) -> tb.Job:
        """Job 0: 1500 commands (300 at gate level); the others 100–400 (30–100) with
        different mixes."""
        cfg, rng = self.cfg, self.rng
        if index == 0:
            n = 300 if _GATE else 1500
            w = random_ops(cfg, rng, n)
            return tb.Job(what=f"random commands 0 ({n} commands)", inputs=w)
        mixes = [None, {"fork": 3, "free": 2}, {"read": 8}, {"append": 20, "free": 0.2}]
        mix = mixes[index % len(mixes)]
        n = int(rng.integers(30, 100) if _GATE else rng.integers(100, 400))
        w = random_ops(cfg, rng, n, weights=mix, errors=float(rng.choice([0.0, 0.1, 0.3])),
                       data="extremes" if index % 3 == 2 else "uniform")
        return tb.Job(what=f"random commands {index} (mix {mix}, {n} commands)", inputs=w)

    # -- corner cases --
    def fill_and_refill(self) -> tb.Job:
        """Every sequence appends until the pages run out (OUT_OF_PAGES), every readable row
        is read back, one sequence is freed and another refills its pages from the free
        list."""
        cfg = self.cfg
        S, total = cfg.num_seqs, cfg.capacity + 2 * cfg.page_size
        ops = [[A, i % S, 0, 0, 0] for i in range(total)]
        for s in range(S):
            ops.append([R, s, 0, 0, What.KV])          # BAD_RANGE unless it is empty …
        ops += [[F, 0, 0, 0, 0]] + [[A, S - 1, 0, 0, 0]] * (cfg.capacity // S + cfg.page_size)
        for s in range(S):
            ops.append([R, s, 0, 1, What.K])
        return self.job("fill every page, read, free, refill", ops)

    def read_all(self) -> tb.Job:
        """One sequence as long as max_seq allows (and the pages hold), read whole in each
        mode, then one past the end (SEQ_FULL without a window)."""
        cfg = self.cfg
        n = min(cfg.seq_limit, cfg.capacity, 100 if _GATE else 600)
        ops = [[A, 0, 0, 0, 0]] * n
        lo = max(0, n - cfg.window) if cfg.window else 0
        ops += [[R, 0, lo, n - lo, What.K], [R, 0, lo, n - lo, What.V],
                [R, 0, lo, n - lo, What.KV], [R, 0, n - 1, 1, What.KV], [R, 0, n, 0, What.K]]
        ops += [[A, 0, 0, 0, 0], [R, 0, lo, 1, What.V]]
        return self.job("longest sequence, read whole", ops, data="extremes")

    def fork_chain(self) -> tb.Job:
        """Forks at a partly filled page and at a page boundary, appends to both sides
        (copy on write), forks of forks, frees of the source, reads of every sequence."""
        cfg = self.cfg
        S, ps = cfg.num_seqs, cfg.page_size
        if S < 2:
            return self.job("fork with one sequence (BAD_SEQ)", [[A, 0, 0, 0, 0], [K, 0, 0, 0, 0]])
        n = ps + ps // 2 + 1
        ops = [[A, 0, 0, 0, 0]] * n + [[K, 0, 1, 0, 0]]
        ops += [[A, 0, 0, 0, 0], [A, 1, 0, 0, 0], [A, 1, 0, 0, 0]]
        ops += [[R, 0, 0, n + 1, What.KV], [R, 1, 0, n + 2, What.KV]]
        if S > 2:
            ops += [[K, 1, 2, 0, 0], [F, 1, 0, 0, 0], [A, 2, 0, 0, 0], [R, 2, 0, n + 3, What.K]]
        ops += [[F, 0, 0, 0, 0]] + [[A, 0, 0, 0, 0]] * ps
        ops += [[K, 0, 1, 0, 0], [R, 0, 0, ps, What.V]]          # SEQ_IN_USE unless freed
        ops += [[F, s, 0, 0, 0] for s in range(S)]
        ops += [[A, 0, 0, 0, 0]] * ps + [[K, 0, 1, 0, 0], [A, 0, 0, 0, 0], [A, 1, 0, 0, 0]]
        ops += [[R, 0, 0, ps + 1, What.KV], [R, 1, 0, ps + 1, What.KV]]
        return self.job("fork chains with copy on write", ops)

    def bad_commands(self) -> tb.Job:
        """Every error: ids out of range (also huge and negative), ranges past the end or
        below the window, bad op codes and what, forks into themselves and into sequences in
        use — between good commands whose results must not change."""
        cfg = self.cfg
        S, big = cfg.num_seqs, 1 << 40
        ops = [[A, 0, 0, 0, 0]] * 3 + [[A, S - 1, 0, 0, 0]]
        ops += [[A, S, 0, 0, 0], [A, -1, 0, 0, 0], [A, big, 0, 0, 0],
                [R, 0, 0, 4, What.K], [R, 0, 3, 1, What.K], [R, 0, -1, 1, What.K],
                [R, 0, 0, -1, What.V], [R, 0, big, 0, What.V], [R, 0, 0, big, What.KV],
                [R, 0, 0, 1, 0], [R, 0, 0, 1, 4], [R, 0, 0, 1, -2], [R, S, 0, 1, What.K],
                [F, S, 0, 0, 0], [F, -5, 0, 0, 0], [K, 0, 0, 0, 0], [K, 0, S, 0, 0],
                [K, 0, -1, 0, 0], [K, S, 0, 0, 0], [5, 0, 0, 0, 0], [6, 1, 2, 3, 1],
                [7, 0, 0, 0, 3]]
        if S > 1:
            ops += [[K, 0, S - 1, 0, 0]]                   # SEQ_IN_USE (or BAD_SEQ: S = 1)
        ops += [[R, 0, 0, 3, What.KV], [F, 0, 0, 0, 0], [F, 0, 0, 0, 0], [R, 0, 0, 0, What.K],
                [R, 0, 0, 1, What.K], [RST, 9, 9, 9, 9], [R, S - 1, 0, 1, What.K],
                [A, S - 1, 0, 0, 0], [R, S - 1, 0, 1, What.KV]]
        return self.job("every kind of bad command", ops)

    def corner_cases(self) -> list[tb.Job]:
        zeros = self.job("all-zero rows", [[A, 0, 0, 0, 0]] * 3 + [[R, 0, 0, 3, What.KV]])
        zeros.inputs["K"][:] = 0
        zeros.inputs["V"][:] = 0
        return [self.fill_and_refill(), self.read_all(), self.fork_chain(),
                self.bad_commands(), zeros]

    def unstalled(self) -> list[tb.Job]:
        from hwgen.blocks.kvcache import decode_workload
        cfg = self.cfg
        prompt = max(1, min(cfg.seq_limit, cfg.capacity // cfg.num_seqs) // 2)
        return [tb.Job(what="decode steps", inputs=decode_workload(cfg, self.rng, prompt=prompt,
                                                                  steps=2)),
                self.fork_chain(), self.random(1)]

    def interrupted(self) -> tb.Job:
        n = 60 if _GATE else 300
        return tb.Job(what="interrupted commands", inputs=random_ops(self.cfg, self.rng, n))


globals().update(tb.standard_tests(KVCacheStimulus))
