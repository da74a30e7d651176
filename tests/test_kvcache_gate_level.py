"""Gate-level: the KV-cache bench on post-synthesis netlists of the smallest preset on both
families — on ECP5 its K and V memories are hand-instantiated DP16KD tiles with their output
registers, so hwgen's DP16KD model runs against the golden model too."""

import re
from pathlib import Path

import pytest
from helpers import report

from hwgen.blocks import load
from hwgen.flow import gls

pytestmark = pytest.mark.fpga

CASES = [("kvcache-2seq-128-up5k", "ice40-up5k", ()),
         ("kvcache-2seq-128-up5k", "ecp5-25k", ("DP16KD",))]


@pytest.mark.parametrize(("preset", "target", "cells"), CASES,
                         ids=[f"{p}-{t}" for p, t, _ in CASES])
def test_netlist_matches_golden(preset, target, cells, tmp_path):
    info, cfg = load(preset)
    res = gls.run(info, cfg, target, seed=1, workdir=tmp_path)
    assert res["ok"], report(res)
    names = {t["name"]: t["status"] for t in res["tests"]}
    assert all(names[t] == "PASS" for t in ("random_vectors", "corner_cases",
                                            "no_stall_cycles")), names
    assert res["transactions"] >= 5
    net = Path(res["netlist"]).read_text()
    for cell in cells:
        assert re.search(rf"^\s*{cell}\b", net, re.M), f"the {target} netlist has no {cell}"
    if target == "ecp5-25k":
        assert 'REGMODE_B = "OUTREG"' in net or "OUTREG" in net
