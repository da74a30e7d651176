"""Gate-level: the softmax bench on post-synthesis netlists — the smallest preset on both
families, and a preset whose row buffer maps to ECP5 block RAM (DP16KD) and whose multipliers
map to MULT18X18D, so hwgen's models of both run against the golden model."""

import re
from pathlib import Path

import pytest
from helpers import report

from hwgen.blocks import load
from hwgen.flow import gls

pytestmark = pytest.mark.fpga

CASES = [("softmax-16x2-q8-online", "ice40-up5k", None),
         ("softmax-16x2-q8-online", "ecp5-25k", None),
         ("softmax-64-int16", "ecp5-25k", ("DP16KD", "MULT18X18D"))]


@pytest.mark.parametrize(("preset", "target", "cells"), CASES,
                         ids=[f"{p}-{t}" for p, t, _ in CASES])
def test_netlist_matches_golden(preset, target, cells, tmp_path):
    info, cfg = load(preset)
    res = gls.run(info, cfg, target, seed=1, workdir=tmp_path)
    assert res["ok"], report(res)
    names = {t["name"]: t["status"] for t in res["tests"]}
    assert all(names[t] == "PASS" for t in ("random_vectors", "corner_cases", "no_stall_cycles",
                                            "too_long_rows", "every_length")), names
    assert res["transactions"] >= 10
    net = Path(res["netlist"]).read_text()
    for cell in cells or ():
        assert re.search(rf"^\s*{cell}\b", net, re.M), f"the {target} netlist has no {cell}"
