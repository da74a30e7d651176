"""The one benchmark driver: every block's rows (``BlockInfo.bench``) as jobs in a pool of worker
processes, with progress; tool versions, git provenance and a report header; then each block's
bench module (``bench/<block>.py``) adds its measures and tables.

Run from the repository root (``make bench`` does; ``make bench BLOCK=<name>`` runs one)::

    .venv/bin/python bench/driver.py [--block NAME ...] [--quick] [--only fpga|sim] [--jobs N]
                                     [--results DIR]

A full run writes ``bench/results/<block>.md`` and ``<block>.json`` for every block it ran; a
partial run (``--quick`` or ``--only``) writes them under ``build/bench/results/`` unless
``--results`` is given, so it never replaces the published figures. Every build and simulation
goes under ``build/bench/``. ``docs/bench.md`` describes the jobs and the report.

The driver writes the tables every block shares (area and Fmax, critical paths, the block
alone, the gate-level check, cycles against the model). A block's bench module defines
``measure(info, data)`` (adds its figures to the rows, in place), ``COLUMNS`` (its extra
columns of the shared tables: ``{"fpga": [(title, fn(row) -> str)], "sim": [...]}``) and
``report(info, data) -> str`` (its own sections, e.g. the goals).
"""

import argparse
import concurrent.futures
import datetime
import hashlib
import importlib.util
import json
import multiprocessing
import os
import shlex
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
RESULTS = ROOT / "bench" / "results"

__all__ = ["SEEDS", "main", "plan", "header", "bench_module", "render", "num", "pct", "met",
           "check_goals"]

#: nextpnr seeds of a full run; Fmax is their median.
SEEDS = (1, 2, 3)
#: Place and route of one seed is stopped (an error in that row) after this many seconds, three
#: times as long for slow rows: nextpnr's router can fail to converge for one seed (the 12×12 on
#: ECP5-85k at seed 3 was still routing after 35 min; seeds 1 and 2 took 5).
PNR_TIME_LIMIT_S = 400

#: Rough run time of each kind of job in seconds, to start the longest first.
_COST = {"synth": 40, "pnr": 30, "sim": 20}


def _fmt_time(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


class Progress:
    """Prints ``[bench m:ss] <label>: <line>``; ``m:ss`` counts from the start of the bench."""

    def __init__(self, t0: float, label: str = ""):
        self.t0 = t0
        self.label = label

    def __call__(self, line: str) -> None:
        prefix = f"{self.label}: " if self.label else ""
        print(f"[bench {_fmt_time(time.time() - self.t0)}] {prefix}{line}", flush=True)


def label_of(row) -> str:
    """``preset key=value ...``: a row's config as reports name it."""
    return row.preset + "".join(f" {k}={v}" for k, v in row.overrides.items())


def _config(job):
    from hwgen.blocks import get_block

    info = get_block(job["block"])
    return info, info.presets[job["preset"]].replace(**job["overrides"])


# -- jobs (each runs in a worker process; results must pickle) --------------------------------

def _job_synth(job, deps, progress):
    """Synthesize the row's block for its target and run the gate-level check, once per row."""
    from hwgen.flow import fpga

    def forward(line):
        # tools beat every 10 s ("<tool> running, 40 s"); pass on one a minute
        head, sep, tail = line.rpartition(" running, ")
        if not sep or tail.split()[0] in {str(60 * n) for n in range(1, 60)}:
            progress(line)

    info, cfg = _config(job)
    syn = fpga.synthesize(info, cfg, job["target"], job["outdir"], verify=True, progress=forward)
    return {"synthesized": syn, "block_area": syn.netlist.area, "block_cells": syn.netlist.cells,
            "verification": syn.verification, "seconds": round(syn.seconds, 1)}


def _job_pnr(job, deps, progress):
    """Place and route the verified netlist of the row (``_job_synth``) with one seed."""
    from hwgen.flow import fpga

    info, cfg = _config(job)
    (synth,) = deps
    report = fpga.build(info, cfg, job["target"], freq_mhz=job["freq_mhz"], seed=job["seed"],
                        outdir=job["outdir"], synthesized=synth["synthesized"],
                        pnr_time_limit_s=job["pnr_time_limit_s"],
                        progress=lambda line: None if " running, " in line else progress(line))
    keep = ("luts", "luts_available", "ffs", "dsps", "brams", "fmax_mhz", "freq_target_mhz",
            "timing_met", "critical_path", "seed", "utilization", "yosys_cells", "harness",
            "tool_seconds", "elapsed_s", "module", "verified")
    return {k: report.get(k) for k in keep} | {"outdir": str(job["outdir"])}


def _job_sim(job, deps, progress):
    """The row's workload in user-tensor mode (no stalls): cycles, model, outputs vs golden."""
    import numpy as np

    from hwgen.flow import sim

    info, cfg = _config(job)
    work = Path(job["outdir"])
    work.mkdir(parents=True, exist_ok=True)
    row = info.bench.sim[job["row"]]
    inputs = row.workload.make(cfg)
    np.savez(work / "inputs.npz", **inputs)
    res = sim.run(info, cfg, simulator=row.simulator, seed=1, inputs=work / "inputs.npz",
                  outputs=work / "outputs.npz", workdir=work / "run")
    est = info.model_for(cfg, info.check_inputs(cfg, inputs))
    out = {"ok": res["ok"], "failed": [t for t in res["tests"] if t["status"] == "FAIL"],
           "log": res["log"], "seconds": res["seconds"], "module": cfg.module_name,
           "simulator": row.simulator, "model": est, "model_cycles": est.get("cycles"),
           "cycles": res["cycles"], "outputs_match_golden": None}
    if res["outputs"] is not None:
        expected = info.golden(cfg, **inputs)
        with np.load(res["outputs"]) as npz:
            out["outputs_match_golden"] = all(
                np.array_equal(npz[k], expected[k]) for k in info.tensors.output_names)
    if out["cycles"] and "utilization" in est and est.get("cycles"):
        out["utilization"] = est["utilization"] * est["cycles"] / out["cycles"]
    return out


_JOBS = {"synth": _job_synth, "pnr": _job_pnr, "sim": _job_sim}


def _run_job(job: dict, deps: list, t0: float) -> dict:
    """Run one job in a worker; never raises (an error becomes ``{"error": ...}``)."""
    progress = Progress(t0, job["label"])
    progress("started")
    start = time.time()
    try:
        result = _JOBS[job["kind"]](job, deps, progress)
    except Exception as e:                        # reported in the results, the bench goes on
        from hwgen.core.errors import HwgenError

        if not isinstance(e, HwgenError):
            traceback.print_exc()
        result = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
    result["job_seconds"] = round(time.time() - start, 1)
    progress(f"finished in {result['job_seconds']:.0f} s"
             + (f" with an error: {result['error']}" if "error" in result else ""))
    return result


# -- planning and running ---------------------------------------------------------------------

def plan(block_names, *, quick=False, only=None) -> list[dict]:
    """The jobs of the given blocks' rows. A job may list ``after``: the indices of jobs whose
    results it takes (a row's seeds take its synthesis)."""
    from hwgen.blocks import get_block

    seeds = SEEDS[:1] if quick else SEEDS
    jobs: list[dict] = []
    for name in block_names:
        info = get_block(name)
        if only in (None, "fpga"):
            for i, row in enumerate(info.bench.fpga):
                if quick and row.slow:
                    continue
                base = BUILD / name / (label_of(row).replace(" ", "-").replace("=", "-")
                                       + f"-{row.target}")
                common = {"block": name, "row": i, "preset": row.preset,
                          "overrides": dict(row.overrides), "target": row.target}
                scale = 3 if row.slow else 1
                synth = len(jobs)
                jobs.append({**common, "kind": "synth", "outdir": str(base),
                             "cost": _COST["synth"] * scale,
                             "label": f"synth+verify {label_of(row)} @ {row.target}"})
                for seed in seeds:
                    jobs.append({**common, "kind": "pnr", "seed": seed, "after": [synth],
                                 "freq_mhz": row.freq_mhz, "outdir": str(base / f"seed{seed}"),
                                 "pnr_time_limit_s": PNR_TIME_LIMIT_S * scale,
                                 "cost": _COST["pnr"] * scale,
                                 "label": f"pnr {label_of(row)} @ {row.target} "
                                          f"{row.freq_mhz} MHz seed {seed}"})
        if only in (None, "sim"):
            for i, row in enumerate(info.bench.sim):
                # one directory per row: rows of one preset (several workloads) build the same
                # module, and two builds of it in one directory at once break each other
                leaf = f"{i}-" + label_of(row).replace(" ", "-").replace("=", "-")
                jobs.append({"block": name, "row": i, "kind": "sim", "preset": row.preset,
                             "overrides": dict(row.overrides),
                             "outdir": str(BUILD / name / "sim" / leaf), "cost": _COST["sim"],
                             "label": f"sim {label_of(row)} {row.workload.name}"})
    return jobs


def execute(jobs: list[dict], n_workers: int, t0: float) -> list[dict]:
    """Run ``jobs`` in a process pool, longest first as soon as their ``after`` jobs are done;
    a job whose dependency failed is not run (its result names the failure)."""
    progress = Progress(t0)
    results: list[dict | None] = [None] * len(jobs)
    waiting = sorted(range(len(jobs)), key=lambda i: -jobs[i]["cost"])
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
        running: dict = {}
        last_report = time.time()
        while waiting or running:
            for i in list(waiting):
                deps = jobs[i].get("after", [])
                if any(results[d] is None for d in deps):
                    continue
                waiting.remove(i)
                failed = [d for d in deps if "error" in results[d]]
                if failed:
                    results[i] = {"error": f"not run: {jobs[failed[0]]['label']} failed"}
                    continue
                running[pool.submit(_run_job, jobs[i], [results[d] for d in deps], t0)] = i
            if not running:
                continue
            done, _ = concurrent.futures.wait(running, timeout=30,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            for fut in done:
                results[running.pop(fut)] = fut.result()
            if time.time() - last_report >= 30 and (waiting or running):
                n = sum(r is not None for r in results)
                progress(f"{n}/{len(jobs)} jobs done")
                last_report = time.time()
    return results


def _median_seed(runs: list[dict]) -> dict:
    """The run whose Fmax is the median (the lower middle one for an even count)."""
    ok = sorted((r for r in runs if r.get("fmax_mhz") is not None), key=lambda r: r["fmax_mhz"])
    return ok[(len(ok) - 1) // 2] if ok else runs[0]


def summarize(info, jobs: list[dict], results: list[dict]) -> dict:
    """The generic figures of one block's rows: per FPGA row the seeds, the median Fmax, the
    median seed's area, the block's own area and the gate-level check; per simulation row the
    cycles against the model and the outputs against the golden model."""
    mine = [(j, r) for j, r in zip(jobs, results, strict=True) if j["block"] == info.name]
    errors = [f"{j['label']}: {r['error']}" for j, r in mine if "error" in r]
    fpga = []
    for i, row in enumerate(info.bench.fpga):
        synth = [r for j, r in mine if j["kind"] == "synth" and j["row"] == i]
        pnr = [(j, r) for j, r in mine if j["kind"] == "pnr" and j["row"] == i]
        if not synth:
            continue
        s = synth[0]
        entry = {"config": label_of(row), "preset": row.preset,
                 "overrides": dict(row.overrides), "target": row.target,
                 "freq_mhz": row.freq_mhz, "goals": dict(row.goals),
                 "reference": dict(row.reference),
                 "cfg": info.presets[row.preset].replace(**row.overrides).to_dict(),
                 "block_area": s.get("block_area"), "block_cells": s.get("block_cells"),
                 "gate_level": ({"error": s["error"]} if "error" in s else s["verification"]),
                 "seeds": [j["seed"] for j, _ in pnr],
                 "runs": [r | {"seed": j["seed"]} for j, r in pnr if "error" not in r],
                 "errors": [r["error"] for _, r in pnr if "error" in r]
                 + ([s["error"]] if "error" in s else [])}
        runs = entry["runs"]
        if runs and any(r["fmax_mhz"] is not None for r in runs):
            med = _median_seed(runs)
            entry.update({
                "median_seed": med["seed"],
                "fmax_mhz": statistics.median(r["fmax_mhz"] for r in runs
                                              if r["fmax_mhz"] is not None),
                "fmax_by_seed": {r["seed"]: r["fmax_mhz"] for r in runs},
                **{k: med[k] for k in ("luts", "ffs", "dsps", "brams", "luts_available",
                                       "critical_path", "harness", "timing_met")},
                "yosys_cells_with_harness": med["yosys_cells"],
            })
        fpga.append(entry)
    sims = []
    for i, row in enumerate(info.bench.sim):
        for j, r in mine:
            if j["kind"] == "sim" and j["row"] == i:
                sims.append({"config": label_of(row), "preset": row.preset,
                             "overrides": dict(row.overrides), "workload": row.workload.name,
                             "cfg": info.presets[row.preset].replace(**row.overrides).to_dict(),
                             **r})
    return {"fpga": fpga, "sim": sims, "errors": errors}


# -- provenance and the report header ---------------------------------------------------------

def _git(*argv) -> str:
    try:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _commit() -> str:
    head = _git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    return head + (" + uncommitted changes" if _git("status", "--porcelain") else "")


def _sources_state() -> str:
    """A digest of the uncommitted changes to what the bench measures (hwgen/, sim/, bench/)."""
    diff = _git("diff", "HEAD", "--", "hwgen", "sim", "bench/*.py")
    return hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else "clean"


def _command(argv: list[str]) -> str:
    exe = Path(sys.executable)
    script = Path(__file__).resolve()
    with_root = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)
                 for p in (exe, script)]
    cmd = shlex.join([*with_root, *argv])
    return f"make bench  # {cmd}" if os.environ.get("MAKELEVEL") else cmd


def header(data: dict, title: str) -> list[str]:
    """The lines every report starts with: title, command, date, commit, tools, run."""
    commit = data["git"]
    if data["uncommitted_diff"] != "clean":
        commit += f" (diff {data['uncommitted_diff']})"
    out = [f"# {title}", "", f"Command: `{data['command']}`  ", f"Date: {data['date']}  ",
           f"Commit: {commit}  "]
    if data["sources_changed_during_run"]:
        out.append("**Warning: hwgen/, sim/ or bench/ changed while the bench ran; the rows may "
                   "come from different sources. Rerun it.**  ")
    tools = []
    for name, v in data["tools"].items():
        if v.get("package") and v.get("version"):
            tools.append(f"{name} {v['package']} ({v['version']})")
        elif v.get("package") or v.get("version"):
            tools.append(f"{name} {v.get('package') or v.get('version')}")
    out += [f"Tools: {', '.join(tools)}  ",
            f"Run: {data['options']['jobs']} parallel jobs on {data['host']['cpus']} CPUs, "
            f"{_fmt_time(data['seconds'])} in total"
            + (f"; **partial run** ({data['options']['partial']})"
               if data["options"]["partial"] else ""), ""]
    return out


def num(x, digits=1, unit=""):
    """A number for a table; ``—`` for None."""
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}{unit}"
    return f"{x}{unit}"


def pct(x) -> str:
    return "—" if x is None else f"{100 * x:.2f} %"


def met(flag) -> str:
    return "—" if flag is None else ("**met**" if flag else "not met")


def check_goals(data: dict) -> None:
    """Every placed FPGA row against its goals: ``lut_met`` and ``fmax_met`` (None without that
    goal) and ``fits`` (the median seed's LUTs within the device)."""
    for e in data["fpga"]:
        if "fmax_mhz" not in e:
            continue
        goals = e["goals"]
        e.update({
            "lut_met": e["luts"] <= goals["lut"] if "lut" in goals else None,
            "fmax_met": e["fmax_mhz"] >= goals["fmax_mhz"] if "fmax_mhz" in goals else None,
            "fits": e["luts"] <= e["luts_available"] if e.get("luts_available") else True,
        })


def _cell(name: str, keep: int = 56) -> str:
    """A nextpnr cell name, shortened in the middle (iCE40 names run to hundreds of chars)."""
    return name if len(name) <= keep else f"{name[:keep // 2 - 1]}…{name[-(keep // 2):]}"


def _lut_word(target: str) -> str:
    return "LC" if target.startswith("ice40") else "LUT"


def render(info, data: dict, module) -> str:
    """The whole report of one block: header, the shared tables with the module's columns,
    the module's sections, errors."""
    cols = getattr(module, "COLUMNS", {})
    out = header(data, f"{info.name} benchmark")
    fpga = [e for e in data["fpga"] if "fmax_mhz" in e]
    if data["fpga"]:
        extra = cols.get("fpga", [])
        seeds = ", ".join(map(str, data["fpga"][0]["seeds"]))
        out += ["## FPGA: area and Fmax", "",
                f"Each row is the block synthesized once, its netlist verified at gate level "
                f"and then placed, unchanged, inside the self-test harness (`hwgen fpga`); "
                f"Fmax is the median over nextpnr seeds {seeds}, and the area figures are those "
                f"of the median seed. **LUT and FF include the harness** (stimulus LFSRs and "
                f"signature register); *block LUT* is the block alone, from Yosys' cell counts "
                f"before place and route. On iCE40, LUT means logic cells (ICESTORM_LC); the "
                f"block's figure there is the lower bound max(LUT4, FF).", "",
                "| config | target | --freq | LUT | FF | DSP | BRAM | Fmax MHz (per seed) "
                "| block LUT |" + "".join(f" {t} |" for t, _ in extra),
                "|---|---|--:|--:|--:|--:|--:|---|--:|" + "--:|" * len(extra)]
        for e in data["fpga"]:
            if "fmax_mhz" not in e:
                out.append(f"| {e['config']} | {e['target']} | {e['freq_mhz']} | error: "
                           f"{'; '.join(e['errors'])} |" + " |" * (6 + len(extra)))
                continue
            per_seed = ", ".join(num(e["fmax_by_seed"][s]) for s in sorted(e["fmax_by_seed"]))
            out.append(f"| {e['config']} | {e['target']} | {e['freq_mhz']} | "
                       f"{e['luts']} {_lut_word(e['target'])} | {e['ffs']} | {e['dsps']} | "
                       f"{e['brams']} | **{num(e['fmax_mhz'])}** ({per_seed}) | "
                       f"{(e['block_area'] or {}).get('luts', '—')} |"
                       + "".join(f" {fn(e)} |" for _, fn in extra))
        out += ["", "### Critical paths (median seed)", "",
                "| config | target | seed | delay ns | from → to | logic segments "
                "| clk→Q / logic / routing / setup ns |", "|---|---|--:|--:|---|--:|---|"]
        for e in fpga:
            cp = e.get("critical_path")
            if cp:
                split = " / ".join(num(cp.get(f"{k}_ns"), 2) for k in
                                   ("clk_to_q", "logic", "routing", "setup"))
                out.append(f"| {e['config']} | {e['target']} | {e['median_seed']} | "
                           f"{num(cp['delay_ns'], 2)} | `{_cell(cp['from'])}` → "
                           f"`{_cell(cp['to'])}` | {cp['logic_segments']} | {split} |")
        out += ["", "### The block alone (Yosys, before place and route)", "",
                "The same netlist that is verified and placed, counted by the target's "
                "`[report.block]` rules (`fpga/<target>.toml`).", "",
                "| config | target | LUT | FF | DSP | BRAM | Yosys cells |",
                "|---|---|--:|--:|--:|--:|---|"]
        for e in data["fpga"]:
            a = e.get("block_area")
            if a:
                cells = ", ".join(f"{k} {v}" for k, v in e["block_cells"].items())
                out.append(f"| {e['config']} | {e['target']} | {a['luts']} | {a['ffs']} | "
                           f"{a['dsps']} | {a['brams']} | {cells} |")
        out += ["", "### Gate-level check", "",
                "The netlist above, with Yosys' cell models in Icarus, runs the block's cocotb "
                "bench against its golden model (random jobs with gaps and backpressure, the "
                "corner cases, reset, unstalled cycles) before it is placed; once per row.", "",
                "| config | target | result | transactions | tests |", "|---|---|---|--:|---|"]
        for e in data["fpga"]:
            g = e.get("gate_level") or {}
            if "error" in g or not g:
                text, n, tests = f"error: {g.get('error', 'not run')}", "", ""
            else:
                ok = all(v != "FAIL" for v in g["tests"].values())
                text, n = ("**pass**" if ok else "**FAIL**"), g["transactions"]
                tests = ", ".join(f"{k} {v}" for k, v in g["tests"].items() if v != "SKIP")
            out.append(f"| {e['config']} | {e['target']} | {text} | {n} | {tests} |")
    if data["sim"]:
        extra = cols.get("sim", [])
        out += ["", "## Simulation: cycles against the model", "",
                "Each workload in user-tensor mode (`hwgen sim --inputs`), no input gaps and no "
                "output stalls. Cycles count from the first transfer on the block's start port "
                "to the last output transfer (the model's definition); *= golden* compares "
                "every output with the golden model.", "",
                "| config | workload | simulator | cycles (sim) | cycles (model) | Δ | "
                "= golden |" + "".join(f" {t} |" for t, _ in extra),
                "|---|---|---|--:|--:|--:|---|" + "--:|" * len(extra)]
        for s in data["sim"]:
            if "error" in s:
                out.append(f"| {s['config']} | {s['workload']} | error: {s['error']} |"
                           + " |" * (4 + len(extra)))
                continue
            delta = (s["cycles"] - s["model_cycles"]
                     if s["cycles"] is not None and s["model_cycles"] is not None else None)
            golden = {True: "yes", False: "**NO**", None: "—"}[s["outputs_match_golden"]]
            if not s["ok"]:
                golden += " (bench failed: " + "; ".join(
                    t["message"].splitlines()[0] for t in s["failed"] if t["message"]) + ")"
            out.append(f"| {s['config']} | {s['workload']} | {s['simulator']} | "
                       f"{num(s['cycles'])} | {num(s['model_cycles'])} | {num(delta)} | "
                       f"{golden} |" + "".join(f" {fn(s)} |" for _, fn in extra))
    body = module.report(info, data)
    text = "\n".join(out) + "\n" + (f"\n{body}" if body else "")
    if data["errors"]:
        text += "\n## Errors\n\n" + "".join(f"- {e}\n" for e in data["errors"])
    return text


def bench_module(name: str):
    """``bench/<name>.py``: the block's measures and tables."""
    path = ROOT / "bench" / f"{name}.py"
    if not path.is_file():
        raise SystemExit(f"bench/driver.py: block {name!r} has bench rows but no {path}")
    spec = importlib.util.spec_from_file_location(f"hwgen_bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for fn in ("measure", "report"):
        if not callable(getattr(mod, fn, None)):
            raise SystemExit(f"bench/driver.py: {path} must define {fn}(info, data)")
    return mod


# -- entry point ------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/driver.py",
        description="Measure every block's bench rows: FPGA area and Fmax (median of 3 nextpnr "
                    "seeds), simulated cycles; write bench/results/<block>.md and .json.")
    p.add_argument("--block", action="append", metavar="NAME",
                   help="only this block (repeatable; default: every block with rows)")
    p.add_argument("--quick", action="store_true",
                   help="one nextpnr seed and no slow rows (for development)")
    p.add_argument("--only", choices=("fpga", "sim"), help="run only one kind of row")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="builds and simulations run in parallel (default 2)")
    p.add_argument("--results", type=Path, metavar="DIR",
                   help="where the reports go (default bench/results for a full run, "
                        "build/bench/results for --quick or --only)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from hwgen.blocks import blocks
    from hwgen.flow.tools import tool_versions

    reg = blocks()
    names = args.block or [n for n, info in reg.items() if info.bench.fpga or info.bench.sim]
    unknown = [n for n in names if n not in reg]
    if unknown or args.jobs < 1:
        print("bench/driver.py: " + (f"unknown block {unknown[0]!r}; blocks: "
                                      f"{', '.join(sorted(reg))}" if unknown else
                                      f"--jobs must be a positive integer, not {args.jobs}"),
              file=sys.stderr)
        return 1
    modules = {n: bench_module(n) for n in names}
    partial = ", ".join(x for x in ("--quick" if args.quick else "",
                                    f"--only {args.only}" if args.only else "") if x)
    results_dir = args.results or (BUILD / "results" if partial else RESULTS)
    t0 = time.time()
    progress = Progress(t0)
    jobs = plan(names, quick=args.quick, only=args.only)
    progress(f"{len(jobs)} jobs for {', '.join(names)} on {args.jobs} workers; builds in "
             f"{os.path.relpath(BUILD, Path.cwd())}")
    tools = tool_versions()
    commit, state = _commit(), _sources_state()
    results = execute(jobs, args.jobs, t0)
    changed = _sources_state() != state
    if changed:
        progress("warning: hwgen/, sim/ or bench/ changed while the bench ran; rerun it")
    failed = False
    results_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        info = reg[name]
        data = {"block": name, "command": _command(argv),
                "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "git": commit, "uncommitted_diff": state, "sources_changed_during_run": changed,
                "tools": tools, "host": {"cpus": os.cpu_count()},
                "options": {"quick": args.quick, "only": args.only, "jobs": args.jobs,
                            "partial": partial or None},
                "seconds": round(time.time() - t0, 1), **summarize(info, jobs, results)}
        modules[name].measure(info, data)
        text = render(info, data, modules[name])
        (results_dir / f"{name}.md").write_text(text)
        (results_dir / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        print()
        print(text)
        progress(f"wrote {os.path.relpath(results_dir / f'{name}.md', Path.cwd())} and "
                 f"{name}.json")
        failed |= bool(data["errors"]) or any(
            not s.get("ok") or s.get("outputs_match_golden") is False for s in data["sim"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
