"""cocotb bench of the MXU: its stimulus and corner cases; the tests are the library's standard
ones (``hwgen_tb.standard_tests``: random GEMMs, corner cases, cycles against ``model``, reset
mid-transfer, user tensors)."""

import hwgen_tb as tb
import numpy as np

__all__ = ["MXUStimulus"]


class MXUStimulus(tb.Stimulus):
    """GEMMs: random shapes that tile K, N and M, and operand mixtures of the formats' extremes."""

    def operands(self, M, K, N, *, kind="random") -> dict:
        """A, B (and D for bias) of the given shape.

        ``kind``: ``random`` (uniform over the formats), ``extremes`` (mixtures of min, max, 0
        and ±1), ``min``, ``max``, ``minmax`` (A at min, B at max), ``zeros``.
        """
        cfg, rng = self.cfg, self.rng
        M, K, N = min(M, cfg.max_m), min(K, cfg.max_k), min(N, cfg.max_n)

        def pick(fmt, shape, kind):
            if kind == "random":
                return fmt.random(rng, shape)
            if kind == "extremes":
                choices = sorted({fmt.min, fmt.max, 0, 1, max(fmt.min, -1)})
                return rng.choice(np.array(choices, dtype=np.int64), size=shape)
            if kind in ("min", "max"):
                return np.full(shape, getattr(fmt, kind), dtype=np.int64)
            if kind == "zeros":
                return np.zeros(shape, dtype=np.int64)
            raise ValueError(f"unknown operand kind {kind!r}")

        ka, kb = ("min", "max") if kind == "minmax" else (kind, kind)
        arrays = {"A": pick(cfg.a_fmt, (M, K), ka), "B": pick(cfg.b_fmt, (K, N), kb)}
        if cfg.bias:
            facc = cfg.acc_fmt
            kd = "zeros" if kind == "zeros" else ("extremes" if kind != "random" else "random")
            arrays["D"] = pick(facc, (M, N), kd)
            if kind == "random" and rng.random() < 0.5:
                # small biases too, so not every sum saturates / wraps
                arrays["D"] = rng.integers(max(facc.min, -1000), min(facc.max, 1000),
                                           size=(M, N), endpoint=True)
        return arrays

    def gemm(self, what, M, K, N, kind="random") -> tb.Job:
        return tb.Job(what=f"{what} (M={min(M, self.cfg.max_m)} K={min(K, self.cfg.max_k)} "
                           f"N={min(N, self.cfg.max_n)})",
                      inputs=self.operands(M, K, N, kind=kind))

    def random(self, index: int) -> tb.Job:
        """Job 0 tiles K and N (N not a multiple of cols) and, for ws, has M > acc_depth;
        about 1 in 4 jobs use extreme-value mixtures."""
        cfg, rng = self.cfg, self.rng
        R, C = cfg.rows, cfg.cols
        if index == 0:
            M = (cfg.acc_depth + 1 + int(rng.integers(R)) if cfg.dataflow == "ws"
                 else 2 * R + 1 + int(rng.integers(R)))
            K = 2 * R + 1 + int(rng.integers(R))
            N = 2 * C + 1 + int(rng.integers(max(1, C - 1)))
        else:
            m_hi = min(cfg.acc_depth + 2 * R + 1, 96) if cfg.dataflow == "ws" else 3 * R + 2
            M = int(rng.integers(1, min(cfg.max_m, m_hi), endpoint=True))
            K = int(rng.integers(1, min(cfg.max_k, 3 * R + 2), endpoint=True))
            N = int(rng.integers(1, min(cfg.max_n, 3 * C + 1), endpoint=True))
        kind = "extremes" if rng.random() < 0.25 else "random"
        return self.gemm(f"random GEMM {index} ({kind})", M, K, N, kind)

    def corner_cases(self) -> list[tb.Job]:
        """All-min operands at the largest practical K, all-max, zeros, K = 1, M = 1, N = 1,
        1×1×1, extreme mixtures; bias extremes that saturate or wrap."""
        cfg = self.cfg
        R, C = cfg.rows, cfg.cols
        kbig = min(cfg.max_k, 4096)
        cases = [
            ("all operands at the format minimum, largest K", 1, kbig, C, "min"),
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
            cases.append(("bias extremes with extreme products", R + 1, 2 * R + 1, C + 2,
                          "extremes"))
            cases.append(("bias extremes with maximal products", 2, min(kbig, 4 * R), C, "max"))
        return [self.gemm(what, M, K, N, kind) for what, M, K, N, kind in cases]

    def unstalled(self) -> list[tb.Job]:
        """A GEMM with several M chunks and K, N tiles (steady state and tile switches), one
        with chunks of fewer than 3 rows (spaced issue), and one that fits one tile."""
        cfg = self.cfg
        R, C = cfg.rows, cfg.cols
        return [self.gemm("unstalled GEMM", 2 * (2 * R + C) + 1, 2 * R + 1, C + 1),
                self.gemm("unstalled short GEMM", 2, R + 1, 2 * C + 1),
                self.gemm("unstalled one-tile GEMM", 3, R, C)]

    def interrupted(self) -> tb.Job:
        R, C = self.cfg.rows, self.cfg.cols
        return self.gemm("interrupted GEMM", 2 * R + 3, 3 * R, 2 * C)


globals().update(tb.standard_tests(MXUStimulus))
