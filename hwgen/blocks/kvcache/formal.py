"""Formal proof of the KV-cache controller's page bookkeeping (SymbiYosys, smtbmc + Yices).

``KVCacheProperties`` wraps ``KVCache(cfg, probe=True)``: its input streams are free inputs
(``AnySeq``) that obey the stream rules, its outputs' ``ready`` are free, reset is high in the
first cycle only. In every cycle where the controller is settled (``probe_settled``: idle, no
half-done APPEND, no table or count write in flight) it asserts the invariants that
``golden.py`` keeps, on the probed state (the groups of :data:`GROUPS`):

* ``refs``: a page allocated since reset (``p < fresh``) has a count equal to the number of
  (sequence, held logical page) pairs whose table entry is ``p`` — so a page owned by two
  sequences is shared with a matching count;
* ``owners``: no held table entry names a page ``>= fresh``; lengths are at most ``max_seq``;
  the counts of pages ``>= fresh`` are 0 until the first RESET command (see below);
* ``counts`` (every cycle): no count is decremented at 0 or incremented at ``num_seqs``;
* ``fifo``: each FIFO entry (``count`` of them from ``rd``, wrapping at ``pages``) is a page
  ``< fresh`` with count 0; each page ``< fresh`` with count 0 is in the FIFO exactly once (no
  leak); ``count + (pages − fresh) + #{p < fresh: ref > 0} = pages``.

``Cover`` statements show the interesting states are reachable: a page with count 2 (FORK),
a finished copy on write (pages of 2 tokens or more), a page pushed to the FIFO and popped
again, and (window) a ring that wrapped.

Held pages. Sequence ``s`` of length ``len`` holds logical pages ``[max(0, n − R), n)``,
``n = ceil(len / page_size)``, ``R = ring_pages``; logical page ``lp`` is in slot
``lp mod 2^slot_bits``. The harness computes, for every logical page ``lp < max_seq /
page_size`` a sequence can reach, ``held = lp < n ≤ lp + R`` from the probed length, and counts
the table entry of its slot: the same formula with or without a window (without one, ``R`` is
``max_seq / page_size`` and ``lp + R ≥ n`` always holds).

RESET (the command) does not clear the count memory, by design: the golden model keeps stale
counts too, and allocation writes 1. Pages ``>= fresh`` therefore only have to be held by
nobody; ``ref_unused_zero`` (count 0) applies until the first RESET command.

The environment: commands and rows are free but keep the stream rules (``valid`` stays high
and the payload stable until ``ready``), no command is offered during reset, the outputs'
``ready`` are free. ``--nopresat`` skips smtbmc's per-step check that the assumptions are
satisfiable; the covers (which need the assumptions satisfiable) and the injected faults (each
caught) show the proof is not vacuous.

Only a bounded proof: the probed state is not an inductive invariant (the controller's tail,
shared-tail flags, FIFO write pointer and read-ahead head are registers the probes do not
show), so k-induction cannot close it. The groups are separate runs because together they
take the solver longer than one after another.

``hwgen.flow.formal.run_sby`` runs the RTLIL of a ``KVCacheProperties`` (``bmc`` or ``cover``);
``tests/test_kvcache_formal.py`` drives it.
"""

import functools
import operator
from collections.abc import Iterable

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import (
    Assert,
    Assume,
    Cover,
    Elaboratable,
    Module,
    Mux,
    ResetSignal,
    Signal,
    Value,
)

from .config import KVCacheConfig, Op
from .rtl import FAULTS, KVCache

__all__ = ["KVCacheProperties", "describe_trace", "FORMAL_CONFIGS", "GROUPS", "FAULTS", "DEPTH"]

#: Small configurations the proof runs on (the time grows steeply with the state: these are
#: about the smallest that reach every path). ``paged``: no window, pages of 2 tokens (a FORK's
#: partly filled tail is copied on write), sequences of up to 2 pages. ``window``: a window of
#: 1 token in a ring of 2 one-token pages (an APPEND beyond 2 tokens drops the oldest page),
#: positions up to 4 (the ring wraps twice).
FORMAL_CONFIGS = {
    "paged": KVCacheConfig(num_seqs=2, capacity=4, page_size=2, kv_heads=1, head_dim=1,
                           dtype="int8"),
    "window": KVCacheConfig(num_seqs=2, capacity=2, page_size=1, window=1, max_seq=4,
                            kv_heads=1, head_dim=1, dtype="int8"),
}

#: Bounded model check depth (cycles from reset).
DEPTH = 20

#: The groups of asserted properties (module docstring); each can be proven by its own run.
GROUPS = ("refs", "owners", "counts", "fifo")



def _sum(bits: Iterable) -> Value:
    bits = list(bits)
    return functools.reduce(operator.add, bits) if bits else Value.cast(0)


def _any(bits: Iterable) -> Value:
    bits = list(bits)
    return functools.reduce(operator.or_, bits) if bits else Value.cast(0)


class KVCacheProperties(Elaboratable):
    """The formal harness: ``KVCache(cfg, probe=True, fault=fault)`` with free inputs.

    ``groups`` selects the asserted properties (all of :data:`GROUPS` by default; none for a
    cover run). After elaboration ``checks`` and ``covers`` list the names of the asserted and
    covered conditions. Each ``Assert`` / ``Cover`` carries ``chk_<name>`` / ``cov_<name>`` as
    its source location, which is how sby's log names it, and drives a signal of that name
    (in the trace, when the solver's netlist keeps it).
    """

    def __init__(self, cfg: KVCacheConfig, fault: str | None = None,
                 groups: Iterable[str] = GROUPS):
        groups = tuple(groups)
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            raise ValueError(f"groups must be among {GROUPS}, not {unknown}")
        self.cfg = cfg
        self.fault = fault
        self.groups = groups
        self.dut = KVCache(cfg, probe=True, fault=fault)
        self.checks: list[str] = []
        self.covers: list[str] = []

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        m.submodules.dut = dut = self.dut
        S, P, R, ps = cfg.num_seqs, cfg.pages, cfg.ring_pages, cfg.page_size
        psb = (ps - 1).bit_length()
        slots = 1 << cfg.slot_bits
        nlp = cfg.seq_limit // ps           # logical pages 0 … nlp − 1 a sequence can reach
        self.checks, self.covers = [], []

        rst = ResetSignal()
        m.d.comb += Assume(rst == Initial())

        # -- free inputs that keep the stream rules (valid holds, payload stable until ready) --
        for port in (dut.i_cmd, dut.i_k, dut.i_v):
            payload = Value.cast(port.payload)
            m.d.comb += [port.valid.eq(AnySeq(1)), payload.eq(AnySeq(len(payload)))]
            waiting = Signal(name=f"{port.valid.name}_waiting")
            last = Signal(len(payload), name=f"{port.valid.name}_last")
            m.d.sync += [waiting.eq(port.valid & ~port.ready), last.eq(payload)]
            m.d.comb += Assume(~waiting | (port.valid & (payload == last)))
        m.d.comb += Assume(~rst | ~dut.i_cmd.valid)      # no command during reset
        for port in (dut.o_status, dut.o_k, dut.o_v):
            m.d.comb += port.ready.eq(AnySeq(1))

        accepted = dut.i_cmd.valid & dut.i_cmd.ready
        cmd_op = dut.i_cmd.payload.op
        reset_cmd = accepted & (cmd_op == Op.RESET)
        free_cmd = accepted & (cmd_op == Op.FREE)
        reset_seen = Signal()           # a RESET command since reset: counts may be stale
        with m.If(reset_cmd):
            m.d.sync += reset_seen.eq(1)
        settled = Signal()
        m.d.comb += settled.eq(~rst & dut.probe_settled)

        def check(group, name, cond, *, always=False):
            """Assert ``cond`` when settled (``always``: in every cycle after reset)."""
            if group not in self.groups:
                return
            sig = Signal(name=f"chk_{name}")
            m.d.comb += sig.eq(cond)
            prop = Assert(sig | rst | (0 if always else ~dut.probe_settled))
            prop.src_loc = (f"chk_{name}", 0)     # sby's log names it by this
            m.d.comb += prop
            self.checks.append(name)

        def cover(name, cond):
            sig = Signal(name=f"cov_{name}")
            m.d.comb += sig.eq(settled & cond)
            prop = Cover(sig)
            prop.src_loc = (f"cov_{name}", 0)
            m.d.comb += prop
            self.covers.append(name)

        lens, table, ref = dut.probe_len, dut.probe_table, dut.probe_ref
        fifo, rd, count, fresh = dut.probe_fifo, dut.probe_rd, dut.probe_count, dut.probe_fresh

        # -- held(s): logical pages [max(0, n − R), n), n = ceil(len / page_size) --
        held = []           # held[s][lp]
        for s in range(S):
            n = Signal(range(nlp + 2), name=f"n_held{s}")
            m.d.comb += n.eq((lens[s] + (ps - 1)) >> psb)
            row = []
            for lp in range(nlp):
                h = Signal(name=f"held{s}_lp{lp}")
                m.d.comb += h.eq((n > lp) & (n <= lp + R))
                row.append(h)
            held.append(row)
            check("owners", f"len_in_range_s{s}", lens[s] <= cfg.seq_limit)

        # -- counts match the holders; pages >= fresh are held by nobody --
        alloc = [Signal(name=f"alloc_p{p}") for p in range(P)]
        for p in range(P):
            m.d.comb += alloc[p].eq(fresh > p)
            holders = Signal(range(S * nlp + 1), name=f"holders_p{p}")
            m.d.comb += holders.eq(_sum(held[s][lp] & (table[s][lp % slots] == p)
                                        for s in range(S) for lp in range(nlp)))
            check("refs", f"ref_matches_holders_p{p}", ~alloc[p] | (ref[p] == holders))
            check("owners", f"unused_page_unheld_p{p}", alloc[p] | (holders == 0))
            check("owners", f"ref_unused_zero_p{p}", alloc[p] | reset_seen | (ref[p] == 0))
        for s in range(S):
            for lp in range(nlp):       # a held entry names an allocated page
                check("owners", f"table_in_range_s{s}_lp{lp}",
                      ~held[s][lp] | (table[s][lp % slots] < fresh))

        # -- no count underflows or overflows (every cycle) --
        check("counts", "no_ref_underflow", ~dut.probe_dec_zero, always=True)
        check("counts", "no_ref_overflow", ~dut.probe_inc_full, always=True)

        # -- the free list: entries rd, rd+1, … (count of them, wrapping at pages) --
        check("fifo", "fifo_count_in_range", count <= P)
        check("fifo", "fifo_rd_in_range", rd < P)
        check("fifo", "fresh_in_range", fresh <= P)
        valid = []
        for i in range(P):
            v = Signal(name=f"fifo_valid{i}")
            m.d.comb += v.eq(Mux(rd <= i, i - rd, i + P - rd) < count)     # (i − rd) mod P
            valid.append(v)
            check("fifo", f"fifo_entry_free_i{i}",
                  ~v | _any((fifo[i] == p) & (ref[p] == 0) & alloc[p] for p in range(P)))
        for p in range(P):
            occ = Signal(range(P + 1), name=f"fifo_occ_p{p}")
            m.d.comb += occ.eq(_sum(valid[i] & (fifo[i] == p) for i in range(P)))
            check("fifo", f"free_page_in_fifo_once_p{p}",
                  ~alloc[p] | (ref[p] != 0) | (occ == 1))
        in_use = _sum(alloc[p] & (ref[p] != 0) for p in range(P))
        check("fifo", "pages_conserved", count + (P - fresh) + in_use == P)

        # -- covers --
        cover("shared_page", _any(alloc[p] & (ref[p] == 2) for p in range(P)))
        # copy on write: both sequences hold logical page lp on one page, later (no FREE or
        # RESET in between, so nothing else repoints a held entry) on two different pages
        if S >= 2 and ps > 1:          # (with one-token pages nothing is copied)
            cow = []
            for lp in range(nlp):
                both = held[0][lp] & held[1][lp]
                same = both & (table[0][lp % slots] == table[1][lp % slots])
                was_same = Signal(name=f"was_same_lp{lp}")
                with m.If(free_cmd | reset_cmd):
                    m.d.sync += was_same.eq(0)
                with m.Elif(settled & same):
                    m.d.sync += was_same.eq(1)
                cow.append(was_same & both & ~same)
            cover("copy_on_write", _any(cow))
        # reuse: the FIFO's read pointer moves (a pop), not by a RESET command
        prev_rd = Signal.like(rd, name="prev_rd")
        prev_reset = Signal()
        popped = Signal()
        m.d.sync += [prev_rd.eq(rd), prev_reset.eq(reset_cmd)]
        with m.If(~rst & (rd != prev_rd) & ~prev_reset):
            m.d.sync += popped.eq(1)
        cover("page_reused", popped)
        if cfg.window:
            cover("ring_wrapped", _any(lens[s] > R * ps for s in range(S)))
        return m


def describe_trace(cfg: KVCacheConfig, steps: list[dict]) -> str:
    """A counterexample step by step (``steps``: ``hwgen.flow.formal.read_trace`` of its VCD):
    the probed state, the status going out, the command offered (the controller takes it when
    it is idle and can emit a status)."""
    ops = {int(o): o.name for o in Op}
    lines = []
    for k, v in enumerate(steps):
        def g(name, v=v):
            x = v.get(name)
            return "?" if x is None else x
        tables = [[g(f"probe_bt{s}_{j}") for j in range(1 << cfg.slot_bits)]
                  for s in range(cfg.num_seqs)]
        line = (f"step {k:2}: len={[g(f'probe_len{s}') for s in range(cfg.num_seqs)]} "
                f"table={tables} ref={[g(f'probe_ref{p}') for p in range(cfg.pages)]} "
                f"fresh={g('probe_fresh')} fifo={[g(f'probe_fifo{p}') for p in range(cfg.pages)]}"
                f" rd={g('probe_rd')} count={g('probe_count')}")
        if g("rst") == 1:
            line += " reset"
        if g("dut.o_status__valid") == 1:
            line += f" status={g('dut.o_status__payload')}"
        if g("i_cmd__valid") == 1:
            op = g("i_cmd__payload.op")
            line += (f" | cmd {ops.get(op, op)} seq={g('i_cmd__payload.seq')} "
                     f"a={g('i_cmd__payload.a')} b={g('i_cmd__payload.b')} "
                     f"what={g('i_cmd__payload.what')}")
        lines.append(line)
    return "\n".join(lines)


