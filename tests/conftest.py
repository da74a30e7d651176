"""Shared pytest fixtures: presets of every block, a seeded numpy generator, Hypothesis profiles."""

import os
import zlib

import numpy as np
import pytest
from hypothesis import settings

from hwgen.blocks import presets

__all__ = ["PRESET_NAMES"]

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

# "hwgen" (default): no per-example deadline (the first call warms up numpy/Amaranth);
# HYPOTHESIS_PROFILE=thorough for a longer run.
settings.register_profile("hwgen", deadline=None)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hwgen"))

PRESET_NAMES = sorted(presets())


@pytest.fixture(params=PRESET_NAMES)
def preset(request):
    """``(preset name, BlockInfo, config)`` for every preset of every block."""
    info, cfg = presets()[request.param]
    return request.param, info, cfg


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's name: reproducible, different per test."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)
