"""MXU RTL: the stream shell (command, output queue, bias) around a WS or OS systolic core.

Streaming order and cycle behaviour are documented in ``docs/mxu.md`` and in ``golden.to_streams``
(the executable form of the order).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...core.bram import CreditFifo, DataMemory, delay_in_ram, delay_taps
from ...core.mult import ICE40_MAC_WIDTHS
from ...core.numerics import add_fit, fit_value
from ...core.tech import tech_of
from .pe import OSPE, WSPE

__all__ = ["MXU"]


class MXU(wiring.Component):
    """Systolic matrix unit: ``C = A·B (+ D)`` for runtime M×K×N, tiled over an R×C array.

    Ports (``amaranth.lib.stream``; every port honours arbitrary stalls)
    --------------------------------------------------------------------
    i_cmd : In, struct {m, k, n}
        One GEMM, dimensions minus one. Accepted when the previous GEMM's inputs are consumed.
    i_a : In, array of R × a_fmt
        Activations; WS: slices of A rows, OS: slices of A columns (order: ``golden.to_streams``).
    i_w : In, array of C × b_fmt
        Rows of B, C columns at a time.
    i_d : In, array of C × acc_fmt (only with ``bias``)
        Rows of D, in output order.
    o_c : Out, struct {data: array of C × acc_fmt, last}
        Rows of C in output order; lanes beyond N are 0; ``last`` marks the GEMM's final row.

    The numerics are those of ``golden.matmul``; cycle counts those of ``model.model``.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        R, C = cfg.rows, cfg.cols
        db = cfg.dim_bits
        acc = cfg.acc_fmt.shape
        ports = {
            "i_cmd": In(stream.Signature(data.StructLayout(
                {"m": db["m"], "k": db["k"], "n": db["n"]}))),
            "i_a": In(stream.Signature(data.ArrayLayout(cfg.a_fmt.shape, R))),
            "i_w": In(stream.Signature(data.ArrayLayout(cfg.b_fmt.shape, C))),
            "o_c": Out(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(acc, C), "last": 1}))),
        }
        if cfg.bias:
            ports["i_d"] = In(stream.Signature(data.ArrayLayout(acc, C)))
        super().__init__(ports)

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        C = cfg.cols
        acc_fmt = cfg.acc_fmt

        # -- output queue: rows of C results + last (+ lane mask for the bias add) --
        row_layout = data.StructLayout({"data": data.ArrayLayout(acc_fmt.shape, C), "last": 1,
                                        "mask": C})
        # block RAM (DP16KD on ECP5) whose output register is the o_c payload
        m.submodules.oq = oq = CreditFifo(row_layout.size, cfg.out_fifo_depth, tech_of(platform))
        oq_in = Signal(row_layout)
        oq_out = Signal(row_layout)
        m.d.comb += [oq.w_data.eq(oq_in), oq_out.eq(oq.r_data)]

        # credits: free output-queue rows not yet promised to an issued row
        credits = Signal(range(cfg.out_fifo_depth + 1), init=cfg.out_fifo_depth)
        take = Signal(range(cfg.rows + 1))     # rows promised this cycle (by the core)
        pop = Signal()
        m.d.sync += credits.eq(credits - take + pop)
        # credit_ok is registered from the current count, so it lags a cycle in which up to
        # `need` more credits may be taken: it asks for 2·need (the queue has room for that)
        need = 1 if cfg.dataflow == "ws" else cfg.rows
        credit_ok = Signal()
        credit_ok_d = Signal()                  # credit_ok's next value (for registered readys)
        m.d.comb += credit_ok_d.eq(credits >= 2 * need)
        m.d.sync += credit_ok.eq(credit_ok_d)

        # -- command: registered (dims = fields + 1); the core starts two cycles later, when
        #    the walkers' values derived from dims are registered too --
        busy = Signal()
        dims = Signal(data.StructLayout({"m": cfg.dim_bits["m"] + 1, "k": cfg.dim_bits["k"] + 1,
                                         "n": cfg.dim_bits["n"] + 1}))
        accepted = Signal()
        start = Signal()
        # i_cmd.ready is a register: no command in flight (transferring, registered, starting)
        # and the core not busy, a cycle late (its busy is an OR of its stages' flags; the OS
        # core's rises only at start); a next command waits one more cycle
        idle = Signal(init=1)
        m.d.sync += idle.eq(~busy & ~accepted & ~start & ~(self.i_cmd.valid & self.i_cmd.ready))
        m.d.comb += self.i_cmd.ready.eq(idle)
        m.d.sync += [accepted.eq(self.i_cmd.valid & self.i_cmd.ready), start.eq(accepted)]
        with m.If(self.i_cmd.valid & self.i_cmd.ready):
            m.d.sync += [dims.m.eq(self.i_cmd.payload.m + 1), dims.k.eq(self.i_cmd.payload.k + 1),
                         dims.n.eq(self.i_cmd.payload.n + 1)]

        core = _WSCore(cfg) if cfg.dataflow == "ws" else _OSCore(cfg)
        m.submodules.core = core
        m.d.comb += [
            core.start.eq(start), core.dims.eq(dims), busy.eq(core.busy),
            core.cmd.eq(self.i_cmd.payload), core.cmd_fire.eq(self.i_cmd.valid & self.i_cmd.ready),
            core.credit_ok.eq(credit_ok), core.credit_ok_d.eq(credit_ok_d), take.eq(core.take),
            oq_in.eq(core.row), oq.w_en.eq(core.row_valid),
        ]
        wiring.connect(m, wiring.flipped(self.i_a), core.i_a)
        wiring.connect(m, wiring.flipped(self.i_w), core.i_w)

        # -- output (+ bias join) --
        if cfg.bias:
            for c in range(C):
                d = Mux(oq_out.mask[c], self.i_d.payload[c], 0)
                m.d.comb += self.o_c.payload.data[c].eq(
                    fit_value(oq_out.data[c] + d, acc_fmt, cfg.overflow))
            both = oq.r_rdy & self.i_d.valid
            m.d.comb += [
                self.o_c.valid.eq(both),
                oq.r_en.eq(self.o_c.ready & self.i_d.valid),
                self.i_d.ready.eq(self.o_c.ready & oq.r_rdy),
            ]
        else:
            m.d.comb += [self.o_c.payload.data.eq(oq_out.data), self.o_c.valid.eq(oq.r_rdy),
                         oq.r_en.eq(self.o_c.ready)]
        m.d.comb += [self.o_c.payload.last.eq(oq_out.last),
                     pop.eq(self.o_c.valid & self.o_c.ready)]
        return m


class _CoreBase(wiring.Component):
    """The dataflow-specific part: consumes ``i_a``/``i_w``, produces output-queue rows."""

    def __init__(self, cfg):
        self.cfg = cfg
        C = cfg.cols
        row_layout = data.StructLayout({"data": data.ArrayLayout(cfg.acc_fmt.shape, C),
                                        "last": 1, "mask": C})
        db = cfg.dim_bits
        super().__init__({
            "start": In(1),
            "dims": In(data.StructLayout({"m": db["m"] + 1, "k": db["k"] + 1, "n": db["n"] + 1})),
            "cmd": In(data.StructLayout({"m": db["m"], "k": db["k"], "n": db["n"]})),
            "cmd_fire": In(1),      # the command transfers this cycle (payload on ``cmd``)
            "busy": Out(1),
            "credit_ok": In(1),     # the output queue can take one more row (ws) / R rows (os)
            "credit_ok_d": In(1),   # credit_ok's value after the next edge
            "take": Out(range(cfg.rows + 1)),
            "row": Out(row_layout), "row_valid": Out(1),
            "i_a": In(stream.Signature(data.ArrayLayout(cfg.a_fmt.shape, cfg.rows))),
            "i_w": In(stream.Signature(data.ArrayLayout(cfg.b_fmt.shape, C))),
        })


def _dsp_style(cfg, platform, *, ps_width=None):
    """The PEs' hand-instantiated DSP for ``mult = "auto"``: ``"ecp5"`` (MULT18X18D with its
    registers) on ECP5; ``"ice40"`` (SB_MAC16 as the whole multiply-add, WS only: pass its
    ``ps_width``) on iCE40 where the partial sum fits the DSP's 32-bit adder. Otherwise None
    (generic RTL; on iCE40 Yosys infers SB_MAC16 for the multiplier alone)."""
    family = tech_of(platform).family
    if cfg.mult != "auto":
        return None
    if family == "ecp5":
        return "ecp5"
    if family == "ice40" and ps_width is not None and ps_width <= ICE40_MAC_WIDTHS["out"]:
        return "ice40"
    return None


def _late_select(m, late, regs):
    """Registers whose next value depends on ``late``, a producer's valid (it reaches the block
    through the producer's logic): each ``(register, next)`` pair's ``next(v)`` (the next value
    if ``late == v``, from flip-flops only) goes into a kept wire for v = 0 and 1, and the
    register loads ``Mux(late, next(1), next(0))`` — one LUT between the input and the
    flip-flop. Without the kept wires ABC, which sees the input as arriving first, folds it
    back into deeper logic (iCE40: 5 LUT levels behind the producer's own)."""
    for reg, nxt in regs:
        bits = Value.cast(reg)
        k0 = Signal(len(bits), name=f"{bits.name}_v0", attrs={"keep": 1})
        k1 = Signal(len(bits), name=f"{bits.name}_v1", attrs={"keep": 1})
        m.d.comb += [k0.eq(nxt(Const(0, 1))), k1.eq(nxt(Const(1, 1)))]
        m.d.sync += bits.eq(Mux(late, k1, k0))


def _below(v, k: int):
    """Unsigned ``v < k`` for a constant ``k``, as "the bits above k − 1's are zero" and a compare
    of the low bits (Yosys makes a wide compare a carry chain: ten segments for a 13-bit one)."""
    v = Value.cast(v)
    if k <= 0:
        return Const(0, 1)
    hi = (k - 1).bit_length()
    if hi >= len(v):
        return v < k
    high_zero = ~v[hi:].any()
    return high_zero if k == 1 << hi else high_zero & (v[:hi] < k)


def _lane_mask(m, n_rem, lanes):
    """Bit c set iff c < n_rem (the lanes of a possibly partial tile)."""
    mask = Signal(lanes)
    m.d.comb += mask.eq(Cat(*(n_rem > c for c in range(lanes))))
    return mask


class _WSCore(_CoreBase):
    """Weight-stationary core.

    The loader shifts one weight row per cycle into the PEs' shadow registers (rows past K are
    zeros, lanes past N are masked to zero). The first activation row of each tile carries a swap
    token that moves the shadow into the active weights as it passes each PE, so tiles follow each
    other without bubbles. Column sums leave the bottom, are deskewed, and are added into the
    accumulator memory (``acc_depth`` rows × C); the last K tile sends the sum to the output
    queue instead.
    """

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        R, C, depth = cfg.rows, cfg.cols, cfg.acc_depth
        a_shape, b_shape = cfg.a_fmt.shape, cfg.b_fmt.shape
        acc_fmt, ps_fmt = cfg.acc_fmt, cfg.psum_fmt
        tech = tech_of(platform)
        dims = self.dims

        # ---------------- tile sequencer ----------------
        # One descriptor per tile, in the order nt → m-chunk → kt, into the register D. The
        # walk state is the K / M / N left from the tile's first row, with the "last" flags
        # (left ≤ R / d / C) kept as registers beside it: an advance is subtract-or-reload
        # selected by flip-flops, and D is computed from the state with compares of a few low
        # bits. The state is loaded from the command as it transfers and D holds the first
        # tile one edge later, before `start`.
        desc_layout = data.StructLayout({
            "kr": range(R + 1), "mask": C,                        # loader: real rows, lanes
            "rows_m2": range(depth), "one_row": 1, "small": 1,    # issuer: chunk rows − 2
            "first_kt": 1, "last_kt": 1, "glast": 1})
        db = cfg.dim_bits
        cmd = self.cmd
        k_rem, m_rem, n_rem = (Signal(db[x] + 1, name=f"{x}_rem") for x in "kmn")
        lk, lc, ln, lk0, lc0 = (Signal(name=x) for x in ("lk", "lc", "ln", "lk0", "lc0"))
        first_kt = Signal()
        s_valid = Signal()
        desc = Signal(desc_layout)
        d_valid = Signal()
        take = Signal()                           # the loader takes D this cycle
        adv = Signal()
        # with R ≥ 2 the loader takes at most every other cycle, so D refills the cycle after a
        # take and the walk state never sees the loader's handshake; R = 1 refills in the edge
        # of the take
        m.d.comb += adv.eq(s_valid & (~d_valid | take) if R == 1 else s_valid & ~d_valid)

        def low(v, top):                          # v ≤ top: its low bits suffice
            return v[:max(1, top.bit_length())]

        # the last flags' next values (left − step ≤ step, i.e. left ≤ 2·step): with R ≥ 2
        # registered from the state in the cycle before the next advance (advances are two
        # edges apart at least), so the advance selects flip-flops, not compares
        # (the first advance follows the command's edge: its flags come from the command)
        nxt_last = []
        for x, f, step in ((k_rem, cmd.k, R), (m_rem, cmd.m, depth), (n_rem, cmd.n, C)):
            flag = _below(x, 2 * step + 1)
            if R >= 2:
                pre = Signal(name=f"{x.name[0]}_last_next")
                m.d.sync += pre.eq(Mux(self.cmd_fire, _below(f, 2 * step), flag))
                flag = pre
            nxt_last.append(flag)
        lk_next, lc_next, ln_next = nxt_last

        with m.If(adv):
            m.d.sync += [
                desc.kr.eq(Mux(lk, low(k_rem, R), R)),
                desc.mask.eq(Mux(ln, _lane_mask(m, low(n_rem, C), C), (1 << C) - 1)),
                # (rows − 2 modulo the row counter; unused for a one-row chunk)
                desc.rows_m2.eq(Mux(lc, low(m_rem, depth) - 2, depth - 2)),
                desc.one_row.eq(Mux(lc, low(m_rem, depth) == 1, depth == 1)),
                desc.small.eq(Mux(lc, low(m_rem, depth) < 4, depth < 4)),
                desc.first_kt.eq(first_kt), desc.last_kt.eq(lk), desc.glast.eq(lk & lc & ln),
                d_valid.eq(1)]
            with m.If(~lk):
                m.d.sync += [k_rem.eq(k_rem - R), lk.eq(lk_next), first_kt.eq(0)]
            with m.Else():
                m.d.sync += [k_rem.eq(dims.k), lk.eq(lk0), first_kt.eq(1)]
                with m.If(~lc):
                    m.d.sync += [m_rem.eq(m_rem - depth), lc.eq(lc_next)]
                with m.Else():
                    m.d.sync += [m_rem.eq(dims.m), lc.eq(lc0)]
                    with m.If(~ln):
                        m.d.sync += [n_rem.eq(n_rem - C), ln.eq(ln_next)]
                    with m.Else():
                        m.d.sync += s_valid.eq(0)
        with m.Elif(take):
            m.d.sync += d_valid.eq(0)
        with m.If(self.cmd_fire):
            # the same `field + 1` as the top's dims register (Yosys shares the adders)
            one_k, one_m = _below(cmd.k, R), _below(cmd.m, depth)
            m.d.sync += [k_rem.eq(cmd.k + 1), m_rem.eq(cmd.m + 1), n_rem.eq(cmd.n + 1),
                         lk.eq(one_k), lc.eq(one_m), ln.eq(_below(cmd.n, C)),
                         lk0.eq(one_k), lc0.eq(one_m), first_kt.eq(1), s_valid.eq(1)]

        # ---------------- weight loader ----------------
        # Row r of a tile is accepted in cycle x and written into PE row r's shadow registers at
        # the end of x + 1 (rows past K are cleared, lanes past N masked). The loader may start
        # `lock` cycles after a swap token was issued: row r must not be overwritten before the
        # token has passed PE (r, C-1). It takes its tile's descriptor from D at `start` and
        # at each tile's last row, and hands it on to the issuer (`pend`) at that last row.
        ld = Signal(desc_layout)
        l_valid = Signal()
        l_row = Signal(range(R))
        l_last = Signal()                         # l_row == R - 1
        l_real = Signal()                         # l_row < ld.kr
        shadow_full = Signal()
        l_hold = Signal()                         # all rows of the next tile accepted
        lock = Signal(range(max(C - 1, 1)))
        # can_load == busy & ~l_hold & (lock == 0), kept as a register (computed from the next
        # values) so the i_w handshake is one LUT deep
        can_load = Signal()
        l_fire = Signal()
        l_end = Signal()                          # l_fire on the tile's last row
        w_ready = Signal()                        # == can_load & l_real, a register
        m.d.comb += [
            self.i_w.ready.eq(w_ready),
            l_fire.eq(can_load & (~l_real | self.i_w.valid)),
            l_end.eq(l_fire & l_last),
            take.eq(self.start | l_end),
        ]
        with m.If(take):
            m.d.sync += [ld.eq(desc), l_valid.eq(d_valid), l_row.eq(0), l_last.eq(R == 1),
                         l_real.eq(1)]
        with m.Elif(l_fire):
            nxt = l_row + 1
            m.d.sync += [l_row.eq(nxt), l_last.eq(nxt == R - 1), l_real.eq(nxt < ld.kr)]
        # the weight row as it came (no lane masking in front of the shadow registers): rows
        # past K and lanes past N are cleared in the PE by `wb_zero[c]`, the flip-flops' own
        # synchronous reset
        wb_data = Signal(data.ArrayLayout(b_shape, C))
        wb_en = Signal(R)
        wb_zero = Signal(C)
        wb_last = Signal()
        m.d.sync += [wb_en.eq(Mux(l_fire, 1 << l_row, 0)), wb_data.eq(self.i_w.payload),
                     wb_zero.eq(Mux(l_real, ~ld.mask, (1 << C) - 1)), wb_last.eq(l_end)]
        with m.If(l_end):
            m.d.sync += l_hold.eq(1)
        with m.If(wb_last):
            m.d.sync += shadow_full.eq(1)
        with m.If(lock != 0):
            m.d.sync += lock.eq(lock - 1)
        # (comb signals are plain expressions, never assigned under a condition: Icarus does not
        # evaluate a conditional `always @*` block at time 0, which left `token` X after
        # power-up)
        token = Signal()                          # a swap token is issued this cycle
        lock_zero_next = Mux(token, C <= 2, lock <= 1)

        def can_load_next(end):                   # can_load's next value, l_end == end
            hold_next = (l_hold & ~token) | end
            return (l_valid | self.start) & ~hold_next & lock_zero_next
        m.d.sync += can_load.eq(can_load_next(l_end))

        # i_w.ready == can_load & l_real, a register too: both next values for either outcome
        # of l_fire (the weight handshake), then a multiplexer by it
        def w_ready_next(f):
            f = Const(f, 1)
            end = f & l_last
            taking = self.start | end
            real_next = taking | Mux(f, l_row + 1 < ld.kr, l_real)
            return can_load_next(end) & real_next
        m.d.sync += w_ready.eq(Mux(l_fire, w_ready_next(1), w_ready_next(0)))

        # ---------------- activation issue ----------------
        # `pend` holds the descriptor of the tile whose weights are loaded; the issuer takes it
        # when idle or on its tile's last row (a tile's first row also waits for shadow_full,
        # set a cycle after the hand-off, so taking it costs no cycle).
        pend = Signal(desc_layout)
        p_valid = Signal()
        with m.If(l_end):
            m.d.sync += [pend.eq(ld), p_valid.eq(1)]
        it = Signal(desc_layout)
        i_valid = Signal()
        i_row = Signal(range(depth))
        i_first = Signal()
        i_last = Signal()
        cooldown = Signal(2)
        cool = Signal(init=1)                     # == (cooldown == 0), as a register
        # can_issue == i_valid & (~i_first | shadow_full) & cool & (~it.last_kt | credit_ok),
        # kept as a register computed from those registers' next values: i_a.ready is a
        # flip-flop (a producer's enable and the issue decision start at a register)
        can_issue = Signal()
        fire = Signal()
        i_take = Signal()
        m.d.comb += [self.i_a.ready.eq(can_issue), fire.eq(can_issue & self.i_a.valid),
                     token.eq(fire & i_first), self.take.eq(fire & it.last_kt),
                     i_take.eq(p_valid & (~i_valid | (fire & i_last)))]
        def issue_next(f):                        # can_issue's next value if fire == f
            f = Const(f, 1)
            taking = p_valid & (~i_valid | (f & i_last))
            valid_next = taking | (i_valid & ~(f & i_last))
            first_next = taking | (i_first & ~f)
            full_next = wb_last | (shadow_full & ~(f & i_first))
            cool_next = ~(f & it.small) & (cooldown <= 1)
            last_kt_next = Mux(taking, pend.last_kt, it.last_kt)
            return (valid_next & (~first_next | full_next) & cool_next
                    & (~last_kt_next | self.credit_ok_d))
        # both outcomes from flip-flops (and the credit count), then one multiplexer by fire
        # (the input handshake)
        m.d.sync += can_issue.eq(Mux(fire, issue_next(1), issue_next(0)))
        if tech.family == "ice40":
            # iCE40: the issuer state one LUT behind i_a.valid (_late_select). (p_valid's
            # assignment here replaces the one under l_end above: its next values include
            # l_end.)
            # left0 == (i_row == it.rows_m2) (the next row is the chunk's last) is a register,
            # its compare made a cycle ahead: none between the handshake and i_last.
            left0 = Signal()

            def taking_if(v):                     # i_take if i_a.valid == v
                return p_valid & (~i_valid | (can_issue & v & i_last))

            def state_next(v):                   # if i_a.valid == v
                f = can_issue & v                 # fire
                taking = taking_if(v)
                step = f & ~i_last                # a row that is not the chunk's last issues
                return [(i_valid, taking | (i_valid & ~(f & i_last))),
                        (i_row, Mux(taking, 0, Mux(step, i_row + 1, i_row))),
                        (i_first, Mux(taking, 1, Mux(step, 0, i_first))),
                        (i_last, Mux(taking, pend.one_row, Mux(step, left0, i_last))),
                        (left0, Mux(taking, pend.rows_m2 == 0,
                                    Mux(step, i_row + 1 == it.rows_m2, left0))),
                        (p_valid, Mux(taking, 0, p_valid | l_end))]
            _late_select(m, self.i_a.valid,
                         [(reg, lambda v, i=i: state_next(v)[i][1])
                          for i, (reg, _) in enumerate(state_next(Const(0, 1)))])
            # the wide descriptor loads under an enable selected the same way (a kept bit for
            # either outcome, not two kept copies of the word)
            t0 = Signal(name="i_take_v0", attrs={"keep": 1})
            t1 = Signal(name="i_take_v1", attrs={"keep": 1})
            m.d.comb += [t0.eq(taking_if(Const(0, 1))), t1.eq(taking_if(Const(1, 1)))]
            with m.If(Mux(self.i_a.valid, t1, t0)):
                m.d.sync += it.eq(pend)
        else:
            with m.If(i_take):
                m.d.sync += [it.eq(pend), i_valid.eq(1), i_row.eq(0), i_first.eq(1),
                             i_last.eq(pend.one_row), p_valid.eq(0)]
            with m.Elif(fire):
                with m.If(i_last):
                    m.d.sync += i_valid.eq(0)
                with m.Else():
                    m.d.sync += [i_row.eq(i_row + 1), i_first.eq(0),
                                 i_last.eq(i_row == it.rows_m2)]
        with m.If(cooldown != 0):
            m.d.sync += cooldown.eq(cooldown - 1)
        m.d.sync += cool.eq(cooldown <= 1)
        with m.If(fire):
            with m.If(it.small):
                m.d.sync += [cooldown.eq(3), cool.eq(0)]  # chunks of < 4 rows: RAW spacing
            with m.If(i_first):
                m.d.sync += [shadow_full.eq(0), l_hold.eq(0)]
                if C > 2:
                    m.d.sync += lock.eq(C - 2)
        m.d.comb += self.busy.eq(s_valid | d_valid | l_valid | p_valid | i_valid)

        # ---------------- stage 0, skew, array ----------------
        side_layout = data.StructLayout({"valid": 1, "addr": range(depth), "first": 1, "last": 1,
                                         "glast": 1, "mask": C})
        side0 = Signal(side_layout)
        x0 = Signal(data.ArrayLayout(a_shape, R))
        s0 = Signal()
        m.d.sync += [side0.valid.eq(fire), s0.eq(token), x0.eq(self.i_a.payload)]
        m.d.sync += [side0.addr.eq(i_row), side0.first.eq(it.first_kt),
                     side0.last.eq(it.last_kt), side0.glast.eq(i_last & it.glast),
                     side0.mask.eq(it.mask)]

        dsp = _dsp_style(cfg, platform, ps_width=ps_fmt.width)
        pes = [[WSPE(a_shape, b_shape, ps_fmt.shape, lut=cfg.mult == "lut", dsp=dsp)
                for _ in range(C)] for _ in range(R)]
        # With SB_MAC16 PEs (iCE40: small arrays, 8 DSPs; every flip-flop a logic cell) a row's
        # activation and token are broadcast to its C PEs instead of passed along: no
        # forwarding registers and no deskew below the array. Every PE then sees them when
        # column C−1 of the systolic form would, so the input waits C cycles (x0's and C−1
        # more; one delay line from the payload, block RAM where it is long enough): the same
        # cycles, the same results.
        # (LUT-multiplier PEs keep their own ``a`` register as the multiplier's input; Yosys
        # would merge the row's copies into one register fanning out to C multipliers.) After a
        # reset a block-RAM line still returns old words for C cycles: their activations meet
        # no valid sideband, and their tokens can only swap in weights that no valid
        # activation uses (a tile's first row brings its own token, issued later).
        broadcast = dsp == "ice40" and C > 1
        lanes, s_in = x0, s0
        if broadcast:
            in_layout = data.StructLayout({"x": data.ArrayLayout(a_shape, R), "s": 1})
            xs0 = Signal(in_layout)
            m.d.comb += [xs0.x.eq(self.i_a.payload), xs0.s.eq(token)]
            taps, _ = delay_taps(m, xs0, (C,), tech, reg_name=lambda i: f"bcast{i}")
            lanes, s_in = taps[C].x, taps[C].s
        for p in range(R):
            # lane p reaches PE row p after p extra cycles (skew)
            a_sig, s_sig = lanes[p], s_in
            for i in range(p):
                a_d = Signal(a_shape, name=f"skew_a{p}_{i}")
                s_d = Signal(name=f"skew_s{p}_{i}")
                m.d.sync += [a_d.eq(a_sig), s_d.eq(s_sig)]
                a_sig, s_sig = a_d, s_d
            for c in range(C):
                pe = pes[p][c]
                m.submodules[f"pe_{p}_{c}"] = pe
                left = pes[p][c - 1] if c else None
                above = pes[p - 1][c] if p else None
                m.d.comb += [
                    pe.a_in.eq(left.a_out if left and not broadcast else a_sig),
                    pe.s_in.eq(left.s_out if left and not broadcast else s_sig),
                    pe.ps_in.eq(above.ps_out if above else 0),
                    pe.sh_en.eq(wb_en[p]), pe.sh_zero.eq(wb_zero[c]), pe.sh_in.eq(wb_data[c]),
                ]

        # ---------------- deskew, accumulate ----------------
        # (delay lines: registers; long ones block RAM on iCE40, see core.bram.delay_taps)
        ps_row = []
        for c in range(C):
            n = 0 if broadcast else C - 1 - c
            taps, _ = delay_taps(m, pes[R - 1][c].ps_out, (n,), tech,
                                 reg_name=lambda i, c=c: f"deskew{c}_{i}")
            ps_row.append(taps[n])
        # sideband delay line: side[i] is valid i+1 cycles after the issue
        if not delay_in_ram(tech, side_layout.size, R + C + 3):
            taps, _ = delay_taps(m, side0, (R + C, R + C + 2), tech,
                                 reg_name=lambda i: f"side{i + 1}")
            rd_side, add_side = taps[R + C], taps[R + C + 2]
        else:
            # block RAM, written with side0's next value (one register less); the RAM is not
            # reset, so valid travels in registers beside it
            side_d = Signal(side_layout)
            m.d.comb += [side_d.addr.eq(i_row), side_d.first.eq(it.first_kt),
                         side_d.last.eq(it.last_kt), side_d.glast.eq(i_last & it.glast),
                         side_d.mask.eq(it.mask)]
            taps, _ = delay_taps(m, side_d, (R + C + 1, R + C + 3), tech,
                                 reg_name=lambda i: f"side{i}")
            v = [fire]
            for i in range(R + C + 3):
                v.append(Signal(name=f"side_valid{i}"))
                m.d.sync += v[-1].eq(v[-2])
            rd_side, add_side = Signal(side_layout), Signal(side_layout)
            m.d.comb += [rd_side.eq(taps[R + C + 1]), rd_side.valid.eq(v[R + C + 1]),
                         add_side.eq(taps[R + C + 3]), add_side.valid.eq(v[R + C + 3])]

        # accumulator: block RAM with its output register (DP16KD on ECP5), read two cycles
        # ahead of the add. One row more than acc_depth, never written: a first k-tile reads
        # that zero row instead of clearing the read data (an address multiplexer, not C·acc
        # data multiplexers). Only issued rows read, and a row is read again only after its
        # write (chunks of < 4 rows issue every 4th cycle), so the RAM never sees a read and a
        # write of one row in one edge. Nor in the edge after a read (the row's next write is
        # of that read's sum, three edges on), so where the read data would need a fabric
        # register (iCE40; generic RTL) the read address is registered instead (late_read).
        acc_layout = data.ArrayLayout(acc_fmt.shape, C)
        m.submodules.accmem = mem = DataMemory(acc_layout, depth + 1, tech,
                                               no_rw_check=True, late_read=True)
        old_row = Signal(acc_layout)
        m.d.comb += [mem.raddr.eq(Mux(rd_side.first, depth, rd_side.addr)),
                     mem.ren.eq(rd_side.valid), mem.oce.eq(1), old_row.eq(mem.rdata)]

        sum_row = Signal(acc_layout)
        sum_side = Signal(side_layout)
        m.d.sync += sum_side.eq(add_side)
        for c in range(C):
            m.d.sync += sum_row[c].eq(add_fit(old_row[c], ps_row[c], acc_fmt, cfg.overflow))
        m.d.comb += [
            mem.waddr.eq(sum_side.addr), mem.wdata.eq(sum_row),
            mem.wen.eq(sum_side.valid & ~sum_side.last),
            self.row_valid.eq(sum_side.valid & sum_side.last),
            self.row.data.eq(sum_row), self.row.last.eq(sum_side.glast),
            self.row.mask.eq(sum_side.mask),
        ]
        return m


class _OSCore(_CoreBase):
    """Output-stationary core.

    Each cycle one A column slice (R lanes) and one B row (C lanes) enter, skewed; PE (r, c)
    accumulates ``A[r, k]·B[k, c]`` over the K elements of a tile. The product of the tile's last
    element also copies the final sum into the PE's drain register; once the copy wavefront has
    crossed the array the drain registers shift up one row per cycle and the top row goes to the
    output queue, while the next tile already accumulates. A tile's last element is issued only
    when the previous tile has drained and the output queue has room for its rows.
    """

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        R, C = cfg.rows, cfg.cols
        a_shape, b_shape = cfg.a_fmt.shape, cfg.b_fmt.shape
        acc_fmt = cfg.acc_fmt
        db = cfg.dim_bits
        dims = self.dims

        busy = Signal()
        o_k = Signal(db["k"] + 1)                # elements left in this tile
        o_m = Signal(db["m"] + 1)                # M rows left from this tile's first row
        o_n = Signal(db["n"] + 1)                # N columns left from this tile's first column
        first = Signal()
        last = o_k == 1
        last_mt = _below(o_m, R + 1)
        last_nt = _below(o_n, C + 1)
        rows = Signal(range(R + 1))
        m.d.comb += rows.eq(Mux(_below(o_m, R), o_m, R))
        pending = Signal()                       # a copy wavefront is crossing the array
        wait = Signal(range(R + C + 3))
        draining = Signal()
        drows = Signal(range(R + 1))
        drain_glast = Signal()
        drain_mask = Signal(C)
        p_rows = Signal(range(R + 1))
        p_glast = Signal()
        p_mask = Signal(C)

        can_issue = busy & (~last | (~pending & ~draining & self.credit_ok))
        fire = Signal()
        m.d.comb += [
            fire.eq(can_issue & self.i_a.valid & self.i_w.valid),
            self.i_a.ready.eq(can_issue & self.i_w.valid),
            self.i_w.ready.eq(can_issue & self.i_a.valid),
            self.take.eq(Mux(fire & last, rows, 0)),
        ]
        row_mask = Signal(R)
        m.d.comb += row_mask.eq(Cat(*(o_m > r for r in range(R))))
        col_mask = _lane_mask(m, o_n, C)

        with m.If(fire):
            m.d.sync += first.eq(last)
            with m.If(~last):
                m.d.sync += o_k.eq(o_k - 1)
            with m.Else():
                m.d.sync += [o_k.eq(dims.k), pending.eq(1), wait.eq(R + C + 2),
                             p_rows.eq(rows), p_mask.eq(col_mask),
                             p_glast.eq(last_mt & last_nt)]
                with m.If(~last_nt):
                    m.d.sync += o_n.eq(o_n - C)
                with m.Else():
                    m.d.sync += o_n.eq(dims.n)
                    with m.If(~last_mt):
                        m.d.sync += o_m.eq(o_m - R)
                    with m.Else():
                        m.d.sync += busy.eq(0)
        with m.If(self.start):
            m.d.sync += [busy.eq(1), o_k.eq(dims.k), o_m.eq(dims.m), o_n.eq(dims.n),
                         first.eq(1)]
        m.d.comb += self.busy.eq(busy)

        # drain: starts when the copy wavefront has reached the last PE
        o_shift = Signal()
        with m.If(pending):
            with m.If(wait != 0):
                m.d.sync += wait.eq(wait - 1)
            with m.Else():
                m.d.sync += [pending.eq(0), draining.eq(1), drows.eq(p_rows),
                             drain_glast.eq(p_glast), drain_mask.eq(p_mask)]
        m.d.comb += o_shift.eq(draining)
        with m.If(draining):
            m.d.sync += drows.eq(drows - 1)
            with m.If(drows == 1):
                m.d.sync += draining.eq(0)

        # stage 0 (bubbles are zeros so they add nothing), skew, array
        x0 = Signal(data.ArrayLayout(a_shape, R))
        y0 = Signal(data.ArrayLayout(b_shape, C))
        f0 = Signal(2)
        for r in range(R):
            m.d.sync += x0[r].eq(Mux(fire & row_mask[r], self.i_a.payload[r], 0))
        for c in range(C):
            m.d.sync += y0[c].eq(Mux(fire & col_mask[c], self.i_w.payload[c], 0))
        m.d.sync += f0.eq(Mux(fire, Cat(first, last), 0))

        def delayed(sig, n, name):
            for i in range(n):
                d = Signal.like(sig, name=f"{name}_{i}")
                m.d.sync += d.eq(sig)
                sig = d
            return sig

        dsp = _dsp_style(cfg, platform)
        pes = [[OSPE(a_shape, b_shape, acc_fmt, cfg.overflow, lut=cfg.mult == "lut", dsp=dsp)
                for _ in range(C)] for _ in range(R)]
        for r in range(R):
            a_sig = delayed(x0[r], r, f"skew_a{r}")
            f_sig = delayed(f0, r, f"skew_f{r}")
            for c in range(C):
                pe = pes[r][c]
                m.submodules[f"pe_{r}_{c}"] = pe
                left = pes[r][c - 1] if c else None
                above = pes[r - 1][c] if r else None
                below = pes[r + 1][c] if r + 1 < R else None
                m.d.comb += [
                    pe.a_in.eq(left.a_out if left else a_sig),
                    pe.f_in.eq(left.f_out if left else f_sig),
                    pe.b_in.eq(above.b_out if above else delayed(y0[c], c, f"skew_b{c}")),
                    pe.o_shift.eq(o_shift),
                    pe.o_in.eq(below.o_out if below else 0),
                ]
        for c in range(C):
            m.d.comb += self.row.data[c].eq(pes[0][c].o_out)
        m.d.comb += [
            self.row_valid.eq(draining),
            self.row.last.eq(drain_glast & (drows == 1)),
            self.row.mask.eq(drain_mask),
        ]
        return m
