"""A tiny block with the whole contract, for the self-test of the cocotb library: ``Y = X + add``
through a FIFO, with ``bug`` variants that the library must catch.

Ports: ``i_x`` {data: lanes × int8, last} in, ``o_y`` {data: lanes × int10, last} out, and a
sticky ``o_err`` that goes high if the input stream ever breaks the stream rules (so the
library's driver is checked by hardware). User tensors: ``X`` (n × lanes, int8) → ``Y``.
"""

import dataclasses

import numpy as np
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.core.config import BlockConfig, check_choice, check_int
from hwgen.core.contract import BenchRows, BlockInfo, Description, Transactions
from hwgen.core.numerics import NumFormat
from hwgen.core.tensors import Array, Tensors

__all__ = ["AddConfig", "AddConst", "INFO", "BUGS", "LATENCY"]

#: Faults a config can inject: wrong data, a dropped valid, a payload that changes while
#: waiting, an input that never becomes ready, one extra output transfer after the last one,
#: and a design that takes one more cycle than the model says.
BUGS = ("none", "data", "drop_valid", "payload_change", "stuck", "extra", "slow")

#: Cycles from the first input transfer to the last output transfer, beyond n − 1 (n items):
#: the input is written into the FIFO at that edge, and a buffered FIFO shows it on its output
#: two edges later.
LATENCY = 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class AddConfig(BlockConfig):
    """``lanes`` int8 lanes, ``add`` added to each; ``bug`` injects a fault."""

    block = "tbselftest"
    lanes: int = 3
    add: int = 5
    max_n: int = 256
    bug: str = "none"

    def __post_init__(self):
        super().__post_init__()
        check_int("lanes", self.lanes, 1, 8)
        check_int("add", self.add, -64, 64)
        check_int("max_n", self.max_n, 1, 4096)
        check_choice("bug", self.bug, BUGS)

    def default_name(self):
        return f"tbselftest_{self.bug}"


_IN = NumFormat(signed=True, width=8)
_OUT = NumFormat(signed=True, width=10)


class AddConst(wiring.Component):
    """``o_y.data = i_x.data + add`` through a 4-deep buffered FIFO (see the module docstring)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self._lin = data.StructLayout({"data": data.ArrayLayout(signed(8), cfg.lanes), "last": 1})
        self._lout = data.StructLayout({"data": data.ArrayLayout(signed(10), cfg.lanes),
                                        "last": 1})
        super().__init__({"i_x": In(stream.Signature(self._lin)),
                          "o_y": Out(stream.Signature(self._lout)), "o_err": Out(1)})

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        m.submodules.q = q = fifo.SyncFIFOBuffered(width=self._lout.size, depth=4)
        x = self.i_x.payload
        y = Signal(self._lout)
        extra = Signal(2)
        if cfg.bug == "data":
            m.d.comb += extra.eq(x.data[0][:2] == 3)
        for i in range(cfg.lanes):
            m.d.comb += y.data[i].eq(x.data[i] + cfg.add + (extra if i == 0 else 0))
        ready = q.w_rdy
        w_data, w_en = y, self.i_x.valid & self.i_x.ready
        if cfg.bug == "stuck":
            ready = 0
        elif cfg.bug == "slow":            # one more register stage: one cycle more latency
            staged = Signal(self._lout)
            staged_en = Signal()
            m.d.sync += [staged.eq(y), staged_en.eq(w_en)]
            w_data, w_en, ready = staged, staged_en, q.level < 3
        m.d.comb += [y.last.eq(x.last), q.w_data.eq(w_data), self.i_x.ready.eq(ready),
                     q.w_en.eq(w_en)]

        toggle = Signal()
        m.d.sync += toggle.eq(~toggle)
        r = Signal(self._lout)
        m.d.comb += r.eq(q.r_data)
        fifo_valid = Signal()
        m.d.comb += fifo_valid.eq(q.r_rdy & ~toggle if cfg.bug == "drop_valid" else q.r_rdy)
        payload = Signal(self._lout)
        m.d.comb += payload.eq(r)
        if cfg.bug == "payload_change":
            m.d.comb += payload.data[0].eq(r.data[0] + toggle)
        extra_on = Signal()
        if cfg.bug == "extra":             # repeat the last transfer once, 8 cycles later
            armed = Signal()
            countdown = Signal(4)
            saved = Signal(self._lout)
            with m.If(fifo_valid & self.o_y.ready & r.last):
                m.d.sync += [armed.eq(1), countdown.eq(8), saved.eq(r)]
            with m.Elif(armed & (countdown != 0)):
                m.d.sync += countdown.eq(countdown - 1)
            m.d.comb += extra_on.eq(armed & (countdown == 0) & ~q.r_rdy)
            with m.If(extra_on & self.o_y.ready):
                m.d.sync += armed.eq(0)
            with m.If(extra_on):
                m.d.comb += payload.eq(saved)
        m.d.comb += [self.o_y.payload.eq(payload), self.o_y.valid.eq(fifo_valid | extra_on),
                     q.r_en.eq(self.o_y.ready & fifo_valid)]

        waited = Signal()
        last_payload = Signal(self._lin)
        err = Signal()
        m.d.sync += [waited.eq(self.i_x.valid & ~self.i_x.ready), last_payload.eq(x)]
        with m.If(waited & (~self.i_x.valid | (x.as_value() != last_payload.as_value()))):
            m.d.sync += err.eq(1)
        m.d.comb += self.o_err.eq(err)
        return m


def golden(cfg, *, X) -> dict:
    return {"Y": np.asarray(X, dtype=np.int64) + cfg.add}


def to_streams(cfg, *, X) -> dict:
    n = len(X)
    return {"i_x": [{"data": [int(v) for v in row], "last": int(i == n - 1)}
                    for i, row in enumerate(X)]}


def counts(cfg, *, X) -> dict:
    return {"o_y": len(X)}


def from_streams(cfg, streams, *, X) -> dict:
    rows = streams["o_y"]
    for i, row in enumerate(rows):
        if bool(row["last"]) != (i == len(rows) - 1):
            raise ValueError(f"o_y transfer {i}: last={row['last']}, expected "
                             f"{int(i == len(rows) - 1)}")
    return {"Y": np.array([row["data"] for row in rows], dtype=np.int64).reshape(-1, cfg.lanes)}


def model(cfg, n=None, lanes=None) -> dict:
    out = {"pipeline_latency": LATENCY, "tolerance": {"abs": 0, "rel": 0.0}}
    if n is not None:
        out["cycles"] = n - 1 + LATENCY
    return out


def describe(cfg) -> Description:
    return Description(line=f"{cfg.lanes} lanes +{cfg.add}" + (f" bug={cfg.bug}"
                                                                if cfg.bug != "none" else ""),
                       facts={"latency": LATENCY})


TENSORS = Tensors(
    inputs=(Array(name="X", doc="rows of lanes", dims=("n", "lanes"), fmt=lambda cfg: _IN),),
    outputs=(Array(name="Y", doc="X + add", dims=("n", "lanes"), fmt=lambda cfg: _OUT),),
    sizes=lambda cfg: {"n": (1, cfg.max_n, "max_n"), "lanes": (cfg.lanes, cfg.lanes, "lanes")},
    example=lambda cfg, rng: {"X": rng.integers(-128, 128, size=(9, cfg.lanes))},
)

INFO = BlockInfo(
    name="tbselftest", summary="self-test block of the cocotb library: Y = X + add",
    config=AddConfig, presets={"tbselftest-3": AddConfig(), "tbselftest-1": AddConfig(lanes=1)},
    component=AddConst, golden=golden, model=model, tensors=TENSORS,
    transactions=Transactions(to_streams=to_streams, counts=counts, from_streams=from_streams,
                              start="i_x"),
    describe=describe, bench=BenchRows(), cocotb_bench="selftest/test_selftest.py",
    sim_presets=("tbselftest-3", "tbselftest-1"), docs="docs/sim.md",
)
