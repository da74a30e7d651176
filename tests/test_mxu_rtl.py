"""amaranth.sim tests of the MXU RTL against the golden model, with random stalls on every port."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwgen.blocks.mxu import MXU, golden
from hwgen.blocks.mxu.golden import from_streams, to_streams
from hwgen.core.config import load
from hwgen.testing import stream_get, stream_put


def run_gemm(cfg, A, B, D=None, *, seed=0, gap=0.3, stall=0.3, timeout=200_000):
    """Simulate one GEMM; return (C from the hardware, cycles from cmd to last output)."""
    dut = MXU(cfg)
    streams = to_streams(cfg, A, B, D)
    M, N = A.shape[0], B.shape[1]
    rng = random.Random(seed)
    n_out = (N + cfg.cols - 1) // cfg.cols * M
    result = {}

    sim = Simulator(dut)
    sim.add_clock(1e-6)

    def putter(name, vals, g):
        async def tb(ctx):
            await stream_put(ctx, getattr(dut, name), vals, rng=random.Random(rng.random()), gap=g)
        return tb

    sim.add_testbench(putter("i_cmd", streams["i_cmd"], 0.0))
    for name in ("i_a", "i_w", "i_d"):
        if name in streams:
            sim.add_testbench(putter(name, streams[name], gap))

    async def getter(ctx):
        cycles = []
        rows = await stream_get(ctx, dut.o_c, n_out, rng=random.Random(rng.random()),
                                stall=stall, cycles=cycles)
        result["rows"] = [{"data": [int(x) for x in r.data], "last": int(r.last)} for r in rows]
        result["cycles"] = cycles[-1] if cycles else 0

    sim.add_testbench(getter)
    sim.run_until(timeout * 1e-6)
    assert "rows" in result, "timed out waiting for o_c"
    return from_streams(cfg, M, N, result["rows"]), result["cycles"]


def rand_case(cfg, rng, M, K, N):
    A = cfg.a_fmt.random(rng, (M, K))
    B = cfg.b_fmt.random(rng, (K, N))
    D = cfg.acc_fmt.random(rng, (M, N)) if cfg.bias else None
    return A, B, D


@pytest.mark.parametrize("preset,shape", [
    ("mxu-2x2-int8", (3, 5, 3)),
    ("mxu-2x2-int8", (1, 1, 1)),
    ("mxu-2x2-int8", (2, 4, 2)),
    ("mxu-4x4-int8", (9, 10, 7)),
    ("mxu-3x5-uint8-bias", (19, 7, 11)),
    ("mxu-4x4-int16-sat", (5, 9, 6)),
])
def test_gemm_random_stalls(preset, shape):
    _, cfg = load(preset)
    rng = np.random.default_rng(1)
    A, B, D = rand_case(cfg, rng, *shape)
    C, _ = run_gemm(cfg, A, B, D, seed=2)
    np.testing.assert_array_equal(C, golden(cfg, A, B, D))
