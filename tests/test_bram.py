"""core.bram.DataMemory's read timing, with and without ``late_read``, against a reference."""

import random

import pytest
from amaranth.hdl import Module
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
