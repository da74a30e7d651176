"""amaranth.sim tests of the softmax RTL: the exp unit (exhaustive where its input range is at
most 2^16 values), the reciprocal unit, and the whole unit against the golden model — random
stalls on both streams, masks, rows longer than max_len, random configs — and the cycle model."""

import os
import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwgen.blocks.softmax import PRESETS, ExpUnit, Reciprocal, Softmax, SoftmaxConfig, model
from hwgen.blocks.softmax.golden import exp2neg, reciprocal, row_outputs, row_streams
from hwgen.blocks.softmax.rtl import EXP_LATENCY
from hwgen.blocks.softmax.tensors import random_rows
from hwgen.testing import stream_put

#: hypothesis examples of random configs (HWGEN_EXAMPLES=200 for a deeper run)
EXAMPLES = int(os.environ.get("HWGEN_EXAMPLES", "12"))

F8 = SoftmaxConfig(lanes=1, max_len=64, in_type="q4.4", out_frac=8)          # no interpolation
F16 = PRESETS["softmax-64-int16"]                                              # interpolation
ONLINE8 = PRESETS["softmax-16x2-q8-online"]


# -- exp unit --

def run_exp(cfg, ds) -> list[tuple[int, int]]:
    """Feed one d a cycle into ``ExpUnit(cfg, sum_extra, with_e0=True)`` with ``en`` toggling;
    return (e, e0) for each."""
    dut = ExpUnit(cfg, cfg.sum_extra, with_e0=True)
    out = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    pattern = random.Random(3)

    async def tb(ctx):
        pending = []          # indices of the d values in the pipeline, oldest first
        i = 0
        while len(out) < len(ds):
            en = pattern.random() < 0.8
            if i < len(ds):
                ctx.set(dut.d, ds[i])
            ctx.set(dut.en, en)
            await ctx.tick()
            if en:
                pending.append(i if i < len(ds) else None)
                i += 1
                if len(pending) > EXP_LATENCY:
                    pending.pop(0)
                if len(pending) == EXP_LATENCY and pending[0] is not None \
                        and pending[0] == len(out):
                    out.append((ctx.get(dut.e), ctx.get(dut.e0)))

    sim.add_testbench(tb)
    sim.run()
    return out


def check_exp(cfg, ds):
    got = np.array(run_exp(cfg, ds))
    d = np.array(ds)
    np.testing.assert_array_equal(got[:, 0], exp2neg(cfg, d, cfg.sum_extra))
    np.testing.assert_array_equal(got[:, 1], exp2neg(cfg, d, 0))


@pytest.mark.parametrize("cfg", [F8, ONLINE8], ids=["safe-F8", "online-F8"])
def test_exp_unit_exhaustive(cfg):
    """Every d in [0, q_max·2^T] (≤ 2^16 values): both outputs (the sum's word with X extra
    bits and the normalize word) equal exp2neg."""
    top = cfg.q_max << cfg.t_frac
    assert top + 1 <= 1 << 16
    check_exp(cfg, list(range(top + 1)))


def test_exp_unit_sampled_interpolated():
    """F = 16 (interpolated table): every table segment's ends and random points."""
    cfg = F16
    T, B = cfg.t_frac, cfg.table_bits
    rng = np.random.default_rng(5)
    seg = [j << (T - B) for j in range(1 << B)]
    ds = sorted({*seg, *(s - 1 for s in seg if s), *(s + 1 for s in seg),
                 *rng.integers(0, cfg.q_max << T, 3000).tolist(), 0, (cfg.q_max << T)})
    check_exp(cfg, ds)


# -- reciprocal --

def run_recip(cfg, values) -> list[tuple[int, int]]:
    dut = Reciprocal(cfg)
    out = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def tb(ctx):
        for s in values:
            ctx.set(dut.s, s)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            n = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                n += 1
            out.append((ctx.get(dut.r), n))
            await ctx.tick()

    sim.add_testbench(tb)
    sim.run()
    return out


@pytest.mark.parametrize("cfg", [F16, ONLINE8, PRESETS["softmax-4096-int32"]],
                         ids=["safe-F16", "online-F8", "online-4096"])
def test_reciprocal(cfg):
    """Edge and random sums (in the range a real row can produce) equal the golden reciprocal;
    done comes quotient_bits + 1 cycles after start."""
    E, Gs = cfg.e_frac + cfg.sum_extra, cfg.sum_guard
    lo = (1 << E) if cfg.algorithm == "safe" else (1 << (E - 1 + Gs))
    hi = min((1 << cfg.sum_bits) - 1, cfg.max_len * (1 << E) << Gs)
    rng = np.random.default_rng(7)
    values = [0, lo, lo + 1, 2 * lo - 1, 2 * lo, hi - 1, hi,
              *rng.integers(lo, hi, 40, endpoint=True).tolist()]
    got = run_recip(cfg, values)
    np.testing.assert_array_equal([r for r, _ in got], reciprocal(cfg, np.array(values)))
    assert {n for _, n in got} == {cfg.quotient_bits + 1}


# -- the whole unit --

def run_unit(cfg, beats, n_out, *, gap=0.3, stall=0.3, seed=0, timeout_cycles=200_000):
    """Stream ``beats`` in; collect ``n_out`` output beats and the cycle of each transfer."""
    dut = Softmax(cfg)
    res = {"in": [], "out": [], "data": []}
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng = random.Random(seed)

    async def put(ctx):
        await stream_put(ctx, dut.i_x, beats, rng=random.Random(rng.random()), gap=gap)

    async def get(ctx):
        r = random.Random(rng.random())
        cycle = 0
        while len(res["data"]) < n_out and cycle < timeout_cycles:
            ready = r.random() >= stall
            ctx.set(dut.o_p.ready, ready)
            _, _, iv, ir, ov, payload = await ctx.tick().sample(
                dut.i_x.valid, dut.i_x.ready, dut.o_p.valid, dut.o_p.payload)
            if iv and ir:
                res["in"].append(cycle)
            if ov and ready:
                res["out"].append(cycle)
                res["data"].append(([int(v) for v in payload.data], int(payload.last),
                                    int(payload.too_long)))
            cycle += 1

    sim.add_testbench(put)
    sim.add_testbench(get)
    sim.run()
    assert len(res["data"]) == n_out, f"timed out: {len(res['data'])} of {n_out} beats"
    return res


def expected_beats(cfg, rows):
    """(data, last, too_long) beats of rows [(x, length)] (x may exceed max_len)."""
    return [(b["data"], b["last"], b["too_long"]) for x, length in rows
            for b in row_outputs(cfg, x, length)]


def random_job(cfg, rng, count, *, long_rows=False):
    rows = []
    for _ in range(count):
        top = cfg.max_len + (2 * cfg.lanes + 1 if long_rows else 0)
        n = int(rng.choice([1, 2, cfg.max_len, int(rng.integers(1, top, endpoint=True))]))
        x = random_rows(cfg, rng, 1, n, std=float(rng.choice([0.5, 3.0, 20.0])))["X"][0]
        length = n if rng.random() < 0.5 else int(rng.integers(0, n, endpoint=True))
        rows.append((x, length))
    return rows


def check_unit(cfg, rows, **kw):
    beats = [b for x, ln in rows for b in row_streams(cfg, x, ln)]
    exp = expected_beats(cfg, rows)
    res = run_unit(cfg, beats, len(exp), **kw)
    for i, (got, want) in enumerate(zip(res["data"], exp, strict=True)):
        assert got == want, f"{cfg.module_name}: beat {i}: got {got}, expected {want}"
    return res


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_random_stalls(name):
    """Every preset: random rows (lengths 1, 2, max_len, random; masks; rows longer than
    max_len) under random valid/ready stalls equal the golden model beat for beat."""
    cfg = PRESETS[name]
    rng = np.random.default_rng(11)
    count = 3 if cfg.max_len > 256 else 10
    check_unit(cfg, random_job(cfg, rng, count, long_rows=True), seed=2)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lanes=st.sampled_from([1, 2, 4, 8]), beats=st.integers(1, 9),
       in_type=st.sampled_from(["q4.4", "int8", "q8.8", "q2.10", "int32"]),
       scale=st.sampled_from([1.0, 0.125, 2.0 ** -14, 3.7]), out_frac=st.integers(8, 16),
       algorithm=st.sampled_from(["safe", "online"]), row_buffers=st.sampled_from([0, 1, 2, 7]),
       seed=st.integers(0, 1000))
def test_random_configs(lanes, beats, in_type, scale, out_frac, algorithm, row_buffers, seed):
    """Random legal configs (incl. 1-beat rows, int32 inputs, odd F, 1 to 7 rows in flight):
    equal to golden."""
    cfg = SoftmaxConfig(lanes=lanes, max_len=lanes * beats, in_type=in_type, scale=scale,
                        out_frac=out_frac, algorithm=algorithm, row_buffers=row_buffers)
    rng = np.random.default_rng(seed)
    check_unit(cfg, random_job(cfg, rng, 5, long_rows=True), seed=seed)


def test_extreme_inputs():
    """Rows at the format's minimum and maximum, min/max mixtures, int32 extremes whose base-2
    scores saturate, and all-masked rows."""
    for cfg in (F16, PRESETS["softmax-4096-int32"].replace(max_len=64)):
        f = cfg.in_fmt
        n = cfg.max_len
        rows = [(np.full(n, f.min), n), (np.full(n, f.max), n),
                (np.resize(np.array([f.min, f.max, 0, -1, 1]), n), n),
                (np.full(n, f.max), 0), (np.array([f.max]), 1)]
        check_unit(cfg, rows, gap=0.2, stall=0.5, seed=4)


@pytest.mark.parametrize("name", ["softmax-64-int16", "softmax-64x4-int8",
                                  "softmax-16x2-q8-online", "softmax-64-int16/1",
                                  "softmax-16x2-q8-online/2"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (5, None), (6, "half"), (4, "odd")])
def test_cycles_match_model(name, shape):
    """No stalls: cycles from the first input transfer to the last output equal model()
    (also with fewer rows in flight: ``preset/row_buffers``)."""
    preset, _, rb = name.partition("/")
    cfg = PRESETS[preset].replace(row_buffers=int(rb or 0))
    rows, n = shape
    n = {None: cfg.max_len, "half": cfg.max_len // 2 + 1,
         "odd": min(cfg.max_len, 2 * cfg.lanes + 1)}.get(n, n)
    X = random_rows(cfg, np.random.default_rng(1), rows, n)["X"]
    res = check_unit(cfg, [(x, n) for x in X], gap=0.0, stall=0.0)
    assert res["out"][-1] - res["in"][0] == model(cfg, rows=rows, length=n)["cycles"]
    # back to back: one input beat every cycle while buffers are free
    assert res["in"][:min(len(res["in"]), cfg.buffers * -(-n // cfg.lanes))] == \
        list(range(res["in"][0], res["in"][0] + min(len(res["in"]),
                                                    cfg.buffers * -(-n // cfg.lanes))))


def test_steady_state_throughput():
    """Long rows back to back: one output beat every cycle, across row boundaries too (each
    pass loads the next row while it issues the last beat of the current one)."""
    cfg = F16
    X = random_rows(cfg, np.random.default_rng(2), 6, cfg.max_len)["X"]
    res = check_unit(cfg, [(x, cfg.max_len) for x in X], gap=0.0, stall=0.0)
    assert set(np.diff(res["out"]).tolist()) == {1}
    assert set(np.diff(res["in"]).tolist()) == {1}
