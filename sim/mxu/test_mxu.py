"""cocotb bench of the MXU: random, corner-case, reset and user-tensor GEMMs against the golden.

Every port runs with random gaps / backpressure (``HWGEN_GAP_PROB``, ``HWGEN_STALL_PROB``) except
in ``no_stall_cycles``, which measures cycles against ``model()``. With ``HWGEN_INPUTS`` set only
``user_tensors`` runs. Settings: ``hwgen_tb.Settings`` (docs/sim.md).
"""

import dataclasses
import math

import cocotb
import hwgen_tb as tb
import numpy as np

from hwgen.blocks.mxu.golden import check_inputs, from_streams, golden, n_transfers, to_streams

__all__ = ["MXUBench", "Gemm"]

_SETTINGS = tb.Settings.from_env(vectors=4, gap_prob=0.3, stall_prob=0.3)
_USER = _SETTINGS.inputs is not None
_INPUTS = ("i_cmd", "i_a", "i_w", "i_d")


@dataclasses.dataclass
class Gemm:
    """One GEMM: operands, the name used in reports, and (after a run) result and cycles."""

    what: str
    A: np.ndarray
    B: np.ndarray
    D: np.ndarray | None = None
    C: np.ndarray | None = None
    cycles: int | None = None

    @property
    def shape(self) -> str:
        return f"M={self.A.shape[0]} K={self.A.shape[1]} N={self.B.shape[1]}"


class MXUBench:
    """Drivers on every input port, a monitor on ``o_c``, the golden model as reference."""

    def __init__(self, dut, test: str, *, gap_prob=None, stall_prob=None):
        self.dut = dut
        self.test = test
        self.settings = _SETTINGS
        self.rng = tb.test_rng(_SETTINGS, test)
        self.man = tb.Manifest()
        self.info, self.cfg = self.man.block_config()
        self.gap_prob = _SETTINGS.gap_prob if gap_prob is None else gap_prob
        self.stall_prob = _SETTINGS.stall_prob if stall_prob is None else stall_prob
        self.log = dut._log
        self._make_ports()

    def _make_ports(self):
        self.drivers = {name: tb.StreamDriver(self.dut, self.man.port(name), self.rng,
                                              self.gap_prob)
                        for name in _INPUTS if self.man.has(name)}
        self.mon = tb.StreamMonitor(self.dut, self.man.port("o_c"), self.rng, self.stall_prob)

    async def start(self):
        """Clock, reset, monitor; logs the seed and the configuration."""
        self.man.check(self.dut)
        self.settings.log(self.log)
        self.log.info("test %s: %s (%s), gap %g, stall %g", self.test, self.cfg.module_name,
                      self.man.path, self.gap_prob, self.stall_prob)
        tb.clock(self.dut)
        await tb.reset(self.dut, 3, self.man)
        self.mon.start()

    def _context(self, g: Gemm) -> str:
        return (f"{g.what} ({g.shape}), config {self.cfg.module_name}, test {self.test}, "
                f"HWGEN_SEED={self.settings.seed}")

    def _budget(self, gemms) -> int:
        """Cycles after which a missing output counts as a hang (generous: stalls and all)."""
        total = 0
        for g in gemms:
            M, K = g.A.shape
            N = g.B.shape[1]
            t = n_transfers(self.cfg, M, K, N)
            est = self.info.model(self.cfg, M=M, K=K, N=N).get("cycles", 0)
            total += max(est, t["i_a"] + t["i_w"] + t["o_c"]) + self.cfg.rows + self.cfg.cols
        worst = max(self.gap_prob, self.stall_prob)
        return int(4 * total / (1 - worst) ** 2) + 2000

    async def run(self, gemms: list[Gemm], *, check: bool = True) -> list[Gemm]:
        """Stream every GEMM back to back (commands queued), collect C, compare to golden.

        Fills ``g.C`` (as the hardware produced it) and ``g.cycles`` (from the command transfer
        to the GEMM's last ``o_c`` transfer). With ``check`` a mismatch raises ``Mismatch`` naming
        the GEMM, the first differing (row, column), expected and actual.
        """
        cfg = self.cfg
        per_port = {name: [] for name in self.drivers}
        counts = []
        for g in gemms:
            s = to_streams(cfg, g.A, g.B, g.D)
            for name, items in s.items():
                per_port[name] += items
            M, K = g.A.shape
            counts.append(n_transfers(cfg, M, K, g.B.shape[1])["o_c"])
        base = len(self.mon.transfers)
        for name, drv in self.drivers.items():
            drv.start(per_port[name])
        budget = self._budget(gemms)
        await self.mon.wait(base + sum(counts), budget)
        sent = {name: await drv.join(budget) for name, drv in self.drivers.items()}
        got = self.mon.transfers[base:]
        i = 0
        for j, (g, n) in enumerate(zip(gemms, counts, strict=True)):
            rows = got[i:i + n]
            i += n
            M, N = g.A.shape[0], g.B.shape[1]
            try:
                g.C = from_streams(cfg, M, N, [v for _, v in rows])
            except ValueError as e:
                raise AssertionError(f"o_c framing: {e}; {self._context(g)}") from None
            g.cycles = rows[-1][0] - sent["i_cmd"][j]
            self.log.info("%s (%s): %d cycles", g.what, g.shape, g.cycles)
            if check:
                tb.check_equal("C", golden(cfg, g.A, g.B, g.D), g.C, context=self._context(g),
                               log=self.log)
        await self.mon.expect_quiet(self.cfg.rows + self.cfg.cols + 8)
        return gemms

    # -- stimulus --
    def operands(self, M, K, N, *, kind="random"):
        """A, B (and D for bias) of the given shape.

        ``kind``: ``random`` (uniform over the formats), ``extremes`` (mixtures of min, max, 0
        and ±1), ``min``, ``max``, ``minmax`` (A at min, B at max), ``zeros``.
        """
        cfg, rng = self.cfg, self.rng
        fa, fb, facc = cfg.a_fmt, cfg.b_fmt, cfg.acc_fmt

        def pick(fmt, shape, kind):
            if kind == "random":
                return fmt.random(rng, shape)
            if kind == "extremes":
                choices = sorted({fmt.min, fmt.max, 0, 1, max(fmt.min, -1)})
                return rng.choice(np.array(choices, dtype=np.int64), size=shape)
            if kind == "min":
                return np.full(shape, fmt.min, dtype=np.int64)
            if kind == "max":
                return np.full(shape, fmt.max, dtype=np.int64)
            if kind == "zeros":
                return np.zeros(shape, dtype=np.int64)
            raise ValueError(f"unknown operand kind {kind!r}")

        ka, kb = ("min", "max") if kind == "minmax" else (kind, kind)
        A = pick(fa, (M, K), ka)
        B = pick(fb, (K, N), kb)
        D = None
        if cfg.bias:
            kd = "zeros" if kind == "zeros" else ("extremes" if kind != "random" else "random")
            D = pick(facc, (M, N), kd)
            if kind == "random" and rng.random() < 0.5:
                # small biases too, so not every sum saturates / wraps
                D = rng.integers(max(facc.min, -1000), min(facc.max, 1000), size=(M, N),
                                 endpoint=True)
        return A, B, D

    def random_shape(self, big: bool = False):
        """(M, K, N): tiles K and N (N not a multiple of cols), M beyond acc_depth (ws)."""
        cfg, rng = self.cfg, self.rng
        R, C = cfg.rows, cfg.cols
        if cfg.dataflow == "ws":
            m_hi = min(cfg.acc_depth + 2 * R + 1, 96)
        else:
            m_hi = 3 * R + 2
        if big:
            M = min(cfg.max_m, (cfg.acc_depth + 1 + int(rng.integers(R)))
                    if cfg.dataflow == "ws" else 2 * R + 1 + int(rng.integers(R)))
            K = min(cfg.max_k, 2 * R + 1 + int(rng.integers(R)))
            N = min(cfg.max_n, 2 * C + 1 + int(rng.integers(max(1, C - 1))))
            return M, K, N
        M = int(rng.integers(1, min(cfg.max_m, m_hi), endpoint=True))
        K = int(rng.integers(1, min(cfg.max_k, 3 * R + 2), endpoint=True))
        N = int(rng.integers(1, min(cfg.max_n, 3 * C + 1), endpoint=True))
        return M, K, N


# -- tests --

@cocotb.test(skip=_USER)
async def random_gemms(dut):
    """HWGEN_VECTORS random GEMMs of random shapes, streamed back to back, random stalls."""
    b = MXUBench(dut, "random_gemms")
    await b.start()
    gemms = []
    for v in range(max(1, b.settings.vectors)):
        M, K, N = b.random_shape(big=(v == 0))
        kind = "extremes" if b.rng.random() < 0.25 else "random"
        gemms.append(Gemm(f"random GEMM {v} ({kind})", *b.operands(M, K, N, kind=kind)))
    await b.run(gemms)


@cocotb.test(skip=_USER)
async def corner_cases(dut):
    """All-min operands at the largest practical K, zeros, K=1, M=1, N=1, extreme mixtures."""
    b = MXUBench(dut, "corner_cases")
    await b.start()
    cfg = b.cfg
    R, C = cfg.rows, cfg.cols
    kbig = min(cfg.max_k, 4096)
    cases = [
        ("all operands at the format minimum, largest K", 1, kbig, min(C, cfg.max_n), "min"),
        ("all operands at the format maximum", 2, min(kbig, 3 * R + 1), C, "max"),
        ("A at min, B at max", 3, min(kbig, 2 * R + 1), C + 1, "minmax"),
        ("all zeros", R + 1, 2 * R + 1, C + 1, "zeros"),
        ("K = 1", 3, 1, 2 * C + 1, "random"),
        ("M = 1", 1, 2 * R + 1, C, "random"),
        ("N = 1", R + 2, 2 * R, 1, "random"),
        ("M = K = N = 1", 1, 1, 1, "extremes"),
        ("min/max mixture", R + 2, 3 * R + 1, 2 * C + 1, "extremes"),
    ]
    if cfg.bias:
        cases.append(("bias extremes with extreme products", R + 1, 2 * R + 1, C + 2, "extremes"))
        cases.append(("bias extremes with maximal products", 2, min(kbig, 4 * R), C, "max"))
    for what, M, K, N, kind in cases:          # shapes clipped to max_m, max_k, max_n
        M, K, N = min(M, cfg.max_m), min(K, cfg.max_k), min(N, cfg.max_n)
        await b.run([Gemm(what, *b.operands(M, K, N, kind=kind))])


@cocotb.test(skip=_USER)
async def no_stall_cycles(dut):
    """Unstalled GEMM: correct, and its cycle count agrees with model() within its tolerance."""
    b = MXUBench(dut, "no_stall_cycles", gap_prob=0.0, stall_prob=0.0)
    await b.start()
    cfg = b.cfg
    R, C = cfg.rows, cfg.cols
    M = min(cfg.max_m, 2 * (2 * R + C) + 1)
    K = min(cfg.max_k, 2 * R + 1)
    N = min(cfg.max_n, C + 1)
    shapes = [(M, K, N), (min(cfg.max_m, 3), min(cfg.max_k, R), min(cfg.max_n, C))]
    problems = []
    for M, K, N in shapes:
        (g,) = await b.run([Gemm("unstalled GEMM", *b.operands(M, K, N))])
        est = b.info.model(cfg, M=M, K=K, N=N)
        if "cycles" not in est:
            b.log.info("model() has no cycle count; measured %d cycles", g.cycles)
            continue
        tol = est.get("tolerance", {"abs": 0, "rel": 0.0})
        slack = tol.get("abs", 0) + tol.get("rel", 0.0) * est["cycles"]
        b.log.info("M=%d K=%d N=%d: measured %d cycles, model %d (tolerance %g)",
                   M, K, N, g.cycles, est["cycles"], slack)
        if abs(g.cycles - est["cycles"]) > slack:
            problems.append(f"M={M} K={K} N={N}: measured {g.cycles}, model {est['cycles']}")
    if problems:
        raise AssertionError(f"cycle counts differ from model() by more than its tolerance "
                             f"{tol} ({'; '.join(problems)}); config {cfg.module_name}")


@cocotb.test(skip=_USER)
async def reset_mid_transfer(dut):
    """Reset while transfers are in flight, then a clean GEMM must come out right."""
    b = MXUBench(dut, "reset_mid_transfer")
    await b.start()
    cfg = b.cfg
    R, C = cfg.rows, cfg.cols
    M, K, N = min(cfg.max_m, 2 * R + 3), min(cfg.max_k, 3 * R), min(cfg.max_n, 2 * C)
    g = Gemm("interrupted GEMM", *b.operands(M, K, N))
    s = to_streams(cfg, g.A, g.B, g.D)
    for name, drv in b.drivers.items():
        drv.start(s[name])
    # wait until operands flow, then until some input is mid-transfer (valid && !ready)
    wait = int(b.rng.integers(R + 2, 4 * (R + C) + 8))
    await tb.wait_cycles(wait)
    for _ in range(50):
        await tb.sample_point()
        busy = [n for n, d in b.drivers.items() if d.valid.value == 1 and d.ready.value != 1]
        await tb.drive_edge()
        if busy:
            break
    b.log.info("reset at cycle %d with %s mid-transfer; o_c rows so far: %d", tb.now(),
               busy or "nothing", len(b.mon.transfers))
    for drv in b.drivers.values():
        drv.stop()
    b.mon.stop()
    await tb.reset(dut, 3, b.man)
    await tb.sample_point()
    if b.mon.valid.value != 0:
        raise AssertionError(f"o_c valid is {b.mon.valid.value} right after reset; must be 0")
    b._make_ports()
    b.mon.start()
    M, K, N = b.random_shape(big=False)
    M2, K2, N2 = min(cfg.max_m, R + 1), min(cfg.max_k, R + 1), min(cfg.max_n, C + 1)
    await b.run([Gemm("GEMM after reset", *b.operands(M, K, N)),
                 Gemm("second GEMM after reset", *b.operands(M2, K2, N2))])


@cocotb.test(skip=not _USER)
async def user_tensors(dut):
    """HWGEN_INPUTS (A, B[, D]) → C and cycles into HWGEN_OUTPUTS; fails on any mismatch."""
    b = MXUBench(dut, "user_tensors")
    await b.start()
    with np.load(b.settings.inputs, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    A, B, D = check_inputs(b.cfg, arrays["A"], arrays["B"], arrays.get("D"))
    g = Gemm(f"user tensors {b.settings.inputs}", A, B, D if "D" in arrays else None)
    (g,) = await b.run([g], check=False)
    if b.settings.outputs:
        np.savez(b.settings.outputs, C=g.C.astype(np.int64), cycles=np.int64(g.cycles))
        b.log.info("wrote %s (C %s, %d cycles)", b.settings.outputs, g.C.shape, g.cycles)
    expected = golden(b.cfg, g.A, g.B, g.D)
    bad = int(np.count_nonzero(expected != g.C))
    if bad:
        b.log.error("%d of %d elements differ from the golden model", bad, expected.size)
    tb.check_equal("C", expected, g.C, context=b._context(g), log=b.log)
    b.log.info("C matches the golden model (%d elements, %d cycles, %.3g MAC/cycle)",
               expected.size, g.cycles, math.prod((*A.shape, B.shape[1])) / max(1, g.cycles))
