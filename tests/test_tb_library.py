"""cocotb tier: the self-test of the shared cocotb library (``sim/hwgen_tb``) on a tiny block with
the whole contract (``sim/selftest/selftest_block.py``), and broken variants of it that the
library must catch: wrong data, a dropped valid, a changed payload, a hang, an extra transfer
after the last one, one cycle more than the model."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import report, seed_of

from hwgen.flow import sim

pytestmark = pytest.mark.cocotb

_BENCH = sim.sim_root() / "selftest" / "test_selftest.py"
_spec = importlib.util.spec_from_file_location("selftest_block",
                                               sim.sim_root() / "selftest" / "selftest_block.py")
selftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(selftest)
INFO, AddConfig = selftest.INFO, selftest.AddConfig

RAW = ("stream_roundtrip", "back_to_back", "reset_mid_stream", "scoreboard_messages")
STANDARD = ("random_vectors", "corner_cases", "no_stall_cycles", "reset_mid_transfer")


def _run(tmp_path, request, cfg=None, **kwargs):
    return sim.run(INFO, cfg or AddConfig(), simulator=kwargs.pop("simulator", "icarus"),
                   seed=seed_of(request), workdir=tmp_path, bench=_BENCH, **kwargs)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_library_selftest(simulator, tmp_path, request):
    res = _run(tmp_path, request, simulator=simulator)
    assert res["ok"], report(res)
    status = {t["name"]: t["status"] for t in res["tests"]}
    assert status == {**dict.fromkeys(RAW + STANDARD, "PASS"), "user_tensors": "SKIP",
                      "hang": "SKIP"}
    assert res["transactions"] >= 10


@pytest.mark.parametrize(("bug", "test", "pattern"), [
    ("data", "stream_roundtrip",
     r"^o_y: first mismatch at index \d+: expected \{'data': \[.+\], 'last': [01]\}, "
     r"actual \{'data': \[.+\], 'last': [01]\} \(\d+ mismatching in total\); seed \d+"),
    ("drop_valid", "stream_roundtrip",
     r"^o_y: valid dropped before the transfer \(valid && !ready last cycle\) \(cycle \d+\)"),
    ("payload_change", "stream_roundtrip",
     r"^o_y: payload changed while valid && !ready: 0x[0-9a-f]+ -> 0x[0-9a-f]+ \(cycle \d+\)"),
    ("stuck", "stream_roundtrip",
     r"^o_y: got 0 of 200 transfers within 4100 cycles \(cycles \d+\.\.\d+\)$"),
    ("data", "corner_cases",
     r"^Y: first mismatch at index \(0, 0\): expected 132, actual 133 \(5 mismatching in "
     r"total\); all at the maximum \(n=5\); config tbselftest_data, test corner_cases, "
     r"HWGEN_SEED=\d+$"),
    ("stuck", "corner_cases",
     r"^all at the minimum \(n=5\): transfers \{'o_y': '0 of 5'\} within \d+ cycles "
     r"\(cycles \d+\.\.\d+\); config tbselftest_stuck"),
    # an extra output after the last expected one: the quiet check at the end of every test
    ("extra", "corner_cases",
     r"^o_y: unexpected extra transfer at cycle \d+ after the last expected one: "
     r"\{'data': \[.+\], 'last': 1\}; config tbselftest_extra, test corner_cases"),
    ("extra", "no_stall_cycles", r"^o_y: unexpected extra transfer at cycle \d+ after the last"),
    # one cycle more than the model: the exact cycle check
    ("slow", "no_stall_cycles",
     r"^cycle counts differ from model\(\): random rows 0 \(n=40\): measured 42 cycles, model "
     r"41 \(must equal it\); "),
])
def test_library_catches(bug, test, pattern, tmp_path, request):
    res = _run(tmp_path, request, AddConfig(bug=bug), testcase=test)
    assert not res["ok"]
    (t,) = [t for t in res["tests"] if t["name"] == test]
    assert t["status"] == "FAIL"
    assert re.match(pattern, t["message"]), t["message"]


def test_slow_design_passes_everything_but_the_cycle_check(tmp_path, request):
    res = _run(tmp_path, request, AddConfig(bug="slow"))
    status = {t["name"]: t["status"] for t in res["tests"]}
    assert status == {**dict.fromkeys(RAW + STANDARD, "PASS"), "no_stall_cycles": "FAIL",
                      "user_tensors": "SKIP", "hang": "SKIP"}


def test_user_tensors_through_the_library(tmp_path, request):
    X = np.array([[-128, 127, 0], [3, 2, 1]], dtype=np.int8)
    np.savez(tmp_path / "in.npz", X=X)
    res = _run(tmp_path / "w", request, inputs=tmp_path / "in.npz",
               outputs=tmp_path / "out.npz")
    assert res["ok"], report(res)
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_array_equal(out["Y"], X.astype(np.int64) + 5)
        assert int(out["cycles"]) == 2 - 1 + selftest.LATENCY == res["cycles"]
    res = _run(tmp_path / "bad", request, AddConfig(bug="data"), inputs=tmp_path / "in.npz",
               outputs=tmp_path / "bad.npz")
    assert not res["ok"] and res["mismatch"].startswith("Y: first mismatch")
    assert Path(tmp_path / "bad.npz").is_file()     # written before the comparison fails


def test_waves(tmp_path, request):
    res = _run(tmp_path, request, testcase="back_to_back", waves=True, vectors=5)
    assert res["ok"], report(res)
    assert res["waves"] is not None and Path(res["waves"]).stat().st_size > 0


def test_wall_clock_limit(tmp_path, request):
    """A simulation that never ends is stopped at its wall-clock limit, with a clear message."""
    from hwgen.core.errors import HwgenError

    with pytest.raises(HwgenError, match=r"^icarus run of tbselftest_none exceeded its "
                                         r"wall-clock limit of 5 s and was stopped \(seed \d+; "
                                         r"log: \S+sim\.log\)$"):
        _run(tmp_path, request, testcase="hang", timeout_s=5)
    with pytest.raises(HwgenError, match=r"^verilator build of tbselftest_none exceeded its "
                                         r"wall-clock limit of 1 s and was stopped \(log: "):
        _run(tmp_path / "b", request, simulator="verilator", timeout_s=1)
