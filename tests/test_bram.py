"""core.bram: DataMemory's read timing (with and without ``late_read``) and delay_taps, against
references."""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.hdl import signed as signed_shape
from amaranth.hdl import unsigned as unsigned_shape
from amaranth.sim import Simulator

from hwgen.core.bram import DataMemory
from hwgen.core.tech import GENERIC, Tech


@pytest.mark.parametrize("late_read", [False, True])
@pytest.mark.parametrize("tech", [GENERIC, Tech(family="ice40")])
def test_data_memory_read_timing(late_read, tech):
    """``rdata`` is ``mem[raddr]`` two edges after ``raddr`` with ``ren`` (``oce`` high), as
    the memory held it at the first edge, and holds while ``ren`` is low; writes land where
    they should. Writes never meet the word read in the read's edge or (late_read's promise)
    the edge after."""
    depth, width = 16, 12
    dut = DataMemory(width, depth, tech, no_rw_check=True, late_read=late_read)
    m = Module()
    m.submodules.dut = dut
    rng = random.Random(5 + late_read)
    n = 600
    ops = []
    for _ in range(n):
        ops.append((rng.random() < 0.7, rng.randrange(depth), rng.random() < 0.5,
                    rng.randrange(depth), rng.randrange(1 << width)))
    # writes may not hit the address read in this edge or the previous one
    clean = []
    for i, (ren, ra, wen, wa, wd) in enumerate(ops):
        prev = clean[i - 1] if i else (False, -1, False, -1, 0)
        if wen and ((ren and wa == ra) or (prev[0] and wa == prev[1])):
            wen = False
        clean.append((ren, ra, wen, wa, wd))
    mem = [0] * depth
    latch = out = 0
    expect = []
    for ren, ra, wen, wa, wd in clean:
        out, latch = latch, (mem[ra] if ren else latch)       # one edge
        if wen:
            mem[wa] = wd
        expect.append(out)
    got = []

    async def bench(ctx):
        for ren, ra, wen, wa, wd in clean:
            ctx.set(dut.ren, ren)
            ctx.set(dut.raddr, ra)
            ctx.set(dut.wen, wen)
            ctx.set(dut.waddr, wa)
            ctx.set(dut.wdata, wd)
            ctx.set(dut.oce, 1)
            await ctx.tick()
            got.append(ctx.get(dut.rdata))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == expect


@pytest.mark.parametrize("tech", [GENERIC, Tech(family="ice40")])
@pytest.mark.parametrize(("width", "taps", "signed"), [
    (8, (0, 1, 2, 3, 7, 10), False),      # iCE40: 80 bits, in block RAM (taps 0 and 1 aside)
    (17, (3,), True),                     # 51 bits, signed: in block RAM on iCE40
    (17, (2,), True),                     # 34 bits: registers everywhere
    (5, (2, 16), False),                  # depth exactly 16
])
def test_delay_taps(tech, width, taps, signed):
    """Every tap is the input delayed by its number of edges (a register chain's contents),
    whether registers or block RAM hold the line."""
    from hwgen.core.bram import DELAY_RAM_MIN_BITS, delay_taps

    m = Module()
    shape = signed_shape(width) if signed else unsigned_shape(width)
    sig = Signal(shape)
    out, in_ram = delay_taps(m, sig, taps, tech, reg_name=lambda i: f"d{i}")
    assert in_ram == (tech.family == "ice40" and width * max(taps) >= DELAY_RAM_MIN_BITS)
    rng = random.Random(width)
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    xs = [rng.randint(lo, hi) for _ in range(300)]
    got = {k: [] for k in taps}

    async def bench(ctx):
        for x in xs:
            ctx.set(sig, x)
            await ctx.tick()
            for k in taps:
                got[k].append(ctx.get(out[k]))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for k in taps:
        # after edge t a k-register chain holds the input sampled at edge t − k + 1; the
        # input of this cycle (after edge t) for k = 0; zeros before the first sample
        expect = [(xs[t] if k == 0 else (xs[t - k + 1] if t - k + 1 >= 0 else 0))
                  for t in range(len(xs))]
        assert got[k] == expect, k
