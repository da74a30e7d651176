"""Config loading and validation: every error message, overrides, presets, derived values."""

import dataclasses
import math
import re
import tomllib
from pathlib import Path

import pytest

import hwgen.blocks.mxu.config as mxu_config
from hwgen.blocks import blocks, get_block, load, presets
from hwgen.blocks.mxu import MXUConfig
from hwgen.core.config import (
    BlockConfig,
    check_bool,
    check_choice,
    check_int,
    check_name,
    parse_overrides,
)
from hwgen.core.errors import HwgenError

KNOWN_KEYS = ("name, rows, cols, a_type, b_type, dataflow, max_m, max_k, max_n, acc_width, "
              "overflow, acc_depth, bias, mult")


def write(tmp_path, text, name="cfg.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def where(path):
    return re.escape(str(path))


def to_toml(d: dict) -> str:
    """A flat dict of str/bool/int/float as TOML (enough for block configs)."""
    lines = []
    for k, v in d.items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, int):
            lines.append(f"{k} = {v}")
        elif isinstance(v, float):
            lines.append(f"{k} = {v!r}")
        else:
            lines.append(f'{k} = "{v}"')
    return "\n".join(lines) + "\n"


# -- brute-force references (independent of hwgen.core.numerics) --

def values_of(fmt_name: str) -> range:
    m = re.fullmatch(r"(u?)int(\d+)", fmt_name)
    w = int(m.group(2))
    return range(0, 1 << w) if m.group(1) else range(-(1 << (w - 1)), 1 << (w - 1))


def product_range(a: str, b: str) -> tuple[int, int]:
    """Min and max of a*b. Up to 8 bits: every pair. Wider: every a against the ends of b's
    range (a*b is linear in b, so its extremes over b are at the ends)."""
    va, vb = values_of(a), values_of(b)
    if len(va) * len(vb) <= 1 << 16:
        prods = [x * y for x in va for y in vb]
    else:
        prods = [x * y for x in va for y in (vb[0], vb[-1])]
    return min(prods), max(prods)


def min_width(lo: int, hi: int) -> tuple[bool, int]:
    """(signed, smallest width) holding [lo, hi], by trying widths in turn."""
    signed = lo < 0
    w = 2 if signed else 1
    while True:
        fmin, fmax = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)
        if fmin <= lo and hi <= fmax:
            return signed, w
        w += 1


# -- helpers of core.config --

def test_check_int():
    check_int("rows", 4, 1, 64)
    with pytest.raises(TypeError, match=r"^rows must be an integer, not True$"):
        check_int("rows", True, 1, 64)
    with pytest.raises(TypeError, match=r"^rows must be an integer, not 4\.0$"):
        check_int("rows", 4.0, 1, 64)
    with pytest.raises(ValueError, match=r"^rows must be in \[1, 64\], not 0$"):
        check_int("rows", 0, 1, 64)


def test_check_choice_bool_name():
    with pytest.raises(ValueError, match=r"^mode must be one of 'a', 'b', not 'c'$"):
        check_choice("mode", "c", ("a", "b"))
    with pytest.raises(TypeError, match=r"^mode must be a string, one of 'a', 'b', not 1$"):
        check_choice("mode", 1, ("a", "b"))
    with pytest.raises(TypeError, match=r"^bias must be true or false, not 1$"):
        check_bool("bias", 1)
    with pytest.raises(ValueError, match=r"^name must be a Verilog identifier "
                                         r"\(\[A-Za-z_\]\[A-Za-z0-9_\]\*\), not '1x'$"):
        check_name("name", "1x")


# -- the registry --

def test_registry():
    assert "mxu" in blocks()
    info = get_block("mxu")
    assert info.config is MXUConfig
    assert issubclass(info.config, BlockConfig)
    for name, info in blocks().items():
        assert info.name == name
        for cfg in info.presets.values():
            assert type(cfg) is info.config


def test_preset_names_unique_across_blocks():
    assert len(presets()) == sum(len(info.presets) for info in blocks().values())


def test_unknown_block_did_you_mean():
    with pytest.raises(HwgenError, match=r"^unknown block 'mxx' \(did you mean 'mxu'\?\); "
                                         r"known blocks: .*\bmxu\b.*$"):
        get_block("mxx")


def test_unknown_block_in_toml(tmp_path):
    path = write(tmp_path, 'block = "mxuu"\n')
    with pytest.raises(HwgenError, match=rf"^{where(path)}: unknown block 'mxuu' "
                                         r"\(did you mean 'mxu'\?\); known blocks: .*\bmxu\b.*$"):
        load(path)
    path = write(tmp_path, 'block = "zzzzzz"\n')
    with pytest.raises(HwgenError, match=rf"^{where(path)}: unknown block 'zzzzzz'; "
                                         r"known blocks: .*\bmxu\b.*$"):
        load(path)


# -- config errors through load (TOML) --

def test_unknown_key_did_you_mean(tmp_path):
    path = write(tmp_path, 'block = "mxu"\nrowz = 4\n')
    with pytest.raises(HwgenError, match=rf"^{where(path)}: unknown key 'rowz' for block 'mxu' "
                                         rf"\(did you mean 'rows'\?\); known keys: {KNOWN_KEYS}$"):
        load(path)


def test_unknown_key_without_hint():
    with pytest.raises(HwgenError, match=rf"^config: unknown key 'qqqqq' for block 'mxu'; "
                                         rf"known keys: {KNOWN_KEYS}$"):
        MXUConfig.from_dict({"qqqqq": 1})


@pytest.mark.parametrize(("line", "message"), [
    ('rows = "4"', r"rows must be an integer, not '4'"),
    ("cols = 4.0", r"cols must be an integer, not 4\.0"),
    ("max_k = true", r"max_k must be an integer, not True"),
    ("bias = 1", r"bias must be true or false, not 1"),
    ("dataflow = 1", r"dataflow must be a string, one of 'ws', 'os', not 1"),
    ("overflow = false", r"overflow must be a string, one of 'wrap', 'saturate', not False"),
    ("a_type = 8", r"a_type must be a string such as 'int8', not 8"),
])
def test_wrong_type(tmp_path, line, message):
    path = write(tmp_path, f'block = "mxu"\n{line}\n')
    with pytest.raises(HwgenError, match=rf"^{where(path)}: {message}$"):
        load(path)


@pytest.mark.parametrize(("line", "message"), [
    ("rows = 0", r"rows must be in \[1, 64\], not 0"),
    ("cols = 65", r"cols must be in \[1, 64\], not 65"),
    ("max_m = 0", r"max_m must be in \[1, 1048576\], not 0"),
    ("max_k = 1048577", r"max_k must be in \[1, 1048576\], not 1048577"),
    ("max_n = -3", r"max_n must be in \[1, 1048576\], not -3"),
    ("acc_depth = 4097", r"acc_depth must be in \[1, 4096\], not 4097"),
    ("acc_width = 63", r"acc_width must be in \[0, 62\], not 63"),
    ('dataflow = "is"', r"dataflow must be one of 'ws', 'os', not 'is'"),
    ('overflow = "clip"', r"overflow must be one of 'wrap', 'saturate', not 'clip'"),
    ('mult = "dsp"', r"mult must be one of 'auto', 'lut', not 'dsp'"),
    ('a_type = "int32"', r"a_type must be an integer format int2\.\.int16 or uint1\.\.uint16, "
                         r"not 'int32'"),
    ('b_type = "q4.4"', r"b_type must be an integer format int2\.\.int16 or uint1\.\.uint16, "
                        r"not 'q4\.4'"),
    ('a_type = "float8"', r"a_type must look like int8, uint8, q4\.12 or uq0\.8, not 'float8'"),
    ('a_type = "int1"', r"a_type 'int1': a signed format needs at least 2 bits, not 1"),
    ('b_type = "int99"', r"b_type 'int99': format width must be in \[1, 64\], not 99"),
    ('name = "9lives"', r"name must be a Verilog identifier \(\[A-Za-z_\]\[A-Za-z0-9_\]\*\), "
                        r"not '9lives'"),
])
def test_out_of_range(tmp_path, line, message):
    path = write(tmp_path, f'block = "mxu"\n{line}\n')
    with pytest.raises(HwgenError, match=rf"^{where(path)}: {message}$"):
        load(path)


def test_direct_construction_raises_type_and_value_errors():
    # The dataclass itself raises TypeError / ValueError; load() turns them into HwgenError.
    with pytest.raises(TypeError, match=r"^rows must be an integer, not '4'$"):
        MXUConfig(rows="4")
    with pytest.raises(ValueError, match=r"^rows must be in \[1, 64\], not 65$"):
        MXUConfig(rows=65)


@pytest.mark.parametrize(("a", "b", "low"), [
    ("int8", "int8", 16), ("uint8", "uint8", 16), ("int16", "int16", 32), ("uint8", "int4", 12),
])
def test_acc_width_below_product_width(a, b, low):
    # The product of a and b needs exactly `low` bits (brute force):
    assert min_width(*product_range(a, b))[1] == low
    MXUConfig(a_type=a, b_type=b, acc_width=low)
    with pytest.raises(ValueError, match=rf"^acc_width must be 0 \(exact\) or in \[{low}, 62\] "
                                         rf"for {a}×{b}, not {low - 1}$"):
        MXUConfig(a_type=a, b_type=b, acc_width=low - 1)


def test_exact_acc_never_exceeds_64_bits_within_max_dim():
    # With max_k <= MAX_DIM and operands <= 16 bits the exact accumulator needs at most
    # 32 + 20 = 52 bits, so the "max_k too large" rule cannot trigger with the default limit.
    cfg = MXUConfig(a_type="int16", b_type="int16", max_k=mxu_config.MAX_DIM)
    lo, hi = product_range("int16", "int16")
    assert cfg.acc_fmt.width == min_width(lo * cfg.max_k, hi * cfg.max_k)[1] == 52


def test_max_k_too_large_for_exact_acc(monkeypatch):
    monkeypatch.setattr(mxu_config, "MAX_DIM", 1 << 40)
    with pytest.raises(ValueError, match=r"^max_k \(1099511627776\) needs a 72-bit exact "
                                         r"accumulator; set acc_width \(at most 62\) or lower "
                                         r"max_k$"):
        MXUConfig(a_type="int16", b_type="int16", max_k=1 << 40)


def test_malformed_toml(tmp_path):
    path = write(tmp_path, 'block = "mxu"\nrows = 4\ncols = \n')
    with pytest.raises(HwgenError, match=rf"^{where(path)}:3: malformed TOML: Invalid value "
                                         r"\(line 3, column 8\)$"):
        load(path)
    path = write(tmp_path, 'block = "mxu"\nrows = 4\nrows = 5\n', "dup.toml")
    with pytest.raises(HwgenError, match=rf"^{where(path)}:3: malformed TOML: "
                                         r"Cannot overwrite a value \(line 3, column \d+\)$"):
        load(path)


def test_not_utf8_toml_is_one_line(tmp_path):
    """Regression: a Latin-1 file gave a UnicodeDecodeError traceback."""
    path = tmp_path / "latin1.toml"
    path.write_bytes('block = "mxu"\n# Gr\xfc\xdfe\nrows = 4\n'.encode("latin-1"))
    with pytest.raises(HwgenError, match=rf"^{where(path)}:2: not UTF-8 text \(byte 0xfc at "
                                         r"offset 18\); TOML files must be UTF-8$"):
        load(path)


def test_missing_block_key(tmp_path):
    path = write(tmp_path, "rows = 4\n")
    with pytest.raises(HwgenError, match=rf"^{where(path)}: missing key 'block' "
                                         r"\(one of: .*\bmxu\b.*\)$"):
        load(path)


def test_nonexistent_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(HwgenError, match=rf"^config file '{where(path)}' does not exist$"):
        load(path)


def test_directory_as_config(tmp_path):
    (tmp_path / "d.toml").mkdir()
    with pytest.raises(HwgenError, match=rf"^cannot read config '{where(tmp_path / 'd.toml')}': "
                                         r"Is a directory$"):
        load(tmp_path / "d.toml")


def test_unknown_preset():
    with pytest.raises(HwgenError, match=r"^'mxu-4x4-int9' is neither a preset nor a \.toml file "
                                         r"\(did you mean 'mxu-4x4-int8'\?\); `hwgen list` shows "
                                         r"the presets$"):
        load("mxu-4x4-int9")
    with pytest.raises(HwgenError, match=r"^'qqqq' is neither a preset nor a \.toml file; "
                                         r"`hwgen list` shows the presets$"):
        load("qqqq")


def test_block_mismatch():
    with pytest.raises(HwgenError, match=r"^config: block 'other' does not match 'mxu'$"):
        MXUConfig.from_dict({"block": "other"})


# -- --set overrides --

def test_parse_overrides():
    assert parse_overrides([
        "rows=8", "a_type=int16", "bias=true", 'name="m1"', "max_k = 0x100", "name2=",
        "dataflow=os", "acc_width=-1", 'note=a=b',
    ]) == {"rows": 8, "a_type": "int16", "bias": True, "name": "m1", "max_k": 256, "name2": "",
           "dataflow": "os", "acc_width": -1, "note": "a=b"}
    assert parse_overrides(["rows=4", "rows=5"]) == {"rows": 5}     # the last one wins


@pytest.mark.parametrize("item", ["rows", "=4", " =4", ""])
def test_parse_overrides_malformed(item):
    with pytest.raises(HwgenError, match=rf"^--set takes key=value, not {re.escape(repr(item))}$"):
        parse_overrides([item])


def test_overrides_on_preset():
    info, cfg = load("mxu-3x5-uint8-bias", ["rows=8", "overflow=saturate"])
    base = presets()["mxu-3x5-uint8-bias"][1]
    assert info.name == "mxu"
    assert cfg == dataclasses.replace(base, rows=8, overflow="saturate")
    assert load("mxu-4x4-int8", {"cols": 2})[1].cols == 2
    assert load("mxu-4x4-int8")[1] is presets()["mxu-4x4-int8"][1]


def test_overrides_on_file(tmp_path):
    path = write(tmp_path, 'block = "mxu"\nrows = 2\ncols = 3\n')
    cfg = load(path, ["cols=5", "a_type=uint4"])[1]
    assert (cfg.rows, cfg.cols, cfg.a_type) == (2, 5, "uint4")


def test_override_errors(tmp_path):
    with pytest.raises(HwgenError, match=r"^preset 'mxu-4x4-int8' with --set: rows must be in "
                                         r"\[1, 64\], not 100$"):
        load("mxu-4x4-int8", ["rows=100"])
    with pytest.raises(HwgenError, match=r"^preset 'mxu-4x4-int8' with --set: unknown key 'colz' "
                                         r"for block 'mxu' \(did you mean 'cols'\?\); "
                                         rf"known keys: {KNOWN_KEYS}$"):
        load("mxu-4x4-int8", ["colz=2"])
    path = write(tmp_path, 'block = "mxu"\n')
    with pytest.raises(HwgenError, match=rf"^{where(path)} with --set: bias must be true or "
                                         r"false, not 'yes'$"):
        load(path, ["bias=yes"])


# -- presets: round trips and derived values --

def test_to_dict_from_dict_round_trip(preset):
    _, info, cfg = preset
    d = cfg.to_dict()
    assert list(d)[0] == "block" and d["block"] == info.name
    assert set(d) == {"block", *info.config.fields()}
    assert info.config.from_dict(d) == cfg
    assert info.config.from_dict({k: v for k, v in d.items() if k != "block"}) == cfg
    assert cfg.replace() == cfg


def test_preset_round_trips_through_toml(preset, tmp_path):
    _, info, cfg = preset
    path = write(tmp_path, to_toml(cfg.to_dict()))
    info2, cfg2 = load(path)
    assert info2 is info and cfg2 == cfg


def test_preset_validates(preset):
    _, info, cfg = preset
    assert info.config(**{k: v for k, v in cfg.to_dict().items() if k != "block"}) == cfg
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", cfg.module_name)


@pytest.mark.parametrize("name", sorted(get_block("mxu").presets))
def test_mxu_preset_derived_values(name):
    info, cfg = presets()[name]
    lo, hi = product_range(cfg.a_type, cfg.b_type)
    assert (cfg.product_fmt.signed, cfg.product_fmt.width) == min_width(lo, hi)
    exact = min_width(lo * cfg.max_k, hi * cfg.max_k)
    assert (cfg.exact_acc_fmt.signed, cfg.exact_acc_fmt.width) == exact
    if cfg.acc_width == 0:
        assert (cfg.acc_fmt.signed, cfg.acc_fmt.width) == exact
    else:
        assert cfg.acc_fmt.width == cfg.acc_width
        assert cfg.acc_fmt.signed == (lo < 0)
    assert cfg.acc_fmt.width >= cfg.product_fmt.width
    group = cfg.rows if cfg.dataflow == "ws" else 1
    assert cfg.group == group
    assert (cfg.psum_fmt.signed, cfg.psum_fmt.width) == min_width(lo * group, hi * group)
    for d in "mkn":
        top = getattr(cfg, f"max_{d}") - 1          # the command fields carry dimension - 1
        bits = cfg.dim_bits[d]
        assert bits >= 1 and top < 1 << bits and (bits == 1 or top >= 1 << (bits - 1))
    assert cfg.macs == cfg.rows * cfg.cols


def test_int8_exact_acc_formula():
    # For int8 x int8 the exact accumulator is 2w + ceil(log2 K) bits when K is a power of two,
    # and never wider than that otherwise (brute force decides the exact value).
    lo, hi = product_range("int8", "int8")
    for k in [*range(1, 70), 127, 128, 129, 1000, 4095, 4096, 4097, 65536, 1 << 20]:
        cfg = MXUConfig(max_k=k)
        assert (cfg.acc_fmt.signed, cfg.acc_fmt.width) == min_width(lo * k, hi * k), k
        formula = 16 + math.ceil(math.log2(k))
        assert cfg.acc_fmt.width <= formula
        if k & (k - 1) == 0:
            assert cfg.acc_fmt.width == formula


@pytest.mark.parametrize(("a", "b"), [("int8", "int8"), ("uint8", "uint8"), ("uint8", "int4"),
                                      ("int4", "uint1"), ("int2", "int2"), ("uint16", "int16")])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 64, 1000])
def test_exact_acc_width_brute_force(a, b, k):
    lo, hi = product_range(a, b)
    cfg = MXUConfig(a_type=a, b_type=b, max_k=k)
    assert (cfg.acc_fmt.signed, cfg.acc_fmt.width) == min_width(lo * k, hi * k)


def count(total, step):
    return len(range(0, total, step))


def test_tiles_brute_force():
    for cfg in (MXUConfig(rows=3, cols=5, acc_depth=4), MXUConfig(dataflow="os", rows=2, cols=3)):
        for m, k, n in [(1, 1, 1), (7, 9, 11), (4, 3, 5), (12, 6, 10)]:
            t = cfg.tiles(m, k, n)
            assert t["n_tiles"] == count(n, cfg.cols)
            if cfg.dataflow == "ws":
                assert t["k_tiles"] == count(k, cfg.rows)
                assert t["m_chunks"] == count(m, cfg.acc_depth)
            else:
                assert t["m_tiles"] == count(m, cfg.rows)


def test_example_configs_load():
    root = Path(__file__).resolve().parent.parent / "configs"
    files = sorted(root.glob("*.toml"))
    assert {f.name for f in files} >= {"mxu_4x4_int8.toml", "mxu_8x8_int8_os.toml",
                                       "mxu_2x4_int8_up5k.toml", "mxu_4x4_int16_sat_bias.toml"}
    for f in files:
        info, cfg = load(f)
        # every key is spelled out in the examples
        assert set(cfg.to_dict()) <= set(tomllib.loads(f.read_text())), f.name
