"""cocotb self-test of the library on a small stream design (``selftest_block``: adds a
constant to every lane): the driver, monitor and scoreboard on their own, then the generic bench
and the standard tests through the design's block contract (``tests/test_tb_library.py`` runs
it, also on deliberately broken variants of the design)."""

import cocotb
import hwgen_tb as tb
import numpy as np
import selftest_block

__all__ = ["AddStimulus"]

_SETTINGS = tb.Settings.from_env(vectors=200, gap_prob=0.3, stall_prob=0.3)
_USER = _SETTINGS.inputs is not None


async def _setup(dut, name, gap=None, stall=None):
    man = tb.Manifest()
    man.check(dut)
    _SETTINGS.log(dut._log)
    rng = tb.test_rng(_SETTINGS, name)
    gap = _SETTINGS.gap_prob if gap is None else gap
    stall = _SETTINGS.stall_prob if stall is None else stall
    drv = tb.StreamDriver(dut, man.port("i_x"), rng, gap)
    mon = tb.StreamMonitor(dut, man.port("o_y"), rng, stall)
    tb.clock(dut)
    await tb.reset(dut, 2, man)
    mon.start()
    return man, rng, drv, mon


def _items(man, rng, n):
    lanes = man.config["lanes"]
    data = rng.integers(-128, 127, size=(n, lanes), endpoint=True)
    return [{"data": [int(v) for v in row], "last": int(i == n - 1)} for i, row in enumerate(data)]


def _expected(man, items):
    add = man.config["add"]
    return [{"data": [v + add for v in it["data"]], "last": it["last"]} for it in items]


async def _check_err(dut):
    await tb.sample_point()
    assert dut.o_err.value == 0, "the design saw the driver break the stream rules"


@cocotb.test(skip=_USER)
async def stream_roundtrip(dut):
    """Random gaps and backpressure: every item arrives once, in order, transformed."""
    man, rng, drv, mon = await _setup(dut, "stream_roundtrip")
    items = _items(man, rng, max(1, _SETTINGS.vectors))
    drv.start(items)
    got = await mon.wait(len(items), 20 * len(items) + 100)
    cycles_in = await drv.join(100)
    tb.check_equal("o_y", _expected(man, items), got, context=f"seed {_SETTINGS.seed}")
    for (c_out, _), c_in in zip(mon.transfers, cycles_in, strict=True):
        assert c_out > c_in, f"output at cycle {c_out} before its input at cycle {c_in}"
    await mon.expect_quiet(10)
    await _check_err(dut)


@cocotb.test(skip=_USER)
async def back_to_back(dut):
    """Without gaps or stalls the driver sends one item per cycle and so does the design."""
    man, rng, drv, mon = await _setup(dut, "back_to_back", gap=0.0, stall=0.0)
    items = _items(man, rng, 20)
    cycles_in = await drv.send(items)
    await mon.wait(len(items), 100)
    assert np.all(np.diff(cycles_in) == 1), f"input cycles not consecutive: {cycles_in}"
    assert np.all(np.diff(mon.cycles) == 1), f"output cycles not consecutive: {mon.cycles}"
    await _check_err(dut)


@cocotb.test(skip=_USER)
async def reset_mid_stream(dut):
    """Stop everything mid-stream, reset, and a fresh stream passes."""
    man, rng, drv, mon = await _setup(dut, "reset_mid_stream")
    drv.start(_items(man, rng, 50))
    await tb.wait_cycles(17)
    drv.stop()
    mon.stop()
    await tb.reset(dut, 2, man)
    mon.clear()
    mon.start()
    items = _items(man, rng, 30)
    await drv.send(items)
    got = await mon.wait(len(items), 20 * len(items) + 100)
    tb.check_equal("o_y after reset", _expected(man, items), got)
    await _check_err(dut)


@cocotb.test(skip=_USER)
async def scoreboard_messages(dut):
    """The scoreboard names the first mismatch: index, expected and actual."""
    a = np.arange(12).reshape(3, 4)
    b = a.copy()
    b[1, 2] = 99
    b[2, 0] = 98
    try:
        tb.check_equal("C", a, b, context="ctx")
    except tb.Mismatch as e:
        msg = str(e)
    else:
        raise AssertionError("check_equal missed a mismatch")
    want = "C: first mismatch at index (1, 2): expected 6, actual 99 (2 mismatching in total); ctx"
    assert msg == want, msg
    try:
        tb.check_equal("rows", [1, 2, 3], [1, 2])
    except tb.Mismatch as e:
        assert str(e) == "rows: expected 3 items, got 2 items", str(e)
    else:
        raise AssertionError("check_equal missed a length mismatch")
    assert tb.first_mismatch([{"a": 1}], [{"a": 1}]) is None


# -- the generic bench and the standard tests, through the block contract --

class AddStimulus(tb.Stimulus):
    """Rows of random int8 lanes; corner cases at the extremes and a single row."""

    def rows(self, what, n, low=-128, high=127) -> tb.Job:
        X = self.rng.integers(low, high, size=(n, self.cfg.lanes), endpoint=True)
        return tb.Job(what=f"{what} (n={n})", inputs={"X": X})

    def random(self, index: int) -> tb.Job:
        n = 40 if index == 0 else int(self.rng.integers(1, 30))
        return self.rows(f"random rows {index}", n)

    def corner_cases(self) -> list[tb.Job]:
        return [self.rows("all at the minimum", 5, -128, -128),
                self.rows("all at the maximum", 5, 127, 127),
                self.rows("one row", 1), self.rows("all zeros", 3, 0, 0)]


globals().update(tb.standard_tests(AddStimulus, info=selftest_block.INFO))



@cocotb.test(skip=True)
async def hang(dut):
    """Never ends (run only by name): the wall-clock limit of ``hwgen.flow.sim.run`` must stop
    it."""
    tb.clock(dut)
    while True:
        await tb.wait_cycles(1000)
