"""Sparse zero-skip engine: N:M (2:4) structured weights, activation zero-skipping, dense."""

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
from .config import MODES, PRESETS, SparseConfig
from .golden import (
    accumulate,
    check_nm,
    counts,
    first_bad_group,
    from_streams,
    golden,
    pack_nm,
    prune_nm,
    to_streams,
    unpack_nm,
)
from .model import model
from .rtl import SparseEngine
from .tensors import TENSORS, random_job, random_weights, sparse_x

__all__ = ["SparseConfig", "SparseEngine", "golden", "accumulate", "prune_nm", "pack_nm",
           "unpack_nm", "first_bad_group", "check_nm", "model", "MODES", "PRESETS", "TENSORS",
           "INFO", "describe", "random_job", "random_weights", "sparse_x", "bench_job"]


def describe(cfg: SparseConfig) -> Description:
    """Mode, lanes, pattern, window and formats on one line; derived sizes as facts."""
    parts = [f"mode={cfg.mode}", f"lanes={cfg.lanes}"]
    if cfg.nm:
        parts.append(f"pattern={cfg.keep}:{cfg.group}")
    parts += [f"window={cfg.window}", f"max_k={cfg.max_k}",
              f"{cfg.w_fmt.name}x{cfg.x_fmt.name}->int{cfg.acc_width}"]
    if cfg.overflow != "wrap":
        parts.append(f"overflow={cfg.overflow}")
    facts = {"multipliers": cfg.lanes, "issue_units_per_beat": cfg.units,
             "slots_per_unit": cfg.slots, "weight_words_per_bank": cfg.max_words,
             "weight_word_bits": cfg.lanes * (cfg.w_fmt.width + (cfg.idx_bits if cfg.nm else 0)),
             "weight_memory_kbit": 2 * cfg.max_words * cfg.lanes
             * (cfg.w_fmt.width + (cfg.idx_bits if cfg.nm else 0)) / 1024,
             "command_fields": {"k": cfg.k_bits, "n": cfg.dim_bits, "t": cfg.tile_bits}}
    return Description(line=" ".join(parts), facts=facts)


def bench_job(cfg, zeros: float, *, K: int = 256, n: int = 32, tiles: int = 2) -> dict:
    """The benchmark's input set: W (tiles·lanes × K) pruned to the config's N:M pattern
    whatever the mode (so every mode computes the same product), X (K × n) with a share
    ``zeros`` of random zeros."""
    rng = np.random.default_rng(7)
    K = min(K, cfg.max_k)
    W = prune_nm(cfg.w_fmt.random(rng, (tiles * cfg.lanes, K)), cfg.keep, cfg.group)
    return {"W": W, "X": sparse_x(cfg, rng, K, n, zeros)}


def _zeros(z: float) -> Workload:
    return Workload(name=f"2 tiles × K 256 × n 32, {round(z * 100)} % zeros in X",
                    make=lambda cfg: bench_job(cfg, z))


Z = {z: _zeros(z) for z in (0.0, 0.5, 0.75, 0.9)}
MODE_ROWS = tuple(SimRow(preset="sparse-8lane-int8", workload=Z[z], overrides={"mode": mode})
                  for mode in MODES for z in (0.0, 0.5, 0.75, 0.9))

BENCH = BenchRows(
    fpga=(
        FpgaRow(preset="sparse-8lane-int8", target="ecp5-25k", freq_mhz=150,
                reference={"lut": 65, "fmax_mhz": 91.5}, goals={"fmax_mhz": 150}),
        FpgaRow(preset="sparse-8lane-int8", target="ecp5-25k", freq_mhz=150,
                overrides={"mode": "act"}, goals={"fmax_mhz": 150}),
        FpgaRow(preset="sparse-8lane-int8", target="ecp5-25k", freq_mhz=150,
                overrides={"mode": "dense"}, reference={"lut": 82, "fmax_mhz": 91.5},
                goals={"fmax_mhz": 150}),
        FpgaRow(preset="sparse-8lane-int8", target="ice40-up5k", freq_mhz=40,
                goals={"fits": 1}),
        FpgaRow(preset="sparse-4lane-int16-sat", target="ecp5-25k", freq_mhz=150,
                goals={"fmax_mhz": 150}),
        FpgaRow(preset="sparse-8lane-int8-w32", target="ecp5-25k", freq_mhz=150,
                goals={"fmax_mhz": 150}),
        FpgaRow(preset="sparse-2lane-int8-up5k", target="ice40-up5k", freq_mhz=40,
                goals={"fits": 1}),
    ),
    sim=MODE_ROWS + (
        SimRow(preset="sparse-8lane-int8-w32", workload=Z[0.75]),
        SimRow(preset="sparse-8lane-int8-w32", workload=Z[0.75], overrides={"mode": "dense"}),
        SimRow(preset="sparse-8lane-int8-w32", workload=Z[0.9]),
        SimRow(preset="sparse-8lane-int8-w32", workload=Z[0.9], overrides={"mode": "dense"}),
        SimRow(preset="sparse-4lane-int16-sat", workload=Z[0.75]),
        SimRow(preset="sparse-4lane-int16-sat", workload=Z[0.75], overrides={"mode": "dense"}),
    ),
)

INFO = BlockInfo(
    name="sparse",
    summary="zero-skipping matrix engine: N:M (2:4) weights, activation zero-skip, dense",
    config=SparseConfig,
    presets=PRESETS,
    component=SparseEngine,
    golden=golden,
    model=model,
    tensors=TENSORS,
    transactions=Transactions(to_streams=to_streams, counts=counts, from_streams=from_streams,
                              start="i_cmd"),
    describe=describe,
    bench=BENCH,
    cocotb_bench="sparse/test_sparse.py",
    sim_presets=("sparse-8lane-int8", "sparse-4lane-int16-sat", "sparse-8lane-int8-w32",
                 "sparse-2lane-int8-up5k"),
    docs="docs/sparse.md",
)
