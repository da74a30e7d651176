"""The sparse zero-skip engine: weight banks, a compaction/issue stage, ``lanes`` MAC lanes."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ...core.bram import DataMemory
from ...core.mult import ecp5_mult, multiply
from ...core.numerics import add_fit
from ...core.tech import tech_of
from .config import OUT_DEPTH, SparseConfig

__all__ = ["SparseEngine", "PIPE"]

#: Cycles from an end-of-column issue to its ``o_y`` transfer (no stalls); see ``model``.
PIPE = 11


class _State(enum.Enum, shape=3):
    IDLE = 0
    SETUP = 1       # the command's registers are loaded; the first tile starts next
    LOAD = 2
    RUN = 3
    WAIT = 4


def _onehot_low(mask):
    """The lowest set bit of ``mask`` alone (``mask & -mask``)."""
    return mask & (~mask + 1)[:len(mask)]


def _at_most_one(bits):
    """1 when at most one bit of ``bits`` is set: a tree of (any, two or more) pairs, no
    adder."""
    nodes = [(bits[i], Const(0)) for i in range(len(bits))]
    while len(nodes) > 1:
        nxt = []
        for i in range(0, len(nodes), 2):
            if i + 1 == len(nodes):
                nxt.append(nodes[i])
                continue
            (a1, a2), (b1, b2) = nodes[i], nodes[i + 1]
            nxt.append((a1 | b1, a2 | b2 | (a1 & b1)))
        nodes = nxt
    return ~nodes[0][1]


def _or_tree(terms):
    """The OR of ``terms`` as a balanced tree (for one-hot selects: one term is live)."""
    while len(terms) > 1:
        terms = [terms[i] | terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


class SparseEngine(wiring.Component):
    """``Y = W · X`` skipping zero operands (``cfg.mode``); numerics of ``golden.accumulate``.

    Ports
    -----
    i_cmd : In, struct {k, n, t}
        One job: K − 1, n − 1 (columns of X) and tiles − 1 (⌈rows / lanes⌉ − 1).
    i_w : In, array of lanes × w_fmt (``nm``: struct {val: lanes × w_fmt, idx: lanes × log2
        group})
        Per tile, its weight words in address order (``golden.to_streams``).
    i_x : In, array of window × x_fmt
        Per tile, every column of X as ⌈K/window⌉ beats; elements beyond K are ignored.
    o_y : Out, struct {data: lanes × acc_fmt, last}
        One beat per column per tile; ``last`` on the job's final beat.
    stat_cycles, stat_issued, stat_skipped : Out(40)
        Counters of the current (or last) job, cleared when its command is taken: cycles from
        the command to the last ``o_y`` transfer, weight slots issued to the lanes, and
        positions of the (group-padded) K not issued.

    Pipeline
    --------
    ``i_x`` → input register R → a 2-entry queue A (all-zero beats that do not end a column
    are dropped on the way, in ``act`` mode) → the issue register B, which sends its lowest
    remaining unit (an element, or in ``nm`` mode a group for ``keep`` cycles) each cycle →
    S0 (address, operand) → weight memory (registered read) → S3, S4 flip-flops → multipliers
    (2 register stages, MULT18X18D on ECP5) → product register → accumulators → result
    register → output FIFO. Ends of columns take a credit of the FIFO
    when issued, so the pipeline after B never stalls.
    """

    def __init__(self, cfg: SparseConfig):
        self.cfg = cfg
        L, win = cfg.lanes, cfg.window
        self._word = (data.StructLayout({"val": data.ArrayLayout(cfg.w_fmt.shape, L),
                                         "idx": data.ArrayLayout(cfg.idx_bits, L)})
                      if cfg.nm else data.ArrayLayout(cfg.w_fmt.shape, L))
        ports = {
            "i_cmd": In(stream.Signature(data.StructLayout(
                {"k": cfg.k_bits, "n": cfg.dim_bits, "t": cfg.tile_bits}))),
            "i_w": In(stream.Signature(self._word)),
            "i_x": In(stream.Signature(data.ArrayLayout(cfg.x_fmt.shape, win))),
            "o_y": Out(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(cfg.acc_fmt.shape, L), "last": 1}))),
            "stat_cycles": Out(cfg.stat_bits), "stat_issued": Out(cfg.stat_bits),
            "stat_skipped": Out(cfg.stat_bits),
        }
        super().__init__(ports)

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        L, win, U = cfg.lanes, cfg.window, cfg.units
        unit, keep = cfg.unit, cfg.keep
        win_bits = (win - 1).bit_length()
        unit_bits = (unit - 1).bit_length()
        beat_bits = max(1, (cfg.max_k // win - 1).bit_length())
        ab = cfg.addr_bits
        x_shape = cfg.x_fmt.shape
        sb = cfg.stat_bits

        # ---------------- command registers ----------------
        state = Signal(_State)
        kb_last = Signal(beat_bits)                  # beats per column − 1
        last_mask = Signal(U)                        # units valid in a column's last beat
        words_last = Signal(ab)                      # weight words per tile − 1
        n_last = Signal(cfg.dim_bits)
        t_last = Signal(cfg.tile_bits)
        pos_col = Signal(cfg.k_bits + 1)             # positions per column (for skipped)
        k_one = Signal()                             # one beat per column
        n_one = Signal()                             # one column per tile
        tiles_left = Signal(cfg.tile_bits)          # tiles of the job after this one
        last_tile = Signal()
        t_one = Signal()                             # one tile
        bank = Signal()
        cmd = self.i_cmd.payload
        m.d.comb += self.i_cmd.ready.eq(state == _State.IDLE)
        k_m1 = Signal(cfg.k_bits)
        m.d.comb += k_m1.eq(cmd.k)
        last_unit = (k_m1[:win_bits] >> unit_bits) if win_bits else Const(0, 1)
        g_last = k_m1 >> unit_bits                   # units (groups) per column − 1
        with m.If(self.i_cmd.valid & self.i_cmd.ready):
            m.d.sync += [
                kb_last.eq(k_m1 >> win_bits),
                last_mask.eq((Const(2, U + 1) << last_unit) - 1),
                words_last.eq(g_last * keep + keep - 1 if cfg.nm else k_m1),
                n_last.eq(cmd.n), t_last.eq(cmd.t),
                k_one.eq((k_m1 >> win_bits) == 0), n_one.eq(cmd.n == 0), t_one.eq(cmd.t == 0),
                pos_col.eq(((g_last + 1) << unit_bits) if cfg.nm else k_m1 + 1),
            ]

        # ---------------- weight memory: two banks ----------------
        tech = tech_of(platform)
        m.submodules.wmem = wmem = DataMemory(self._word, 2 << ab, tech)
        wcount = Signal(ab)
        wr_en = Signal()
        wr_addr = Signal(ab + 1)
        wr_data = Signal(self._word)
        m.d.comb += [self.i_w.ready.eq(state == _State.LOAD),
                     wmem.wen.eq(wr_en), wmem.waddr.eq(wr_addr), wmem.wdata.eq(wr_data)]
        m.d.sync += wr_en.eq(self.i_w.valid & self.i_w.ready)
        with m.If(self.i_w.valid & self.i_w.ready):
            m.d.sync += [wr_addr.eq(Cat(wcount, bank)), wr_data.eq(self.i_w.payload),
                         wcount.eq(wcount + 1)]

        # ---------------- input queue A (2 entries) ----------------
        # mask: units left to issue; oh: its lowest set bit (the next unit); le1: at most one
        # unit left. All registered: the issue decision and the operand select start at
        # flip-flops, and the lowest-bit search (a carry chain) only updates oh.
        entry = data.StructLayout({"vals": data.ArrayLayout(x_shape, win), "mask": U, "oh": U,
                                   "le1": 1,
                                   "beat": beat_bits, "lb": 1, "lt": 1, "lj": 1})
        a0 = Signal(entry)
        a1 = Signal(entry)
        a_count = Signal(range(3))
        a_wr = Signal()                          # the slot the next entry goes to
        a_rd = Signal()                          # the slot the issue register takes next
        x_open = Signal()
        xb = Signal(beat_bits)                   # beat index in the column (the address)
        x_beats = Signal(beat_bits)              # beats of the column after this one
        x_cols = Signal(cfg.dim_bits)            # columns of the tile after this one
        # input register R: the beat as it came, with its position flags (lb: last beat of a
        # column, lt: of the tile, lj: of the job); R moves into A when A has room
        raw = data.StructLayout({"vals": data.ArrayLayout(x_shape, win), "mask": U,
                                 "beat": beat_bits, "lb": 1, "lt": 1, "lj": 1})
        r = Signal(raw)
        r_full = Signal()
        acc_x = Signal()
        r_move = Signal()
        m.d.comb += [r_move.eq(r_full & (a_count != 2)),
                     self.i_x.ready.eq(x_open & (~r_full | (a_count != 2))),
                     acc_x.eq(self.i_x.valid & self.i_x.ready)]
        # lb / lc: the next beat is the last of its column / the column the last of the tile
        # (flip-flops kept up to date, not comparisons on the input path)
        lb = Signal()
        lc = Signal()
        x_in = self.i_x.payload
        if cfg.mode == "act":                    # the units to issue: the non-zero elements
            nz = Cat(*(x_in[e] != 0 for e in range(win)))
        else:
            nz = Const((1 << U) - 1, U)
        with m.If(acc_x):
            m.d.sync += [r.vals.eq(x_in), r.mask.eq(Mux(lb, nz & last_mask, nz)),
                         r.beat.eq(xb), r.lb.eq(lb), r.lt.eq(lb & lc), r.lj.eq(last_tile),
                         xb.eq(Mux(lb, 0, xb + 1)),
                         x_beats.eq(Mux(lb, kb_last, x_beats - 1)),
                         lb.eq(Mux(lb, k_one, x_beats == 1))]
            with m.If(lb):
                m.d.sync += [x_cols.eq(x_cols - 1), lc.eq(x_cols == 1)]
                with m.If(lc):
                    m.d.sync += x_open.eq(0)
        m.d.sync += r_full.eq(acc_x | (r_full & ~r_move))

        # R → A: the lowest unit, and whether it is the only one
        new = Signal(entry)
        mask_in = Signal(U)
        m.d.comb += [
            mask_in.eq(r.mask),
            new.vals.eq(r.vals), new.mask.eq(mask_in), new.oh.eq(_onehot_low(mask_in)),
            new.le1.eq(_at_most_one(mask_in)),
            new.beat.eq(r.beat), new.lb.eq(r.lb), new.lt.eq(r.lt), new.lj.eq(r.lj),
        ]
        # an all-zero beat that does not end a column is dropped here (act)
        push = Signal()
        m.d.comb += push.eq(r_move & ((mask_in != 0) | r.lb))

        # ---------------- issue register B ----------------
        b = Signal(entry)
        b_full = Signal()
        b_slot = Signal(range(max(2, keep)))
        credits = Signal(range(OUT_DEPTH + 1), init=OUT_DEPTH)
        # registered from the count a cycle before: at most one credit was taken since, so
        # credit_ok promises one (the FIFO holds more than the loop needs: never binding
        # without output stalls)
        credit_ok = Signal(init=1)
        m.d.sync += credit_ok.eq(credits >= 2)
        running = Signal()                       # state == RUN, as a flip-flop of its own
        onehot = Signal(U)
        m.d.comb += onehot.eq(b.oh)
        unit_done = (b_slot == keep - 1) if cfg.nm and keep > 1 else Const(1)
        beat_done = Signal()
        is_end = Signal()
        fire = Signal()
        m.d.comb += [
            beat_done.eq(unit_done & b.le1),
            is_end.eq(b.lb & beat_done),
            fire.eq(b_full & running & (~is_end | credit_ok)),
        ]
        rest = Signal(U)
        m.d.comb += rest.eq(b.mask & ~onehot)
        with m.If(fire):
            if cfg.nm and keep > 1:
                m.d.sync += b_slot.eq(Mux(unit_done, 0, b_slot + 1))
            with m.If(unit_done):
                m.d.sync += [b.mask.eq(rest), b.oh.eq(_onehot_low(rest)),
                             b.le1.eq(_at_most_one(rest))]
        b_load = Signal()
        m.d.comb += b_load.eq((~b_full | (fire & beat_done)) & (a_count != 0))
        with m.If(b_load):
            m.d.sync += [b.eq(Mux(a_rd, a1.as_value(), a0.as_value())), b_full.eq(1),
                         a_rd.eq(~a_rd)]
        with m.Elif(fire & beat_done):
            m.d.sync += b_full.eq(0)
        # queue A: two slots written in turn (no shifting: a new entry goes straight into its
        # slot), read in turn by the issue register. Every beat leaving R is written into the
        # free slot; only the pointer and the count say whether it was kept (the slots' write
        # enable does not wait for the zero test)
        with m.If(r_move):
            with m.If(a_wr):
                m.d.sync += a1.eq(new)
            with m.Else():
                m.d.sync += a0.eq(new)
        with m.If(push):
            m.d.sync += a_wr.eq(~a_wr)
        m.d.sync += a_count.eq(a_count + push - b_load)

        # ---------------- S0: the issued slot ----------------
        # plain expressions, not conditional assignments (Icarus leaves a conditional
        # ``always @*`` at X until its inputs change: FPGA-NOTES)
        pos = Signal(max(1, (U - 1).bit_length()))
        m.d.comb += pos.eq(_or_tree([Mux(onehot[u], u, 0) for u in range(U)]))
        unit_idx = Cat(pos[:max(0, (U - 1).bit_length())], b.beat) if U > 1 else b.beat
        if cfg.nm:
            addr = (unit_idx * keep + b_slot)[:ab]
            opnd = data.ArrayLayout(x_shape, unit)
        else:
            addr = unit_idx[:ab]
            opnd = data.ArrayLayout(x_shape, 1)
        sel = Signal(opnd)
        for e in range(unit):
            m.d.comb += sel[e].eq(_or_tree([Mux(onehot[u], b.vals[u * unit + e], 0)
                                            for u in range(U)]))
        # v: a slot was issued (its product counts); end: it closes a column; last: the job
        flags = data.StructLayout({"v": 1, "end": 1, "last": 1})
        s0_x = Signal(opnd)
        s0_f = Signal(flags)
        m.d.sync += [s0_x.eq(Mux(fire, sel.as_value(), 0)), s0_f.v.eq(fire),
                     s0_f.end.eq(fire & is_end),
                     s0_f.last.eq(fire & is_end & b.lt & b.lj)]
        s0_addr = Signal(ab + 1)
        m.d.sync += s0_addr.eq(Cat(addr, bank))
        # the memory reads only for issued slots: an idle read could collide with the loader's
        # write into the same bank (block RAM gives undefined data then)
        m.d.comb += [wmem.raddr.eq(s0_addr), wmem.ren.eq(s0_f.v), wmem.oce.eq(1)]

        # the memory's registered output is valid in S2; S3: a flip-flop of its own beside it
        # (the block RAM's clock-to-out leaves no time for routing or logic), S4 a second one
        # that carries it to the multipliers. Every stage resets (a synchronous reset is free on
        # both families' flip-flops): after a reset the lanes hold zeros, and a simulator's
        # power-up X in the weight path cannot reach an accumulator (X · 0 is X in Verilog).
        s1_x, s1_f = Signal(opnd, name="s1_x"), Signal(flags, name="s1_f")
        s2_x, s2_f = Signal(opnd, name="s2_x"), Signal(flags, name="s2_f")
        s3_x, s3_f = Signal(opnd, name="s3_x"), Signal(flags, name="s3_f")
        s4_x, s4_f = Signal(opnd, name="s4_x"), Signal(flags, name="s4_f")
        s3_w = Signal(self._word)
        s4_w = Signal(self._word)
        m.d.sync += [s1_x.eq(s0_x), s1_f.eq(s0_f), s2_x.eq(s1_x), s2_f.eq(s1_f),
                     s3_x.eq(s2_x), s3_f.eq(s2_f), s3_w.eq(wmem.rdata),
                     s4_x.eq(s3_x), s4_f.eq(s3_f), s4_w.eq(s3_w)]

        # ---------------- lanes ----------------
        f5, f6, f7, f8 = (Signal(flags, name=f"s{i}_f") for i in (5, 6, 7, 8))
        m.d.sync += [f5.eq(s4_f), f6.eq(f5), f7.eq(f6), f8.eq(f7)]
        result = Signal(data.ArrayLayout(cfg.acc_fmt.shape, L))
        for lane in range(L):
            if cfg.nm:
                w = s4_w.val[lane]
                a = Signal(x_shape, name=f"a{lane}")
                m.d.comb += a.eq(_or_tree([Mux(s4_w.idx[lane] == e, s4_x[e], 0)
                                           for e in range(unit)]))
            else:
                w = s4_w[lane]
                a = s4_x[0]
            prod = Signal(signed(cfg.x_fmt.width + cfg.w_fmt.width), name=f"prod{lane}")
            if tech.family == "ecp5":
                ecp5_mult(m, a, w, Const(1), prod, name=f"mult{lane}")
            else:
                a_r = Signal(x_shape, name=f"a_r{lane}")
                w_r = Signal(cfg.w_fmt.shape, name=f"w_r{lane}")
                m.d.sync += [a_r.eq(a), w_r.eq(w), prod.eq(multiply(a_r, w_r))]
            prod_r = Signal.like(prod, name=f"prod_r{lane}")
            acc = Signal(cfg.acc_fmt.shape, name=f"acc{lane}")
            m.d.sync += prod_r.eq(prod)
            total = add_fit(acc, prod_r, cfg.acc_fmt, cfg.overflow)
            # only issued slots count: between them the weight path may hold anything (after a
            # reset, or a block RAM's undefined word), and in Verilog X · 0 is X
            with m.If(f7.v):
                m.d.sync += acc.eq(Mux(f7.end, 0, total))
            with m.If(f7.end):
                m.d.sync += result[lane].eq(total)

        # ---------------- output FIFO (credits) ----------------
        row = data.StructLayout({"data": data.ArrayLayout(cfg.acc_fmt.shape, L), "last": 1})
        m.submodules.oq = oq = fifo.SyncFIFOBuffered(width=row.size, depth=OUT_DEPTH)
        oq_in = Signal(row)
        oq_out = Signal(row)
        m.d.comb += [oq_in.data.eq(result), oq_in.last.eq(f8.last), oq.w_data.eq(oq_in),
                     oq.w_en.eq(f8.end), oq_out.eq(oq.r_data),
                     self.o_y.payload.eq(oq_out), self.o_y.valid.eq(oq.r_rdy),
                     oq.r_en.eq(self.o_y.ready)]
        y_done = self.o_y.valid & self.o_y.ready
        m.d.sync += credits.eq(credits - (fire & is_end) + y_done)

        # ---------------- control ----------------
        enter_load = Signal()
        tile_end = fire & is_end & b.lt
        # the next tile's load starts the cycle after the tile's last issue, from a flip-flop
        next_tile = Signal()
        job_end = Signal()                       # and WAIT after the last tile, likewise
        m.d.sync += [next_tile.eq(tile_end & ~b.lj), job_end.eq(tile_end & b.lj)]
        m.d.comb += enter_load.eq((state == _State.SETUP) | next_tile)
        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(self.i_cmd.valid):
                    m.d.sync += state.eq(_State.SETUP)
            with m.Case(_State.LOAD):
                with m.If(self.i_w.valid & (wcount == words_last)):
                    m.d.sync += [state.eq(_State.RUN), running.eq(1)]
            with m.Case(_State.RUN):
                with m.If(tile_end):
                    m.d.sync += running.eq(0)
                with m.If(job_end):
                    m.d.sync += state.eq(_State.WAIT)
            with m.Case(_State.WAIT):
                with m.If(y_done & self.o_y.payload.last):
                    m.d.sync += state.eq(_State.IDLE)
        with m.If(enter_load):
            m.d.sync += [state.eq(_State.LOAD), bank.eq(~bank), wcount.eq(0), x_open.eq(1),
                         xb.eq(0), x_beats.eq(kb_last), x_cols.eq(n_last),
                         lb.eq(k_one), lc.eq(n_one)]
            with m.If(next_tile):
                m.d.sync += [tiles_left.eq(tiles_left - 1), last_tile.eq(tiles_left == 1)]
            with m.Else():
                m.d.sync += [tiles_left.eq(t_last), last_tile.eq(t_one)]

        # ---------------- counters ----------------
        cyc = Signal(sb)
        issued = Signal(sb)
        positions = Signal(sb)
        with m.If(self.i_cmd.valid & self.i_cmd.ready):
            m.d.sync += [cyc.eq(0), issued.eq(0), positions.eq(0)]
        with m.Else():
            with m.If(state != _State.IDLE):
                m.d.sync += cyc.eq(cyc + 1)
            with m.If(fire & (b.mask != 0)):
                m.d.sync += issued.eq(issued + 1)
            with m.If(fire & is_end):
                m.d.sync += positions.eq(positions + pos_col)
        m.d.comb += [self.stat_cycles.eq(cyc), self.stat_issued.eq(issued),
                     self.stat_skipped.eq(positions - issued)]
        return m
