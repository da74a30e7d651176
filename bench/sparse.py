"""Sparse-engine measures for ``bench/driver.py``: effective dense-equivalent MACs per
multiplier per cycle against sparsity, each mode beside ``dense`` on the same inputs, the
speed-up goals, and area / Fmax against the goal and the reference designs (the rows
themselves are ``hwgen.blocks.sparse.BENCH``)."""

from driver import check_goals, met, num

__all__ = ["measure", "report", "COLUMNS", "GOALS"]

#: speed-up goals over ``dense`` on the same inputs: (mode, share of zeros in X or None) → ×
GOALS = {("nm", None): 1.9, ("act", 0.75): 3.0, ("act", 0.5): 1.6}
#: on fully dense input no mode may be more than 10 % slower than ``dense``
DENSE_SLACK = 1.10


def _zeros(workload: str) -> float | None:
    """The share of zeros a workload name states (``…, 75 % zeros in X``)."""
    for part in workload.split(","):
        if "% zeros" in part:
            return float(part.split("%")[0].strip()) / 100
    return None


def measure(info, data: dict) -> None:
    """Per FPGA row: Fmax against its goal, fits; per simulation row: effective MACs per
    multiplier per cycle (rows·K·n / (lanes · cycles)) and the speed-up over the ``dense`` row
    of the same preset and workload."""
    check_goals(data)
    dense = {}
    for s in data["sim"]:
        est = s.get("model") or {}
        if not s.get("cycles") or "macs" not in est:
            continue
        s["mode"] = s["cfg"]["mode"]
        s["zeros"] = _zeros(s["workload"])
        s["eff"] = est["macs"] / (s["cfg"]["lanes"] * s["cycles"])
        if s["mode"] == "dense":
            dense[(s["preset"], s["workload"])] = s
    for s in data["sim"]:
        base = dense.get((s["preset"], s["workload"]))
        if "eff" in s and base:
            s["speedup"] = base["cycles"] / s["cycles"]


COLUMNS = {
    "fpga": [("fits", lambda e: met(e.get("fits"))),
             ("Fmax goal", lambda e: met(e.get("fmax_met")))],
    "sim": [("MACs/mult/cycle", lambda s: num(s.get("eff"), 3)),
            ("× dense", lambda s: num(s.get("speedup"), 2))],
}


def _goal_rows(data: dict) -> list[tuple]:
    """(what, measured, goal text, met) for every speed-up goal that a row measures."""
    rows = []
    for s in data["sim"]:
        sp, mode, z = s.get("speedup"), s.get("mode"), s.get("zeros")
        if sp is None or mode == "dense":
            continue
        what = f"{s['config']}, {round(z * 100)} % zeros"
        goal = GOALS.get((mode, None)) or GOALS.get((mode, z))
        if goal is not None:
            rows.append((what, sp, f"≥ {goal}×", sp >= goal))
        if z == 0.0:
            rows.append((what + " (dense input)", sp, f"≥ {1 / DENSE_SLACK:.3f}× (≤ 10 % "
                         "slower)", sp >= 1 / DENSE_SLACK))
    return rows


def report(info, data: dict) -> str:
    """The speed-up goals, the sparsity table of each preset (effective MACs per multiplier
    per cycle by mode), and Fmax against the goal and the reference."""
    out = []
    goals = _goal_rows(data)
    if goals:
        out += ["## Speed-up goals (cycles of `dense` / cycles of the mode, same inputs)", "",
                "| row | measured | goal | met |", "|---|--:|---|---|"]
        out += [f"| {w} | {num(v, 2)}× | {g} | {met(ok)} |" for w, v, g, ok in goals]
        out.append("")
    table: dict = {}
    for s in data["sim"]:
        if "eff" in s and s.get("zeros") is not None:
            table.setdefault(s["preset"], {}).setdefault(s["zeros"], {})[s["mode"]] = s["eff"]
    if table:
        out += ["## Effective dense-equivalent MACs per multiplier per cycle", "",
                "rows·K·n / (lanes · cycles) over the whole job (weight loads included); 1.0 "
                "is a multiplier busy every cycle on a dense product. W is pruned to 2:4 in "
                "every mode, so every mode computes the same Y.", ""]
        for preset, by_z in table.items():
            modes = [m for m in ("nm", "act", "dense") if any(m in v for v in by_z.values())]
            out += [f"`{preset}`:", "", "| zeros in X | " + " | ".join(modes) + " |",
                    "|--:|" + "--:|" * len(modes)]
            for z in sorted(by_z):
                out.append(f"| {round(z * 100)} % | "
                           + " | ".join(num(by_z[z].get(m), 3) for m in modes) + " |")
            out.append("")
    fpga = [e for e in data["fpga"] if "fmax_mhz" in e and (e["goals"] or e["reference"])]
    if fpga:
        out += ["## Area and Fmax against the goal and the reference", "",
                "Reference: the only open 2:4 RTL found, a one-group toy (65 LUT, 2 MULT18X18D, "
                "91.5 MHz on ECP5-25k; its dense twin 82 LUT, 4 MULT18X18D) — a different "
                "scale (one group, no streams or control), quoted for its clock.", "",
                "| config | target | LUT | DSP | Fmax | goal | met |",
                "|---|---|--:|--:|--:|---|---|"]
        for e in fpga:
            goal = e["goals"].get("fmax_mhz")
            out.append(f"| {e['config']} | {e['target']} | {e['luts']} | {e['dsps']} | "
                       f"{num(e['fmax_mhz'], unit=' MHz')} | "
                       f"{'≥ ' + num(goal, unit=' MHz') if goal else 'fits'} | "
                       f"{met(e.get('fmax_met') if goal else e.get('fits'))} |")
    return "\n".join(out) + "\n" if out else ""
