"""MXU RTL: the stream shell (command, output queue, bias) around a WS or OS systolic core.

Streaming order and cycle behaviour are documented in ``docs/mxu.md`` and in ``golden.to_streams``
(the executable form of the order).
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...core.numerics import fit_value
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
        m.submodules.oq = oq = fifo.SyncFIFOBuffered(width=row_layout.size,
                                                     depth=cfg.out_fifo_depth)
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
        m.d.sync += credit_ok.eq(credits >= 2 * need)

        # -- command: registered (dims = fields + 1); the core starts two cycles later, when
        #    the walkers' values derived from dims are registered too --
        busy = Signal()
        dims = Signal(data.StructLayout({"m": cfg.dim_bits["m"] + 1, "k": cfg.dim_bits["k"] + 1,
                                         "n": cfg.dim_bits["n"] + 1}))
        accepted = Signal()
        start = Signal()
        m.d.comb += self.i_cmd.ready.eq(~busy & ~accepted & ~start)
        m.d.sync += [accepted.eq(self.i_cmd.valid & self.i_cmd.ready), start.eq(accepted)]
        with m.If(self.i_cmd.valid & self.i_cmd.ready):
            m.d.sync += [dims.m.eq(self.i_cmd.payload.m + 1), dims.k.eq(self.i_cmd.payload.k + 1),
                         dims.n.eq(self.i_cmd.payload.n + 1)]

        core = _WSCore(cfg) if cfg.dataflow == "ws" else _OSCore(cfg)
        m.submodules.core = core
        m.d.comb += [
            core.start.eq(start), core.dims.eq(dims), busy.eq(core.busy),
            core.credit_ok.eq(credit_ok), take.eq(core.take),
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
            "busy": Out(1),
            "credit_ok": In(1),     # the output queue can take one more row (ws) / R rows (os)
            "take": Out(range(cfg.rows + 1)),
            "row": Out(row_layout), "row_valid": Out(1),
            "i_a": In(stream.Signature(data.ArrayLayout(cfg.a_fmt.shape, cfg.rows))),
            "i_w": In(stream.Signature(data.ArrayLayout(cfg.b_fmt.shape, C))),
        })


def _dsp_style(cfg, platform):
    """"ecp5": instantiate MULT18X18D with its registers (ECP5 builds, ``mult = "auto"``)."""
    if cfg.mult == "auto" and tech_of(platform).family == "ecp5":
        return "ecp5"
    return None


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
        dims = self.dims

        # ---------------- weight loader ----------------
        # Row r of a tile is accepted in cycle x and written into PE row r's shadow registers at
        # the end of x + 1 (rows past K are cleared, lanes past N masked). The loader may start
        # `lock` cycles after a swap token was issued: row r must not be overwritten before the
        # token has passed PE (r, C-1).
        lw = m.submodules.load_walk = _Walker(cfg, fixed_rows=R)
        shadow_full = Signal()
        l_hold = Signal()                         # all rows of the next tile accepted
        lock = Signal(range(max(C - 1, 1)))
        # can_load == busy & ~l_hold & (lock == 0), kept as a register (computed from the next
        # values) so the i_w handshake is one LUT deep
        can_load = Signal()
        l_fire = Signal()
        m.d.comb += [
            self.i_w.ready.eq(can_load & lw.real),
            l_fire.eq(can_load & (~lw.real | self.i_w.valid)),
            lw.start.eq(self.start), lw.dims.eq(dims), lw.step.eq(l_fire),
        ]
        wb_data = Signal(data.ArrayLayout(b_shape, C))
        wb_en = Signal(R)
        wb_zero = Signal()
        wb_last = Signal()
        m.d.sync += [wb_en.eq(Mux(l_fire, 1 << lw.row, 0)), wb_zero.eq(~lw.real),
                     wb_last.eq(l_fire & lw.last_row)]
        for c in range(C):
            m.d.sync += wb_data[c].eq(Mux(lw.n_mask[c], self.i_w.payload[c], 0))
        with m.If(l_fire & lw.last_row):
            m.d.sync += l_hold.eq(1)
        with m.If(wb_last):
            m.d.sync += shadow_full.eq(1)
        with m.If(lock != 0):
            m.d.sync += lock.eq(lock - 1)
        # (comb signals are plain expressions, never assigned under a condition: Icarus does not
        # evaluate a conditional `always @*` block at time 0, which left `token` X after
        # power-up)
        token = Signal()                          # a swap token is issued this cycle
        hold_next = (l_hold & ~token) | (l_fire & lw.last_row)
        lock_zero_next = Mux(token, C <= 2, lock <= 1)
        m.d.sync += can_load.eq((lw.busy | self.start) & ~hold_next & lock_zero_next)

        # ---------------- activation issue ----------------
        iw = m.submodules.issue_walk = _Walker(cfg, fixed_rows=None)
        cooldown = Signal(2)
        cool = Signal(init=1)                     # == (cooldown == 0), as a register
        can_issue = (iw.busy & (~iw.first_row | shadow_full) & (~iw.last_kt | self.credit_ok)
                     & cool)
        fire = Signal()
        m.d.comb += [self.i_a.ready.eq(can_issue), fire.eq(can_issue & self.i_a.valid),
                     token.eq(fire & iw.first_row),
                     iw.start.eq(self.start), iw.dims.eq(dims), iw.step.eq(fire),
                     self.take.eq(fire & iw.last_kt)]
        with m.If(cooldown != 0):
            m.d.sync += cooldown.eq(cooldown - 1)
        m.d.sync += cool.eq(cooldown <= 1)
        with m.If(fire):
            with m.If(iw.small):
                m.d.sync += [cooldown.eq(2), cool.eq(0)]  # chunks of < 3 rows: RAW spacing
            with m.If(iw.first_row):
                m.d.sync += [shadow_full.eq(0), l_hold.eq(0)]
                if C > 2:
                    m.d.sync += lock.eq(C - 2)
        m.d.comb += self.busy.eq(lw.busy | iw.busy)

        # ---------------- stage 0, skew, array ----------------
        side_layout = data.StructLayout({"valid": 1, "addr": range(depth), "first": 1, "last": 1,
                                         "glast": 1, "mask": C})
        side0 = Signal(side_layout)
        x0 = Signal(data.ArrayLayout(a_shape, R))
        s0 = Signal()
        m.d.sync += [side0.valid.eq(fire), s0.eq(fire & iw.first_row), x0.eq(self.i_a.payload)]
        m.d.sync += [side0.addr.eq(iw.row), side0.first.eq(iw.first_kt),
                     side0.last.eq(iw.last_kt),
                     side0.glast.eq(iw.last_row & iw.last_kt & iw.last_chunk & iw.last_nt),
                     side0.mask.eq(iw.n_mask)]

        dsp = _dsp_style(cfg, platform)
        pes = [[WSPE(a_shape, b_shape, ps_fmt.shape, lut=cfg.mult == "lut", dsp=dsp)
                for _ in range(C)] for _ in range(R)]
        for p in range(R):
            # lane p reaches PE row p after p extra cycles (skew)
            a_sig, s_sig = x0[p], s0
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
                    pe.a_in.eq(left.a_out if left else a_sig),
                    pe.s_in.eq(left.s_out if left else s_sig),
                    pe.ps_in.eq(above.ps_out if above else 0),
                    pe.sh_en.eq(wb_en[p]), pe.sh_zero.eq(wb_zero), pe.sh_in.eq(wb_data[c]),
                ]

        # ---------------- deskew, accumulate ----------------
        ps_row = []
        for c in range(C):
            sig = pes[R - 1][c].ps_out
            for i in range(C - 1 - c):
                d = Signal(ps_fmt.shape, name=f"deskew{c}_{i}")
                m.d.sync += d.eq(sig)
                sig = d
            ps_row.append(sig)
        # sideband delay line: side[i] is valid i+1 cycles after the issue
        side = [side0]
        for i in range(R + C + 2):
            s = Signal(side_layout, name=f"side{i + 1}")
            m.d.sync += s.eq(side[-1])
            side.append(s)
        rd_side, add_side = side[R + C + 1], side[R + C + 2]

        acc_layout = data.ArrayLayout(acc_fmt.shape, C)
        # ECP5: LUT RAM, so the read is a short FF → RAM → FF path (block RAM without its output
        # register has ~5.8 ns clock-to-out, which alone caps Fmax near 150 MHz)
        lutram = tech_of(platform).has_lutram and depth <= 64
        m.submodules.accmem = mem = memory.Memory(
            shape=acc_layout, depth=depth, init=[],
            attrs={"ram_style": "distributed"} if lutram else None)
        rd = mem.read_port()
        wr = mem.write_port()
        m.d.comb += rd.addr.eq(rd_side.addr)

        sum_row = Signal(acc_layout)
        sum_side = Signal(side_layout)
        m.d.sync += sum_side.eq(add_side)
        for c in range(C):
            old = Mux(add_side.first, 0, rd.data[c])
            m.d.sync += sum_row[c].eq(fit_value(old + ps_row[c], acc_fmt, cfg.overflow))
        m.d.comb += [
            wr.addr.eq(sum_side.addr), wr.data.eq(sum_row),
            wr.en.eq(sum_side.valid & ~sum_side.last),
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
        last_mt = o_m <= R
        last_nt = o_n <= C
        rows = Signal(range(R + 1))
        m.d.comb += rows.eq(Mux(o_m < R, o_m, R))
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


class _Walker(wiring.Component):
    """Walks the WS tile order n-tile → m-chunk → k-tile → row, one ``step`` at a time.

    Every flag is a register computed from the current state with constant compares only, so
    the consumers (``ready``, enables) see no arithmetic. ``fixed_rows`` = R walks the R rows of
    each weight tile (loader; ``real`` = row < K left); ``None`` walks the rows of each m-chunk
    (issuer; ``small`` = chunk of fewer than 3 rows).
    """

    def __init__(self, cfg, *, fixed_rows):
        self.cfg = cfg
        self.fixed_rows = fixed_rows
        db = cfg.dim_bits
        inner = fixed_rows or cfg.acc_depth
        super().__init__({
            "start": In(1), "step": In(1),
            "dims": In(data.StructLayout({"m": db["m"] + 1, "k": db["k"] + 1, "n": db["n"] + 1})),
            "busy": Out(1), "row": Out(range(inner)),
            "first_row": Out(1), "last_row": Out(1), "first_kt": Out(1), "last_kt": Out(1),
            "last_chunk": Out(1), "last_nt": Out(1), "real": Out(1), "small": Out(1),
            "n_mask": Out(cfg.cols),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        R, C, depth = cfg.rows, cfg.cols, cfg.acc_depth
        db = cfg.dim_bits
        dims = self.dims
        k_rem = Signal(db["k"] + 1)               # K left from this k-tile's first row
        m_rem = Signal(db["m"] + 1)               # M left from this chunk's first row
        n_rem = Signal(db["n"] + 1)               # N left from this n-tile's first column
        kr = Signal(range(R + 1))                 # rows of this k-tile that are real
        rows_m1 = Signal(range(depth))            # rows of this chunk − 1 (issuer)

        def lanes(n, off=0):                      # lane c is real iff c < n − off
            return Cat(*(n > c + off for c in range(C)))

        # The state of the *next* k-tile / chunk / n-tile (`*_n`) is kept in registers beside
        # the current one and updated in the same edges, so a step only selects registers and no
        # arithmetic sits behind the step enables. Restarts from `dims` use `pre(...)` registers
        # computed from dims every cycle (dims is written the cycle before `start` and is
        # constant during a GEMM).
        pres = []

        def pre(expr, shape, name):               # (assigned unconditionally, after the tree)
            r = Signal(shape, name=f"pre_{name}")
            pres.append(r.eq(expr))
            return r

        k_dec = Signal.like(k_rem)                # k_rem of the next k-tile
        lk_n = Signal()
        kr_n = Signal.like(kr)
        m_dec = Signal.like(m_rem)
        lc_n = Signal()
        rows_n = Signal.like(rows_m1)
        lr_n = Signal()
        sm_n = Signal()
        n_dec = Signal.like(n_rem)
        ln_n = Signal()
        mask_n = Signal(C)

        def k_after(kk, wrap):                    # next-tile registers for a tile with kk left
            return [k_dec.eq(wrap(kk - R, k_dec.shape(), "kd")),
                    lk_n.eq(wrap(kk <= 2 * R, 1, "lkn")),
                    kr_n.eq(wrap(Mux(kk >= 2 * R, R, kk - R), kr.shape(), "krn"))]

        def k_now(kk, wrap):                      # current-tile registers for kk left
            stmts = [self.last_kt.eq(wrap(kk <= R, 1, "lk")),
                     kr.eq(wrap(Mux(kk >= R, R, kk), kr.shape(), "kr"))]
            return stmts + k_after(kk, wrap)

        def m_after(mm, wrap):                    # next-chunk registers for a chunk of mm left
            nxt = mm - depth
            return [m_dec.eq(wrap(nxt, m_dec.shape(), "md")),
                    lc_n.eq(wrap(mm <= 2 * depth, 1, "lcn")),
                    rows_n.eq(wrap(Mux(mm >= 2 * depth, depth - 1, mm - (depth + 1)),
                                   rows_m1.shape(), "rn")),
                    lr_n.eq(wrap((mm == depth + 1) | (depth == 1), 1, "lrn")),
                    sm_n.eq(wrap((mm < depth + 3) | (depth < 3), 1, "smn"))]

        def m_now(mm, wrap):
            stmts = [self.last_chunk.eq(wrap(mm <= depth, 1, "lc"))]
            if self.fixed_rows is None:
                stmts += [rows_m1.eq(wrap(Mux(mm >= depth, depth - 1, mm - 1), rows_m1.shape(),
                                          "r")),
                          self.last_row.eq(wrap((mm == 1) | (depth == 1), 1, "lr")),
                          self.small.eq(wrap((mm < 3) | (depth < 3), 1, "sm"))]
            return stmts + m_after(mm, wrap)

        def n_after(nn, wrap):
            return [n_dec.eq(wrap(nn - C, n_dec.shape(), "nd")),
                    ln_n.eq(wrap(nn <= 2 * C, 1, "lnn")),
                    mask_n.eq(wrap(lanes(nn, C), C, "mn"))]

        def direct(expr, shape, name):
            return expr

        def from_dims(tag):
            return lambda expr, shape, name: pre(expr, shape, f"{tag}_{name}")

        with m.If(self.start):
            # dims was written two cycles ago: the pre(...) registers hold its derived values
            fd = from_dims("s")
            m.d.sync += [self.busy.eq(1), self.row.eq(0), self.first_row.eq(1),
                         self.first_kt.eq(1), k_rem.eq(dims.k), m_rem.eq(dims.m),
                         n_rem.eq(dims.n), self.last_nt.eq(fd(dims.n <= C, 1, "ln")),
                         self.n_mask.eq(fd(lanes(dims.n), C, "mask")),
                         *k_now(dims.k, fd), *m_now(dims.m, fd), *n_after(dims.n, fd)]
            if self.fixed_rows is not None:
                m.d.sync += [self.real.eq(1), self.last_row.eq(R == 1)]
        with m.Elif(self.step):
            with m.If(~self.last_row):
                nxt = self.row + 1
                m.d.sync += [self.row.eq(nxt), self.first_row.eq(0)]
                if self.fixed_rows is None:
                    m.d.sync += self.last_row.eq(nxt == rows_m1)
                else:
                    m.d.sync += [self.last_row.eq(nxt == R - 1), self.real.eq(nxt < kr)]
            with m.Else():
                m.d.sync += [self.row.eq(0), self.first_row.eq(1)]
                if self.fixed_rows is not None:
                    m.d.sync += [self.last_row.eq(R == 1), self.real.eq(1)]
                with m.If(~self.last_kt):
                    m.d.sync += [k_rem.eq(k_dec), self.first_kt.eq(0), self.last_kt.eq(lk_n),
                                 kr.eq(kr_n), *k_after(k_dec, direct)]
                    if self.fixed_rows is None:
                        m.d.sync += self.last_row.eq(rows_m1 == 0)
                with m.Else():
                    m.d.sync += [k_rem.eq(dims.k), self.first_kt.eq(1),
                                 *k_now(dims.k, from_dims("k"))]
                    with m.If(~self.last_chunk):
                        m.d.sync += [m_rem.eq(m_dec), self.last_chunk.eq(lc_n),
                                     *m_after(m_dec, direct)]
                        if self.fixed_rows is None:
                            m.d.sync += [rows_m1.eq(rows_n), self.last_row.eq(lr_n),
                                         self.small.eq(sm_n)]
                    with m.Else():
                        m.d.sync += [m_rem.eq(dims.m), *m_now(dims.m, from_dims("m"))]
                        with m.If(~self.last_nt):
                            m.d.sync += [n_rem.eq(n_dec), self.last_nt.eq(ln_n),
                                         self.n_mask.eq(mask_n), *n_after(n_dec, direct)]
                        with m.Else():
                            m.d.sync += self.busy.eq(0)
        m.d.sync += pres
        return m
