"""amaranth.sim tests of the sparse engine against the golden model: every preset in every mode
under random gaps and stalls on all four streams, random configs (hypothesis), sparsity from 0
to 100 % and adversarial layouts; without stalls the cycle count equals ``model.py`` and the
hardware counters (cycles, issued, skipped) equal the model's."""

import os
import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwgen.blocks.sparse import PRESETS, SparseConfig, SparseEngine, golden, model, random_job
from hwgen.blocks.sparse.golden import counts, from_streams, pack_nm, to_streams
from hwgen.testing import first_transfer, stream_put

#: hypothesis examples of random configs (HWGEN_EXAMPLES=200 for a deeper run)
EXAMPLES = int(os.environ.get("HWGEN_EXAMPLES", "12"))

IN_PORTS = ("i_cmd", "i_w", "i_x")


def run(cfg, job, *, gap=0.0, stall=0.0, seed=0):
    """Simulate one job: (outputs, cycles from the ``i_cmd`` transfer to the last ``o_y``
    transfer, the counters (cycles, issued, skipped) after it)."""
    dut = SparseEngine(cfg)
    streams = to_streams(cfg, **job)
    want = counts(cfg, **job)["o_y"]
    got, marks = [], {}
    est = model(cfg, rows=len(job.get("W", job.get("W_vals"))), X=job["X"])["cycles"]
    budget = int((est + 100) / (1 - max(gap, stall)) ** 2) + 200
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    def driver(port):
        async def tb(ctx):
            await stream_put(ctx, getattr(dut, port), streams[port],
                             rng=random.Random(f"{seed}{port}"), gap=gap)
        return tb

    async def first_cmd(ctx):
        marks["first"] = await first_transfer(ctx, dut.i_cmd)

    async def monitor(ctx):
        rng = random.Random(f"{seed}out")
        for cycle in range(budget):
            ready = rng.random() >= stall
            ctx.set(dut.o_y.ready, ready)
            _, _, v, payload = await ctx.tick().sample(dut.o_y.valid, dut.o_y.payload)
            if ready and v:
                got.append({"data": [int(x) for x in payload.data],
                            "last": int(payload.last)})
                marks["last"] = cycle
            if len(got) == want:
                ctx.set(dut.o_y.ready, 0)
                for _ in range(3):                       # nothing more comes out
                    _, _, v = await ctx.tick().sample(dut.o_y.valid)
                    assert not v, "o_y: a transfer more than the job's"
                marks["stats"] = tuple(ctx.get(getattr(dut, f"stat_{k}"))
                                       for k in ("cycles", "issued", "skipped"))
                return

    for port in IN_PORTS:
        sim.add_testbench(driver(port))
    sim.add_testbench(first_cmd)
    sim.add_testbench(monitor)
    sim.run()
    assert len(got) == want, f"o_y: {len(got)} of {want} transfers after {budget} cycles"
    return (from_streams(cfg, {"o_y": got}, **job), marks["last"] - marks["first"],
            marks["stats"])


def check(cfg, job, *, stalls=0.0, seed=0):
    """Y equals golden; counters equal the model; without stalls cycles equal the model."""
    out, cycles, (c_cyc, c_issued, c_skipped) = run(cfg, job, gap=stalls, stall=stalls,
                                                    seed=seed)
    exp = golden(cfg, **job)
    np.testing.assert_array_equal(out["Y"], exp["Y"], err_msg=str(cfg))
    rows = len(job.get("W", job.get("W_vals")))
    est = model(cfg, rows=rows, X=job["X"])
    assert c_cyc == cycles, "stat_cycles must count from the command to the last o_y"
    assert (c_issued, c_skipped) == (est["issued"], est["skipped"]), cfg
    if not stalls:
        assert cycles == est["cycles"], f"{cfg}: measured {cycles}, model {est['cycles']}"
    return cycles, est


MODES = ("nm", "act", "dense")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_random_stalls(preset, mode):
    """Two tiles and a partial third, K not a multiple of window, under gaps and stalls."""
    cfg = PRESETS[preset].replace(mode=mode)   # every preset takes every mode
    rng = np.random.default_rng(hash((preset, mode)) % 2**32)
    K = min(cfg.max_k, 3 * cfg.window + 3)
    for i, zeros in enumerate((0.0, 0.75)):
        job = random_job(cfg, rng, 2 * cfg.lanes + 1, K, 3, zeros=zeros,
                         kind="extremes" if i else "uniform")
        check(cfg, job, stalls=0.3, seed=i)


@pytest.mark.parametrize("mode", MODES)
def test_cycles_equal_model(mode):
    """Without stalls: cycles equal the model at 0, 50, 75, 90 and 100 % zeros."""
    cfg = PRESETS["sparse-8lane-int8"].replace(mode=mode)
    rng = np.random.default_rng(3)
    for zeros in (0.0, 0.5, 0.75, 0.9, 1.0):
        check(cfg, random_job(cfg, rng, cfg.lanes, 64, 4, zeros=zeros))


@pytest.mark.parametrize("layout", ["lane", "one_beat", "alternate", "end", "empty"])
def test_adversarial_layouts(layout):
    """All non-zeros at the front of a column, all in one beat (one compaction window), every
    other one, one at the very end, none — in act mode with gaps and stalls, and exact cycles
    without."""
    cfg = PRESETS["sparse-8lane-int8"].replace(mode="act")
    rng = np.random.default_rng(4)
    job = random_job(cfg, rng, cfg.lanes + 3, 61, 3, zeros=0.75, layout=layout)
    check(cfg, job, stalls=0.4, seed=1)
    check(cfg, job)


def test_one_cycle_columns_use_credits():
    """act mode with K ≤ window and all-zero X: a column ends every cycle (one empty slot
    each); with o_y stalled most of the time the credits hold the issue back and nothing is
    lost; without stalls the output FIFO never runs out of credits."""
    cfg = PRESETS["sparse-8lane-int8"].replace(mode="act")
    rng = np.random.default_rng(5)
    job = random_job(cfg, rng, cfg.lanes, 5, 40, zeros=1.0)
    cycles, est = check(cfg, job)
    assert est["issued"] == 0
    out, _, _ = run(cfg, job, stall=0.85, seed=3)
    np.testing.assert_array_equal(out["Y"], golden(cfg, **job)["Y"])


def test_compressed_weights_input():
    """nm mode from W_vals + W_idx (with filler slots at unused positions)."""
    cfg = PRESETS["sparse-8lane-int8"]
    rng = np.random.default_rng(6)
    job = random_job(cfg, rng, 5, 30, 2)
    vals, idx = pack_nm(job["W"], cfg.keep, cfg.group)
    check(cfg, {"W_vals": vals, "W_idx": idx, "X": job["X"]}, stalls=0.2)


def test_saturation_per_step():
    """int16 extremes through a 32-bit saturating accumulator saturate on the way."""
    cfg = PRESETS["sparse-4lane-int16-sat"]
    rng = np.random.default_rng(7)
    job = random_job(cfg, rng, 4, 40, 2, zeros=0.2, kind="extremes", layout="extremes")
    exp = golden(cfg, **job)["Y"]
    assert (np.abs(exp) == 2**31 - 1).any() or (exp == -2**31).any()
    check(cfg, job, stalls=0.2)


def test_back_to_back_jobs_share_nothing():
    """Two jobs in one simulation through the same engine (banks alternate across jobs)."""
    cfg = PRESETS["sparse-2lane-int8-up5k"]
    rng = np.random.default_rng(8)
    jobs = [random_job(cfg, rng, 3, 9, 2), random_job(cfg, rng, 2, 64, 3)]
    merged = {k: v for k, v in to_streams(cfg, **jobs[0]).items()}
    second = to_streams(cfg, **jobs[1])
    for port in IN_PORTS:
        merged[port] = merged[port] + second[port]
    dut = SparseEngine(cfg)
    want = sum(counts(cfg, **j)["o_y"] for j in jobs)
    got = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for port in IN_PORTS:
        async def tb(ctx, port=port):
            await stream_put(ctx, getattr(dut, port), merged[port],
                             rng=random.Random(port), gap=0.3)
        sim.add_testbench(tb)

    async def monitor(ctx):
        rng_ = random.Random(9)
        for _ in range(5000):
            ready = rng_.random() > 0.3
            ctx.set(dut.o_y.ready, ready)
            _, _, v, p = await ctx.tick().sample(dut.o_y.valid, dut.o_y.payload)
            if ready and v:
                got.append({"data": [int(x) for x in p.data], "last": int(p.last)})
            if len(got) == want:
                return
    sim.add_testbench(monitor)
    sim.run()
    n0 = counts(cfg, **jobs[0])["o_y"]
    for job, beats in ((jobs[0], got[:n0]), (jobs[1], got[n0:])):
        out = from_streams(cfg, {"o_y": beats}, **job)
        np.testing.assert_array_equal(out["Y"], golden(cfg, **job)["Y"])


@st.composite
def configs(draw):
    mode = draw(st.sampled_from(MODES))
    group = draw(st.sampled_from([2, 4, 8, 16]))
    keep = draw(st.integers(1, group - 1))
    window = draw(st.sampled_from([1, 2, 4, 8, 16, 32]))
    if mode == "nm":
        window = max(window, group)
    max_k = window * draw(st.integers(1, 4))
    return SparseConfig(mode=mode, lanes=draw(st.integers(1, 4)), keep=keep, group=group,
                        window=window, max_k=max_k,
                        w_type=draw(st.sampled_from(["int2", "int8", "int13", "int18"])),
                        x_type=draw(st.sampled_from(["int3", "int8", "int16"])),
                        acc_width=draw(st.sampled_from([8, 19, 32, 48])),
                        overflow=draw(st.sampled_from(["wrap", "saturate"])))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cfg=configs(), data=st.data())
def test_random_configs(cfg, data):
    """Random configs and shapes: Y equal under stalls, cycles equal without."""
    K = data.draw(st.integers(1, cfg.max_k))
    rows = data.draw(st.integers(1, 2 * cfg.lanes + 1))
    n = data.draw(st.integers(1, 4))
    zeros = data.draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    job = random_job(cfg, rng, rows, K, n, zeros=zeros,
                     kind=data.draw(st.sampled_from(["uniform", "extremes"])))
    check(cfg, job)
    check(cfg, job, stalls=0.3, seed=1)
