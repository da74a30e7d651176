"""The shared cocotb library of every hwgen bench: clocking, manifest ports, streams, scoreboard,
the generic bench and the standard tests."""

from .bench import Job, Scoreboard, Stimulus, Testbench
from .clocking import (
    CycleCounter,
    clock,
    drive_edge,
    now,
    period_ns,
    reset,
    sample_point,
    wait_cycles,
)
from .manifest import Manifest, Port
from .scoreboard import Mismatch, check_equal, first_mismatch
from .settings import ENV_VARS, Settings, test_rng
from .standard import STANDARD_TESTS, standard_tests
from .streams import ProtocolError, StreamDriver, StreamMonitor, make_random

__all__ = ["clock", "reset", "now", "period_ns", "drive_edge", "sample_point", "wait_cycles",
           "CycleCounter", "Manifest", "Port", "StreamDriver", "StreamMonitor", "ProtocolError",
           "make_random", "check_equal", "first_mismatch", "Mismatch", "Settings", "ENV_VARS",
           "test_rng", "Job", "Scoreboard", "Stimulus", "Testbench", "standard_tests",
           "STANDARD_TESTS"]
