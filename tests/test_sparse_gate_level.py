"""Gate-level: the sparse engine's bench on post-synthesis netlists of the smallest preset on
both families (2:4, two lanes) — on ECP5 the weight memory is
hand-instantiated DP16KD tiles with their output registers and the lanes MULT18X18D with their
registers, so hwgen's models of both primitives run against the golden model too."""

import pytest
from helpers import check_gate_level

pytestmark = pytest.mark.fpga

CASES = [("sparse-2lane-int8-up5k", "ice40-up5k", ()),
         ("sparse-2lane-int8-up5k", "ecp5-25k", ("DP16KD", "MULT18X18D"))]
TESTS = ("random_vectors", "corner_cases", "no_stall_cycles", "counters")


@pytest.mark.parametrize(("preset", "target", "cells"), CASES,
                         ids=[f"{p}-{t}" for p, t, _ in CASES])
def test_netlist_matches_golden(preset, target, cells, tmp_path):
    net = check_gate_level(preset, target, tmp_path, cells=cells, tests=TESTS)
    if target == "ecp5-25k":
        assert "OUTREG" in net
