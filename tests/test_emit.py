# amaranth: UnusedElaboratable=no
"""Every preset elaborates and converts to Verilog; the manifest matches the Verilog ports;
a failing generation writes nothing."""

import dataclasses
import json
import re

import pytest
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwgen import __version__
from hwgen.blocks import get_block, presets
from hwgen.flow.emit import emit

_DECL = re.compile(r"^\s*(input|output)\s+(?:signed\s+)?(?:\[(\d+):0\]\s+)?\\?(\S+?)\s*;",
                   re.MULTILINE)


def verilog_ports(text: str, module: str) -> dict:
    """``{port: (direction, width)}`` from Amaranth's Verilog (one module)."""
    header = re.search(rf"^module {re.escape(module)}\(([^)]*)\);", text, re.MULTILINE)
    assert header, f"module {module} not found"
    names = [n.strip() for n in header.group(1).split(",")]
    decls = {m.group(3): (m.group(1)[:-3] if m.group(1) == "output" else "in",
                          int(m.group(2)) + 1 if m.group(2) else 1)
             for m in _DECL.finditer(text)}
    decls = {k: ("out" if v[0] == "outp" else v[0], v[1]) for k, v in decls.items()}
    return {n: decls[n] for n in names}


def expected_signals(port: dict) -> dict:
    """The Verilog signals a manifest port stands for: ``{signal: (direction, width)}``."""
    if port["kind"] != "stream":
        return {port["signal"]: (port["direction"], port["width"])}
    d = port["direction"]
    back = "out" if d == "in" else "in"
    return {port["signals"]["payload"]: (d, port["width"]), port["signals"]["valid"]: (d, 1),
            port["signals"]["ready"]: (back, 1)}


def emit_preset(info, cfg, outdir):
    """Emit (kept as a helper: every preset must elaborate, no exceptions)."""
    return emit(info, cfg, outdir)


_EMITTED = {}


@pytest.fixture
def emitted(preset, tmp_path_factory):
    """``(info, cfg, outdir, manifest)`` of each preset, emitted once per test session."""
    pname, info, cfg = preset
    if pname not in _EMITTED:
        out = tmp_path_factory.mktemp(pname) / "out"
        _EMITTED[pname] = (out, emit_preset(info, cfg, out))
    return info, cfg, *_EMITTED[pname]


def test_every_preset_emits(emitted):
    info, cfg, out, man = emitted
    name = cfg.module_name
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.v", f"{name}.json", f"{name}.core", "files.f"])
    # the manifest on disk is the one returned
    on_disk = json.loads((out / f"{name}.json").read_text())
    assert on_disk == man
    assert man["block"] == info.name and man["name"] == man["top"] == name
    assert man["hwgen_version"] == __version__
    assert man["config"] == cfg.to_dict()
    assert info.config.from_dict(man["config"]) == cfg
    assert man["files"] == {"verilog": f"{name}.v", "manifest": f"{name}.json",
                            "core": f"{name}.core", "models": []}
    assert man["tech"] == "generic" and man["target"] is None
    assert man["clock"] == "clk" and man["reset"] == {"signal": "rst", "active": "high",
                                                      "sync": True}
    assert isinstance(man["model"], dict)
    # what the block's contract says, recorded for users and the benches
    desc = info.describe(cfg)
    assert man["describe"] == desc.line and man["derived"] == desc.facts
    assert man["tensors"] == info.tensors.describe(cfg)
    assert [a["name"] for a in man["tensors"]["inputs"]] == info.tensors.input_names
    assert man["cycles_from"] == info.transactions.start
    assert (out / "files.f").read_text() == f"{name}.v\n"
    # every Verilog port is in the manifest with its direction and width, and nothing else
    text = (out / f"{name}.v").read_text()
    expect = {}
    for port in man["ports"]:
        assert port["width"] == port.get("payload", {"width": port["width"]})["width"]
        expect.update(expected_signals(port))
    assert verilog_ports(text, name) == expect
    # the FuseSoC core renders with the module as toplevel
    core = (out / f"{name}.core").read_text()
    assert core.startswith("CAPI=2:\n")
    assert f"name: hwgen:blocks:{name}:{__version__}\n" in core
    assert f"      - {name}.v\n" in core and f"toplevel: {name}\n" in core
    assert "{{" not in core and "{%" not in core
    assert "Generic RTL" in core and "sim_models" not in core


@pytest.mark.parametrize("name", sorted(get_block("mxu").presets))
def test_mxu_port_widths(name, tmp_path):
    info, cfg = presets()[name]
    man = emit_preset(info, cfg, tmp_path / "out")
    widths = {p["name"]: p["width"] for p in man["ports"]}
    acc = cfg.acc_fmt.width
    expect = {
        "clk": 1, "rst": 1,
        "i_cmd": sum(max(1, (getattr(cfg, f"max_{d}") - 1).bit_length()) for d in "mkn"),
        "i_a": cfg.rows * cfg.a_fmt.width,
        "i_w": cfg.cols * cfg.b_fmt.width,
        "o_c": cfg.cols * acc + 1,
    }
    if cfg.bias:
        expect["i_d"] = cfg.cols * acc
    assert widths == expect
    o_c = next(p for p in man["ports"] if p["name"] == "o_c")
    assert o_c["direction"] == "out"
    assert o_c["payload"]["fields"]["last"]["layout"]["width"] == 1
    assert o_c["payload"]["fields"]["data"]["layout"]["elem"] == {
        "kind": "int", "signed": cfg.acc_fmt.signed, "width": acc}


def test_emit_overwrites_its_own_files(tmp_path):
    info, cfg = presets()["mxu-2x2-int8"]
    emit_preset(info, cfg, tmp_path)
    (tmp_path / "other.txt").write_text("keep")
    emit(info, cfg, tmp_path)
    assert (tmp_path / "other.txt").read_text() == "keep"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hwgen-")]


class _Broken(wiring.Component):
    """Elaboration fails, as a buggy or unsupported configuration would."""

    def __init__(self, cfg):
        super().__init__({"i": In(4), "o": Out(4)})

    def elaborate(self, platform):
        raise ValueError("cannot build this")


def _raise(cfg):
    raise ValueError("bad component")


def _mxu(cfg):
    # created here, so the pragma on line 1 silences "created but never used"
    return get_block("mxu").component(cfg)


@pytest.mark.parametrize("change", [
    {"component": _raise},
    {"component": _Broken},
    {"component": _mxu, "model": lambda cfg: 1 / 0},
])
def test_failure_writes_nothing(tmp_path, change):
    info = dataclasses.replace(get_block("mxu"), **change)
    cfg = presets()["mxu-2x2-int8"][1]
    out = tmp_path / "new"
    with pytest.raises((ValueError, ZeroDivisionError)):
        emit(info, cfg, out)
    assert not out.exists()
    # an existing directory keeps exactly what it had
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.v").write_text("x")
    with pytest.raises((ValueError, ZeroDivisionError)):
        emit(info, cfg, tmp_path / "old")
    assert [p.name for p in (tmp_path / "old").iterdir()] == ["keep.v"]


@pytest.mark.parametrize(("pname", "target", "models"), [
    ("mxu-2x2-int8", "ecp5-25k", ["DP16KD.v", "MULT18X18D.v"]),
    ("mxu-4x4-int8-os", "ecp5-85k", ["DP16KD.v", "MULT18X18D.v"]),
    ("kvcache-2seq-128-up5k", "ecp5-25k", ["DP16KD.v"]),
    ("mxu-2x2-int8", "ice40-up5k", ["SB_MAC16.v"]),
    ("mxu-4x4-int8-os", "ice40-up5k", []),          # OS PEs leave the DSPs to inference
])
def test_emit_for_target(pname, target, models, tmp_path):
    """``target`` gives the Verilog ``hwgen fpga`` builds (the same text), the models of the
    primitives it instantiates beside it, listed first in ``files.f`` and in the core's
    ``sim`` target, and the manifest records the target."""
    from hwgen.flow.emit import to_verilog
    from hwgen.flow.synth import get_target

    info, cfg = presets()[pname]
    name = cfg.module_name
    man = emit(info, cfg, tmp_path, target=target)
    tgt = get_target(target)
    assert man["target"] == target and man["tech"] == tgt.family
    assert man["files"]["models"] == models
    text = (tmp_path / f"{name}.v").read_text()
    assert text == to_verilog(info.component(cfg), name, tgt.tech)      # what fpga.py builds
    assert text != to_verilog(info.component(cfg), name) or not models
    assert (tmp_path / "files.f").read_text() == "".join(f"{f}\n" for f in [*models, f"{name}.v"])
    for f in models:
        model = (tmp_path / f).read_text()
        assert f"module {f[:-2]}" in model and f"{f[:-2]} #(" in text
    core = (tmp_path / f"{name}.core").read_text()
    assert f"--target {target}" in core
    if models:
        sim_target = core[core.index("  sim:\n"):core.index("  lint:\n")]
        assert "filesets: [sim_models, rtl]" in sim_target
        default = core[core.index("  default:\n"):core.index("  sim:\n")]
        assert "filesets: [rtl]" in default               # synthesis: no models
        for f in models:
            assert f"      - {f}\n" in core
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk == man


def test_emit_target_errors_write_nothing(tmp_path):
    from hwgen.core.errors import HwgenError
    from hwgen.core.tech import Tech

    info, cfg = presets()["mxu-2x2-int8"]
    with pytest.raises(HwgenError, match=r"unknown FPGA target 'ecp5-12k'; valid targets: "):
        emit(info, cfg, tmp_path / "a", target="ecp5-12k")
    with pytest.raises(HwgenError, match=r"tech 'ice40' contradicts target 'ecp5-25k'"):
        emit(info, cfg, tmp_path / "b", target="ecp5-25k", tech=Tech(family="ice40"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
