# amaranth: UnusedElaboratable=no
"""Every block's contract (``BlockInfo``), checked the same way for each: the schema, golden model,
stream mapping, model, description, bench rows, cocotb bench and docs page fit together."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hwgen.blocks import blocks, presets
from hwgen.core.config import BlockConfig
from hwgen.core.contract import BlockInfo, Description
from hwgen.core.streams import pack
from hwgen.flow.emit import ports_of
from hwgen.flow.sim import bench_path
from hwgen.flow.synth import TARGETS

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = sorted(blocks())
PRESETS = sorted(presets())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_contract(name, rng):
    info, cfg = presets()[name]
    desc = info.describe(cfg)
    assert isinstance(desc, Description) and desc.line and "\n" not in desc.line
    json.dumps(desc.facts)
    static = info.model(cfg)
    json.dumps(static)
    # the example validates, the golden model gives every output with the schema's shape
    inputs = info.check_inputs(cfg, info.tensors.example(cfg, rng))
    outputs = info.golden(cfg, **inputs)
    assert sorted(outputs) == sorted(info.tensors.output_names)
    dims = info.tensors.dims_of(inputs)
    for spec in info.tensors.outputs:
        out = np.asarray(outputs[spec.name])
        assert out.dtype.kind in "iu"
        assert out.ndim == len(spec.dims), (spec.name, out.shape, spec.dims)
        for d, n in zip(spec.dims, out.shape, strict=True):
            want = dims.get(d) if isinstance(d, str) else d     # a size only outputs have: free
            assert want is None or n == want, (spec.name, out.shape, spec.dims, dims)
        if spec.fmt is not None:
            spec.fmt(cfg).check(out, spec.name)
    # every transfer of the mapping packs into its port's payload layout
    ports = {p["name"]: p for p in ports_of(info.component(cfg)) if p["kind"] == "stream"}
    streams = info.transactions.to_streams(cfg, **inputs)
    assert info.transactions.start in streams and streams[info.transactions.start]
    for port, items in streams.items():
        assert ports[port]["direction"] == "in"
        for v in items:
            pack(ports[port]["payload"], v)
    counts = info.transactions.counts(cfg, **inputs)
    assert set(counts) <= {p for p, d in ports.items() if d["direction"] == "out"}
    assert sum(counts.values()) > 0
    # the model of these inputs: a cycle count and its tolerance
    est = info.model_for(cfg, inputs)
    assert est["cycles"] > 0 and set(est["tolerance"]) == {"abs", "rel"}


@pytest.mark.parametrize("block", BLOCKS)
def test_block_files_and_rows(block):
    info = blocks()[block]
    assert bench_path(info).is_file()
    assert len(info.sim_presets) >= 2
    docs = ROOT / info.docs
    text = docs.read_text()
    for key in set(info.config.fields()) - set(BlockConfig.fields()):
        assert f"`{key}`" in text, f"{info.docs} does not document key {key!r}"
    for pname in info.presets:
        assert f"`{pname}`" in text, f"{info.docs} does not list preset {pname!r}"
    for row in info.bench.fpga:
        assert row.target in TARGETS and row.freq_mhz > 0
    for row in info.bench.sim:
        cfg = info.presets[row.preset].replace(**row.overrides)
        info.check_inputs(cfg, row.workload.make(cfg))
    assert (ROOT / "bench" / f"{block}.py").is_file(), "the bench module of the block"


def test_blockinfo_rejects_an_incomplete_contract():
    info = blocks()[BLOCKS[0]]
    with pytest.raises(ValueError, match=r"sim_presets must name at least two presets"):
        dataclasses.replace(info, sim_presets=info.sim_presets[:1])
    with pytest.raises(ValueError, match=r"unknown presets \['nope'\]"):
        dataclasses.replace(info, sim_presets=("nope", *info.sim_presets))
    with pytest.raises(TypeError, match=r"tensors must be a Tensors"):
        dataclasses.replace(info, tensors=None)
    with pytest.raises(TypeError, match=r"golden must be callable"):
        dataclasses.replace(info, golden=None)
    assert isinstance(info, BlockInfo)
