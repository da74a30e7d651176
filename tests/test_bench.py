"""The benchmark driver (``bench/driver.py``): its job plan, the summaries and tables from
results, each block's bench module, and (FPGA tier) a real synth → pnr job chain in the pool."""

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from hwgen.blocks import blocks, get_block

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))          # bench modules import the driver as `driver`
_spec = importlib.util.spec_from_file_location("driver", ROOT / "bench" / "driver.py")
driver = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("driver", driver)
_spec.loader.exec_module(driver)

BENCHED = sorted(n for n, i in blocks().items() if i.bench.fpga or i.bench.sim)


@pytest.mark.parametrize("block", BENCHED)
def test_plan_follows_the_rows(block):
    info = get_block(block)
    jobs = driver.plan([block])
    synth = [j for j in jobs if j["kind"] == "synth"]
    pnr = [j for j in jobs if j["kind"] == "pnr"]
    assert len(synth) == len(info.bench.fpga)
    assert len(pnr) == len(info.bench.fpga) * len(driver.SEEDS)
    assert len([j for j in jobs if j["kind"] == "sim"]) == len(info.bench.sim)
    for j in pnr:                             # every seed places its row's one synthesis
        (dep,) = j["after"]
        assert jobs[dep]["kind"] == "synth" and jobs[dep]["row"] == j["row"]
        assert Path(j["outdir"]).parent == Path(jobs[dep]["outdir"])
        row = info.bench.fpga[j["row"]]         # a stuck router cannot hold the bench
        assert j["pnr_time_limit_s"] == driver.PNR_TIME_LIMIT_S * (3 if row.slow else 1)
    quick = driver.plan([block], quick=True, only="fpga")
    assert all(j["kind"] != "sim" and j.get("seed", 1) == 1 for j in quick)
    assert len([j for j in quick if j["kind"] == "synth"]) == sum(
        not r.slow for r in info.bench.fpga)


def _fake_results(jobs):
    """Results shaped like the jobs' (no tools run)."""
    out = []
    for j in jobs:
        if j["kind"] == "synth":
            out.append({"block_area": {"luts": 100, "ffs": 80, "dsps": 4, "brams": 0},
                        "block_cells": {"LUT4": 100}, "seconds": 1.0,
                        "verification": {"transactions": 15, "tests": {"random_vectors": "PASS",
                                                                       "user_tensors": "SKIP"}}})
        elif j["kind"] == "pnr":
            out.append({"luts": 400, "ffs": 300, "dsps": 4, "brams": 0, "luts_available": 24288,
                        "fmax_mhz": 100.0 + j["seed"], "critical_path": None, "harness": {},
                        "timing_met": True, "yosys_cells": {}})
        else:
            out.append({"ok": True, "failed": [], "cycles": 1000, "model_cycles": 1000,
                        "model": {"cycles": 1000, "utilization": 0.5}, "utilization": 0.5,
                        "outputs_match_golden": True, "simulator": "verilator", "log": "x"})
    return out


@pytest.mark.parametrize("block", BENCHED)
def test_summary_and_report_from_results(block):
    info = get_block(block)
    jobs = driver.plan([block])
    data = {"command": "x", "date": "d", "git": "abc", "uncommitted_diff": "clean",
            "sources_changed_during_run": False, "tools": {"python": {"version": "3"}},
            "host": {"cpus": 2}, "options": {"jobs": 2, "partial": None}, "seconds": 1.0,
            **driver.summarize(info, jobs, _fake_results(jobs))}
    assert not data["errors"]
    for e in data["fpga"]:
        assert e["fmax_mhz"] == 102.0 and e["fmax_by_seed"] == {1: 101.0, 2: 102.0, 3: 103.0}
        assert e["median_seed"] == 2 and e["luts"] == 400 and e["block_area"]["luts"] == 100
    module = driver.bench_module(block)
    module.measure(info, data)
    text = driver.render(info, data, module)
    assert text.startswith(f"# {block} benchmark\n")
    assert "## FPGA: area and Fmax" in text and "## Simulation: cycles against the model" in text
    for row in info.bench.fpga:
        assert f"| {driver.label_of(row)} | {row.target} |" in text


def test_failed_synthesis_skips_its_seeds_and_is_reported():
    info = get_block(BENCHED[0])
    jobs = driver.plan([info.name], only="fpga")
    results = _fake_results(jobs)
    results[0] = {"error": "HwgenError: yosys failed"}
    for i, j in enumerate(jobs):
        if j.get("after") == [0]:
            results[i] = {"error": f"not run: {jobs[0]['label']} failed"}
    data = driver.summarize(info, jobs, results)
    assert data["errors"][0] == f"{jobs[0]['label']}: HwgenError: yosys failed"
    assert "fmax_mhz" not in data["fpga"][0]


@pytest.mark.fpga
def test_real_synth_and_pnr_jobs(tmp_path, monkeypatch):
    """One FPGA row's synth+verify job and one seed's pnr job, in the spawn pool."""
    block = next(n for n in BENCHED if get_block(n).bench.fpga)
    info = get_block(block)
    monkeypatch.setattr(driver, "BUILD", tmp_path)
    jobs = [j for j in driver.plan([block], quick=True, only="fpga") if j["row"] == 0]
    assert [j["kind"] for j in jobs] == ["synth", "pnr"]
    results = driver.execute(jobs, 2, time.time())
    assert "error" not in results[0], results[0]
    assert "error" not in results[1], results[1]
    data = driver.summarize(info, jobs, results)
    (e,) = data["fpga"]
    assert e["gate_level"]["transactions"] > 0
    assert e["fmax_mhz"] > 0 and e["luts"] > e["block_area"]["luts"] > 0
    assert e["runs"][0]["verified"] is True
