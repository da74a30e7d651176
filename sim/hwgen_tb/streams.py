"""Stream driver and monitor with random gaps / backpressure, bound to manifest ports.

Both follow the library timing (``clocking``): they write right after the falling edge and read
in the read-only phase that follows, i.e. they see exactly what the design sees at the next rising
edge. A transfer happens at a rising edge where ``valid`` and ``ready`` are both 1.
"""

import logging
import random

import cocotb
import numpy as np
from cocotb.triggers import Event, SimTimeoutError, with_timeout

from .clocking import drive_edge, now, period_ns, sample_point

__all__ = ["StreamDriver", "StreamMonitor", "ProtocolError", "make_random"]


class ProtocolError(AssertionError):
    """A stream broke the rules: ``valid`` dropped or the payload changed before the transfer."""


def make_random(rng) -> random.Random:
    """A ``random.Random`` for per-cycle decisions, derived from ``rng``.

    ``rng`` may be a numpy ``Generator`` (a child seed is drawn from it), a ``random.Random``
    (used as is), an int seed, or ``None`` (seed 0).
    """
    if rng is None:
        return random.Random(0)
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, np.random.Generator):
        return random.Random(int(rng.integers(1 << 62)))
    if isinstance(rng, int) and not isinstance(rng, bool):
        return random.Random(rng)
    raise TypeError(f"rng must be a numpy Generator, random.Random, int or None, not {rng!r}")


def _check_prob(name: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), not {p!r}")
    return float(p)


def _check_port(port, direction: str, who: str):
    if isinstance(port, str):
        raise TypeError(f"{who} takes a manifest Port (manifest.port({port!r})), not a name")
    if port.direction != direction:
        kind = "input" if direction == "in" else "output"
        raise ValueError(f"{who} binds {kind} streams; {port.name!r} has direction "
                         f"{port.direction!r}")
    return port


class StreamDriver:
    """Sends values on an input stream of the design, with random idle gaps.

    Rules honoured: ``valid`` never waits for ``ready`` (a gap is decided before an item is
    presented, never because ``ready`` is low); once ``valid`` is 1 it stays 1 and the payload
    stays unchanged until the transfer. While idle the payload carries random bits (the design
    must ignore it).

    Parameters
    ----------
    dut : cocotb handle of the top level
    port : Port
        ``manifest.port("i_a")``; its layout packs the values.
    rng : numpy Generator, random.Random, int or None
        Source of the gap decisions (see ``make_random``).
    gap_prob : float
        Probability, in [0, 1), of an idle cycle before each item (repeated: gaps are geometric).

    Members
    -------
    sent : list of (cycle, value)
        Every transfer so far, with its cycle number (``clocking.now``).
    """

    def __init__(self, dut, port, rng=None, gap_prob: float = 0.0, *, garbage: bool = True):
        self.port = _check_port(port, "in", "StreamDriver")
        self.gap_prob = _check_prob("gap_prob", gap_prob)
        self.garbage = garbage
        self.valid, self.ready, self.payload = port.handles(dut)
        self._rand = make_random(rng)
        self._task = None
        self._busy = False
        self._progress = (0, 0)                       # (items taken, items) of the current send
        self.sent = []
        self.log = logging.getLogger(f"cocotb.hwgen_tb.{port.name}")

    async def send(self, values) -> list[int]:
        """Send every value in order; return the cycle number of each transfer.

        Starts at the next falling edge and returns at a drive point with ``valid`` low.
        """
        if self._busy:
            raise RuntimeError(f"StreamDriver {self.port.name}: already sending")
        self._busy = True
        try:
            return await self._send(list(values))
        finally:
            self._busy = False

    async def _send(self, values) -> list[int]:
        port, rand, gap = self.port, self._rand, self.gap_prob
        valid, ready, payload = self.valid, self.ready, self.payload
        edge, ro = drive_edge(), sample_point()
        raws = [port.pack(v) for v in values]        # pack errors surface before driving
        self._progress = (0, len(raws))
        cycles = []
        await edge
        presenting = False
        valid_now = None                              # the value last written to valid
        i = 0
        while i < len(raws):
            if not presenting:
                if gap and rand.random() < gap:       # idle cycle, decided without ready
                    if valid_now != 0:
                        valid.value = valid_now = 0
                        if self.garbage:
                            payload.value = rand.getrandbits(port.width)
                else:
                    payload.value = raws[i]
                    if valid_now != 1:
                        valid.value = valid_now = 1
                    presenting = True
            await ro
            if presenting and ready.value == 1:
                c = now()
                cycles.append(c)
                self.sent.append((c, values[i]))
                i += 1
                self._progress = (i, len(raws))
                presenting = False
            await edge
        valid.value = 0
        return cycles

    def start(self, values) -> cocotb.task.Task:
        """Send ``values`` in a background task (``join()`` waits for it, ``stop()`` aborts it)."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"StreamDriver {self.port.name}: already started")
        self._task = cocotb.start_soon(self.send(values))
        return self._task

    async def join(self, timeout_cycles: int | None = None) -> list[int]:
        """Wait for the background ``start()`` task; return its transfer cycles.

        With ``timeout_cycles``, ``AssertionError`` (naming how many items went out) if the
        design has not taken every item by then.
        """
        if self._task is None:
            raise RuntimeError(f"StreamDriver {self.port.name}: not started")
        if timeout_cycles is None:
            return await self._task
        start = now()
        try:
            return await with_timeout(self._task, timeout_cycles * period_ns(), "ns")
        except SimTimeoutError:
            raise AssertionError(
                f"{self.port.name}: the design took only {self._progress[0]} of "
                f"{self._progress[1]} items within {timeout_cycles} cycles "
                f"(cycles {start}..{now()})") from None

    def stop(self) -> None:
        """Abort any transfer in progress and drive ``valid`` low (call at a drive point)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        self._busy = False
        self.valid.value = 0


class StreamMonitor:
    """Drives ``ready`` of an output stream with random backpressure and collects transfers.

    Also checks the design's side of the protocol: once ``valid`` is 1 without ``ready``, it must
    stay 1 with an unchanged payload until the transfer (``ProtocolError`` otherwise), and the
    payload of a valid transfer must have no X/Z bits.

    Parameters
    ----------
    dut : cocotb handle of the top level
    port : Port
        ``manifest.port("o_c")``; its layout unpacks the payloads.
    rng : numpy Generator, random.Random, int or None
        Source of the stall decisions (see ``make_random``).
    stall_prob : float
        Probability, in [0, 1), that ``ready`` is 0 in a cycle.
    callback : callable, optional
        Called as ``callback(port_name, cycle, value)`` on every transfer (a scoreboard's
        input, as in cocotbext-axi and cocotb's matrix-multiplier example).

    Members
    -------
    transfers : list of (cycle, value)
        Every transfer since ``start()`` (or ``clear()``), unpacked, with its cycle number.
    """

    def __init__(self, dut, port, rng=None, stall_prob: float = 0.0, *,
                 check_protocol: bool = True, callback=None):
        self.port = _check_port(port, "out", "StreamMonitor")
        self.callback = callback
        self.stall_prob = _check_prob("stall_prob", stall_prob)
        self.check_protocol = check_protocol
        self.valid, self.ready, self.payload = port.handles(dut)
        self._rand = make_random(rng)
        self._task = None
        self._want = None
        self._event = Event()
        self.transfers = []
        self.log = logging.getLogger(f"cocotb.hwgen_tb.{port.name}")

    @property
    def values(self) -> list:
        return [v for _, v in self.transfers]

    @property
    def cycles(self) -> list[int]:
        return [c for c, _ in self.transfers]

    def clear(self) -> None:
        self.transfers = []

    def start(self) -> cocotb.task.Task:
        """Start driving ``ready`` and collecting; ``RuntimeError`` if already started."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"StreamMonitor {self.port.name}: already started")
        self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self) -> None:
        """Stop collecting and drive ``ready`` low (call at a drive point)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        self.ready.value = 0

    def _error(self, msg: str):
        err = ProtocolError(f"{self.port.name}: {msg} (cycle {now()})")
        self.log.error("%s", err)
        raise err

    def _read_payload(self) -> int:
        v = self.payload.value
        if not v.is_resolvable:
            self._error(f"payload has X/Z bits while valid: {v}")
        return v.to_unsigned()

    async def _run(self):
        rand, stall, check = self._rand, self.stall_prob, self.check_protocol
        valid, ready = self.valid, self.ready
        edge, ro = drive_edge(), sample_point()
        await edge
        driven = None
        pending = None                                 # payload offered but not yet taken
        while True:
            r = not (stall and rand.random() < stall)
            if r != driven:
                ready.value = int(r)
                driven = r
            await ro
            v = valid.value
            if v == 1:
                raw = self._read_payload()
                if check and pending is not None and raw != pending:
                    self._error(f"payload changed while valid && !ready: {pending:#x} -> {raw:#x}")
                if r:
                    c, value = now(), self.port.unpack(raw)
                    self.transfers.append((c, value))
                    pending = None
                    if self.callback is not None:
                        self.callback(self.port.name, c, value)
                    if self._want is not None and len(self.transfers) >= self._want:
                        self._want = None
                        self._event.set()
                else:
                    pending = raw
            elif v == 0:
                if check and pending is not None:
                    self._error("valid dropped before the transfer (valid && !ready last cycle)")
            elif check:
                self._error(f"valid is {v}")
            await edge

    async def wait(self, n: int, timeout_cycles: int) -> list:
        """Wait until ``n`` transfers have been collected; return the first ``n`` values.

        Returns at a drive point (just after a falling edge). ``AssertionError`` if they do not
        arrive within ``timeout_cycles`` (naming how many did).
        """
        if self._task is None:
            raise RuntimeError(f"StreamMonitor {self.port.name}: not started")
        if len(self.transfers) < n:
            self._want = n
            self._event.clear()
            start = now()
            try:
                await with_timeout(self._event.wait(), timeout_cycles * period_ns(), "ns")
            except SimTimeoutError:
                raise AssertionError(
                    f"{self.port.name}: got {len(self.transfers)} of {n} transfers within "
                    f"{timeout_cycles} cycles (cycles {start}..{now()})") from None
        await drive_edge()
        return self.values[:n]

    async def expect_quiet(self, cycles: int) -> None:
        """Check that no further transfer arrives for ``cycles`` cycles."""
        before = len(self.transfers)
        edge = drive_edge()
        for _ in range(cycles):
            await edge
        if len(self.transfers) != before:
            c, v = self.transfers[before]
            raise AssertionError(f"{self.port.name}: unexpected extra transfer at cycle {c}: "
                                 f"{v!r}")
