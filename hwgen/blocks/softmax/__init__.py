"""Streaming fixed-point softmax: safe (row max first) or online normalizer, masks, Q0.F out."""

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
from .config import PRESETS, SoftmaxConfig
from .golden import counts, from_streams, golden, softmax_fixed, to_streams
from .model import model
from .rtl import ExpUnit, Reciprocal, Softmax
from .tensors import TENSORS, random_rows

__all__ = ["SoftmaxConfig", "Softmax", "ExpUnit", "Reciprocal", "golden", "softmax_fixed",
           "model", "PRESETS", "TENSORS", "INFO", "describe"]


def describe(cfg: SoftmaxConfig) -> Description:
    """Lanes, row length, formats and algorithm on one line; derived widths as facts."""
    parts = [f"lanes={cfg.lanes}", f"max_len={cfg.max_len}", f"in={cfg.in_fmt.name}"]
    if cfg.scale != 1.0:
        parts.append(f"scale={cfg.scale:g}")
    parts += [f"out=uq0.{cfg.out_frac}", f"algorithm={cfg.algorithm}"]
    if cfg.exp_bits:
        parts.append(f"exp_bits={cfg.exp_bits}")
    if cfg.row_buffers:
        parts.append(f"row_buffers={cfg.row_buffers}")
    k, shift = cfg.front
    facts = {"in_fmt": cfg.in_fmt.name, "front_K": k, "front_shift": shift,
             "t_fmt": cfg.t_fmt.name, "exp_word": f"uq1.{cfg.e_frac}",
             "exp_table": f"{(1 << cfg.table_bits) + 1} entries"
                          + (" + linear interpolation" if cfg.interpolate else ""),
             "sum_bits": cfg.sum_bits, "recip_bits": cfg.recip_bits,
             "quotient_bits": cfg.quotient_bits, "out_fmt": cfg.out_fmt.name,
             "buffers": cfg.buffers, "buffer_bits": cfg.buffer_bits}
    return Description(line=" ".join(parts), facts=facts)


def _rows(rows: int, length: int | None = None):
    def make(cfg) -> dict:
        n = cfg.max_len if length is None else min(length, cfg.max_len)
        return random_rows(cfg, np.random.default_rng(1), rows, n)
    return make


ROWS_64 = Workload(name="64 rows × max_len", make=_rows(64))
ROWS_4 = Workload(name="4 rows × max_len", make=_rows(4))

BENCH = BenchRows(
    fpga=(
        FpgaRow(preset="softmax-64-int16", target="ecp5-25k", freq_mhz=120,
                reference={"lut": 480, "fmax_mhz": 51}, goals={"lut": 480, "fmax_mhz": 102}),
        FpgaRow(preset="softmax-64-int16", target="ice40-up5k", freq_mhz=40),
        FpgaRow(preset="softmax-64x4-int8", target="ecp5-25k", freq_mhz=120,
                reference={"lut": 5604, "fmax_mhz": 57.5}, goals={"lut": 2000, "fmax_mhz": 115}),
        FpgaRow(preset="softmax-64x4-int8", target="ice40-up5k", freq_mhz=40,
                goals={"fits": 1}),
        # one row in flight: the area end of the throughput/area trade
        FpgaRow(preset="softmax-64-int16", target="ecp5-25k", freq_mhz=120,
                overrides={"row_buffers": 1},
                reference={"lut": 480, "fmax_mhz": 51}, goals={"lut": 480, "fmax_mhz": 102}),
        FpgaRow(preset="softmax-64x4-int8", target="ecp5-25k", freq_mhz=120,
                overrides={"row_buffers": 1},
                reference={"lut": 5604, "fmax_mhz": 57.5}, goals={"lut": 2000, "fmax_mhz": 115}),
    ),
    sim=(
        SimRow(preset="softmax-64-int16", workload=ROWS_64),
        SimRow(preset="softmax-64x4-int8", workload=ROWS_64),
        SimRow(preset="softmax-16x2-q8-online", workload=ROWS_64),
        SimRow(preset="softmax-4096-int32", workload=ROWS_4),
        SimRow(preset="softmax-64-int16", workload=ROWS_64, overrides={"row_buffers": 1}),
        SimRow(preset="softmax-64x4-int8", workload=ROWS_64, overrides={"row_buffers": 1}),
    ),
)

INFO = BlockInfo(
    name="softmax",
    summary="streaming fixed-point softmax (safe or online normalizer), masks, Q0.F output",
    config=SoftmaxConfig,
    presets=PRESETS,
    component=Softmax,
    golden=golden,
    model=model,
    tensors=TENSORS,
    transactions=Transactions(to_streams=to_streams, counts=counts, from_streams=from_streams,
                              start="i_x"),
    describe=describe,
    bench=BENCH,
    cocotb_bench="softmax/test_softmax.py",
    sim_presets=("softmax-64-int16", "softmax-64x4-int8", "softmax-16x2-q8-online",
                 "softmax-4096-int32"),
    docs="docs/softmax.md",
)
