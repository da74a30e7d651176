"""MXU measures for ``bench/driver.py``: LUT/MAC, GMAC/s and utilization, against the goals and
the reference array of each row (the rows themselves are ``hwgen.blocks.mxu.BENCH``)."""

from driver import met, num, pct

__all__ = ["measure", "report", "COLUMNS", "GOAL_UTILIZATION"]

#: Share of the peak MACs/cycle a long GEMM must reach (every simulation row).
GOAL_UTILIZATION = 0.95


def _macs(info, entry) -> int:
    cfg = info.config.from_dict(entry["cfg"])
    return cfg.rows * cfg.cols


def array_name(info, entry) -> str:
    """The row's array as users name it: ``12×12 int8 WS``, ``4×4 int8 WS, LUT multipliers``."""
    cfg = info.config.from_dict(entry["cfg"])
    ops = cfg.a_type if cfg.a_type == cfg.b_type else f"{cfg.a_type}×{cfg.b_type}"
    name = f"{cfg.rows}×{cfg.cols} {ops} {cfg.dataflow.upper()}"
    return name + (", LUT multipliers" if cfg.mult == "lut" else "")


def measure(info, data: dict) -> None:
    """Per FPGA row: LUT/MAC (with harness and for the block alone), peak and effective GMAC/s
    (with the measured utilization of the same config), goals met; per simulation row:
    utilization against its goal."""
    util = {(s["preset"], tuple(sorted(s["overrides"].items()))): s.get("utilization")
            for s in data["sim"] if "error" not in s}
    for s in data["sim"]:
        if "cfg" in s:
            s["array"] = array_name(info, s)
        if s.get("utilization") is not None:
            s["utilization_met"] = s["utilization"] >= GOAL_UTILIZATION
    for e in data["fpga"]:
        if "cfg" in e:
            e["array"] = array_name(info, e)
        if "fmax_mhz" not in e:
            continue
        macs = _macs(info, e)
        u = util.get((e["preset"], tuple(sorted(e["overrides"].items()))))
        block = (e.get("block_area") or {}).get("luts")
        goals = e["goals"]
        e.update({
            "macs": macs, "lut_per_mac": e["luts"] / macs,
            "block_lut_per_mac": block / macs if block is not None else None,
            "gmacs_peak": macs * e["fmax_mhz"] / 1000, "utilization": u,
            "gmacs_effective": macs * e["fmax_mhz"] / 1000 * u if u is not None else None,
            "lut_per_mac_met": (e["luts"] / macs <= goals["lut_per_mac"]
                                if "lut_per_mac" in goals else None),
            "block_lut_per_mac_met": (block / macs <= goals["lut_per_mac"]
                                      if "lut_per_mac" in goals and block is not None else None),
            "fmax_met": e["fmax_mhz"] >= goals["fmax_mhz"] if "fmax_mhz" in goals else None,
            "macs_met": macs >= goals["macs"] if "macs" in goals else None,
            "gmacs_met": (macs * e["fmax_mhz"] / 1000 >= goals["gmacs"]
                          if "gmacs" in goals else None),
        })


COLUMNS = {
    "fpga": [("array", lambda e: e.get("array", "")),
             ("LUT/MAC", lambda e: num(e.get("lut_per_mac"))),
             ("block LUT/MAC", lambda e: num(e.get("block_lut_per_mac"))),
             ("peak GMAC/s", lambda e: num(e.get("gmacs_peak"), 2)),
             ("util.", lambda e: pct(e.get("utilization"))),
             ("effective GMAC/s", lambda e: num(e.get("gmacs_effective"), 2))],
    "sim": [("array", lambda s: s.get("array", "")),
            ("utilization (sim)", lambda s: pct(s.get("utilization"))),
            ("utilization (model)", lambda s: pct(s["model"].get("utilization"))),
            (f"≥ {100 * GOAL_UTILIZATION:.0f} %", lambda s: met(s.get("utilization_met")))],
}


def _goal(goal: dict, key: str, fmt) -> str:
    return fmt(goal[key]) if key in goal else "—"


def report(info, data: dict) -> str:
    """The goals table: each FPGA row, named by its array, against the reference array and the
    goals."""
    rows = [e for e in data["fpga"] if "fmax_mhz" in e and (e["goals"] or e["reference"])]
    if not rows:
        return ""
    out = ["## Against the reference array and the goals", "",
           "LUT/MAC with the harness and for the block alone; peak GMAC/s = MACs × Fmax; "
           "utilization = M·K·N / (cycles · rows · cols) of the simulated GEMM.", "",
           "| array | config | target | reference LUT/MAC | reference Fmax "
           "| LUT/MAC (harness / block) | goal LUT/MAC | met | Fmax | goal Fmax | met "
           "| peak GMAC/s | goal | met |",
           "|---|---|---|--:|--:|--:|--:|---|--:|--:|---|--:|--:|---|"]
    for e in rows:
        ref, goal = e["reference"], e["goals"]
        lut_goal = _goal(goal, "lut_per_mac", lambda v: f"≤ {num(v)}")
        lut_met = (f"{met(e['lut_per_mac_met'])} / {met(e['block_lut_per_mac_met'])}"
                   if "lut_per_mac" in goal else "—")
        gmacs_goal = _goal(goal, "gmacs", lambda v: f"≥ {num(v)}") + (
            f" ({goal['macs']}+ MACs)" if "macs" in goal else "")
        gmacs_met = " / ".join(met(e[k]) for k in ("macs_met", "gmacs_met") if e.get(k)
                               is not None) or "—"
        out.append(
            f"| {e.get('array', '')} | {e['config']} | {e['target']} | "
            f"{num(ref.get('lut_per_mac'))} | {num(ref.get('fmax_mhz'), unit=' MHz')} | "
            f"{num(e['lut_per_mac'])} / {num(e['block_lut_per_mac'])} | {lut_goal} | "
            f"{lut_met} | {num(e['fmax_mhz'], unit=' MHz')} | "
            f"{_goal(goal, 'fmax_mhz', lambda v: '≥ ' + num(v, unit=' MHz'))} | "
            f"{met(e['fmax_met'])} | {num(e['gmacs_peak'], 2)} | {gmacs_goal} | {gmacs_met} |")
    return "\n".join(out) + "\n"
