"""Helpers shared by the test modules (seeds, simulation reports)."""

import os
import re
import zlib
from pathlib import Path

__all__ = ["seed_of", "report", "check_gate_level"]


def seed_of(request) -> int:
    """HWGEN_SEED from the environment (to rerun a failure), else stable per test id."""
    text = os.environ.get("HWGEN_SEED")
    return int(text) if text else zlib.crc32(request.node.nodeid.encode()) & 0x7FFFFFFF


def report(res) -> str:
    """A simulation result's failures, for an assertion message."""
    lines = [f"{t['status']} {t['name']}: {t['message']}" for t in res["tests"]
             if t["status"] == "FAIL"]
    return (f"{res['failed']} failed, {res['passed']} passed ({res['simulator']}, seed "
            f"{res['seed']}, log {res['log']}):\n" + "\n".join(lines))


def check_gate_level(preset: str, target: str, workdir, *, tests, cells=(),
                     min_transactions: int = 5) -> str:
    """The block's cocotb bench on ``preset``'s post-synthesis netlist for ``target``: every
    test in ``tests`` passes, at least ``min_transactions`` checked, the netlist has each of
    ``cells``.
    Returns the netlist text."""
    from hwgen.blocks import load
    from hwgen.flow import gls

    info, cfg = load(preset)
    res = gls.run(info, cfg, target, seed=1, workdir=workdir)
    assert res["ok"], report(res)
    names = {t["name"]: t["status"] for t in res["tests"]}
    assert all(names[t] == "PASS" for t in tests), names
    assert res["transactions"] >= min_transactions
    net = Path(res["netlist"]).read_text()
    for cell in cells:
        assert re.search(rf"^\s*{cell}\b", net, re.M), f"the {target} netlist has no {cell}"
    return net
