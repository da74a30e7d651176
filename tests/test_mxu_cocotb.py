"""cocotb tier, MXU only: the RTL as ECP5 and iCE40 builds elaborate it, degenerate array
shapes from power-up, and the steady-state utilization of a 64×256×64 GEMM, simulated (the
generic bench runs for every block in ``test_cocotb_benches.py``)."""

import numpy as np
import pytest
from helpers import report, seed_of

from hwgen.blocks import get_block, load, presets
from hwgen.blocks.mxu import GEMM_64x256x64
from hwgen.flow import sim

pytestmark = pytest.mark.cocotb


@pytest.mark.parametrize("preset_name", ["mxu-2x2-int8", "mxu-4x4-int8-os", "mxu-3x5-uint8-bias",
                                         "mxu-4x4-int16-sat"])
def test_mxu_bench_ecp5_primitives(preset_name, tmp_path, request):
    """The RTL as ECP5 builds elaborate it (``hwgen sim --target``: MULT18X18D with its
    registers) passes the same bench, with the primitive's behavioural model from files.f."""
    info, cfg = presets()[preset_name]
    res = sim.run(info, cfg, simulator="icarus", seed=seed_of(request), workdir=tmp_path,
                  target="ecp5-25k")
    verilog = (tmp_path / "rtl" / f"{cfg.module_name}.v").read_text()
    assert verilog.count("MULT18X18D #(") == cfg.rows * cfg.cols
    *models, design = (tmp_path / "rtl" / "files.f").read_text().splitlines()
    assert design == f"{cfg.module_name}.v" and "MULT18X18D.v" in models
    assert ("DP16KD.v" in models) == ("DP16KD #(" in verilog)
    assert res["ok"], report(res)


@pytest.mark.parametrize(("preset_name", "overrides", "macs"), [
    ("mxu-2x4-int8", [], 8),
    ("mxu-3x5-uint8-bias", [], 15),
    # partial sums of exactly 32 bits: the widest the DSP's adder holds, signed and unsigned
    ("mxu-2x2-int8", ["a_type=int16", "b_type=int16", "rows=1", "cols=3"], 3),
    ("mxu-2x2-int8", ["a_type=uint16", "b_type=uint16", "rows=1", "cols=2"], 2),
    # 33-bit partial sums, OS and LUT multipliers: no hand-instantiated SB_MAC16
    ("mxu-4x4-int16-sat", [], 0),
    ("mxu-4x4-int8-os", [], 0),
    ("mxu-4x4-int8-lut", [], 0),
    ("mxu-2x2-int8", ["rows=3", "cols=1", "acc_depth=4"], 3),     # one column: no broadcast
    # chunks of 2 and 3 rows (the issuer's last-row flag a cycle ahead; cooldown)
    ("mxu-2x4-int8", ["acc_depth=2"], 8),
    ("mxu-2x2-int8", ["rows=1", "cols=3", "acc_depth=3"], 3),
])
def test_mxu_bench_ice40_primitives(preset_name, overrides, macs, tmp_path, request):
    """The RTL as iCE40 builds elaborate it (WS PEs as SB_MAC16 multiply-adds with every
    register inside, ``core.mult.ice40_mac``; activations broadcast along a row; long delay
    lines in block RAM) passes the bench under stalls with the model's cycles, simulated with
    hwgen's SB_MAC16 model from files.f (gate-level checks use Yosys' model)."""
    info, cfg = load(preset_name, overrides)
    res = sim.run(info, cfg, simulator="icarus", seed=seed_of(request), workdir=tmp_path,
                  target="ice40-up5k")
    verilog = (tmp_path / "rtl" / f"{cfg.module_name}.v").read_text()
    assert verilog.count("SB_MAC16 #(") == macs
    models = (tmp_path / "rtl" / "files.f").read_text().splitlines()[:-1]
    assert models == (["SB_MAC16.v"] if macs else [])
    assert res["ok"], report(res)


@pytest.mark.parametrize("overrides", [
    ["rows=1", "cols=3", "acc_depth=4"],        # power-up X regression (Icarus), tiny chunks
    ["rows=3", "cols=1", "acc_depth=2", "bias=true"],
    ["dataflow=os", "rows=2", "cols=5", "overflow=saturate", "acc_width=18"],
    ["rows=2", "cols=3", "mult=lut", "a_type=int5", "b_type=uint3"],
])
def test_mxu_bench_odd_configs(overrides, tmp_path, request):
    """Degenerate array shapes and tiny accumulators, from power-up, on Icarus (4-state: an X
    left by a comb signal that Icarus never evaluated at time 0 hung the first GEMM)."""
    info, cfg = load("mxu-2x2-int8", overrides)
    res = sim.run(info, cfg, simulator="icarus", seed=seed_of(request), workdir=tmp_path)
    assert res["ok"], report(res)


@pytest.mark.parametrize(("preset_name", "overrides"), [("mxu-4x4-int8", []),
                                                        ("mxu-4x4-int8", ["dataflow=os"])])
def test_steady_state_utilization(preset_name, overrides, tmp_path):
    """64×256×64 on 4×4, simulated without stalls: C equals the golden model, the measured
    cycles equal the model's, and the array is busy ≥ 95 % of the cycles (the MXU's goal)."""
    info, cfg = load(preset_name, overrides)
    arrays = GEMM_64x256x64.make(cfg)
    np.savez(tmp_path / "gemm.npz", **arrays)
    res = sim.run(info, cfg, simulator="verilator", seed=1, inputs=tmp_path / "gemm.npz",
                  outputs=tmp_path / "out.npz", workdir=tmp_path / "work")
    assert res["ok"], report(res)
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_array_equal(out["C"], info.golden(cfg, **arrays)["C"])
    est = get_block("mxu").model(cfg, M=64, K=256, N=64)
    assert res["cycles"] == est["cycles"]
    utilization = 64 * 256 * 64 / (res["cycles"] * cfg.rows * cfg.cols)
    assert utilization >= 0.95, f"{utilization:.4f} of the peak"
