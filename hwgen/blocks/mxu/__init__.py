"""Systolic matrix unit (MXU): C = A·B (+ D), weight- or output-stationary."""

import numpy as np

from ...core.contract import (
    BenchRows,
    BlockInfo,
    Description,
    FpgaRow,
    SimRow,
    Transactions,
    Workload,
)
from .config import PRESETS, MXUConfig
from .golden import counts, from_streams, golden, matmul, to_streams
from .model import model
from .rtl import MXU
from .tensors import TENSORS, random_operands

__all__ = ["MXUConfig", "MXU", "golden", "matmul", "model", "PRESETS", "TENSORS", "INFO",
           "describe"]


def describe(cfg: MXUConfig) -> Description:
    """The array, formats and options on one line; the derived formats and sizes as facts."""
    parts = [f"{cfg.rows}x{cfg.cols}", f"{cfg.a_type}x{cfg.b_type}", f"dataflow={cfg.dataflow}",
             f"acc={cfg.acc_fmt}"]
    if cfg.acc_width:
        parts.append(f"overflow={cfg.overflow}")
    if cfg.dataflow == "ws":
        parts.append(f"acc_depth={cfg.acc_depth}")
    if cfg.bias:
        parts.append("bias")
    if cfg.mult != "auto":
        parts.append(f"mult={cfg.mult}")
    default = MXUConfig()
    parts += [f"{k}={getattr(cfg, k)}" for k in ("max_m", "max_k", "max_n")
              if getattr(cfg, k) != getattr(default, k)]
    facts = {"a_fmt": cfg.a_fmt.name, "b_fmt": cfg.b_fmt.name, "product_fmt": cfg.product_fmt.name,
             "psum_fmt": cfg.psum_fmt.name, "acc_fmt": cfg.acc_fmt.name, "group": cfg.group,
             "macs": cfg.macs, "out_fifo_depth": cfg.out_fifo_depth, "dim_bits": cfg.dim_bits}
    return Description(line=" ".join(parts), facts=facts)


def _gemm_64x256x64(cfg) -> dict:
    """Random A (64×256) and B (256×64) in the config's formats, numpy seed 1."""
    return random_operands(cfg, np.random.default_rng(1), 64, 256, 64, bias=False)


GEMM_64x256x64 = Workload(name="GEMM 64×256×64", make=_gemm_64x256x64)


def _gemm_96x288x96(cfg) -> dict:
    """Random A (96×288) and B (288×96), numpy seed 1: whole tiles for 12×12 (and 4×4, 8×8)."""
    return random_operands(cfg, np.random.default_rng(1), 96, 288, 96, bias=False)


GEMM_96x288x96 = Workload(name="GEMM 96×288×96", make=_gemm_96x288x96)

BENCH = BenchRows(
    fpga=(
        FpgaRow(preset="mxu-4x4-int8", target="ecp5-25k", freq_mhz=200,
                reference={"lut_per_mac": 107, "fmax_mhz": 126},
                goals={"lut_per_mac": 70, "fmax_mhz": 190}),
        FpgaRow(preset="mxu-8x8-int8", target="ecp5-85k", freq_mhz=180, slow=True,
                reference={"lut_per_mac": 103, "fmax_mhz": 93},
                goals={"lut_per_mac": 40, "fmax_mhz": 175}),
        FpgaRow(preset="mxu-12x12-int8", target="ecp5-85k", freq_mhz=160, slow=True,
                goals={"macs": 144, "fmax_mhz": 150, "gmacs": 21}),
        FpgaRow(preset="mxu-2x4-int8", target="ice40-up5k", freq_mhz=65,
                reference={"lut_per_mac": 145, "fmax_mhz": 39},
                goals={"lut_per_mac": 145, "fmax_mhz": 60}),
        FpgaRow(preset="mxu-4x4-int8-lut", target="ice40-up5k", freq_mhz=50, slow=True,
                reference={"lut_per_mac": 305, "fmax_mhz": 37.6},
                goals={"lut_per_mac": 200, "fmax_mhz": 45}),
    ),
    sim=(
        SimRow(preset="mxu-4x4-int8", workload=GEMM_64x256x64),
        SimRow(preset="mxu-8x8-int8", workload=GEMM_64x256x64),
        SimRow(preset="mxu-12x12-int8", workload=GEMM_96x288x96),
        SimRow(preset="mxu-4x4-int8", workload=GEMM_64x256x64, overrides={"dataflow": "os"}),
        SimRow(preset="mxu-2x4-int8", workload=GEMM_64x256x64),
        SimRow(preset="mxu-4x4-int8-lut", workload=GEMM_64x256x64),
    ),
)

INFO = BlockInfo(
    name="mxu",
    summary="systolic int matrix unit C = A·B (+D), weight/output-stationary, K/N/M tiling",
    config=MXUConfig,
    presets=PRESETS,
    component=MXU,
    golden=golden,
    model=model,
    tensors=TENSORS,
    transactions=Transactions(to_streams=to_streams, counts=counts, from_streams=from_streams,
                              start="i_cmd"),
    describe=describe,
    bench=BENCH,
    cocotb_bench="mxu/test_mxu.py",
    sim_presets=("mxu-2x2-int8", "mxu-4x4-int8-os", "mxu-4x4-int16-sat", "mxu-3x5-uint8-bias"),
    docs="docs/mxu.md",
)
