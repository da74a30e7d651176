"""amaranth.sim tests of the KV-cache RTL against the golden model: every preset and random
configs (window, page sizes 1…16, beats per row, int8/int16) under random gaps and stalls on
all six streams, statuses and rows compared; cycles without stalls equal ``model.py``."""

import os
import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwgen.blocks.kvcache import PRESETS, KVCache, KVCacheConfig, golden, model, random_ops
from hwgen.blocks.kvcache.golden import counts, from_streams, to_streams
from hwgen.blocks.kvcache.rtl import CMD_LATENCY, FAULTS
from hwgen.testing import first_transfer, stream_put

#: hypothesis examples of random configs (HWGEN_EXAMPLES=200 for a deeper run)
EXAMPLES = int(os.environ.get("HWGEN_EXAMPLES", "10"))

IN_PORTS = ("i_cmd", "i_k", "i_v")
OUT_PORTS = ("o_status", "o_k", "o_v")


def run(cfg, ops, K, V, *, gap=0.0, stall=0.0, seed=0, dut=None):
    """Simulate one job: (outputs as ``from_streams`` gives them, cycles from the first
    ``i_cmd`` transfer to the last output transfer)."""
    dut = dut or KVCache(cfg)
    streams = to_streams(cfg, ops, K, V)
    want = counts(cfg, ops, K, V)
    got = {p: [] for p in OUT_PORTS}
    marks = {"first": None, "last": 0}
    budget = 40 * len(ops) + 20 * (len(K) + 1) * cfg.beats
    budget = int(budget / (1 - max(gap, stall)) ** 2) + 2000
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    def driver(port):
        async def tb(ctx):
            await stream_put(ctx, getattr(dut, port), streams[port],
                             rng=random.Random(f"{seed}{port}"), gap=gap)
        return tb

    async def first_cmd(ctx):
        marks["first"] = await first_transfer(ctx, dut.i_cmd)

    def monitor(port):
        async def tb(ctx):
            rng = random.Random(f"{seed}{port}out")
            p = getattr(dut, port)
            for cycle in range(budget):
                ready = rng.random() >= stall
                ctx.set(p.ready, ready)
                _, _, v, payload = await ctx.tick().sample(p.valid, p.payload)
                if ready and v:
                    got[port].append(payload if isinstance(payload, int)
                                     else [int(x) for x in payload])
                    marks["last"] = max(marks["last"], cycle)
                    if len(got[port]) > want[port]:
                        raise AssertionError(f"{port}: more than {want[port]} transfers")
                if all(len(got[q]) == want[q] for q in OUT_PORTS):
                    return
        return tb

    for port in IN_PORTS:
        sim.add_testbench(driver(port))
    sim.add_testbench(first_cmd)
    for port in OUT_PORTS:
        sim.add_testbench(monitor(port))
    sim.run()
    short = {p: f"{len(got[p])} of {want[p]}" for p in OUT_PORTS if len(got[p]) != want[p]}
    assert not short, f"transfers missing after {budget} cycles: {short}"
    return from_streams(cfg, got, ops, K, V), marks["last"] - marks["first"]


def check(cfg, w, **kwargs):
    out, cycles = run(cfg, w["ops"], w["K"], w["V"], **kwargs)
    exp = golden(cfg, w["ops"], w["K"], w["V"])
    for name in exp:
        np.testing.assert_array_equal(out[name], exp[name], err_msg=f"{name} ({cfg})")
    return exp, cycles


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_random_stalls(preset):
    cfg = PRESETS[preset]
    w = random_ops(cfg, np.random.default_rng(7), 600)
    exp, _ = check(cfg, w, gap=0.3, stall=0.4, seed=1)
    st_ = exp["status"]
    assert (st_ == 0).mean() > 0.5 and len(exp["K_out"]) > 20     # the job did work


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_cycles_equal_model(preset):
    cfg = PRESETS[preset]
    w = random_ops(cfg, np.random.default_rng(8), 400)
    _, cycles = check(cfg, w)
    assert cycles == model(cfg, ops=w["ops"])["cycles"]


SMALL = [
    KVCacheConfig(num_seqs=3, capacity=32, page_size=4, kv_heads=1, head_dim=4),
    KVCacheConfig(num_seqs=2, capacity=16, page_size=2, kv_heads=1, head_dim=4, port_elems=2,
                  window=4, max_seq=64),
    KVCacheConfig(num_seqs=4, capacity=16, page_size=1, kv_heads=1, head_dim=2, dtype="int16"),
    KVCacheConfig(num_seqs=5, capacity=64, page_size=8, kv_heads=2, head_dim=2, window=16,
                  port_elems=1),
    KVCacheConfig(num_seqs=1, capacity=8, page_size=2, kv_heads=1, head_dim=1, max_seq=6),
]


@pytest.mark.parametrize("cfg", SMALL, ids=lambda c: c.module_name)
def test_small_configs_pressure(cfg):
    """Few pages: OUT_OF_PAGES, SEQ_FULL, copy on write and window drops happen often."""
    rng = np.random.default_rng(3)
    w = random_ops(cfg, rng, 500, weights={"fork": 2, "free": 1.5})
    exp, _ = check(cfg, w, gap=0.25, stall=0.25, seed=2)
    assert set(exp["status"].tolist()) >= {0, 3}
    _, cycles = check(cfg, w)
    assert cycles == model(cfg, ops=w["ops"])["cycles"]


@st.composite
def configs(draw):
    ps = draw(st.sampled_from([1, 2, 4, 8, 16]))
    pages = draw(st.integers(2, 12))
    window = draw(st.sampled_from([0, 0, ps, 2 * ps, 3 * ps]))
    if window // ps + 1 > pages:
        window = 0
    if window:
        max_seq = ps * draw(st.integers(1, 40))
    else:
        max_seq = ps * draw(st.integers(0, pages))
    heads = draw(st.integers(1, 3))
    dim = draw(st.sampled_from([1, 2, 4]))
    row = heads * dim
    divisors = [row // (1 << k) for k in range(4) if row % (1 << k) == 0]
    return KVCacheConfig(num_seqs=draw(st.integers(1, 6)), capacity=pages * ps, page_size=ps,
                         max_seq=max_seq, window=window, kv_heads=heads, head_dim=dim,
                         dtype=draw(st.sampled_from(["int8", "int16"])),
                         port_elems=draw(st.sampled_from([0, *divisors])))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(cfg=configs(), seed=st.integers(0, 2**32 - 1))
def test_random_configs(cfg, seed):
    rng = np.random.default_rng(seed)
    w = random_ops(cfg, rng, 250, weights={"fork": 2, "free": 1},
                   errors=float(rng.choice([0.0, 0.2])))
    check(cfg, w, gap=0.3, stall=0.3, seed=seed)
    _, cycles = check(cfg, w)
    assert cycles == model(cfg, ops=w["ops"])["cycles"]


def test_append_and_read_one_row_a_cycle():
    """A long run of APPENDs and one READ of everything: a row a cycle each way, page
    boundaries included (no bubble)."""
    cfg = PRESETS["kvcache-4seq-512"]
    n = cfg.capacity // 4           # every page in use at the end
    ops = [[1, s % 4, 0, 0, 0] for s in range(4 * n)] + [[2, 1, 0, n, 3]]
    rng = np.random.default_rng(0)
    K = rng.integers(-128, 128, (4 * n, cfg.row_elems))
    V = rng.integers(-128, 128, (4 * n, cfg.row_elems))
    ops = np.array(ops)
    _, cycles = check(cfg, {"ops": ops, "K": K, "V": V})
    # the command FIFO's latency, RESET, 4n appends a cycle each, a READ: 1 + n beats + 3 to
    # the last output
    assert cycles == CMD_LATENCY + 1 + 4 * n + n + 3


def test_faults_change_behaviour():
    """The formal harness's injected faults are real bugs: a fork, a free of the source and
    appends that reuse freed pages corrupt the fork's rows (so a proof passing on a fault
    would be dead), while the correct design reads them back intact."""
    cfg = KVCacheConfig(num_seqs=3, capacity=8, page_size=2, kv_heads=1, head_dim=1)
    ops = np.array([[1, 0, 0, 0, 0]] * 4 + [[4, 0, 1, 0, 0], [3, 0, 0, 0, 0]]
                   + [[1, 2, 0, 0, 0]] * 8 + [[2, 1, 0, 4, 3]])
    K = np.arange(12).reshape(12, 1)
    w = {"ops": ops, "K": K, "V": -K}
    exp, _ = check(cfg, w)
    assert exp["K_out"].ravel().tolist() == [0, 1, 2, 3]
    for fault in FAULTS:
        out, _ = run(cfg, ops, K, -K, dut=KVCache(cfg, fault=fault))
        assert not np.array_equal(out["K_out"], exp["K_out"]), fault
