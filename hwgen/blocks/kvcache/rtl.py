"""Paged KV-cache controller RTL: one command at a time, APPEND and READ at a beat a cycle.

Inputs pass FIFOs (``ready`` is a not-full flag; commands reach the controller
``CMD_LATENCY`` cycles after their transfer). State: per sequence a length (with registered
facts: full, at a page boundary, ring full), the physical page of its tail (``tail``) and a
"tail may be shared" flag (``shared``) in registers; the block table (``S · 2^slot_bits``
entries), the reference counts (one per page) and the free-page FIFO in small memories (LUT
RAM; table and count writes registered); K and V in two ``DataMemory``s of ``capacity · beats``
words (block RAM, read through its output register).

* **APPEND** (fast path, one cycle for its first beat): into the tail page (offset > 0, tail
  not shared) or into a page allocated in the same cycle (offset 0: the FIFO's head, read ahead
  into a register, or the next never-used page). Its status goes out in the same cycle; the
  data write is registered. A shared tail (after FORK) takes the copy-on-write path
  (``COW_*``: check the count, allocate, copy ``offset · beats`` words, repoint); a full ring
  (window) the drop path (``DROP_*``: reuse the oldest page or release it and allocate). Both
  return to the idle state with the command still pending, which then takes the fast path.
* **READ**: status on acceptance, then one beat a cycle through block table → data memory →
  output register; the pipeline stalls as a whole when ``o_k`` / ``o_v`` stall.
* **FREE**, **FORK**: status on acceptance, then three cycles per held page (table, count,
  write back). **RESET**: one cycle (the FIFO empties, ``fresh`` restarts at page 0).

Commands other than READ wait until the READ pipeline and outputs are empty, so no later write
(a freed page reused) can change a row that is being streamed out.
"""

from amaranth.hdl import (
    Cat,
    Const,
    Module,
    Mux,
    Signal,
    unsigned,
)
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...core.bram import DataMemory
from ...core.tech import tech_of
from .config import KVCacheConfig, Op, Status

__all__ = ["KVCache", "cmd_layout", "FAULTS"]

#: Deliberate bugs the formal harness injects to show the proof is live.
FAULTS = ("fork_no_ref", "free_keeps_page")


def cmd_layout(cfg: KVCacheConfig) -> data.StructLayout:
    return data.StructLayout({"op": 3, "seq": unsigned(cfg.seq_bits),
                              "a": unsigned(cfg.pos_bits), "b": unsigned(cfg.pos_bits),
                              "what": 2})


#: Cycles from a command's transfer to its acceptance by the controller (0: the inputs are taken
#: as they are, and ``ready`` of all three inputs comes from the decision logic). Input FIFOs
#: with registered ready (tried: two-register and LUT-RAM FIFOs) made Yosys 0.70's ABC9 crash
#: on ECP5 and are left out; see docs/kvcache.md.
CMD_LATENCY = 0


class _WriteRequest:
    """The en / addr / data a write port takes, one cycle early (registered into the port)."""

    def __init__(self, port):
        self.en = Signal()
        self.addr = Signal.like(port.addr)
        self.data = Signal.like(port.data)


def _pick(items, index):
    """``items[index]`` as a balanced tree of ``Mux`` on the index bits (no ``always @*`` case:
    Icarus evaluates continuous assignments at time 0)."""
    items = list(items)
    bit = 0
    while len(items) > 1:
        items = [Mux(index[bit], items[i + 1], items[i]) if i + 1 < len(items) else items[i]
                 for i in range(0, len(items), 2)]
        bit += 1
    return items[0]


class KVCache(wiring.Component):
    """The KV-cache controller (module docstring; ``golden.py`` is the specification).

    Members
    -------
    i_cmd : In, stream of ``cmd_layout`` {op, seq, a, b, what}
    i_k, i_v : In, streams of ``beat_elems`` × elem_fmt
        An APPEND's K row and V row, ``beats`` beats each (consumed together).
    o_status : Out, stream of unsigned(3)
        One ``Status`` per command, in order.
    o_k, o_v : Out, streams of ``beat_elems`` × elem_fmt
        READ rows, beat by beat (a KV read drives both).

    ``probe=True`` adds read ports on every table entry and exposes the state for the formal
    harness (``probe_*`` attributes); ``fault`` injects one of ``FAULTS``.
    """

    def __init__(self, cfg: KVCacheConfig, *, probe: bool = False, fault: str | None = None):
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, not {fault!r}")
        self.cfg = cfg
        self.probe = probe
        self.fault = fault
        beat = data.ArrayLayout(cfg.elem_fmt.shape, cfg.beat_elems)
        super().__init__({
            "i_cmd": In(stream.Signature(cmd_layout(cfg))),
            "i_k": In(stream.Signature(beat)),
            "i_v": In(stream.Signature(beat)),
            "o_status": Out(stream.Signature(unsigned(3))),
            "o_k": Out(stream.Signature(beat)),
            "o_v": Out(stream.Signature(beat)),
        })
        if probe:
            S, P = cfg.num_seqs, cfg.pages
            self.probe_len = [Signal(cfg.len_bits, name=f"probe_len{i}") for i in range(S)]
            self.probe_table = [[Signal(cfg.page_bits, name=f"probe_bt{i}_{j}")
                                 for j in range(1 << cfg.slot_bits)] for i in range(S)]
            self.probe_ref = [Signal(cfg.ref_bits, name=f"probe_ref{p}") for p in range(P)]
            self.probe_fifo = [Signal(cfg.page_bits, name=f"probe_fifo{p}") for p in range(P)]
            self.probe_rd = Signal(range(P), name="probe_rd")
            self.probe_count = Signal(range(P + 1), name="probe_count")
            self.probe_fresh = Signal(range(P + 1), name="probe_fresh")
            self.probe_settled = Signal(name="probe_settled")
            self.probe_dec_zero = Signal(name="probe_dec_zero")     # a count 0 decremented
            self.probe_inc_full = Signal(name="probe_inc_full")     # a count S incremented

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        S, P, R = cfg.num_seqs, cfg.pages, cfg.ring_pages
        ps, nb = cfg.page_size, cfg.beats
        psb = (ps - 1).bit_length()                 # offset bits
        bbits = (nb - 1).bit_length()               # beat bits
        kb = cfg.slot_bits
        sib = max(1, (S - 1).bit_length())          # sequence index bits
        pgb = cfg.page_bits
        lpw = max(1, (cfg.seq_limit // ps).bit_length())   # logical page numbers 0 … limit/ps
        window = cfg.window

        # -- per-sequence registers --
        length = [Signal(cfg.len_bits, name=f"len{i}") for i in range(S)]
        # registered facts of each length (kept with it, so decisions need no comparator)
        is_full = [Signal(name=f"full{i}") for i in range(S)]               # len = max_seq
        at_bound = [Signal(init=1, name=f"bound{i}") for i in range(S)]     # len % ps = 0
        ring_full = [Signal(name=f"ringfull{i}") for i in range(S)]         # len ≥ R · ps
        tail = [Signal(pgb, name=f"tail{i}") for i in range(S)]
        shared = [Signal(name=f"shared{i}") for i in range(S)]

        # -- memories --
        m.submodules.bt = bt = memory.Memory(shape=unsigned(pgb), depth=S << kb, init=[])
        m.submodules.ref = refm = memory.Memory(shape=unsigned(cfg.ref_bits), depth=P, init=[])
        m.submodules.fl = fl = memory.Memory(shape=unsigned(pgb), depth=P, init=[])
        beat = data.ArrayLayout(cfg.elem_fmt.shape, cfg.beat_elems)
        m.submodules.mk = mk = DataMemory(beat, cfg.words, tech_of(platform))
        m.submodules.mv = mv = DataMemory(beat, cfg.words, tech_of(platform))
        bt_port, bt_r = bt.write_port(), bt.read_port(transparent_for=())
        ref_port, ref_r = refm.write_port(), refm.read_port(transparent_for=())
        # the table and count writes are registered (a cycle later): no reader needs them
        # sooner, and the decision logic stays off the LUT RAMs' write-address setup
        bt_w = _WriteRequest(bt_port)
        ref_w = _WriteRequest(ref_port)
        m.d.sync += [bt_port.en.eq(bt_w.en), bt_port.addr.eq(bt_w.addr),
                     bt_port.data.eq(bt_w.data), ref_port.en.eq(ref_w.en),
                     ref_port.addr.eq(ref_w.addr), ref_port.data.eq(ref_w.data)]
        fl_w = fl.write_port()
        fl_r = fl.read_port(transparent_for=(fl_w,))

        def slot_of(lp):
            """``lp mod 2^kb`` as exactly kb bits (zero-extended when lp is narrower)."""
            return Cat(lp, Const(0, kb))[:kb] if kb else Const(0, 1)

        def bt_addr(seq, slot):
            return Cat(slot_of(slot), seq[:sib]) if kb else seq[:sib]

        # -- free-page FIFO (head read ahead) and never-used pages --
        f_rd = Signal(range(P))
        f_wr = Signal(range(P))
        f_count = Signal(range(P + 1))
        fresh = Signal(range(P + 1))
        pop = Signal()
        push = Signal()
        push_page = Signal(pgb)
        free_total = Signal(range(P + 1), init=P)  # FIFO entries + never-used pages
        use_fifo = Signal()                         # registered f_count != 0
        avail = Signal(init=1)                      # registered free_total != 0
        new_page = Mux(use_fifo, fl_r.data, fresh[:pgb])
        f_rd_next = Mux(pop & use_fifo, Mux(f_rd == P - 1, 0, f_rd + 1), f_rd)
        m.d.comb += [fl_r.addr.eq(f_rd_next), fl_r.en.eq(1),
                     fl_w.addr.eq(f_wr), fl_w.data.eq(push_page), fl_w.en.eq(push)]
        with m.If(pop):
            m.d.sync += [free_total.eq(free_total - 1), avail.eq(free_total != 1)]
            with m.If(use_fifo):
                m.d.sync += [f_rd.eq(f_rd_next), f_count.eq(f_count - 1),
                             use_fifo.eq(f_count != 1)]
            with m.Else():
                m.d.sync += fresh.eq(fresh + 1)
        with m.If(push):
            m.d.sync += [f_wr.eq(Mux(f_wr == P - 1, 0, f_wr + 1)), f_count.eq(f_count + 1),
                         use_fifo.eq(1), free_total.eq(free_total + 1), avail.eq(1)]

        # -- status register --
        st_valid = Signal()
        st_code = Signal(3)
        emit = Signal()
        emit_code = Signal(3)
        can_emit = ~st_valid | self.o_status.ready
        m.d.comb += [self.o_status.valid.eq(st_valid), self.o_status.payload.eq(st_code)]
        with m.If(emit):
            m.d.sync += [st_valid.eq(1), st_code.eq(emit_code)]
        with m.Elif(self.o_status.ready):
            m.d.sync += st_valid.eq(0)

        # -- inputs (taken as they are: see CMD_LATENCY) --
        cmd_in, k_in, v_in = self.i_cmd, self.i_k, self.i_v

        # -- READ pipeline: issue → block table → data memory → output registers --
        ok_k, ok_v = Signal(), Signal()
        adv = (~ok_k | self.o_k.ready) & (~ok_v | self.o_v.ready)
        r_seq = Signal(sib)
        r_pos = Signal(cfg.len_bits)
        r_cnt = Signal(cfg.pos_bits)
        r_beat = Signal(max(1, bbits))
        r_what = Signal(2)
        issue = Signal()
        r1, r2 = Signal(), Signal()
        r1_what, r2_what = Signal(2), Signal(2)
        r1_off = Signal(max(1, psb))
        r1_beat = Signal(max(1, bbits))
        # empty pipeline and outputs: a freed page cannot be rewritten under a row in flight,
        # and the copy on write may use the data memories' output registers
        drained = ~r1 & ~r2 & ~ok_k & ~ok_v
        with m.If(adv):
            m.d.sync += [r1.eq(issue), r1_what.eq(r_what), r1_off.eq(r_pos[:psb] if psb else 0),
                         r1_beat.eq(r_beat), r2.eq(r1), r2_what.eq(r1_what),
                         ok_k.eq(r2 & r2_what[0]), ok_v.eq(r2 & r2_what[1])]
        with m.Else():              # one output took its beat, the other is stalled
            with m.If(self.o_k.ready):
                m.d.sync += ok_k.eq(0)
            with m.If(self.o_v.ready):
                m.d.sync += ok_v.eq(0)
        # the data memories' output registers are the output payloads (loaded with adv)
        m.d.comb += [self.o_k.valid.eq(ok_k), self.o_k.payload.eq(mk.rdata),
                     self.o_v.valid.eq(ok_v), self.o_v.payload.eq(mv.rdata),
                     mk.oce.eq(adv), mv.oce.eq(adv)]
        read_addr = Cat(r1_beat[:bbits], r1_off[:psb], bt_r.data)

        # -- data write stage (registered): appends and copy-on-write copies --
        wr_en = Signal()
        wr_addr = Signal(range(cfg.words))
        wr_k, wr_v = Signal(beat), Signal(beat)
        wr_en_next = Signal()
        wr_addr_next = Signal(range(cfg.words))
        copying = Signal()          # the memories' outputs hold a word to copy
        m.d.sync += [wr_en.eq(wr_en_next), wr_addr.eq(wr_addr_next),
                     wr_k.eq(Mux(copying, mk.rdata, k_in.payload)),
                     wr_v.eq(Mux(copying, mv.rdata, v_in.payload))]
        m.d.comb += [mk.waddr.eq(wr_addr), mk.wdata.eq(wr_k), mk.wen.eq(wr_en),
                     mv.waddr.eq(wr_addr), mv.wdata.eq(wr_v), mv.wen.eq(wr_en)]

        # -- the command --
        cmd = cmd_in.payload
        op = cmd.op
        seq_ok = cmd.seq < S
        si = cmd.seq[:sib]
        len_s = _pick(length, si)
        tail_s = _pick(tail, si)
        shared_s = _pick(shared, si)
        off = len_s[:psb] if psb else Const(0, 1)
        lp = len_s[psb:]
        boundary = _pick(at_bound, si)
        full = _pick(is_full, si)
        ring_full_s = _pick(ring_full, si) if window else Const(0)
        n_held = lp + (off != 0)                    # logical pages 0 … n − 1 …
        lo_lp = Mux(n_held > R, n_held - R, 0) if window else Const(0)     # … from lo_lp
        data_ok = k_in.valid & v_in.valid
        # READ checks
        what_ok = cmd.what != 0
        if window:
            range_ok = (cmd.a + cmd.b <= len_s) & (cmd.a + window >= len_s)
        else:
            range_ok = cmd.a + cmd.b <= len_s
        # FORK checks
        dst_ok = cmd.a < S
        di = cmd.a[:sib]
        len_d = _pick(length, di)

        drop_done = Signal()        # the drop path ran for the pending APPEND
        drop_reuse = Signal()       # … and left the oldest page as the tail (reuse in place)
        pend_fail = Signal()        # a slow path found no free page for the pending APPEND
        go_drop = boundary & ring_full_s & ~drop_done
        go_cow = ~boundary & shared_s
        app_code = Signal(3)
        m.d.comb += app_code.eq(
            Mux(~seq_ok, Status.BAD_SEQ,
                Mux(full, Status.SEQ_FULL,
                    Mux(pend_fail | (boundary & ~(ring_full_s & drop_reuse) & ~avail),
                        Status.OUT_OF_PAGES, Status.OK))))
        app_slow = seq_ok & ~full & ~pend_fail & (go_drop | go_cow)

        # iteration registers (FREE, FORK) and slow-path registers
        it_lp = Signal(lpw)
        it_end = Signal(lpw)
        it_seq = Signal(sib)
        it_dst = Signal(sib)
        page_r = Signal(pgb)        # a page read from the table
        c_old = Signal(pgb)
        c_new = Signal(pgb)
        c_ref = Signal(cfg.ref_bits)
        c_slot = Signal(max(1, kb))         # the slot to read (drop: lp − R) or repoint (cow)
        a_slot = Signal(max(1, kb))         # the pending APPEND's slot (lp)
        ref_dec = Signal()                  # a count is written back decremented …
        ref_inc = Signal()                  # … or incremented
        ref_old = Signal(cfg.ref_bits)      # … from this value
        c_seq = Signal(sib)
        c_n = Signal(psb + bbits + 1)       # words to copy
        c_i = Signal(psb + bbits + 1)
        cp_v1, cp_v2 = Signal(), Signal()   # a copy read was issued 1 / 2 cycles ago
        cp_dst = Signal(range(cfg.words))
        cp_dst2 = Signal(range(cfg.words))
        rest_row = Signal(max(1, psb + pgb))
        rest_ok = Signal()
        rest_beat = Signal(max(1, bbits))

        # defaults
        # the table's read address is a register, set the cycle before by whoever reads next
        # (READ: the next position; FREE / FORK: the next page; drop: the oldest page), and the
        # count memory reads the table's output (or c_old, selected by a register): no state
        # decoding in front of either LUT RAM
        bt_ra = Signal.like(bt_r.addr)
        bt_ren = Signal()
        ref_from_c = Signal()
        m.d.comb += [bt_r.addr.eq(bt_ra), bt_r.en.eq(bt_ren),
                     ref_r.addr.eq(Mux(ref_from_c, c_old, bt_r.data))]
        data_raddr = Signal(range(cfg.words))
        data_ren = Signal()
        m.d.comb += [mk.raddr.eq(data_raddr), mv.raddr.eq(data_raddr),
                     mk.ren.eq(data_ren), mv.ren.eq(data_ren),
                     bt_ren.eq(adv), data_raddr.eq(read_addr), data_ren.eq(adv & r1)]
        m.d.comb += ref_r.en.eq(1)

        def set_seq(index, reg_list, value):
            for i, r in enumerate(reg_list):
                with m.If(index == i):
                    m.d.sync += r.eq(value)

        def set_len(index, kind):
            """Length of sequence ``index``: ``inc`` (len_s + 1), ``zero``, or ``copy`` (FORK's
            dst takes src's), with its registered facts."""
            if kind == "inc":
                facts = (len_s + 1, len_s == cfg.seq_limit - 1, off == ps - 1,
                         len_s >= R * ps - 1)
            elif kind == "zero":
                facts = (0, 0, 1, 0)
            else:
                facts = (len_s, full, boundary, ring_full_s)
            for regs, value in zip((length, is_full, at_bound, ring_full), facts, strict=True):
                set_seq(index, regs, value)

        def inc(v):
            return (v + 1)[:len(v)] if self.fault != "fork_no_ref" else v

        m.d.sync += ref_from_c.eq(0)
        with m.FSM(name="ctl") as fsm:
            with m.State("IDLE"):
                with m.If(cmd_in.valid & can_emit):
                    with m.Switch(op):
                        with m.Case(Op.RESET):
                            with m.If(drained):
                                m.d.comb += [cmd_in.ready.eq(1), emit.eq(1),
                                             emit_code.eq(Status.OK)]
                                m.d.sync += [f_rd.eq(0), f_wr.eq(0), f_count.eq(0),
                                             fresh.eq(0), use_fifo.eq(0),
                                             free_total.eq(P), avail.eq(1)]
                                m.d.sync += [x.eq(0) for x in (*length, *shared, *is_full,
                                                               *ring_full)]
                                m.d.sync += [x.eq(1) for x in at_bound]
                        with m.Case(Op.APPEND):
                            with m.If(drained & app_slow):
                                m.d.sync += [c_seq.eq(si), c_slot.eq(slot_of(lp)),
                                             a_slot.eq(slot_of(lp)),
                                             c_old.eq(tail_s), c_n.eq(off << bbits)]
                                with m.If(go_cow):
                                    m.d.sync += ref_from_c.eq(1)
                                    m.next = "COW_REF"
                                with m.Else():
                                    m.d.sync += [c_slot.eq(slot_of(lp - R)),
                                                 bt_ra.eq(bt_addr(si, lp - R))]
                                    m.next = "DROP_BT"
                            with m.Elif(drained & data_ok):
                                ok = app_code == Status.OK
                                m.d.comb += [cmd_in.ready.eq(1), k_in.ready.eq(1),
                                             v_in.ready.eq(1), emit.eq(1),
                                             emit_code.eq(app_code)]
                                m.d.sync += [drop_done.eq(0), drop_reuse.eq(0),
                                             pend_fail.eq(0)]
                                alloc = boundary & ~(ring_full_s & drop_reuse)
                                page = Mux(alloc, new_page, tail_s)
                                with m.If(ok):
                                    set_len(si, "inc")
                                    m.d.comb += [wr_en_next.eq(1),
                                                 wr_addr_next.eq(Cat(Const(0, bbits),
                                                                     off[:psb], page))]
                                    with m.If(boundary):        # a page of its own
                                        set_seq(si, shared, 0)
                                    with m.If(alloc):
                                        m.d.comb += [pop.eq(1), bt_w.en.eq(1),
                                                     bt_w.addr.eq(bt_addr(si, slot_of(lp))),
                                                     bt_w.data.eq(new_page),
                                                     ref_w.en.eq(1), ref_w.addr.eq(new_page),
                                                     ref_w.data.eq(1)]
                                        set_seq(si, tail, new_page)
                                m.d.sync += [rest_row.eq(Cat(off[:psb], page)), rest_ok.eq(ok),
                                             rest_beat.eq(1)]
                                if nb > 1:
                                    m.next = "REST"
                        with m.Case(Op.READ):
                            code = Mux(~seq_ok, Status.BAD_SEQ,
                                       Mux(~what_ok, Status.BAD_OP,
                                           Mux(~range_ok, Status.BAD_RANGE, Status.OK)))
                            m.d.comb += [cmd_in.ready.eq(1), emit.eq(1),
                                         emit_code.eq(code)]
                            m.d.sync += [r_seq.eq(si), r_pos.eq(cmd.a), r_cnt.eq(cmd.b),
                                         r_beat.eq(0), r_what.eq(cmd.what),
                                         bt_ra.eq(bt_addr(si, cmd.a >> psb))]
                            with m.If((code == Status.OK) & (cmd.b != 0)):
                                m.next = "READING"
                        with m.Case(Op.FREE):
                            with m.If(drained):
                                m.d.comb += [cmd_in.ready.eq(1), emit.eq(1),
                                             emit_code.eq(Mux(seq_ok, Status.OK,
                                                              Status.BAD_SEQ))]
                                m.d.sync += [it_seq.eq(si), it_lp.eq(lo_lp),
                                             it_end.eq(n_held), bt_ra.eq(bt_addr(si, lo_lp))]
                                with m.If(seq_ok):
                                    set_len(si, "zero")
                                    set_seq(si, shared, 0)
                                    with m.If(n_held != 0):
                                        m.next = "FREE_BT"
                        with m.Case(Op.FORK):
                            with m.If(drained):
                                code = Mux(~seq_ok | ~dst_ok | (si == di), Status.BAD_SEQ,
                                           Mux(len_d != 0, Status.SEQ_IN_USE, Status.OK))
                                m.d.comb += [cmd_in.ready.eq(1), emit.eq(1),
                                             emit_code.eq(code)]
                                m.d.sync += [it_seq.eq(si), it_dst.eq(di), it_lp.eq(lo_lp),
                                             it_end.eq(n_held), bt_ra.eq(bt_addr(si, lo_lp))]
                                with m.If(code == Status.OK):
                                    set_len(di, "copy")
                                    set_seq(di, tail, tail_s)
                                    set_seq(si, shared, 1)
                                    set_seq(di, shared, 1)
                                    with m.If(n_held != 0):
                                        m.next = "FORK_BT"
                        with m.Default():
                            with m.If(drained):
                                m.d.comb += [cmd_in.ready.eq(1), emit.eq(1),
                                             emit_code.eq(Status.BAD_OP)]

            with m.State("REST"):           # the other beats of an APPEND's rows
                m.d.comb += [k_in.ready.eq(data_ok), v_in.ready.eq(data_ok),
                             wr_en_next.eq(data_ok & rest_ok),
                             wr_addr_next.eq(Cat(rest_beat[:bbits], rest_row))]
                with m.If(data_ok):
                    m.d.sync += rest_beat.eq(rest_beat + 1)
                    with m.If(rest_beat == nb - 1):
                        m.next = "IDLE"

            with m.State("READING"):
                with m.If(adv):
                    m.d.comb += issue.eq(1)
                    pos_next = Mux(r_beat == nb - 1, r_pos + 1, r_pos)
                    m.d.sync += bt_ra.eq(bt_addr(r_seq, pos_next >> psb))
                    with m.If(r_beat == nb - 1):
                        m.d.sync += [r_beat.eq(0), r_pos.eq(r_pos + 1), r_cnt.eq(r_cnt - 1)]
                        with m.If(r_cnt == 1):
                            m.next = "IDLE"
                    with m.Else():
                        m.d.sync += r_beat.eq(r_beat + 1)

            # FREE: per held page, table → count → write back (and push when it reaches 0)
            with m.State("FREE_BT"):
                m.d.comb += bt_ren.eq(1)
                m.next = "FREE_REF"
            with m.State("FREE_REF"):
                m.d.sync += page_r.eq(bt_r.data)
                m.next = "FREE_WR"
            with m.State("FREE_WR"):
                dec = (ref_r.data - 1)[:cfg.ref_bits]
                m.d.comb += [ref_w.en.eq(1), ref_w.addr.eq(page_r), ref_w.data.eq(dec),
                             ref_dec.eq(1), ref_old.eq(ref_r.data)]
                if self.fault == "free_keeps_page":
                    m.d.comb += push.eq(ref_r.data <= 2)
                else:
                    m.d.comb += push.eq(ref_r.data == 1)
                m.d.comb += push_page.eq(page_r)
                m.d.sync += [it_lp.eq(it_lp + 1), bt_ra.eq(bt_addr(it_seq, it_lp + 1))]
                with m.If(it_lp + 1 == it_end):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "FREE_BT"

            # FORK: per held page of src, table → (count, dst's table entry) → count + 1
            with m.State("FORK_BT"):
                m.d.comb += bt_ren.eq(1)
                m.next = "FORK_REF"
            with m.State("FORK_REF"):
                m.d.comb += [bt_w.en.eq(1),
                             bt_w.addr.eq(bt_addr(it_dst, slot_of(it_lp))),
                             bt_w.data.eq(bt_r.data)]
                m.d.sync += page_r.eq(bt_r.data)
                m.next = "FORK_WR"
            with m.State("FORK_WR"):
                m.d.comb += [ref_w.en.eq(1), ref_w.addr.eq(page_r),
                             ref_w.data.eq(inc(ref_r.data)), ref_inc.eq(1),
                             ref_old.eq(ref_r.data)]
                m.d.sync += [it_lp.eq(it_lp + 1), bt_ra.eq(bt_addr(it_seq, it_lp + 1))]
                with m.If(it_lp + 1 == it_end):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "FORK_BT"

            # window: the APPEND that starts a page when the ring is full drops the oldest
            with m.State("DROP_BT"):
                m.d.comb += bt_ren.eq(1)
                m.next = "DROP_REF"
            with m.State("DROP_REF"):
                m.d.sync += c_old.eq(bt_r.data)
                m.next = "DROP_DEC"
            with m.State("DROP_DEC"):
                with m.If(ref_r.data == 1):             # reuse in place
                    m.d.comb += [bt_w.en.eq(1), bt_w.addr.eq(bt_addr(c_seq, a_slot)),
                                 bt_w.data.eq(c_old)]
                    set_seq(c_seq, tail, c_old)
                    m.d.sync += [drop_done.eq(1), drop_reuse.eq(1)]
                with m.Elif(avail):                     # release; the fast path allocates
                    m.d.comb += [ref_w.en.eq(1), ref_w.addr.eq(c_old),
                                 ref_w.data.eq(ref_r.data - 1), ref_dec.eq(1),
                                 ref_old.eq(ref_r.data)]
                    m.d.sync += drop_done.eq(1)
                with m.Else():
                    m.d.sync += pend_fail.eq(1)
                m.next = "IDLE"

            # copy on write: the tail page is shared and partly filled
            with m.State("COW_REF"):
                m.next = "COW_DEC"
            with m.State("COW_DEC"):
                with m.If(ref_r.data == 1):             # no longer shared
                    set_seq(c_seq, shared, 0)
                    m.next = "IDLE"
                with m.Elif(avail):
                    m.d.comb += [pop.eq(1), ref_w.en.eq(1), ref_w.addr.eq(new_page),
                                 ref_w.data.eq(1), bt_w.en.eq(1),
                                 bt_w.addr.eq(bt_addr(c_seq, c_slot)), bt_w.data.eq(new_page)]
                    m.d.sync += [c_new.eq(new_page), c_ref.eq(ref_r.data), c_i.eq(0)]
                    m.next = "COPY"
                with m.Else():
                    m.d.sync += pend_fail.eq(1)
                    m.next = "IDLE"
            with m.State("COPY"):
                m.d.comb += [data_raddr.eq(Cat(c_i[:psb + bbits], c_old)), data_ren.eq(1)]
                m.d.sync += [cp_dst.eq(Cat(c_i[:psb + bbits], c_new)), c_i.eq(c_i + 1)]
                with m.If(c_i + 1 == c_n):
                    m.next = "COW_WAIT"
            with m.State("COW_WAIT"):       # the last word's read is in the memories
                m.next = "COW_END"
            with m.State("COW_END"):
                m.d.comb += [ref_w.en.eq(1), ref_w.addr.eq(c_old),
                             ref_w.data.eq(c_ref - 1), ref_dec.eq(1), ref_old.eq(c_ref)]
                set_seq(c_seq, tail, c_new)
                set_seq(c_seq, shared, 0)
                m.next = "IDLE"

        # the copy's writes trail its reads by two cycles (read, output register)
        m.d.sync += [cp_v1.eq(fsm.ongoing("COPY")), cp_v2.eq(cp_v1), cp_dst2.eq(cp_dst)]
        m.d.comb += copying.eq(cp_v2)
        with m.If(cp_v2):
            m.d.comb += [wr_en_next.eq(1), wr_addr_next.eq(cp_dst2)]

        if self.probe:
            m.d.comb += [self.probe_dec_zero.eq(ref_dec & (ref_old == 0)),
                         self.probe_inc_full.eq(ref_inc & (ref_old >= cfg.num_seqs))]
            pending = bt_port.en | ref_port.en      # a registered write not yet done
            self._probes(m, fsm, length, bt, refm, fl, f_rd, f_count, fresh,
                         drop_done | pending)
        return m

    def _probes(self, m, fsm, length, bt, refm, fl, f_rd, f_count, fresh, busy):
        cfg = self.cfg
        for i, sig in enumerate(self.probe_len):
            m.d.comb += sig.eq(length[i])
        for i, row in enumerate(self.probe_table):
            for j, sig in enumerate(row):
                port = bt.read_port(domain="comb")
                m.d.comb += [port.addr.eq((i << cfg.slot_bits) | j), sig.eq(port.data)]
        for p, sig in enumerate(self.probe_ref):
            port = refm.read_port(domain="comb")
            m.d.comb += [port.addr.eq(p), sig.eq(port.data)]
        for p, sig in enumerate(self.probe_fifo):
            port = fl.read_port(domain="comb")
            m.d.comb += [port.addr.eq(p), sig.eq(port.data)]
        m.d.comb += [self.probe_rd.eq(f_rd), self.probe_count.eq(f_count),
                     self.probe_fresh.eq(fresh),
                     self.probe_settled.eq(fsm.ongoing("IDLE") & ~busy)]
