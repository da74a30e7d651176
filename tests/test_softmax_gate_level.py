"""Gate-level: the softmax bench on post-synthesis netlists — the smallest preset on both
families, and a preset whose row buffer maps to ECP5 block RAM (DP16KD) and whose multipliers
map to MULT18X18D, so hwgen's models of both run against the golden model."""

import pytest
from helpers import check_gate_level

pytestmark = pytest.mark.fpga

CASES = [("softmax-16x2-q8-online", "ice40-up5k", None),
         ("softmax-16x2-q8-online", "ecp5-25k", None),
         ("softmax-64-int16", "ecp5-25k", ("DP16KD", "MULT18X18D"))]


@pytest.mark.parametrize(("preset", "target", "cells"), CASES,
                         ids=[f"{p}-{t}" for p, t, _ in CASES])
def test_netlist_matches_golden(preset, target, cells, tmp_path):
    check_gate_level(preset, target, tmp_path, cells=cells or (), min_transactions=10,
                     tests=("random_vectors", "corner_cases", "no_stall_cycles",
                            "too_long_rows", "every_length"))
