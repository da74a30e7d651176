"""Softmax measures for ``bench/driver.py``: area and Fmax against the goals and the reference
designs, cycles per row against the model, and the accuracy table (the rows themselves are
``hwgen.blocks.softmax.BENCH``)."""

from driver import check_goals, met, num

from hwgen.blocks.softmax import accuracy

__all__ = ["measure", "report", "COLUMNS"]


def measure(info, data: dict) -> None:
    """Per FPGA row: LUT and Fmax against their goals (a row built at all fits its device);
    per simulation row: cycles per row and elements per cycle, measured and modelled."""
    check_goals(data)
    for s in data["sim"]:
        rows, elements = s["model"].get("rows"), s["model"].get("elements")
        if not rows:
            continue
        if s.get("cycles"):
            s["cycles_per_row"] = s["cycles"] / rows
            s["elements_per_cycle"] = elements / s["cycles"]
        if s.get("model_cycles"):
            s["model_cycles_per_row"] = s["model_cycles"] / rows


COLUMNS = {
    "fpga": [("fits", lambda e: met(e.get("fits"))),
             ("LUT goal", lambda e: met(e.get("lut_met"))),
             ("Fmax goal", lambda e: met(e.get("fmax_met")))],
    "sim": [("cycles/row (sim)", lambda s: num(s.get("cycles_per_row"))),
            ("cycles/row (model)", lambda s: num(s.get("model_cycles_per_row"))),
            ("elements/cycle", lambda s: num(s.get("elements_per_cycle"), 2))],
}


def report(info, data: dict) -> str:
    """The goals against the reference designs, then the accuracy of every preset against
    float64 (``hwgen.blocks.softmax.accuracy``)."""
    out = []
    rows = [e for e in data["fpga"] if "fmax_mhz" in e and (e["goals"] or e["reference"])]
    if rows:
        out += ["## Against the reference designs and the goals", "",
                "LUT with the harness, like the reference figures (I/O-reducing harness).", "",
                "| config | target | reference LUT | reference Fmax | LUT | goal LUT | Fmax "
                "| goal Fmax | fits |", "|---|---|--:|--:|--:|---|--:|---|---|"]
        for e in rows:
            ref, goal = e["reference"], e["goals"]
            lut_goal = f"≤ {goal['lut']}: {met(e['lut_met'])}" if "lut" in goal else "—"
            fmax_goal = (f"≥ {num(goal['fmax_mhz'], unit=' MHz')}: {met(e['fmax_met'])}"
                         if "fmax_mhz" in goal else "—")
            out.append(
                f"| {e['config']} | {e['target']} | {num(ref.get('lut'))} | "
                f"{num(ref.get('fmax_mhz'), unit=' MHz')} | {e['luts']} | {lut_goal} | "
                f"{num(e['fmax_mhz'], unit=' MHz')} | {fmax_goal} | {met(e['fits'])} |")
        out.append("")
    presets = {name: info.presets[name] for name in sorted(info.presets)}
    out += ["## Accuracy against float64", "",
            "Every preset on each data set of `hwgen/blocks/softmax/accuracy.py` (errors in "
            "output LSBs against float64 softmax of the same dequantized inputs; *floor mean* "
            "is what perfect round-to-nearest would score on the same data; row sums in LSBs "
            "from 2^F). ✗ marks a missed goal (listed below the table).", "",
            accuracy.format_table(accuracy.table(presets))]
    return "\n".join(out) + "\n"
