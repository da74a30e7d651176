"""Clock, reset and cycle counting; the one place that fixes the drive/sample timing.

Timing convention (every part of the library follows it):

* **drive** right after the falling edge (``await drive_edge()``);
* **sample** in the read-only phase after that falling edge (``await sample_point()``): all
  inputs written at the falling edge and the design's combinational response have settled, and
  nothing changes until the next rising edge, so the values read are exactly the ones the design
  sees at that rising edge. This is simulator-independent (Icarus and Verilator order rising-edge
  callbacks and flip-flop updates differently; the falling edge has no such race).
* ``now()`` is the number of the rising edge that the current sample point precedes, counted
  from the clock start.
"""

import math

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, ReadOnly
from cocotb.utils import get_sim_steps

__all__ = ["clock", "reset", "now", "period_ns", "drive_edge", "sample_point", "CycleCounter",
           "wait_cycles"]

_state = {"clk": None, "period_steps": None, "period_ns": None, "t0": 0}


def clock(dut, period_ns: float = 10, signal: str = "clk") -> Clock:
    """Start a clock of ``period_ns`` on ``dut.<signal>`` and return it (``now()`` uses it)."""
    clk = getattr(dut, signal)
    c = Clock(clk, period_ns, unit="ns")
    c.start()
    _state["clk"] = clk
    _state["period_steps"] = get_sim_steps(period_ns, "ns")
    _state["period_ns"] = period_ns
    _state["t0"] = get_sim_time("step")
    return c


def _clk():
    if _state["clk"] is None:
        raise RuntimeError("call hwgen_tb.clock(dut) before driving or sampling")
    return _state["clk"]


def drive_edge():
    """The trigger after which the bench writes signals: the falling edge of ``clock()``'s clock."""
    return FallingEdge(_clk())


def sample_point():
    """The trigger at which the bench reads signals: read-only phase (after ``drive_edge``)."""
    return ReadOnly()


def period_ns() -> float:
    """The period given to ``clock()``."""
    if _state["period_ns"] is None:
        raise RuntimeError("call hwgen_tb.clock(dut) first")
    return _state["period_ns"]


def now() -> int:
    """Cycle number: the index of the next rising edge at or after the current time.

    Edge 0 is the clock start (``clock()``, once per test), so numbers restart in every test.
    """
    if _state["period_steps"] is None:
        raise RuntimeError("call hwgen_tb.clock(dut) before counting cycles")
    return math.ceil((get_sim_time("step") - _state["t0"]) / _state["period_steps"])


async def wait_cycles(n: int) -> None:
    """Wait ``n`` falling edges (returns at a drive point)."""
    edge = drive_edge()
    for _ in range(n):
        await edge


async def reset(dut, cycles: int = 3, manifest=None, signal: str = "rst") -> None:
    """Hold the synchronous active-high reset for ``cycles`` rising edges.

    With ``manifest``, every input stream's ``valid`` and output stream's ``ready`` are driven 0
    during the reset. Returns at a drive point (just after a falling edge) with reset released.
    """
    rst = getattr(dut, signal)
    await drive_edge()
    rst.value = 1
    if manifest is not None:
        for port in manifest.streams():
            valid, ready, _ = port.handles(dut)
            if port.direction == "in":
                valid.value = 0
            else:
                ready.value = 0
    await wait_cycles(cycles)
    rst.value = 0
    cocotb.log.debug("reset released at cycle %d", now())


class CycleCounter:
    """Measures cycles between two events: ``start()`` … ``stop()`` → ``cycles``.

    Members
    -------
    begin, end : int or None
        Cycle numbers recorded by ``start``/``stop`` (or given explicitly).
    cycles : int
        ``end - begin``.
    """

    def __init__(self):
        self.begin = None
        self.end = None

    def start(self, cycle: int | None = None) -> None:
        self.begin = now() if cycle is None else cycle

    def stop(self, cycle: int | None = None) -> None:
        self.end = now() if cycle is None else cycle

    @property
    def cycles(self) -> int:
        if self.begin is None or self.end is None:
            raise RuntimeError("CycleCounter needs start() and stop()")
        return self.end - self.begin
