"""The ``hwgen`` command line: list · generate · sim · fpga."""

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
from .core.config import blocks, load, presets
from .core.errors import HwgenError

__all__ = ["main", "get_parser", "SIMULATORS", "FPGA_TARGETS"]

SIMULATORS = ("icarus", "verilator")
# Kept in step with hwgen/fpga_targets/; hwgen.flow.fpga.build validates the target again.
FPGA_TARGETS = ("ice40-up5k", "ecp5-25k", "ecp5-45k", "ecp5-85k")


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


def _check_outfile(path, what: str) -> Path | None:
    """A file a flow writes at its end: fail now, not after the flow, if it is a directory."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise HwgenError(f"{what} {str(path)!r} is a directory")
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


def _describe(cfg) -> str:
    """The key parameters of a config on one line (``cfg.describe()`` if the block has one)."""
    if callable(getattr(cfg, "describe", None)):
        return cfg.describe()
    default = type(cfg)()
    fields = cfg.to_dict()
    fields.pop("block", None)
    fields.pop("name", None)
    parts = []
    if "rows" in fields and "cols" in fields:
        parts.append(f"{fields.pop('rows')}x{fields.pop('cols')}")
    types = [fields.pop(k) for k in list(fields) if k.endswith("_type")]
    if types:
        parts.append("x".join(types))
    for key, value in fields.items():
        if isinstance(value, bool):
            if value:
                parts.append(key)
        elif isinstance(value, str):
            parts.append(f"{key}={value}")
        elif value != getattr(default, key):
            parts.append(f"{key}={value}")
    acc = getattr(cfg, "acc_fmt", None)
    if acc is not None:
        parts.append(f"acc={acc}")
    return " ".join(parts)


def _formats(cfg) -> list[str]:
    """``name=format`` for every NumFormat-valued property of the config, in definition order."""
    from .core.numerics import NumFormat

    out, seen = [], set()
    for klass in reversed(type(cfg).__mro__):
        for key, attr in vars(klass).items():
            if isinstance(attr, property) and key not in seen:
                seen.add(key)
                try:
                    value = getattr(cfg, key)
                except Exception:   # a derived value that does not apply to this config
                    continue
                if isinstance(value, NumFormat):
                    out.append(f"{key}={value}")
    return out


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
    table = [(pname, info.name, cfg.module_name, _describe(cfg))
             for pname, (info, cfg) in presets().items()]
    w = [max((len(row[i]) for row in table), default=0) for i in range(3)]
    for pname, bname, module, desc in table:
        print(f"  {pname:<{w[0]}}  {bname:<{w[1]}}  {module:<{w[2]}}  {desc}")
    return 0


def _cmd_generate(args) -> int:
    info, cfg = load(args.config, args.set)
    outdir = _check_outdir(args.output or Path("build") / cfg.module_name)
    from .flow.emit import emit

    man = emit(info, cfg, outdir)
    files = [*man.get("files", {}).values(), "files.f"]
    print(f"{man['name']}: block {info.name}, from {_source(args)}")
    print(f"  wrote {outdir}/: {', '.join(files)}")
    print("  ports:")
    pw = max(len(p["name"]) for p in man["ports"])
    for p in man["ports"]:
        layout = f"  {_layout_str(p['payload'])}" if "payload" in p else ""
        print(f"    {p['name']:<{pw}}  {p['direction']:<3}  {p['kind']:<6}  "
              f"{p['width']:>4} bits{layout}")
    derived = man.get("derived") or {}
    if derived:
        print(f"  derived: {_kv(derived)}")
    formats = [f for f in _formats(cfg) if f.partition("=")[0] not in derived]
    if formats:
        print(f"  formats: {' '.join(formats)}")
    if man.get("model"):
        print(f"  model: {_kv(man['model'])}")
    return 0


def _print_cycles(info, cfg, inputs, cycles: int) -> None:
    """Measured cycles of a user-tensor run beside the block's analytical model."""
    import numpy as np

    with np.load(inputs) as npz:
        shape = {"M": npz["A"].shape[0], "K": npz["A"].shape[1], "N": npz["B"].shape[1]}
    est = info.model(cfg, **shape)
    line = f"  cycles: {cycles} measured"
    if "cycles" in est:
        util = shape["M"] * shape["K"] * shape["N"] / (cycles * cfg.macs)
        line += f", {est['cycles']} modelled; utilization {100 * util:.2f} % of the peak"
    print(line)


def _progress(line: str) -> None:
    print(line, flush=True)


def _default_simulator() -> str:
    """Icarus when it is installed (apt), else Verilator from the [sim] extra (no root needed)."""
    return "icarus" if shutil.which("iverilog") else "verilator"


def _cmd_sim(args) -> int:
    info, cfg = load(args.config, args.set)
    if args.netlist is not None:
        if args.simulator not in (None, "icarus"):
            raise HwgenError(f"--netlist runs on icarus (with Yosys' cell models), not "
                             f"--simulator {args.simulator}")
        args.simulator = "icarus"
    if args.simulator is None:
        args.simulator = _default_simulator()
    if args.outputs is not None and args.inputs is None:
        raise HwgenError("--outputs needs --inputs (it receives the results for those inputs)")
    outputs = _check_outfile(args.outputs, "outputs file")
    leaf = f"sim-netlist-{args.netlist}" if args.netlist else f"sim-{args.simulator}"
    workdir = _check_outdir(args.output or Path("build") / cfg.module_name / leaf,
                            "work directory")
    sim = _flow("hwgen.flow.sim", "sim")
    # the inputs are checked before anything else (sim.run checks again after the simulator)
    inputs = sim.check_inputs_file(info, cfg, args.inputs) if args.inputs is not None else None
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    print(f"sim {cfg.module_name} ({_source(args)}) on {args.simulator}"
          + (f", gate-level netlist for {args.netlist}" if args.netlist else "")
          + f", seed {seed}"
          + (f", {args.vectors} vectors" if args.vectors is not None else "")
          + (f", inputs {inputs}" if inputs else ""), flush=True)
    extra = {"netlist": args.netlist, "progress": _progress} if args.netlist else {}
    res = _call(sim.run, info, cfg, _extra="sim", simulator=args.simulator, seed=seed,
                vectors=args.vectors, waves=args.waves, inputs=inputs, outputs=outputs,
                workdir=workdir, **extra)
    seed = res.get("seed", seed)
    tests = res.get("tests", [])
    for t in tests:
        status, msg = str(t["status"]).upper(), _one_line(t.get("message") or "")
        print(f"  {status:<5} {t['name']}" + (f": {msg}" if msg and status != "PASS" else ""))
    passed, failed, total = res["passed"], res["failed"], len(tests)
    if res.get("cycles") is not None and inputs is not None:
        _print_cycles(info, cfg, inputs, res["cycles"])
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
          + (f", {checked} transactions checked" if checked else "")
          + (f" in {res['seconds']:.1f} s" if isinstance(res.get("seconds"), int | float)
             else ""))
    return 0


_FPGA_ROWS = (("luts", "LUTs"), ("ffs", "FFs"), ("dsps", "DSPs"), ("brams", "BRAMs"))


def _cmd_fpga(args) -> int:
    info, cfg = load(args.config, args.set)
    report = _check_outfile(args.report, "report file")
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
    _add_common(p, output_help="output directory (default: build/<module name>)")
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
