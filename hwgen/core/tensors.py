"""User tensors: a block's input/output arrays as data, one validator, and npz reading/writing."""

import dataclasses
import errno
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .errors import HwgenError
from .numerics import NumFormat

__all__ = ["Array", "Tensors", "read_npz", "write_npz", "check_writable", "NPZ_MAGIC"]

#: The first bytes of every npz (a zip archive) and of a plain .npy file.
NPZ_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Array:
    """One named integer array of a block's user tensors (an input or an output).

    Members
    -------
    name : str
        The key in the npz (``A``, ``ops``).
    doc : str
        One line for the docs and ``hwgen generate``.
    dims : tuple of str or int
        The shape: a symbol (``"M"``) is a size shared with other arrays (and the model); an int
        is a fixed size. Symbols get their allowed range from :attr:`Tensors.sizes`.
    fmt : callable, optional
        ``fmt(cfg) -> NumFormat``: every element must lie in its range (inputs); outputs are
        written as int64 whatever it is.
    required : bool
        Inputs only: an optional array may be left out (the block says what that means).
    forbidden : callable, optional
        Inputs only: ``forbidden(cfg) -> str | None``, why this config does not take the array
        (``"the config has bias = false"``), or None when it does.
    """

    name: str
    doc: str
    dims: tuple
    fmt: Callable[..., NumFormat] | None = None
    required: bool = True
    forbidden: Callable[..., str | None] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"array name must be a Python identifier, not {self.name!r}")
        for d in self.dims:
            if not (isinstance(d, str) and d.isidentifier()) and not (
                    isinstance(d, int) and not isinstance(d, bool) and d >= 0):
                raise ValueError(f"array {self.name}: a dimension must be a symbol or a size, "
                                 f"not {d!r}")

    @property
    def shape_text(self) -> str:
        """``(M, K)``: the symbolic shape."""
        return "(" + ", ".join(map(str, self.dims)) + ("," if len(self.dims) == 1 else "") + ")"


def _where(name: str, index) -> str:
    return f"{name}[{', '.join(map(str, index))}]"


def _bounds(x: np.ndarray) -> tuple[int, tuple, int, tuple]:
    """``(min, index of min, max, index of max)`` as exact Python ints (uint64 too)."""
    lo_i = np.unravel_index(int(np.argmin(x)), x.shape)
    hi_i = np.unravel_index(int(np.argmax(x)), x.shape)
    return int(x[lo_i]), tuple(map(int, lo_i)), int(x[hi_i]), tuple(map(int, hi_i))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tensors:
    """The user-tensor schema of a block: what ``hwgen sim --inputs/--outputs`` reads and writes.

    Members
    -------
    inputs, outputs : tuple of Array
        In npz order. An outputs npz also holds ``cycles`` (the measured cycle count).
    sizes : callable
        ``sizes(cfg) -> {symbol: (lo, hi, why)}``: the allowed range of every dimension symbol
        of the inputs, and what sets it (``"max_m"``).
    example : callable
        ``example(cfg, rng) -> {name: array}``: a small valid input set (tests, docs, demo).
    check : callable, optional
        ``check(cfg, arrays)``: rules beyond shapes and ranges, on the validated int64 arrays;
        raises ``ValueError`` naming the array, the rule and the offending value.
    shape : callable, optional
        ``shape(cfg, arrays) -> dict``: the keyword arguments of the block's ``model`` for these
        inputs; by default the dimension symbols and their sizes.
    """

    inputs: tuple
    outputs: tuple
    sizes: Callable[..., dict]
    example: Callable[..., dict]
    check: Callable[..., None] | None = None
    shape: Callable[..., dict] | None = None

    def __post_init__(self):
        names = [a.name for a in (*self.inputs, *self.outputs)]
        dup = {n for n in names if names.count(n) > 1}
        if dup or "cycles" in names:
            raise ValueError(f"array names must be unique and not 'cycles': {sorted(dup)}")

    @property
    def input_names(self) -> list[str]:
        return [a.name for a in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [a.name for a in self.outputs]

    def validate(self, cfg, arrays: Mapping, *, block: str = "") -> dict[str, np.ndarray]:
        """Check ``arrays`` against the schema for ``cfg``; return them as int64 arrays.

        Raises ``ValueError`` with one line naming the array, the rule and the offending value
        (its index for a value out of range). Optional arrays that are absent (or None) are
        left out of the result.
        """
        of_block = f" for block {block!r}" if block else ""
        expected = f"expected arrays: {', '.join(self.input_names)}"
        known = {a.name: a for a in self.inputs}
        given = {k: v for k, v in arrays.items() if v is not None}
        for key in given:
            if key not in known:
                raise ValueError(f"unexpected array {key!r}{of_block} ({expected})")
        sizes = self.sizes(cfg)
        bound: dict[str, tuple[int, str]] = {}
        out = {}
        for spec in self.inputs:
            if spec.name not in given:
                if spec.required:
                    raise ValueError(f"missing array {spec.name!r}{of_block} ({expected})")
                continue
            if spec.forbidden is not None:
                why = spec.forbidden(cfg)
                if why:
                    raise ValueError(f"{spec.name} given but {why}")
            out[spec.name] = self._check_array(spec, np.asarray(given[spec.name]), cfg, sizes,
                                               bound)
        if self.check is not None:
            self.check(cfg, out)
        return out

    def _check_array(self, spec: Array, x: np.ndarray, cfg, sizes, bound) -> np.ndarray:
        name = spec.name
        if x.dtype.kind not in "iub":
            raise ValueError(f"{name} must be an integer array, not dtype {x.dtype}")
        if x.ndim != len(spec.dims):
            raise ValueError(f"{name} must be {len(spec.dims)}-D {spec.shape_text}, "
                             f"not shape {x.shape}")
        for dim, n in zip(spec.dims, x.shape, strict=True):
            if isinstance(dim, int):
                if n != dim:
                    raise ValueError(f"{name} must have shape {spec.shape_text}, not {x.shape}")
                continue
            if dim in bound:
                want, source = bound[dim]
                if n != want:
                    raise ValueError(f"{name} must have shape {spec.shape_text} with {dim} = "
                                     f"{want} as in {source}, not {x.shape}")
                continue
            if dim in sizes:
                lo, hi, why = sizes[dim]
                if not lo <= n <= hi:
                    rule = f"{lo}" if lo == hi else f"in [{lo}, {hi}]"
                    raise ValueError(f"{name} has {dim} = {n} (shape {x.shape}); {dim} must be "
                                     f"{rule} ({why})")
            bound[dim] = (n, f"{name} {x.shape}")
        fmt = spec.fmt(cfg) if spec.fmt is not None else None
        if fmt is not None and x.size:
            lo, lo_i, hi, hi_i = _bounds(x)
            if lo < fmt.min or hi > fmt.max:
                bad, idx = (lo, lo_i) if lo < fmt.min else (hi, hi_i)
                raise ValueError(f"{name} must hold {fmt.name} values in [{fmt.min}, {fmt.max}], "
                                 f"not {bad} (at {_where(name, idx)})")
        elif x.dtype == np.uint64 and x.size and int(x.max()) > np.iinfo(np.int64).max:
            lo, lo_i, hi, hi_i = _bounds(x)
            raise ValueError(f"{name} must hold values below 2**63, not {hi} "
                             f"(at {_where(name, hi_i)})")
        return x.astype(np.int64)

    def dims_of(self, arrays: Mapping) -> dict[str, int]:
        """The size of every dimension symbol in (validated) ``arrays``."""
        out = {}
        for spec in self.inputs:
            if spec.name in arrays:
                for dim, n in zip(spec.dims, np.shape(arrays[spec.name]), strict=True):
                    if isinstance(dim, str):
                        out.setdefault(dim, int(n))
        return out

    def model_shape(self, cfg, arrays: Mapping) -> dict:
        """The ``model`` keyword arguments for (validated) ``arrays``."""
        if self.shape is not None:
            return self.shape(cfg, arrays)
        return self.dims_of(arrays)

    def describe(self, cfg) -> dict:
        """The schema as JSON-able data (for the manifest and the docs)."""
        def one(a: Array):
            fmt = a.fmt(cfg).name if a.fmt is not None else None
            d = {"name": a.name, "shape": list(a.dims), "format": fmt, "doc": a.doc}
            return d | ({"required": a.required} if a in self.inputs else {})
        sizes = {k: {"min": lo, "max": hi, "set_by": why}
                 for k, (lo, hi, why) in self.sizes(cfg).items()}
        return {"inputs": [one(a) for a in self.inputs],
                "outputs": [one(a) for a in self.outputs], "sizes": sizes}


# -- npz files --

def read_npz(path, what: str = "inputs file") -> dict[str, np.ndarray]:
    """Every array of the npz archive ``path``; ``HwgenError`` (one line) on anything else.

    A missing file, a plain ``.npy`` file, a file that is not an npz archive, a damaged
    archive and object (pickled) arrays are each named as such.
    """
    path = Path(path)
    if not path.exists():
        raise HwgenError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise HwgenError(f"{what} {str(path)!r} is a directory, not an .npz file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise HwgenError(f"{what} {str(path)!r} cannot be read: {e.strerror}") from e
    if head.startswith(_NPY_MAGIC):
        raise HwgenError(f"{path}: a .npy file (one unnamed array), not an npz archive; save the "
                         f"named arrays with numpy.savez(path, NAME=array, ...)")
    if not head.startswith(NPZ_MAGIC) or not zipfile.is_zipfile(path):
        raise HwgenError(f"{path}: not an npz archive (numpy.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise HwgenError(f"{path}: holds an object (pickled) array; save integer "
                             f"arrays") from e
        raise HwgenError(f"{path}: damaged npz archive ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise HwgenError(f"{path}: damaged npz archive ({e})") from e


def check_writable(path, what: str = "outputs file") -> Path:
    """Check, before any work, that a file can be created at ``path`` (then removed again).

    ``HwgenError`` says what is wrong: a directory at the path, a parent that is a file, or the
    system's reason (permission, read-only file system, ...).
    """
    path = Path(path)
    if path.is_dir():
        raise HwgenError(f"{what} {str(path)!r} is a directory")
    parent = path.parent
    for p in (parent, *parent.parents):
        if p.exists():
            if not p.is_dir():
                raise HwgenError(f"{what} {str(path)!r} cannot be written: {str(p)!r} is a "
                                 f"file, not a directory")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with open(path, "ab"):
                pass
        else:
            fd, probe = tempfile.mkstemp(dir=parent, prefix=".hwgen-probe-")
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        reason = e.strerror or errno.errorcode.get(e.errno or 0, str(e))
        raise HwgenError(f"{what} {str(path)!r} cannot be written: {reason}") from e
    return path


def write_npz(path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` (``numpy.savez``), complete or not at all."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return path
