"""Helpers shared by the test modules (seeds, simulation reports)."""

import os
import zlib

__all__ = ["seed_of", "report"]


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
