"""cocotb bench of the sparse engine: jobs ``Y = W·X`` with 0 … 100 % zeros in X (W pruned to
N:M in ``nm`` mode), adversarial layouts (every non-zero at the front of a column, all of them
in one compaction window, alternating, one at the very end, all zero), extremes, K = 1 and
K = max_k, compressed weights; the library's standard tests compare Y to the golden model under
random gaps and stalls on every stream, and ``counters`` checks the hardware's cycle / issue /
skip counters against the model."""

import cocotb
import hwgen_tb as tb
import numpy as np

from hwgen.blocks.sparse import pack_nm, random_job

__all__ = ["SparseStimulus"]

_SETTINGS = tb.Settings.from_env()
_USER = _SETTINGS.inputs is not None
#: a gate-level netlist simulates slowly: smaller random jobs there (the corner cases stay)
_GATE = _SETTINGS.netlist is not None
ZEROS = (0.0, 0.5, 0.75, 0.9, 1.0)


class SparseStimulus(tb.Stimulus):
    """Jobs of a few tiles and columns."""

    def job(self, what, rows, K, n, zeros=0.5, layout="random", kind="uniform") -> tb.Job:
        w = random_job(self.cfg, self.rng, rows, K, n, zeros=zeros, layout=layout, kind=kind)
        return tb.Job(what=f"{what} ({rows}×{K}·{K}×{n}, {round(zeros * 100)} % zeros, "
                      f"{layout}, {kind})", inputs=w)

    def random(self, index: int) -> tb.Job:
        """Job 0: three tiles (the last partial), K = max_k (256 at most), 4 columns; the others
        random shapes and sparsities."""
        cfg, rng = self.cfg, self.rng
        L = cfg.lanes
        zeros = float(rng.choice(ZEROS))
        kind = "extremes" if rng.random() < 0.3 else "uniform"
        if index == 0:
            K = min(cfg.max_k, 64 if _GATE else 256)
            return self.job("random job 0", 2 * L + 1, K, 2 if _GATE else 4, zeros, kind=kind)
        K = int(rng.integers(1, min(cfg.max_k, 48 if _GATE else 160), endpoint=True))
        rows = int(rng.integers(1, 2 * L + 1, endpoint=True))
        n = int(rng.integers(1, 3 if _GATE else 5, endpoint=True))
        return self.job(f"random job {index}", rows, K, n, zeros, kind=kind)

    def corner_cases(self) -> list[tb.Job]:
        cfg = self.cfg
        L, win = cfg.lanes, cfg.window
        K = min(cfg.max_k, 4 * win + 3)
        jobs = [self.job(f"sparsity {round(z * 100)} %", L + 1, K, 2, z) for z in ZEROS]
        jobs += [self.job(f"layout {lay}", L, K, 2, 0.75, layout=lay)
                 for lay in ("lane", "one_beat", "alternate", "end", "empty")]
        jobs += [
            self.job("extremes", L, K, 2, 0.25, layout="extremes", kind="extremes"),
            self.job("K = 1", 2 * L, 1, 3, 0.0),
            self.job("K = 1, zero activation", L, 1, 2, 1.0),
            self.job("K = max_k", L, cfg.max_k, 1, 0.5),
            self.job("one row, one column", 1, win + 1, 1, 0.5),
        ]
        zero_w = self.job("all-zero W", L, K, 2, 0.0)
        zero_w.inputs["W"] = np.zeros_like(zero_w.inputs["W"])
        jobs.append(zero_w)
        if cfg.nm:
            j = self.job("compressed weights (W_vals, W_idx)", L + 1, K, 2, 0.5)
            vals, idx = pack_nm(j.inputs.pop("W"), cfg.keep, cfg.group)
            j.inputs.update(W_vals=vals, W_idx=idx)
            jobs.append(j)
        return jobs

    def unstalled(self) -> list[tb.Job]:
        cfg = self.cfg
        K = min(cfg.max_k, 64 if _GATE else 128)
        return [self.job(f"unstalled, {round(z * 100)} % zeros", cfg.lanes + 1, K, 3, z)
                for z in (0.0, 0.75, 1.0)]


globals().update(tb.standard_tests(SparseStimulus))


@cocotb.test(skip=_USER)
async def counters(dut):
    """After each job (no stalls): stat_cycles equals the measured cycles and the model's,
    stat_issued and stat_skipped equal the model's counts."""
    async with tb.Testbench(dut, "counters", gap_prob=0.0, stall_prob=0.0) as b:
        stim = SparseStimulus(b.cfg, b.rng)
        problems = []
        for job in [stim.job("counters", b.cfg.lanes, min(b.cfg.max_k, 40), 2, z)
                    for z in (0.0, 0.5, 0.9)]:
            (job,) = await b.run([job])
            await tb.wait_cycles(2)
            est = b.info.model_for(b.cfg, job.inputs)
            got = {k: int(getattr(dut, f"stat_{k}").value)
                   for k in ("cycles", "issued", "skipped")}
            want = {"cycles": est["cycles"], "issued": est["issued"], "skipped": est["skipped"]}
            b.log.info("%s: counters %s, model %s, measured %s cycles", job.what, got, want,
                       job.cycles)
            if got != want or job.cycles != got["cycles"]:
                problems.append(f"{job.what}: counters {got}, model {want}, measured cycles "
                                f"{job.cycles}")
        if problems:
            raise AssertionError(f"counters differ: {'; '.join(problems)}; {b.context}")
