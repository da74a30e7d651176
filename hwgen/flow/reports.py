"""Reading Yosys and nextpnr reports: cell counts, area figures, Fmax, the critical path.

The one parser of tool reports: ``hwgen fpga`` and the benchmark both take their figures here.
"""

import json
from pathlib import Path

__all__ = ["AREA_KEYS", "yosys_cells", "pnr_area", "block_area", "fmax", "critical_path"]

#: The area figures every report has.
AREA_KEYS = ("luts", "ffs", "dsps", "brams")


def yosys_cells(stat_path: Path, top: str) -> dict[str, int]:
    """Cell type → count of module ``top`` in a ``stat -json`` report (Yosys' internal ``$``
    cells left out)."""
    stat = json.loads(Path(stat_path).read_text())
    mods = stat.get("modules", {})
    mod = mods.get(f"\\{top}") or mods.get(top) or stat.get("design", {})
    return {k: v for k, v in sorted(mod.get("num_cells_by_type", {}).items())
            if not k.startswith("$")}


def _cell_sum(weights: dict, cells: dict) -> int:
    total = 0
    for key, w in weights.items():
        if key.endswith("*"):
            total += w * sum(n for c, n in cells.items() if c.startswith(key[:-1]))
        else:
            total += w * cells.get(key, 0)
    return total


def block_area(rules: dict, cells: dict) -> dict[str, int]:
    """The area figures of a synthesized block from its Yosys cell counts, by the target's
    ``[report.block]`` rules (a weighted sum, or the largest of a list of them)."""
    out = {}
    for key in AREA_KEYS:
        rule = rules[key]
        sums = rule if isinstance(rule, list) else [rule]
        out[key] = max(_cell_sum(s, cells) for s in sums)
    return out


def pnr_area(sources: dict, utilization: dict, cells: dict) -> dict[str, int]:
    """The area figures after place and route, by the target's ``[report]`` sources:
    ``nextpnr:<cell>`` is the cell's ``used`` count in nextpnr's report, ``yosys:<prefix>*``
    sums Yosys cells (``cells``) whose type starts with the prefix."""
    out = {}
    for key in AREA_KEYS:
        kind, _, what = sources[key].partition(":")
        if kind == "nextpnr":
            out[key] = int(utilization.get(what, {}).get("used", 0))
        else:
            out[key] = _cell_sum({what: 1}, cells)
    return out


def fmax(report: dict) -> float | None:
    """The lowest achieved Fmax over the clocks of a nextpnr ``--report`` JSON, in MHz."""
    achieved = [c["achieved"] for c in report.get("fmax", {}).values() if "achieved" in c]
    return round(min(achieved), 2) if achieved else None


def critical_path(report: dict) -> dict | None:
    """The worst register-to-register path of a nextpnr ``--report`` JSON, summarized."""
    best = None
    for cp in report.get("critical_paths", []):
        if "<async>" in (cp.get("from"), cp.get("to")) or not cp.get("path"):
            continue
        path = cp["path"]
        total = sum(seg.get("delay", 0.0) for seg in path)
        if best is not None and total <= best["delay_ns"]:
            continue
        by_type: dict[str, float] = {}
        for seg in path:
            kind = seg.get("type", "other").replace("-", "_")
            by_type[kind] = by_type.get(kind, 0.0) + seg.get("delay", 0.0)
        best = {
            "clock": cp.get("from", ""),
            "from": path[0].get("from", {}).get("cell", ""),
            "to": path[-1].get("to", {}).get("cell", ""),
            "delay_ns": round(total, 3),
            # nextpnr counts each carry-chain step as a logic segment
            "logic_segments": sum(1 for seg in path if seg.get("type") == "logic"),
            **{f"{kind}_ns": round(ns, 3) for kind, ns in sorted(by_type.items())},
        }
    return best
