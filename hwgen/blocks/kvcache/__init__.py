"""Paged KV cache: block tables, free-page list, reference counts, copy on write, windows."""

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
from .config import PRESETS, KVCacheConfig, Op, Status, What
from .golden import KVCacheModel, counts, from_streams, golden, to_streams
from .model import model
from .rtl import KVCache
from .tensors import TENSORS, decode_workload, random_ops

__all__ = ["KVCacheConfig", "KVCache", "KVCacheModel", "golden", "model", "Op", "Status",
           "What", "PRESETS", "TENSORS", "INFO", "describe", "random_ops", "decode_workload"]


def describe(cfg: KVCacheConfig) -> Description:
    """Sequences, pages, rows and ports on one line; derived sizes as facts."""
    parts = [f"num_seqs={cfg.num_seqs}", f"capacity={cfg.capacity}",
             f"page_size={cfg.page_size}", f"max_seq={cfg.seq_limit}"]
    if cfg.window:
        parts.append(f"window={cfg.window}")
    parts += [f"row={cfg.kv_heads}x{cfg.head_dim}", f"dtype={cfg.dtype}"]
    if cfg.beats > 1:
        parts.append(f"port_elems={cfg.port_elems}")
    facts = {"pages": cfg.pages, "ring_pages": cfg.ring_pages, "slot_bits": cfg.slot_bits,
             "row_elems": cfg.row_elems, "beats_per_row": cfg.beats,
             "beat_bits": cfg.beat_bits, "memory_words": cfg.words,
             "memory_kbit": cfg.memory_bits / 1024,
             "command_fields": {"op": 3, "seq": cfg.seq_bits, "a": cfg.pos_bits,
                                "b": cfg.pos_bits, "what": 2},
             "status_codes": {s.name: int(s) for s in Status}}
    return Description(line=" ".join(parts), facts=facts)


def _random(n: int):
    def make(cfg) -> dict:
        return random_ops(cfg, np.random.default_rng(1), n)
    return make


def _decode(cfg) -> dict:
    prompt = max(1, _per_seq(cfg) // 2)
    return decode_workload(cfg, np.random.default_rng(1), prompt=prompt, steps=4)


def _fill(cfg) -> dict:
    return decode_workload(cfg, np.random.default_rng(1), prompt=_per_seq(cfg), steps=0)


def _fill_read(cfg) -> dict:
    w = _fill(cfg)
    n = _per_seq(cfg)
    lo = max(0, n - cfg.window) if cfg.window else 0
    reads = [[Op.READ, s, lo, n - lo, What.KV] for _ in range(4) for s in range(cfg.num_seqs)]
    return {**w, "ops": np.concatenate([w["ops"], np.array(reads, dtype=np.int64)])}


def _per_seq(cfg) -> int:
    return min(cfg.seq_limit, cfg.capacity // cfg.num_seqs)


RANDOM = Workload(name="2000 random commands", make=_random(2000))
FILL = Workload(name="fill: every sequence appends its share of the pages", make=_fill)
FILL_READ = Workload(name="fill, then every sequence read whole 4 times (KV)",
                     make=_fill_read)
DECODE = Workload(name="prompts, then 4 decode steps per sequence (append + read all)",
                  make=_decode)

BENCH = BenchRows(
    fpga=(
        FpgaRow(preset="kvcache-4seq-512", target="ecp5-25k", freq_mhz=150,
                reference={"fmax_mhz": 70}, goals={"fmax_mhz": 150}),
        FpgaRow(preset="kvcache-2seq-128-up5k", target="ice40-up5k", freq_mhz=40,
                goals={"fits": 1}),
        FpgaRow(preset="kvcache-4seq-window", target="ecp5-25k", freq_mhz=150,
                goals={"fmax_mhz": 150}),
    ),
    sim=(
        SimRow(preset="kvcache-4seq-512", workload=FILL),
        SimRow(preset="kvcache-4seq-512", workload=FILL_READ),
        SimRow(preset="kvcache-4seq-512", workload=DECODE),
        SimRow(preset="kvcache-4seq-512", workload=RANDOM),
        SimRow(preset="kvcache-2seq-128-up5k", workload=FILL),
        SimRow(preset="kvcache-2seq-128-up5k", workload=FILL_READ),
        SimRow(preset="kvcache-4seq-window", workload=DECODE),
    ),
)

INFO = BlockInfo(
    name="kvcache",
    summary="paged multi-sequence KV cache: block tables, free list, refcounts, copy on write",
    config=KVCacheConfig,
    presets=PRESETS,
    component=KVCache,
    golden=golden,
    model=model,
    tensors=TENSORS,
    transactions=Transactions(to_streams=to_streams, counts=counts, from_streams=from_streams,
                              start="i_cmd"),
    describe=describe,
    bench=BENCH,
    cocotb_bench="kvcache/test_kvcache.py",
    sim_presets=("kvcache-4seq-512", "kvcache-2seq-128-up5k", "kvcache-4seq-window"),
    docs="docs/kvcache.md",
)
