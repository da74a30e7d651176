"""Accuracy of the fixed-point softmax against float64: data sets, measures, goals, a table.

The one place that measures ``softmax_fixed`` against ``float_softmax(dequantize(X))``; the
benchmark and the tests both use it. Errors are in output LSBs (units of 2^−F).

Data sets (:func:`datasets`)
----------------------------
Every set is ``rows × n`` real scores quantized into ``cfg.in_fmt``: ``round(score / scale ·
2^frac)``, saturated to the format (so every input is representable). ``R`` below is the largest
real score the format holds, ``in_fmt.max · 2^−frac · scale`` (q4.4 at scale 1: 7.94).

* ``random``: normal, std 3 — ``wide``: std 8 — ``flat``: std 0.05 (with a coarse input step
  these rows are mostly equal: uniform rows). A normal std larger than ``R / 3`` is reduced to
  ``R / 3`` so that the format holds ±3 std and saturation stays rare (q4.4: 2.65 for both
  ``random`` and ``wide``).
* ``peaked``: one score per row (at a random position) 50–55 units above the rest, which are
  normal with std 2 (the rest is centred at −gap/2, the peak at +gap/2). When the format cannot
  hold ``gap/2 + 3·2 = 33.5`` the whole row (gap and std) is scaled down by ``R / 33.5`` (q4.4:
  gap ≈ 12, std ≈ 0.5).
* ``masked``: as ``random``, with valid lengths uniform in [0, n]; the first row has length 0
  (all masked) and, with two rows or more, the last row length n (all valid).
* ``ascending``: ``random`` with std 6 (capped as above), each row sorted ascending: a new max
  at (nearly: quantization can tie neighbours) every element, the online normalizer's worst case.
* ``bits4`` / ``bits8``: only 4 / 8 bits of information: integer levels in [−2^(b−1), 2^(b−1))
  times a step of ``12 / 2^b`` units (values span [−6, 6)), the step rounded to whole input
  codes, at least 1 code, and at most ``2^(w−1) / 2^(b−1)`` codes for a w-bit format (so the
  levels fit it without saturating).

Measures (:func:`measure`)
--------------------------
Over the valid elements only (masked ones are counted separately): ``max_abs_lsb`` /
``mean_abs_lsb`` of ``|P − 2^F · p_float|``; ``floor_max_lsb`` / ``floor_mean_lsb``: the same
for perfect rounding ``min(round(2^F · p_float), 2^F − 1)`` — the irreducible part (Q0.F cannot
hold 1.0); ``row_sum_lsb``: (min, max) over rows of ``Σ P − 2^F · [row has a valid element]``.

Argmax, over rows with at least one valid element: the *true argmax* is the element with the
largest input (equal inputs give equal outputs, so which of equal maxima does not matter). A row
is **untied** when its largest float probability exceeds the second largest by more than one
output LSB (``2^F · (p1 − p2) > 1``; a row with one valid element is untied).
``argmax_strict``: the share of untied rows whose output maximum is unique and at the true
argmax (None without untied rows). ``argmax_among_max``: the share of rows whose true argmax has
the row's largest output (ties allowed).

Goals (:data:`GOALS`, :func:`check_goals`)
------------------------------------------
Always: no output above ``2^F − 1`` (``p_above_one == 0``), masked outputs exactly 0, the true
argmax always among the output maxima. F > 8: max ≤ 4 LSB, mean ≤ 0.3 LSB, strict argmax 100 %
on untied rows. F = 8: max ≤ 1 LSB (saturation included: a one-hot row already errs by 1), mean
≤ 0.25 LSB — except on a data set where perfect rounding itself exceeds 0.25 (``floor_mean_lsb >
0.25``, e.g. narrow normal rows whose probabilities sit a few LSB above zero), where the goal is
``mean ≤ floor_mean + 0.01``. Row sums are reported, not a goal (independent per-element
rounding lets them drift by up to n/2 LSB).
"""

import zlib
from collections.abc import Iterable, Mapping

import numpy as np

from .golden import dequantize, float_softmax, softmax_fixed

__all__ = ["datasets", "measure", "GOALS", "goals_for", "check_goals", "table", "default_runs",
           "format_table", "DATASETS"]

DATASETS = ("random", "wide", "peaked", "flat", "masked", "ascending", "bits4", "bits8")

#: Per output class: bounds on :func:`measure` results (see the module docstring).
GOALS = {
    "q8": {"max_abs_lsb": 1.0, "mean_abs_lsb": 0.25, "floor_slack": 0.01,
           "argmax_among_max": 1.0},
    "wide": {"max_abs_lsb": 4.0, "mean_abs_lsb": 0.3, "argmax_strict": 1.0,
             "argmax_among_max": 1.0},
}

_EPS = 1e-9             # float slack on the bounds (1.0 LSB exactly meets "≤ 1 LSB")
_PEAK_GAP = (50.0, 55.0)
_PEAK_STD = 2.0


# -- data sets ------------------------------------------------------------------------------

def _limit(cfg) -> float:
    """R: the largest real score magnitude the input format holds."""
    f = cfg.in_fmt
    return f.max * 2.0 ** -f.frac * cfg.scale


def _quantize(cfg, s) -> np.ndarray:
    f = cfg.in_fmt
    return f.saturate(np.round(np.asarray(s) / cfg.scale * 2.0 ** f.frac).astype(np.int64))


def _std(cfg, std: float) -> float:
    return min(std, _limit(cfg) / 3.0)


def datasets(cfg, rng: np.random.Generator, n: int, rows: int) -> dict:
    """``{name: (X, lengths or None)}``: the named data sets (module docstring), ``rows × n``
    inputs in ``cfg.in_fmt``, drawn from ``rng`` in a fixed order (deterministic)."""
    if n < 1 or rows < 1:
        raise ValueError(f"datasets needs n ≥ 1 and rows ≥ 1, not n={n}, rows={rows}")
    shape = (rows, n)
    out = {}
    out["random"] = (_quantize(cfg, rng.normal(0.0, _std(cfg, 3.0), shape)), None)
    out["wide"] = (_quantize(cfg, rng.normal(0.0, _std(cfg, 8.0), shape)), None)

    gap = rng.uniform(*_PEAK_GAP, rows)
    a = min(1.0, _limit(cfg) / (_PEAK_GAP[1] / 2 + 3 * _PEAK_STD))
    s = rng.normal(0.0, _PEAK_STD, shape) - gap[:, None] / 2
    s[np.arange(rows), rng.integers(0, n, rows)] = gap / 2
    out["peaked"] = (_quantize(cfg, a * s), None)

    out["flat"] = (_quantize(cfg, rng.normal(0.0, _std(cfg, 0.05), shape)), None)

    lengths = rng.integers(0, n, rows, endpoint=True)
    lengths[0] = 0
    if rows > 1:
        lengths[-1] = n
    out["masked"] = (_quantize(cfg, rng.normal(0.0, _std(cfg, 3.0), shape)), lengths)

    out["ascending"] = (_quantize(cfg, np.sort(rng.normal(0.0, _std(cfg, 6.0), shape),
                                               axis=1)), None)

    unit = 2.0 ** -cfg.in_fmt.frac * cfg.scale
    for bits in (4, 8):
        cap = (1 << (cfg.in_fmt.width - 1)) >> (bits - 1)
        step = max(1, min(round(12.0 / (1 << bits) / unit), cap))
        levels = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), shape)
        out[f"bits{bits}"] = (cfg.in_fmt.saturate(levels * step), None)
    return out


# -- measures -------------------------------------------------------------------------------

def measure(cfg, X, lengths=None) -> dict:
    """Errors of ``softmax_fixed(cfg, X, lengths)`` against float64 (module docstring)."""
    X = np.asarray(X, dtype=np.int64)
    rows, n = X.shape
    lengths = np.full(rows, n, dtype=np.int64) if lengths is None else np.asarray(lengths)
    valid = np.arange(n)[None, :] < lengths[:, None]
    one = 1 << cfg.out_frac
    P = softmax_fixed(cfg, X, lengths)
    ref = float_softmax(dequantize(cfg, X), lengths) * one
    err = np.abs(P - ref)[valid]
    perfect = np.minimum(np.round(ref), one - 1)
    floor = np.abs(perfect - ref)[valid]

    has = lengths > 0
    sums = P.sum(axis=1) - one * has
    refm = np.where(valid, ref, -np.inf)
    outm = np.where(valid, P, -1)
    true = np.argmax(np.where(valid, X, np.iinfo(np.int64).min), axis=1)
    top2 = -np.sort(-np.hstack([refm, np.full((rows, 1), -np.inf)]), axis=1)[:, :2]
    with np.errstate(invalid="ignore"):             # -inf - -inf in rows without valid elements
        untied = has & (top2[:, 0] - top2[:, 1] > 1.0)
    pmax = outm.max(axis=1)
    among = outm[np.arange(rows), true] == pmax
    strict = among & ((outm == pmax[:, None]).sum(axis=1) == 1)

    def mean(a):
        return float(a.mean()) if a.size else 0.0

    return {
        "rows": int(rows),
        "elements": int(valid.sum()),
        "max_abs_lsb": float(err.max()) if err.size else 0.0,
        "mean_abs_lsb": mean(err),
        "floor_max_lsb": float(floor.max()) if floor.size else 0.0,
        "floor_mean_lsb": mean(floor),
        "row_sum_lsb": (int(sums.min()), int(sums.max())),
        "untied_rows": int(untied.sum()),
        "argmax_strict": float(strict[untied].mean()) if untied.any() else None,
        "argmax_among_max": float(among[has].mean()) if has.any() else None,
        "p_above_one": int((P > one - 1).sum()),
        "masked_nonzero": int((P[~valid] != 0).sum()),
    }


# -- goals ----------------------------------------------------------------------------------

def goals_for(cfg) -> dict:
    """The :data:`GOALS` entry of ``cfg``: ``q8`` for F = 8, ``wide`` for F > 8."""
    return GOALS["q8"] if cfg.out_frac <= 8 else GOALS["wide"]


def check_goals(cfg, result: dict) -> list[str]:
    """The goals ``result`` (of :func:`measure`) violates, as readable strings; [] = all met."""
    g = goals_for(cfg)
    F = cfg.out_frac
    bad = []
    if result["p_above_one"]:
        bad.append(f"p_above_one = {result['p_above_one']} outputs above 2^{F} - 1")
    if result["masked_nonzero"]:
        bad.append(f"masked_nonzero = {result['masked_nonzero']} masked outputs not 0")
    mx = result["max_abs_lsb"]
    if mx > g["max_abs_lsb"] + _EPS:
        bad.append(f"max_abs_lsb {mx:.4f} > {g['max_abs_lsb']} (F = {F})")
    mean, floor = result["mean_abs_lsb"], result["floor_mean_lsb"]
    bound = g["mean_abs_lsb"]
    why = ""
    if "floor_slack" in g and floor > bound:
        bound, why = floor + g["floor_slack"], f" (floor_mean {floor:.4f} + {g['floor_slack']})"
    if mean > bound + _EPS:
        bad.append(f"mean_abs_lsb {mean:.4f} > {bound:.4f}{why} (F = {F})")
    for key, what in (("argmax_strict", "strict argmax on untied rows"),
                      ("argmax_among_max", "true argmax among the output maxima")):
        if key in g and result[key] is not None and result[key] < g[key] - _EPS:
            bad.append(f"{key} {100 * result[key]:.2f} % < {100 * g[key]:.0f} % ({what})")
    return bad


# -- the table ------------------------------------------------------------------------------

def _rows_for(n: int) -> int:
    return 200 if n <= 256 else max(4, (1 << 15) // n)


def default_runs(cfg) -> list[tuple[int, int]]:
    """``[(n, rows), ...]``: n = min(64, max_len) with 200 rows, plus n = max_len with
    ``max(4, 2^15 // max_len)`` rows when max_len > 256 (4096: 8 rows)."""
    n = min(64, cfg.max_len)
    runs = [(n, _rows_for(n))]
    if cfg.max_len > 256:
        runs.append((cfg.max_len, _rows_for(cfg.max_len)))
    return runs


def _runs(spec, cfg) -> list[tuple[int, int]]:
    if spec is None:
        return default_runs(cfg)
    if isinstance(spec, int):
        spec = [spec]
    return [(int(s), _rows_for(int(s))) if isinstance(s, int) else (int(s[0]), int(s[1]))
            for s in spec]


def table(cfgs_and_names, n_by_cfg: Mapping | None = None, *, seed: int = 0) -> list[dict]:
    """One row per (config, run, data set): ``{config, data, len, **measure(), violations}``.

    ``cfgs_and_names``: a mapping name → config or (name, config) pairs. ``n_by_cfg`` (by name,
    optional): an int n, or a list of ints n and/or (n, rows) pairs; default
    :func:`default_runs`. Each (name, n) draws from its own seeded generator (deterministic).
    """
    items: Iterable = (cfgs_and_names.items() if isinstance(cfgs_and_names, Mapping)
                       else cfgs_and_names)
    out = []
    for name, cfg in items:
        for n, rows in _runs((n_by_cfg or {}).get(name), cfg):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), n])
            for data, (X, lengths) in datasets(cfg, rng, n, rows).items():
                res = measure(cfg, X, lengths)
                out.append({"config": name, "data": data, "len": n, **res,
                            "violations": check_goals(cfg, res)})
    return out


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def format_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`table` rows; goal violations are listed under it."""
    head = ["config", "data set", "len", "max LSB", "mean LSB", "floor mean", "row-sum range",
            "argmax strict %", "argmax among maxima %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for r in rows:
        lo, hi = r["row_sum_lsb"]
        mark = " ✗" if r["violations"] else ""
        lines.append(f"| {r['config']} | {r['data']}{mark} | {r['len']} | "
                     f"{r['max_abs_lsb']:.3f} | {r['mean_abs_lsb']:.3f} | "
                     f"{r['floor_mean_lsb']:.3f} | [{lo:+d}, {hi:+d}] | "
                     f"{_pct(r['argmax_strict'])} | {_pct(r['argmax_among_max'])} |")
        notes += [f"- {r['config']} / {r['data']} / {r['len']}: {v}" for v in r["violations"]]
    if notes:
        lines += ["", "Goals missed (✗):", *notes]
    return "\n".join(lines)


if __name__ == "__main__":        # python -m hwgen.blocks.softmax.accuracy
    from .config import PRESETS
    print(format_table(table(PRESETS)))
