"""cocotb tier, for every block: its bench on each of its ``sim_presets`` × every simulator
(random backpressure, corner cases, cycles against the model, reset), and a user-tensor run
(npz in, npz out, equal to the golden model, cycles equal to the model)."""

import numpy as np
import pytest
from helpers import report, seed_of

from hwgen.blocks import blocks, presets
from hwgen.flow import sim
from hwgen.flow.tools import SIMULATORS

pytestmark = pytest.mark.cocotb

CASES = [(info.name, p, s) for info in blocks().values() for p in info.sim_presets
         for s in SIMULATORS]
STANDARD = {"random_vectors": "PASS", "corner_cases": "PASS", "no_stall_cycles": "PASS",
            "reset_mid_transfer": "PASS", "user_tensors": "SKIP"}


@pytest.mark.parametrize(("block", "preset_name", "simulator"), CASES)
def test_bench(block, preset_name, simulator, tmp_path, request):
    info, cfg = presets()[preset_name]
    res = sim.run(info, cfg, simulator=simulator, seed=seed_of(request), workdir=tmp_path)
    assert res["ok"], report(res)
    names = {t["name"]: t["status"] for t in res["tests"]}
    assert {k: v for k, v in names.items() if k in STANDARD} == STANDARD, names
    assert res["transactions"] >= 5


@pytest.mark.parametrize("block", sorted(blocks()))
def test_user_tensors_roundtrip(block, tmp_path, request):
    """The block's example inputs through ``--inputs``/``--outputs``: every output array
    equals the golden model, int64, and the measured cycles equal the model's."""
    info = blocks()[block]
    cfg = info.presets[info.sim_presets[-1]]
    arrays = info.tensors.example(cfg, np.random.default_rng(seed_of(request)))
    np.savez(tmp_path / "in.npz", **arrays)
    outputs = tmp_path / "out" / "result.npz"
    res = sim.run(info, cfg, simulator="icarus", seed=seed_of(request),
                  inputs=tmp_path / "in.npz", outputs=outputs, workdir=tmp_path / "work")
    assert res["ok"], report(res)
    assert [t["name"] for t in res["tests"] if t["status"] == "PASS"] == ["user_tensors"]
    assert res["outputs"] == str(outputs)
    expected = info.golden(cfg, **arrays)
    with np.load(outputs) as out:
        assert sorted(out.files) == sorted([*info.tensors.output_names, "cycles"])
        for name in info.tensors.output_names:
            assert out[name].dtype == np.int64
            np.testing.assert_array_equal(out[name], expected[name])
        cycles = int(out["cycles"])
    assert cycles == res["cycles"] > 0
    est = info.model_for(cfg, info.check_inputs(cfg, arrays))
    assert est["tolerance"] == {"abs": 0, "rel": 0.0}
    assert cycles == est["cycles"]
