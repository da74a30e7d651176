"""KV-cache measures for ``bench/driver.py``: Fmax against the goal and the reference design,
rows moved per cycle (measured in simulation), and memory efficiency of paged allocation
against contiguous ``max_seq`` regions (the rows themselves are ``hwgen.blocks.kvcache.BENCH``).
"""

import numpy as np
from driver import check_goals, met, num, pct

from hwgen.blocks.kvcache import KVCacheModel

__all__ = ["measure", "report", "COLUMNS", "efficiency"]

FILL, FILL_READ = "fill:", "fill, then"


def measure(info, data: dict) -> None:
    """Per FPGA row: Fmax against its goal; per simulation row: rows (appended + read, per
    output port) per cycle, and for a preset with both a fill job and a fill-then-read job, the
    read rate alone: read rows / (cycles of fill + read − cycles of fill)."""
    check_goals(data)
    fills = {}
    for s in data["sim"]:
        est = s.get("model") or {}
        if not s.get("cycles") or "append_rows" not in est:
            continue
        s["rows_per_cycle"] = (est["append_rows"] + est["read_rows"]) / s["cycles"]
        if s["workload"].startswith(FILL):
            fills[s["config"]] = s
            s["append_rate"] = est["append_rows"] / s["cycles"]
    for s in data["sim"]:
        base = fills.get(s["config"])
        if s["workload"].startswith(FILL_READ) and base and s.get("cycles") and s.get("model"):
            s["read_rate"] = s["model"]["read_rows"] / (s["cycles"] - base["cycles"])


COLUMNS = {
    "fpga": [("fits", lambda e: met(e.get("fits"))),
             ("Fmax goal", lambda e: met(e.get("fmax_met")))],
    "sim": [("rows/cycle", lambda s: num(s.get("rows_per_cycle"), 3)),
            ("append rows/cycle", lambda s: num(s.get("append_rate"), 3)),
            ("read rows/cycle", lambda s: num(s.get("read_rate"), 3))],
}


def efficiency(cfg, *, steps: int = 4000, seed: int = 1) -> dict:
    """Serve random requests on ``cfg``'s cache: each sequence slot takes a request whose
    length is uniform in 1 … max_seq (or what the pool allows), appends its tokens one at a
    time interleaved with the other sequences, and is freed when done (then a new request
    starts). After every step: stored tokens / allocated token slots, for the paged cache
    (pages in use × page_size) and for contiguous allocation (a ``max_seq`` region per active
    sequence). Returns the means, and the mean waste per sequence in pages."""
    rng = np.random.default_rng(seed)
    st = KVCacheModel(cfg)
    limit = cfg.seq_limit
    target = [int(rng.integers(1, limit + 1)) for _ in range(cfg.num_seqs)]
    paged, contiguous, waste, oop = [], [], [], 0
    for _ in range(steps):
        s = int(rng.integers(cfg.num_seqs))
        status = st.append(s, 0, 0)
        if status != 0 or st.length[s] >= target[s]:
            oop += status != 0
            st.free(s)
            target[s] = int(rng.integers(1, limit + 1))
        stored = sum(min(n, cfg.window) if cfg.window else n for n in st.length)
        active = sum(1 for n in st.length if n)
        pages = len({p for q in range(cfg.num_seqs) for p in st.pages_of(q)})
        if stored:
            paged.append(stored / (pages * cfg.page_size))
            contiguous.append(stored / (active * (cfg.window or limit)))
            waste.append((pages * cfg.page_size - stored) / active / cfg.page_size)
    return {"paged": float(np.mean(paged)), "contiguous": float(np.mean(contiguous)),
            "waste_pages_per_seq": float(np.mean(waste)), "steps": steps,
            "out_of_pages": oop}


def report(info, data: dict) -> str:
    """Goals against the reference design, then memory efficiency on every preset."""
    out = []
    rows = [e for e in data["fpga"] if "fmax_mhz" in e and (e["goals"] or e["reference"])]
    if rows:
        out += ["## Against the reference design and the goals", "",
                "The reference: the only open-source FPGA KV cache found, flat address-mapped "
                "storage (no pages, no sequences, no errors), one 16-bit element a cycle, "
                "≈ 70 MHz on ECP5-25k. Goals: ≥ 150 MHz on ECP5-25k, ≥ 0.95 rows a cycle "
                "appended and read (simulation table), waste below one page per sequence.", "",
                "| config | target | reference Fmax | Fmax | goal | fits |",
                "|---|---|--:|--:|---|---|"]
        for e in rows:
            goal = e["goals"]
            fmax_goal = (f"≥ {num(goal['fmax_mhz'], unit=' MHz')}: {met(e['fmax_met'])}"
                         if "fmax_mhz" in goal else "—")
            out.append(f"| {e['config']} | {e['target']} | "
                       f"{num(e['reference'].get('fmax_mhz'), unit=' MHz')} | "
                       f"{num(e['fmax_mhz'], unit=' MHz')} | {fmax_goal} | {met(e['fits'])} |")
        out.append("")
    out += ["## Memory efficiency", "",
            "Random requests (lengths uniform in 1 … max_seq) served by every sequence slot, "
            "tokens appended one at a time across the slots, a slot freed and refilled when "
            "its request ends (golden model, which allocates exactly as the hardware does). "
            "Efficiency = stored tokens / allocated token slots, averaged over the steps: paged "
            "(pages in use × page_size) against contiguous allocation (one max_seq region — "
            "or a window — per active sequence). Waste is in pages per active sequence "
            "(goal: below one).", "",
            "| preset | paged | contiguous | waste (pages/seq) | requests cut by OUT_OF_PAGES |",
            "|---|--:|--:|--:|--:|"]
    for name in sorted(info.presets):
        e = efficiency(info.presets[name])
        out.append(f"| `{name}` | {pct(e['paged'])} | {pct(e['contiguous'])} | "
                   f"{num(e['waste_pages_per_seq'], 2)} | {e['out_of_pages']} |")
    return "\n".join(out) + "\n"


