"""Compare expected and actual results; report the FIRST mismatch (index, expected, actual)."""

import json
import os

import numpy as np

__all__ = ["first_mismatch", "check_equal", "Mismatch"]


class Mismatch(AssertionError):
    """Expected and actual results differ.

    Members
    -------
    what : str
    index : int or tuple or None
        Position of the first mismatch (``None`` for a length/shape mismatch).
    expected, actual
        The values at ``index`` (or the lengths/shapes).
    count : int
        How many positions differ (0 for a length/shape mismatch).
    """

    def __init__(self, what, index, expected, actual, count, context=""):
        self.what = what
        self.index = index
        self.expected = expected
        self.actual = actual
        self.count = count
        if index is None:
            msg = f"{what}: expected {expected}, got {actual}"
        else:
            msg = (f"{what}: first mismatch at index {index}: expected {expected!r}, "
                   f"actual {actual!r} ({count} mismatching in total)")
        if context:
            msg += f"; {context}"
        super().__init__(msg)


def _to_py(x):
    if isinstance(x, np.generic):
        return x.item()
    return x


def first_mismatch(expected, actual):
    """``None`` if equal, else ``(index, expected_value, actual_value, count)``.

    Numpy arrays compare element-wise (``index`` is a tuple); sequences compare item by item
    (``index`` is an int). A shape or length difference gives ``index = None`` with the shapes
    or lengths as values.
    """
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        e = np.asarray(expected)
        a = np.asarray(actual)
        if e.shape != a.shape:
            return None, f"shape {e.shape}", f"shape {a.shape}", 0
        diff = np.argwhere(e != a)
        if not len(diff):
            return None
        idx = tuple(int(i) for i in diff[0])
        return idx, _to_py(e[idx]), _to_py(a[idx]), len(diff)
    e = list(expected)
    a = list(actual)
    bad = [i for i, (x, y) in enumerate(zip(e, a, strict=False)) if x != y]
    if bad:
        return bad[0], e[bad[0]], a[bad[0]], len(bad) + abs(len(e) - len(a))
    if len(e) != len(a):
        return None, f"{len(e)} items", f"{len(a)} items", 0
    return None


def check_equal(what: str, expected, actual, *, context: str = "", log=None) -> None:
    """Raise ``Mismatch`` (an ``AssertionError``) describing the first difference, if any.

    ``context`` (e.g. the shapes and seed) is appended to the message; ``log`` gets it as an error
    line before raising.

    Every call is one checked transaction: with ``HWGEN_CHECKS`` set, it appends a JSON line
    ``{"what", "ok", "message", "context"}`` to that file, which ``hwgen.flow.sim.run`` counts
    (``transactions``) and reads the first mismatch from.
    """
    m = first_mismatch(expected, actual)
    err = None if m is None else Mismatch(what, m[0], m[1], m[2], m[3], context)
    _record(what, err, context)
    if err is None:
        return
    if log is not None:
        log.error("%s", err)
    raise err


def _record(what: str, err, context: str) -> None:
    path = os.environ.get("HWGEN_CHECKS")
    if not path:
        return
    entry = {"what": what, "ok": err is None, "message": "" if err is None else str(err),
             "context": context}
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")
