"""cocotb bench of the softmax unit: its stimulus (rows of mixed lengths, masks, extremes), the
library's standard tests, and two tests of its own: rows longer than ``max_len`` (error flag,
truncation, the next row unaffected) and rows of every length 1 … max_len back to back."""

import cocotb
import hwgen_tb as tb
import numpy as np

from hwgen.blocks.softmax.golden import row_outputs, row_streams

__all__ = ["SoftmaxStimulus"]

_SETTINGS = tb.Settings.from_env()
_USER = _SETTINGS.inputs is not None


class SoftmaxStimulus(tb.Stimulus):
    """Jobs of a few rows each: one row length per job (the tensor is rows × len), valid
    lengths per row, scores normal, peaked, flat, few-bit or at the format's extremes."""

    def length(self) -> int:
        """1, 2, an odd length, max_len, or uniform; long rows stay rare for big max_len."""
        cfg, rng = self.cfg, self.rng
        top = cfg.max_len
        choices = [1, 2, min(top, 2 * cfg.lanes + 1), top,
                   int(rng.integers(1, min(top, 96), endpoint=True))]
        return int(choices[rng.integers(len(choices))])

    def scores(self, rows: int, n: int, kind: str) -> np.ndarray:
        """Rows of real scores quantized into in_fmt (saturating)."""
        cfg, rng = self.cfg, self.rng
        f = cfg.in_fmt
        if kind in ("min", "max", "zeros"):
            v = {"min": f.min, "max": f.max, "zeros": 0}[kind]
            return np.full((rows, n), v, dtype=np.int64)
        if kind == "extremes":
            return rng.choice(np.array([f.min, f.max, 0, -1, 1], dtype=np.int64), (rows, n))
        if kind == "uniform":
            return f.random(rng, (rows, n))
        span = (f.max + 1) * 2.0 ** -f.frac * cfg.scale      # largest real score
        std = {"normal": 3.0, "wide": 8.0, "flat": 0.05, "peaked": 2.0, "ascending": 6.0}[kind]
        s = rng.normal(0.0, min(std, span / 4), (rows, n))
        if kind == "peaked":
            s[np.arange(rows), rng.integers(0, n, rows)] += min(52.0, span / 2)
        if kind == "ascending":
            s = np.sort(s, axis=1)
        x = np.round(s / cfg.scale * 2.0 ** f.frac)
        return f.saturate(np.clip(x, f.min, f.max).astype(np.int64))

    def job(self, what, rows, n, kind="normal", lengths="random") -> tb.Job:
        rng = self.rng
        X = self.scores(rows, n, kind)
        inputs = {"X": X}
        if lengths == "random":
            inputs["lengths"] = np.where(rng.random(rows) < 0.5, n,
                                         rng.integers(0, n, rows, endpoint=True))
        elif lengths is not None:
            inputs["lengths"] = np.asarray(lengths, dtype=np.int64)
        return tb.Job(what=f"{what} ({rows} × {n}, {kind})", inputs=inputs)

    def random(self, index: int) -> tb.Job:
        """Job 0 has max_len rows; the others mix lengths, masks and data kinds."""
        rng = self.rng
        kinds = ["normal", "wide", "peaked", "flat", "uniform", "extremes"]
        kind = kinds[int(rng.integers(len(kinds)))]
        if index == 0:
            return self.job("random rows of max_len", 2, self.cfg.max_len, kind)
        rows = int(rng.integers(1, 4, endpoint=True))
        lengths = "random" if rng.random() < 0.5 else None
        return self.job(f"random rows {index}", rows, self.length(), kind, lengths)

    def corner_cases(self) -> list[tb.Job]:
        cfg = self.cfg
        n, L = cfg.max_len, cfg.lanes
        odd = min(n, 2 * L + 1)
        return [
            self.job("all inputs at the format minimum", 2, n, "min", None),
            self.job("all inputs at the format maximum", 1, odd, "max", None),
            self.job("all zeros", 1, n, "zeros", None),
            self.job("min/max/0/±1 mixture", 3, odd, "extremes", None),
            self.job("one score far above the rest", 3, n, "peaked", None),
            self.job("ascending rows (new max every element)", 2, n, "ascending", None),
            self.job("length-1 rows", 4, 1, "uniform", None),
            self.job("length-2 rows", 3, min(2, n), "extremes", None),
            self.job("all-masked rows and masks at 0, 1, n-1, n", 4, n, "normal",
                     [0, 1, max(0, n - 1), n]),
            self.job("all-masked single row", 1, odd, "normal", [0]),
        ]

    def unstalled(self) -> list[tb.Job]:
        """Rows of max_len back to back (buffers in rotation), short rows (divider-bound), and
        an odd length with masks."""
        cfg = self.cfg
        return [self.job("unstalled max_len rows", 5, cfg.max_len, "normal", None),
                self.job("unstalled short rows", 6, 1, "normal", None),
                self.job("unstalled odd rows", 4, min(cfg.max_len, 2 * cfg.lanes + 1), "wide")]

    def interrupted(self) -> tb.Job:
        return self.job("interrupted rows", 4, self.cfg.max_len, "normal", None)


globals().update(tb.standard_tests(SoftmaxStimulus))


async def _raw_bench(dut, name):
    """Driver on i_x and monitor on o_p without the scoreboard (raw beats)."""
    man = tb.Manifest()
    man.check(dut)
    info, cfg = man.block_config()
    rng = tb.test_rng(_SETTINGS, name)
    drv = tb.StreamDriver(dut, man.port("i_x"), rng, _SETTINGS.gap_prob)
    mon = tb.StreamMonitor(dut, man.port("o_p"), rng, _SETTINGS.stall_prob)
    tb.clock(dut)
    await tb.reset(dut, 3, man)
    mon.start()
    return cfg, rng, drv, mon


@cocotb.test(skip=_USER)
async def too_long_rows(dut):
    """Rows longer than max_len: the first max_len elements' softmax with too_long on every
    beat, the extra beats dropped; the rows after are unaffected."""
    cfg, rng, drv, mon = await _raw_bench(dut, "too_long_rows")
    stim = SoftmaxStimulus(cfg, rng)
    L = cfg.lanes
    rows = [(cfg.max_len + L, False), (3 * cfg.max_len + 1, False), (cfg.max_len, True),
            (cfg.max_len + 1, True), (1, True)]
    beats, expected = [], []
    for n, masked in rows:
        x = stim.scores(1, n, "normal")[0]
        length = int(rng.integers(0, n, endpoint=True)) if masked else n
        beats += row_streams(cfg, x, length)
        expected += row_outputs(cfg, x, length)
    drv.start(beats)
    got = await mon.wait(len(expected), 60 * len(beats) + 4000)
    await drv.join(1000)
    tb.check_equal("o_p", expected, got, context=f"seed {_SETTINGS.seed}")
    await mon.expect_quiet(200)


@cocotb.test(skip=_USER)
async def every_length(dut):
    """Rows of every length 1 … min(max_len, 70) (and max_len), each with a random mask,
    back to back in one stream."""
    cfg, rng, drv, mon = await _raw_bench(dut, "every_length")
    stim = SoftmaxStimulus(cfg, rng)
    beats, expected = [], []
    for n in [*range(1, min(cfg.max_len, 70) + 1), cfg.max_len]:
        x = stim.scores(1, n, "wide")[0]
        length = int(rng.integers(0, n, endpoint=True)) if rng.random() < 0.3 else n
        beats += row_streams(cfg, x, length)
        expected += row_outputs(cfg, x, length)
    drv.start(beats)
    got = await mon.wait(len(expected), 60 * len(beats) + 4000)
    await drv.join(1000)
    tb.check_equal("o_p", expected, got, context=f"seed {_SETTINGS.seed}")
    await mon.expect_quiet(200)
