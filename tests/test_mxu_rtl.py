"""amaranth.sim tests of the MXU RTL against the golden model, with random stalls on every port."""

import random

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from hwgen.blocks import load
from hwgen.blocks.mxu import MXU, matmul, model
from hwgen.blocks.mxu.golden import rows_to_c, to_streams
from hwgen.blocks.mxu.pe import WSPE
from hwgen.blocks.mxu.rtl import _below
from hwgen.core.mult import lut_mult_2stage
from hwgen.testing import stream_get, stream_put


def run_gemm(cfg, A, B, D=None, *, seed=0, gap=0.3, stall=0.3, timeout=200_000):
    """Simulate one GEMM; return (C from the hardware, cycles from cmd to last output). Every
    testbench has a budget of ``timeout`` cycles: the simulation ends when the last row is in
    and every input is sent, not at a fixed deadline."""
    dut = MXU(cfg)
    streams = to_streams(cfg, A=A, B=B, D=D)
    M, N = A.shape[0], B.shape[1]
    rng = random.Random(seed)
    n_out = (N + cfg.cols - 1) // cfg.cols * M
    result = {}

    sim = Simulator(dut)
    sim.add_clock(1e-6)

    def putter(name, vals, g):
        async def tb(ctx):
            sent = await stream_put(ctx, getattr(dut, name), vals,
                                    rng=random.Random(rng.random()), gap=g, budget=timeout)
            assert sent == len(vals), f"{name}: {sent} of {len(vals)} transfers"
        return tb

    sim.add_testbench(putter("i_cmd", streams["i_cmd"], 0.0))
    for name in ("i_a", "i_w", "i_d"):
        if name in streams:
            sim.add_testbench(putter(name, streams[name], gap))

    async def getter(ctx):
        cycles = []
        rows = await stream_get(ctx, dut.o_c, n_out, rng=random.Random(rng.random()),
                                stall=stall, cycles=cycles, budget=timeout)
        assert len(rows) == n_out, f"timed out: {len(rows)} of {n_out} rows of o_c"
        result["rows"] = [{"data": [int(x) for x in r.data], "last": int(r.last)} for r in rows]
        # i_cmd (valid from the start, ready after reset) transfers on edge 1
        result["cycles"] = cycles[-1] - 1 if cycles else 0

    sim.add_testbench(getter)
    sim.run()
    return rows_to_c(cfg, M, N, result["rows"]), result["cycles"]


def rand_case(cfg, rng, M, K, N):
    A = cfg.a_fmt.random(rng, (M, K))
    B = cfg.b_fmt.random(rng, (K, N))
    D = cfg.acc_fmt.random(rng, (M, N)) if cfg.bias else None
    return A, B, D


@pytest.mark.parametrize("preset,shape", [
    ("mxu-2x2-int8", (3, 5, 3)),
    ("mxu-2x2-int8", (1, 1, 1)),
    ("mxu-2x2-int8", (2, 4, 2)),
    ("mxu-2x2-int8", (33, 7, 5)),          # a 1-row chunk right after a full one (regression)
    ("mxu-4x4-int8", (9, 10, 7)),
    ("mxu-3x5-uint8-bias", (19, 7, 11)),
    ("mxu-4x4-int16-sat", (5, 9, 6)),
    ("mxu-4x4-int8-os", (9, 10, 7)),
    ("mxu-4x4-int8-os", (5, 1, 6)),
])
def test_gemm_random_stalls(preset, shape):
    _, cfg = load(preset)
    rng = np.random.default_rng(1)
    A, B, D = rand_case(cfg, rng, *shape)
    C, _ = run_gemm(cfg, A, B, D, seed=2)
    np.testing.assert_array_equal(C, matmul(cfg, A, B, D))


@pytest.mark.parametrize("preset,shape", [
    ("mxu-4x4-int8", (40, 4, 8)),         # one K tile: every issued row is an output row
    ("mxu-4x4-int8", (13, 6, 5)),         # two K tiles, the output-queue credit at tile ends
    ("mxu-2x2-int8", (17, 2, 3)),
    ("mxu-3x5-uint8-bias", (21, 3, 7)),
    ("mxu-4x4-int8-os", (12, 3, 8)),
])
def test_output_backpressure(preset, shape):
    """o_c stalled 90 % of cycles, inputs always valid: the output queue fills, and the issue
    stops on its credits (the queue would overwrite rows otherwise)."""
    _, cfg = load(preset)
    A, B, D = rand_case(cfg, np.random.default_rng(11), *shape)
    C, _ = run_gemm(cfg, A, B, D, seed=6, gap=0.0, stall=0.9)
    np.testing.assert_array_equal(C, matmul(cfg, A, B, D))


@pytest.mark.parametrize("preset,shape", [
    ("mxu-4x4-int8", (24, 16, 8)),        # steady state: chunks >= 2R + C
    ("mxu-4x4-int8", (2, 9, 5)),          # chunks < 4 rows: spaced issue
    ("mxu-2x2-int8", (3, 7, 3)),          # 3-row chunks, spaced too; R·C small: gap 4
    ("mxu-2x2-int8", (70, 3, 3)),         # M beyond acc_depth
    ("mxu-4x4-int8-os", (9, 10, 7)),      # drain-bound tiles
    ("mxu-4x4-int8-os", (8, 24, 8)),
])
def test_cycles_match_model(preset, shape):
    """With no stalls the measured cycle count equals the analytical model exactly (the cocotb
    tier checks it again on every preset it simulates, on Icarus and Verilator)."""
    _, cfg = load(preset)
    A, B, D = rand_case(cfg, np.random.default_rng(5), *shape)
    C, cycles = run_gemm(cfg, A, B, D, gap=0, stall=0)
    np.testing.assert_array_equal(C, matmul(cfg, A, B, D))
    mdl = model(cfg, *shape)
    assert mdl["tolerance"] == {"abs": 0, "rel": 0.0}
    assert cycles == mdl["cycles"]


@pytest.mark.parametrize("preset", ["mxu-4x4-int8", "mxu-4x4-int8-os", "mxu-3x5-uint8-bias"])
def test_back_to_back_gemms(preset):
    """Three commands queued at once, under stalls: each GEMM's results, in order (regression:
    a registered i_cmd.ready once took a second command while the OS core was starting)."""
    _, cfg = load(preset)
    rng = np.random.default_rng(7)
    cases = [rand_case(cfg, rng, *shape) for shape in ((5, 6, 7), (3, 9, 2), (9, 4, 6))]
    streams = [to_streams(cfg, A=A, B=B, D=D) for A, B, D in cases]
    dut = MXU(cfg)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    r = random.Random(3)
    names = [n for n in ("i_cmd", "i_a", "i_w", "i_d") if n in streams[0]]
    for name in names:
        vals = [v for s in streams for v in s[name]]
        seed = r.random()

        async def tb(ctx, name=name, vals=vals, seed=seed):
            sent = await stream_put(ctx, getattr(dut, name), vals, rng=random.Random(seed),
                                    gap=0.3, budget=20_000)
            assert sent == len(vals), f"{name}: {sent} of {len(vals)} transfers"
        sim.add_testbench(tb)
    counts = [((B.shape[1] + cfg.cols - 1) // cfg.cols) * A.shape[0] for A, B, _ in cases]
    out = {}

    async def getter(ctx):
        rows = await stream_get(ctx, dut.o_c, sum(counts), rng=random.Random(5), stall=0.4,
                                budget=20_000)
        assert len(rows) == sum(counts), "timed out waiting for o_c"
        out["rows"] = [{"data": [int(x) for x in row.data], "last": int(row.last)}
                       for row in rows]
    sim.add_testbench(getter)
    sim.run()
    at = 0
    for (A, B, D), n in zip(cases, counts, strict=True):
        got = rows_to_c(cfg, A.shape[0], B.shape[1], out["rows"][at:at + n])
        np.testing.assert_array_equal(got, matmul(cfg, A, B, D))
        at += n


@pytest.mark.parametrize(("overrides", "shape"), [
    (["acc_depth=1"], (3, 5, 3)),                          # one-row chunks only
    (["acc_depth=1", "rows=1", "cols=1"], (2, 3, 2)),
    (["acc_depth=3", "rows=3", "cols=1"], (7, 4, 2)),      # 3-row chunks, then 1
    (["acc_depth=5", "rows=1", "cols=3"], (11, 2, 5)),
])
def test_tiny_arrays_and_chunks(overrides, shape):
    """Degenerate arrays and accumulator depths: golden results under stalls, and cycles equal
    to the model without them (the sequencer's and the issuer's small-chunk paths)."""
    _, cfg = load("mxu-2x2-int8", overrides)
    A, B, D = rand_case(cfg, np.random.default_rng(3), *shape)
    C, cycles = run_gemm(cfg, A, B, D, gap=0, stall=0)
    np.testing.assert_array_equal(C, matmul(cfg, A, B, D))
    assert cycles == model(cfg, *shape)["cycles"]
    C, _ = run_gemm(cfg, A, B, D, seed=4)
    np.testing.assert_array_equal(C, matmul(cfg, A, B, D))


@pytest.mark.parametrize("lut", [False, True])
def test_ws_pe_pipeline(lut):
    """PE: ps_out = ps_in + a·w three cycles after a enters; w swaps only with the token."""
    pe = WSPE(signed(8), signed(8), signed(20), lut=lut)
    rng = random.Random(3)
    sim = Simulator(pe)
    sim.add_clock(1e-6)

    async def tb(ctx):
        # load shadow = -128, swap it in with the first activation
        ctx.set(pe.sh_en, 1)
        ctx.set(pe.sh_in, -128)
        await ctx.tick()
        ctx.set(pe.sh_en, 0)
        w = -128
        for i in range(200):
            a = rng.randint(-128, 127)
            ps = rng.randint(-1000, 1000)
            swap = i == 0 or rng.random() < 0.1
            if swap and i:
                ctx.set(pe.sh_en, 1)
                new_w = rng.randint(-128, 127)
                ctx.set(pe.sh_in, new_w)
                await ctx.tick()
                ctx.set(pe.sh_en, 0)
                w = new_w
            ctx.set(pe.a_in, a)
            ctx.set(pe.s_in, swap)
            await ctx.tick()
            ctx.set(pe.s_in, 0)
            ctx.set(pe.a_in, 0)
            # the product of `a` (two product registers) meets ps_in two cycles later
            await ctx.tick()
            ctx.set(pe.ps_in, ps)
            await ctx.tick()
            await ctx.tick()
            assert ctx.get(pe.ps_out) == ps + a * w, (i, a, w, ps)

    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("width", [1, 3, 5])
def test_below_constant(width):
    """``_below(v, k)`` (the split compare the sequencer uses) is ``v < k`` for every v and k,
    including k = 0, powers of two and k beyond v's range."""
    v = Signal(width)
    ks = range((1 << width) + 3)
    outs = [Signal(name=f"lt{k}") for k in ks]
    m = Module()
    m.d.comb += [o.eq(_below(v, k)) for o, k in zip(outs, ks, strict=True)]
    sim = Simulator(m)
    bad = []

    async def tb(ctx):
        for x in range(1 << width):
            ctx.set(v, x)
            bad.extend((x, k) for o, k in zip(outs, ks, strict=True) if ctx.get(o) != (x < k))
    sim.add_testbench(tb)
    sim.run()
    assert not bad


@pytest.mark.parametrize(("sa", "sb"), [
    (signed(4), signed(4)), (unsigned(3), signed(5)), (signed(5), unsigned(4)),
    (signed(3), signed(1)), (unsigned(2), unsigned(1)), (signed(8), signed(8)),
])
def test_lut_mult_2stage(sa, sb):
    """The two-stage LUT multiplier (mult = "lut") is a·b two edges later, for every a and b
    (8×8: a random sample)."""
    a, b = Signal(sa), Signal(sb)
    m = Module()
    out = lut_mult_2stage(m, a, b, name="t")
    lo = [-(1 << (s.width - 1)) if s.signed else 0 for s in (sa, sb)]
    hi = [(1 << (s.width - 1)) - 1 if s.signed else (1 << s.width) - 1 for s in (sa, sb)]
    pairs = [(x, y) for x in range(lo[0], hi[0] + 1) for y in range(lo[1], hi[1] + 1)]
    if len(pairs) > 4096:
        pairs = random.Random(1).sample(pairs, 4096)
    pairs += [(lo[0], lo[1]), (lo[0], hi[1]), (hi[0], lo[1]), (hi[0], hi[1])]
    sim = Simulator(m)
    sim.add_clock(1e-6)
    bad = []

    async def tb(ctx):
        seen = []
        for x, y in pairs + [(0, 0), (0, 0)]:
            ctx.set(a, x)
            ctx.set(b, y)
            seen.append(x * y)
            await ctx.tick()
            if len(seen) > 1 and ctx.get(out) != seen[-2]:
                bad.append((seen[-2], ctx.get(out)))
    sim.add_testbench(tb)
    sim.run()
    assert not bad, bad[:5]


@pytest.mark.parametrize("overrides", [
    ["mult=lut"], ["mult=lut", "dataflow=os"],
    ["mult=lut", "a_type=uint5", "b_type=int3", "rows=3", "cols=2"],
    ["mult=lut", "dataflow=os", "a_type=int4", "b_type=uint1"],
])
def test_lut_multiplier_arrays(overrides):
    """Arrays with LUT multipliers (two-stage, same latency as the DSP form): golden results
    under stalls and cycles equal to the model, WS and OS, mixed signedness."""
    _, cfg = load("mxu-2x2-int8", overrides)
    A, B, D = rand_case(cfg, np.random.default_rng(9), 7, 5, 4)
    C, cycles = run_gemm(cfg, A, B, D, gap=0, stall=0)
    np.testing.assert_array_equal(C, matmul(cfg, A, B, D))
    assert cycles == model(cfg, 7, 5, 4)["cycles"]
    C, _ = run_gemm(cfg, A, B, D, seed=8)
    np.testing.assert_array_equal(C, matmul(cfg, A, B, D))
