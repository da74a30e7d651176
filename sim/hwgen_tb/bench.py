"""The generic bench: drivers and monitors built from the manifest, a scoreboard fed by the
monitors' callbacks, jobs mapped to transfers by the block's contract, cycles against ``model``,
and the user-tensor npz I/O. Blocks add only their stimulus (``Stimulus``) and corner cases."""

import dataclasses
import logging

import numpy as np
from cocotb.triggers import Event, SimTimeoutError, with_timeout

from hwgen.core.tensors import write_npz

from .clocking import clock, drive_edge, now, period_ns, reset, sample_point, wait_cycles
from .manifest import Manifest
from .scoreboard import check_equal
from .settings import Settings, test_rng
from .streams import StreamDriver, StreamMonitor

__all__ = ["Job", "Scoreboard", "Testbench", "Stimulus"]


@dataclasses.dataclass
class Job:
    """One transaction of the block: its user tensors in; after a run, what came out.

    Members
    -------
    what : str
        How reports name it (``"random GEMM 0 (extremes)"``).
    inputs : dict
        User tensors (the block's ``tensors.inputs``).
    expected : dict
        Golden outputs (filled when the job is submitted).
    outputs : dict
        The hardware's outputs (``transactions.from_streams`` of its transfers).
    cycles : int
        From the job's first transfer on ``transactions.start`` to its last output transfer.
    """

    what: str
    inputs: dict
    expected: dict | None = None
    outputs: dict | None = None
    cycles: int | None = None
    counts: dict = dataclasses.field(default_factory=dict)
    received: dict = dataclasses.field(default_factory=dict)
    check: bool = True

    @property
    def complete(self) -> bool:
        return all(len(self.received.get(p, ())) == n for p, n in self.counts.items())

    @property
    def end_cycle(self) -> int | None:
        cycles = [c for items in self.received.values() for c, _ in items]
        return max(cycles) if cycles else None


class Scoreboard:
    """Takes every output transfer (a monitor callback), gives it to the oldest job still
    waiting for one on that port, and checks a job as soon as all its transfers are in: its
    outputs (``from_streams``, which also checks the framing) against the golden ones.

    A transfer that no job waits for is an error (a design that emits too much). The first
    error is kept in ``error`` and ends :meth:`wait`; nothing is raised inside the monitor.
    """

    def __init__(self, info, cfg, log: logging.Logger, context: str = ""):
        self.info, self.cfg, self.log, self.context = info, cfg, log, context
        self.jobs: list[Job] = []
        self.error: AssertionError | None = None
        self._event = Event()

    def expect(self, job: Job) -> None:
        job.expected = self.info.golden(self.cfg, **job.inputs)
        job.counts = dict(self.info.transactions.counts(self.cfg, **job.inputs))
        job.received = {p: [] for p in job.counts}
        self.jobs.append(job)
        if job.complete:                      # a job with no output transfers at all
            self._finish(job)

    @property
    def pending(self) -> list[Job]:
        return [j for j in self.jobs if j.outputs is None]

    def _fail(self, err: AssertionError) -> None:
        if self.error is None:
            self.error = err
            self.log.error("%s", err)
        self._event.set()

    def on_transfer(self, port: str, cycle: int, value) -> None:
        """Monitor callback: one transfer on output ``port`` at ``cycle``."""
        for job in self.jobs:
            got = job.received.get(port)
            if got is not None and job.outputs is None and len(got) < job.counts[port]:
                got.append((cycle, value))
                if job.complete:
                    self._finish(job)
                return
        self._fail(AssertionError(f"{port}: unexpected extra transfer at cycle {cycle} after "
                                  f"the last expected one: {value!r}; {self.context}"))

    def _finish(self, job: Job) -> None:
        try:
            job.outputs = self.info.transactions.from_streams(
                self.cfg, {p: [v for _, v in items] for p, items in job.received.items()},
                **job.inputs)
        except ValueError as e:
            job.outputs = {}
            self._fail(AssertionError(f"framing of {job.what}: {e}; {self.context}"))
            return
        if job.check:
            for name in self.info.tensors.output_names:
                try:
                    check_equal(name, job.expected[name], job.outputs[name],
                                context=f"{job.what}; {self.context}")
                except AssertionError as e:
                    self._fail(e)
                    return
        if not self.pending:
            self._event.set()

    async def wait(self, timeout_cycles: int) -> None:
        """Until every job is complete (or an error); ``AssertionError`` on a hang or error."""
        if self.pending and self.error is None:
            self._event.clear()
            start = now()
            try:
                await with_timeout(self._event.wait(), timeout_cycles * period_ns(), "ns")
            except SimTimeoutError:
                job = self.pending[0]
                got = {p: f"{len(job.received[p])} of {n}" for p, n in job.counts.items()}
                raise AssertionError(
                    f"{job.what}: transfers {got} within {timeout_cycles} cycles "
                    f"(cycles {start}..{now()}); {self.context}") from None
        if self.error is not None:
            raise self.error


class Stimulus:
    """A block's stimulus: subclass it in ``sim/<block>/test_<block>.py``.

    ``random(i)`` and ``corner_cases()`` are required; the others have defaults.

    Members
    -------
    cfg : the block's config
    rng : numpy Generator (per test: ``test_rng``)
    """

    def __init__(self, cfg, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng

    def random(self, index: int) -> Job:
        """The ``index``-th random job; ``index`` 0 should exercise the most (tiling, depth)."""
        raise NotImplementedError

    def corner_cases(self) -> list[Job]:
        """Extreme values, all zeros, the largest and smallest sizes."""
        raise NotImplementedError

    def unstalled(self) -> list[Job]:
        """Jobs whose cycle count (no stalls) must equal ``model``."""
        return [self.random(0), self.random(1)]

    def interrupted(self) -> Job:
        """A job long enough to be interrupted by a reset."""
        return self.random(0)


class Testbench:
    """Drivers on every input stream and monitors on every output stream of the manifest, a
    scoreboard, and the block's contract (``info``: from the registry unless given).

    Use it as ``async with Testbench(dut, "name") as b: await b.run(jobs)``: entering starts
    the clock, resets and starts the monitors; leaving without an error checks that no output
    transfer arrives after the last expected one (:meth:`finish`).
    """

    def __init__(self, dut, test: str, *, info=None, settings: Settings | None = None,
                 gap_prob: float | None = None, stall_prob: float | None = None):
        self.dut = dut
        self.test = test
        self.settings = settings if settings is not None else Settings.from_env()
        self.rng = test_rng(self.settings, test)
        self.man = Manifest()
        self.info, self.cfg = self.man.block_config(info)
        self.gap_prob = self.settings.gap_prob if gap_prob is None else gap_prob
        self.stall_prob = self.settings.stall_prob if stall_prob is None else stall_prob
        self.log = dut._log
        self.context = (f"config {self.cfg.module_name}, test {test}, "
                        f"HWGEN_SEED={self.settings.seed}")
        static = self.info.model(self.cfg)
        self.quiet_cycles = 2 * int(static.get("pipeline_latency", 16)) + 16
        self._make_ports()

    def _make_ports(self) -> None:
        self.scoreboard = Scoreboard(self.info, self.cfg, self.log, self.context)
        self.drivers = {p.name: StreamDriver(self.dut, p, self.rng, self.gap_prob)
                        for p in self.man.streams("in")}
        self.monitors = {p.name: StreamMonitor(self.dut, p, self.rng, self.stall_prob,
                                               callback=self.scoreboard.on_transfer)
                         for p in self.man.streams("out")}

    async def start(self) -> None:
        """Clock, reset, monitors; logs the seed and the configuration."""
        self.man.check(self.dut)
        self.settings.log(self.log)
        self.log.info("test %s: %s (%s), gap %g, stall %g", self.test, self.cfg.module_name,
                      self.man.path, self.gap_prob, self.stall_prob)
        clock(self.dut)
        await reset(self.dut, 3, self.man)
        for mon in self.monitors.values():
            mon.start()

    async def __aenter__(self) -> "Testbench":
        await self.start()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            await self.finish()
        return False

    def budget(self, jobs: list[Job], sent: list[int]) -> int:
        """Cycles after which a missing output counts as a hang (generous: stalls and all);
        ``sent``: the input transfers of each job."""
        total = 0
        for job, n_in in zip(jobs, sent, strict=True):
            est = self.info.model_for(self.cfg, job.inputs).get("cycles", 0)
            total += max(est, n_in + sum(job.counts.values())) + self.quiet_cycles
        worst = max(self.gap_prob, self.stall_prob)
        return int(4 * total / (1 - worst) ** 2) + 2000

    async def run(self, jobs: list[Job], *, check: bool = True) -> list[Job]:
        """Stream every job back to back, collect the outputs, compare them to golden.

        Fills each job's ``expected``, ``outputs`` and ``cycles``. With ``check`` a mismatch
        raises ``Mismatch`` naming the job, the output, the first differing index, expected and
        actual; without it only the framing is checked (user-tensor mode compares later).
        """
        cfg, start = self.cfg, self.info.transactions.start
        per_port: dict[str, list] = {name: [] for name in self.drivers}
        first_start, sent = [], []
        for job in jobs:
            job.inputs = self.info.check_inputs(cfg, job.inputs)
            job.check = check
            streams = self.info.transactions.to_streams(cfg, **job.inputs)
            for name in streams:
                if name not in per_port:
                    raise AssertionError(f"to_streams gave port {name!r}, which the design "
                                         f"does not have (ports: {', '.join(per_port)})")
            first_start.append(len(per_port.get(start, ())))
            sent.append(sum(map(len, streams.values())))
            for name, items in streams.items():
                per_port[name] += items
            self.scoreboard.expect(job)
        sent_before = {name: len(d.sent) for name, d in self.drivers.items()}
        for name, drv in self.drivers.items():
            if per_port[name]:
                drv.start(per_port[name])
        budget = self.budget(jobs, sent)
        await self.scoreboard.wait(budget)
        for name, drv in self.drivers.items():
            if per_port[name]:
                await drv.join(budget)
        starts = self.drivers[start].sent[sent_before[start]:]
        for job, i in zip(jobs, first_start, strict=True):
            end = job.end_cycle
            job.cycles = None if end is None or i >= len(starts) else end - starts[i][0]
            self.log.info("%s: %s cycles", job.what, job.cycles)
        return jobs

    async def finish(self) -> None:
        """No output transfer may arrive after the last expected one (``quiet_cycles``)."""
        await wait_cycles(self.quiet_cycles)
        if self.scoreboard.error is not None:
            raise self.scoreboard.error
        if self.scoreboard.pending:
            raise AssertionError(f"{self.scoreboard.pending[0].what}: still incomplete at the "
                                 f"end of the test; {self.context}")

    async def reset_mid_transfer(self, job: Job) -> None:
        """Start ``job``, reset while some input is mid-transfer (valid && !ready), then check
        every output stream is idle; fresh drivers, monitors and scoreboard follow."""
        streams = self.info.transactions.to_streams(self.cfg,
                                                    **self.info.check_inputs(self.cfg, job.inputs))
        for name, items in streams.items():
            if items:
                self.drivers[name].start(items)
        await wait_cycles(int(self.rng.integers(2, 4 * self.quiet_cycles + 8)))
        busy = []
        for _ in range(50):
            await sample_point()
            busy = [n for n, d in self.drivers.items() if d.valid.value == 1 and d.ready.value != 1]
            await drive_edge()
            if busy:
                break
        self.log.info("reset at cycle %d with %s mid-transfer", now(), busy or "nothing")
        for drv in self.drivers.values():
            drv.stop()
        for mon in self.monitors.values():
            mon.stop()
        await reset(self.dut, 3, self.man)
        await sample_point()
        for name, mon in self.monitors.items():
            if mon.valid.value != 0:
                raise AssertionError(f"{name} valid is {mon.valid.value} right after reset; "
                                     f"must be 0")
        await drive_edge()
        self._make_ports()
        for mon in self.monitors.values():
            mon.start()

    async def user_tensors(self) -> Job:
        """User-tensor mode: the ``HWGEN_INPUTS`` job; outputs and cycles written to
        ``HWGEN_OUTPUTS`` (int64), then compared with the golden model."""
        path = self.settings.inputs
        inputs = self.info.read_inputs(self.cfg, path)
        (job,) = await self.run([Job(what=f"user tensors {path}", inputs=inputs)], check=False)
        if self.settings.outputs:
            arrays = {k: np.asarray(v, dtype=np.int64) for k, v in job.outputs.items()}
            write_npz(self.settings.outputs, {**arrays, "cycles": np.int64(job.cycles)})
            self.log.info("wrote %s (%s, %d cycles)", self.settings.outputs,
                          ", ".join(f"{k} {v.shape}" for k, v in arrays.items()), job.cycles)
        for name in self.info.tensors.output_names:
            check_equal(name, job.expected[name], job.outputs[name],
                        context=f"{job.what}; {self.context}", log=self.log)
        return job

