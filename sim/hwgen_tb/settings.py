"""Bench settings read from ``HWGEN_*`` environment variables, with defaults."""

import dataclasses
import logging
import os
import zlib

import numpy as np

__all__ = ["Settings", "ENV_VARS", "test_rng"]

#: Every variable a bench reads, with its meaning (docs/sim.md repeats this table).
ENV_VARS = {
    "HWGEN_MANIFEST": "path of the design's manifest JSON (required)",
    "HWGEN_SEED": "master random seed (default: cocotb's COCOTB_RANDOM_SEED)",
    "HWGEN_VECTORS": "number of random vectors (e.g. GEMMs) per random test",
    "HWGEN_GAP_PROB": "probability of an idle cycle before each input transfer",
    "HWGEN_STALL_PROB": "probability of ready = 0 in each cycle on output ports",
    "HWGEN_INPUTS": "npz of user tensors: run only those (user-tensor mode)",
    "HWGEN_OUTPUTS": "npz written in user-tensor mode (hardware outputs and cycles)",
    "HWGEN_NETLIST": "FPGA target whose gate-level netlist is simulated (benches run fewer tests)",
    "HWGEN_CHECKS": "file that check_equal appends one JSON line per checked result to",
}


def _env_int(name: str, default: int, lo: int = 0) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text, 0)
    except ValueError:
        value = None
    if value is None or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, not {text!r}")
    return value


def _env_prob(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), not {text!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved bench settings.

    Members
    -------
    seed : int
        Master seed; every test derives its own generator from it and its name (``test_rng``).
    vectors : int
        Random vectors per random test.
    gap_prob, stall_prob : float
        Input gap and output backpressure probabilities, each in [0, 1).
    inputs, outputs : str or None
        User-tensor npz paths; ``inputs`` set means user-tensor mode.
    netlist : str or None
        The FPGA target of a gate-level run (its post-synthesis netlist is simulated, slowly):
        a bench may leave out tests there that gates cannot fail differently from the RTL.
    """

    seed: int
    vectors: int
    gap_prob: float
    stall_prob: float
    inputs: str | None
    outputs: str | None
    netlist: str | None = None

    @classmethod
    def from_env(cls, *, vectors: int = 4, gap_prob: float = 0.3, stall_prob: float = 0.3,
                 user_gap_prob: float = 0.0, user_stall_prob: float = 0.0) -> "Settings":
        """Read the ``HWGEN_*`` variables; the keyword arguments are the defaults.

        In user-tensor mode the stall defaults are ``user_gap_prob``/``user_stall_prob`` (no
        stalls), so the measured cycle count is the unstalled one.
        """
        import cocotb

        inputs = os.environ.get("HWGEN_INPUTS") or None
        outputs = os.environ.get("HWGEN_OUTPUTS") or None
        if inputs:
            gap_prob, stall_prob = user_gap_prob, user_stall_prob
        seed_default = int(getattr(cocotb, "RANDOM_SEED", 0) or 0)
        return cls(seed=_env_int("HWGEN_SEED", seed_default),
                   vectors=_env_int("HWGEN_VECTORS", vectors),
                   gap_prob=_env_prob("HWGEN_GAP_PROB", gap_prob),
                   stall_prob=_env_prob("HWGEN_STALL_PROB", stall_prob),
                   inputs=inputs, outputs=outputs,
                   netlist=os.environ.get("HWGEN_NETLIST") or None)

    def log(self, log: logging.Logger) -> None:
        """Log every setting, the seed first (rerun with ``HWGEN_SEED=<seed>``)."""
        log.info("HWGEN_SEED=%d HWGEN_VECTORS=%d HWGEN_GAP_PROB=%g HWGEN_STALL_PROB=%g%s",
                 self.seed, self.vectors, self.gap_prob, self.stall_prob,
                 (f" HWGEN_INPUTS={self.inputs}" if self.inputs else "")
                 + (f" HWGEN_NETLIST={self.netlist}" if self.netlist else ""))


def test_rng(settings: Settings, test_name: str) -> np.random.Generator:
    """A generator seeded by the master seed and ``test_name``: tests stay independent."""
    return np.random.default_rng([settings.seed, zlib.crc32(test_name.encode())])
