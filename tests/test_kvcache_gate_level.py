"""Gate-level: the KV-cache bench on post-synthesis netlists of the smallest preset on both
families — on ECP5 its K and V memories are hand-instantiated DP16KD tiles with their output
registers, so hwgen's DP16KD model runs against the golden model too."""

import pytest
from helpers import check_gate_level

pytestmark = pytest.mark.fpga

CASES = [("kvcache-2seq-128-up5k", "ice40-up5k", ()),
         ("kvcache-2seq-128-up5k", "ecp5-25k", ("DP16KD",))]


@pytest.mark.parametrize(("preset", "target", "cells"), CASES,
                         ids=[f"{p}-{t}" for p, t, _ in CASES])
def test_netlist_matches_golden(preset, target, cells, tmp_path):
    net = check_gate_level(preset, target, tmp_path, cells=cells,
                           tests=("random_vectors", "corner_cases", "no_stall_cycles"))
    if target == "ecp5-25k":
        assert "OUTREG" in net
