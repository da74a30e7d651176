"""Streaming softmax RTL: exp unit, reciprocal (one division per row), and the row pipeline.

The unit keeps rows in ``buffers`` row buffers (one memory, a bank per row in flight) and runs
its passes as independent stages over them, so rows stream back to back:

* **ingest** takes ``i_x`` beats, converts each element to the base-2 score ``t`` (front end:
  one multiply by K, round, saturate), writes it to the row's bank and tracks the max
  (``safe``) or the integer running max and rescaled running sum (``online``);
* **sum** (``safe`` only) reads the bank, ``e = exp2neg(m − t)``, sums;
* **divide** computes ``r = round(2^(E+P+Gs) / S)``, one quotient bit a cycle;
* **emit** reads the bank again — ``safe``: the normalize exps the sum pass stored in a second
  buffer; ``online``: t, and recomputes ``exp2neg(m − t)`` — and drives
  ``p = min(2^F − 1, rsh(e · r, E + P − F))`` on ``o_p``; its pipeline stalls with
  ``o_p.ready``.

Every stage is in order; counters of rows done link them (a stage starts a row when the stage
before has finished it; ingest starts one while fewer than ``buffers`` rows are in flight). The
numerics are the golden model's (``golden.py``), bit for bit; cycles are ``model.py``'s.
"""

import dataclasses

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...core.numerics import fit_value
from .config import SoftmaxConfig

__all__ = ["ExpUnit", "Reciprocal", "Softmax", "EXP_LATENCY", "FRONT_LATENCY", "max_levels"]

EXP_LATENCY = 5      # registers from d to e
#: Tables without interpolation (F = 8: 65 or 129 entries) go to block RAM — their read is
#: registered anyway, and in LUTs they cost about 60 a lane; the 33-entry interpolation tables
#: stay in LUTs (block RAM's clock-to-out would precede the interpolation multiplier).
_ROM_ATTRS = {"rom_style": "block"}
FRONT_LATENCY = 3    # i_x transfer → x register → product register → t register


def max_levels(lanes: int) -> int:
    """Registered levels of the beat-max tree: ceil(log2 lanes)."""
    return (lanes - 1).bit_length()


def _rsh(value, s: int):
    """Round half up, then shift right by the constant ``s``: ``((v >> (s−1)) + 1) >> 1``, the
    same as ``(v + 2^(s−1)) >> s`` with an adder only as wide as the kept bits."""
    if s == 0:
        return value
    return ((value >> (s - 1)) + 1) >> 1


class ExpUnit(wiring.Component):
    """``e = exp2neg(d, extra)`` (golden step 4), pipelined: ``e`` is ``EXP_LATENCY`` enabled
    cycles after ``d``. The sum's units have ``extra = sum_extra``, the normalize step's 0.

    Members
    -------
    d : In, unsigned(d_bits)
        ``d ≥ 0`` in units of 2^−T, clamped by the caller to at most ``q_max · 2^T``.
    e : Out, unsigned(E + extra + 1)
    e0 : Out, unsigned(E + 1), with ``with_e0``
        ``exp2neg(d, 0)`` of the same d, beside ``e`` (one table lookup, two final roundings).
    en : In(1)
        Advances the pipeline (tie to 1 for a free-running unit).
    """

    def __init__(self, cfg: SoftmaxConfig, extra: int = 0, *, with_e0: bool = False):
        self.cfg = cfg
        self.extra = extra
        ports = {"d": In(cfg.d_bits), "e": Out(cfg.e_frac + extra + 1), "en": In(1)}
        if with_e0:
            ports["e0"] = Out(cfg.e_frac + 1)
        super().__init__(ports)

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        T, B, G, E = cfg.t_frac, cfg.table_bits, cfg.exp_guard, cfg.e_frac
        tab = cfg.table
        low = T - B
        q_bits = cfg.q_max.bit_length()
        en = self.en

        # stage A: split d into q (clamped), table index j and interpolation fraction r
        q_a = Signal(q_bits)
        j_a = Signal(B + 1)
        r_a = Signal(max(1, low))
        q = self.d[T:]
        f = self.d[:T]
        with m.If(en):
            m.d.sync += q_a.eq(Mux(q > cfg.q_max, cfg.q_max, q))
            if cfg.interpolate:
                m.d.sync += [j_a.eq(f[low:]), r_a.eq(f[:low])]
            else:
                m.d.sync += j_a.eq(_rsh(f, low))

        # stage B: table lookups (ROMs with a registered read)
        m.submodules.tab = rom = memory.Memory(
            shape=range(tab[0] + 1), depth=len(tab), init=tab,
            attrs=None if cfg.interpolate else _ROM_ATTRS)
        rp = rom.read_port()
        m.d.comb += [rp.addr.eq(j_a), rp.en.eq(en)]
        a_b = rp.data
        q_b = Signal(q_bits)
        with m.If(en):
            m.d.sync += q_b.eq(q_a)
        if cfg.interpolate:
            diffs = [tab[i] - tab[i + 1] for i in range(1 << B)]
            m.submodules.dtab = drom = memory.Memory(shape=range(max(diffs) + 1),
                                                     depth=len(diffs), init=diffs)
            dp = drom.read_port()
            m.d.comb += [dp.addr.eq(j_a[:B]), dp.en.eq(en)]
            dl_b = dp.data
            r_b = Signal(low)
            with m.If(en):
                m.d.sync += r_b.eq(r_a)

        # stage C: the interpolation product
        a_c = Signal(a_b.shape())
        q_c = Signal(q_bits)
        with m.If(en):
            m.d.sync += [a_c.eq(a_b), q_c.eq(q_b)]
        if cfg.interpolate:
            p_c = Signal(dl_b.shape().width + low)
            with m.If(en):
                m.d.sync += p_c.eq(dl_b * r_b)

        # stage D: g = a − rsh(p, T − B)
        g_d = Signal(a_b.shape())
        q_d = Signal(q_bits)
        with m.If(en):
            m.d.sync += [g_d.eq(a_c - _rsh(p_c, low) if cfg.interpolate else a_c),
                         q_d.eq(q_c)]

        # stage E: e = rsh(g·2^x, G + q) = (((g·2^x) >> (G − 1 + q)) + 1) >> 1
        x = self.extra
        h = Signal(g_d.shape().width + x)
        m.d.comb += h.eq(((g_d << x) >> (G - 1)) >> q_d)
        e_r = Signal(E + x + 1)
        with m.If(en):
            m.d.sync += e_r.eq((h + 1) >> 1)
        m.d.comb += self.e.eq(e_r)
        if "e0" in self.signature.members:
            h0 = Signal(g_d.shape().width)
            m.d.comb += h0.eq((g_d >> (G - 1)) >> q_d)
            e0_r = Signal(E + 1)
            with m.If(en):
                m.d.sync += e0_r.eq((h0 + 1) >> 1)
            m.d.comb += self.e0.eq(e0_r)
        return m


class Reciprocal(wiring.Component):
    """``r = round(2^(E+P+Gs) / s)`` (golden step 6) by restoring division, one quotient bit a
    cycle: ``done`` pulses ``quotient_bits + 1`` cycles after ``start``; ``r`` then holds until
    the next ``start``. ``s = 0`` gives ``r = 0``.

    Members
    -------
    start : In(1)
    s : In, unsigned(sum_bits)   (sampled with ``start``)
    busy, done : Out(1)
    r : Out, unsigned(recip_bits)
    """

    def __init__(self, cfg: SoftmaxConfig):
        self.cfg = cfg
        super().__init__({"start": In(1), "s": In(cfg.sum_bits), "busy": Out(1),
                          "done": Out(1), "r": Out(cfg.recip_bits)})

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        qw = cfg.quotient_bits
        z = cfg.e_frac + cfg.sum_extra + cfg.recip_frac + cfg.sum_guard + 1
        div = Signal(cfg.sum_bits)
        rem = Signal(cfg.sum_bits + 1)
        quo = Signal(qw)
        left = Signal(range(qw + 1))
        zero = Signal()
        m.d.comb += self.busy.eq(left != 0)
        m.d.sync += self.done.eq(0)
        with m.If(self.start):
            m.d.sync += [div.eq(self.s), rem.eq(1 << (z - qw)), left.eq(qw),
                         zero.eq(self.s == 0)]
        with m.Elif(left != 0):
            two = Cat(Const(0, 1), rem[:-1])
            ge = two >= div
            m.d.sync += [rem.eq(Mux(ge, two - div, two)), quo.eq(Cat(ge, quo[:-1])),
                         left.eq(left - 1)]
            with m.If(left == 1):
                m.d.sync += self.done.eq(1)
        m.d.comb += self.r.eq(Mux(zero, 0, (quo + 1) >> 1))
        return m


@dataclasses.dataclass(frozen=True)
class _Descriptors:
    """The per-bank row descriptors (``Array``s of registers, one entry per bank): valid
    length, beats, too_long and max (written by ingest as a row ends), sum (by ingest online,
    by the sum pass safe), reciprocal (by divide). Read them with :func:`_select`."""

    len: Array
    beats: Array
    long: Array
    m: Array
    s: Array
    r: Array

    def finish_row(self, m, tag, max_value) -> None:
        """Ingest's writes when row ``tag`` (a beat's tags: bank, len, nbeats, long) ends."""
        b = tag.bank
        m.d.sync += [self.m[b].eq(max_value), self.len[b].eq(tag.len),
                     self.beats[b].eq(tag.nbeats), self.long[b].eq(tag.long)]


def _select(items, index):
    """``items[index]`` as a chain of ``Mux`` (continuous assignments in Verilog).

    Reading an ``Array`` with a Signal index makes a ``case`` inside ``always @*``, which Icarus
    does not evaluate at time 0: a value that never changes (a flag that stays 0) would read as
    X until the index changes. ``Mux`` chains have no such block.
    """
    items = list(items)
    out = items[-1]
    for i in range(len(items) - 2, -1, -1):
        out = Mux(index == i, items[i], out)
    return out


def _tree(op, items):
    items = list(items)
    while len(items) > 1:
        items = [op(items[i], items[i + 1]) if i + 1 < len(items) else items[i]
                 for i in range(0, len(items), 2)]
    return items[0]


class Softmax(wiring.Component):
    """The streaming softmax unit (see the module docstring and ``docs/softmax.md``).

    Members
    -------
    i_x : In, stream of struct {data: lanes × in_fmt, length: unsigned(len_bits), last}
        Score rows, ``lanes`` elements a beat; ``length`` (read on a row's first beat) is the
        row's valid length, ``last`` marks its final beat.
    o_p : Out, stream of struct {data: lanes × uQ0.F, last, too_long}
        The probabilities, beat for beat; ``too_long`` on every beat of a row that had more than
        ``max_len`` elements (truncated to its first ``max_len``).
    """

    def __init__(self, cfg: SoftmaxConfig):
        self.cfg = cfg
        L = cfg.lanes
        super().__init__({
            "i_x": In(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(cfg.in_fmt.shape, L),
                "length": unsigned(cfg.len_bits), "last": 1}))),
            "o_p": Out(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(unsigned(cfg.out_frac), L), "last": 1,
                "too_long": 1}))),
        })

    # -- helpers ----------------------------------------------------------------------------
    def _lane_mask(self, rem):
        """Lane i of a beat is valid iff ``i < rem`` (elements left in the valid length)."""
        return Cat(*(rem > i for i in range(self.cfg.lanes)))

    def _d_of(self, m_val, t):
        """``min(m − t, q_max · 2^T)`` as the exp unit's input."""
        cfg = self.cfg
        cap = cfg.q_max << cfg.t_frac
        d = m_val - t
        return Mux(d > cap, cap, d)[:cfg.d_bits]

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        L, NB = cfg.lanes, cfg.buffers
        tfmt = cfg.t_fmt
        beats_max = cfg.beats_max
        ab = (beats_max - 1).bit_length()               # beat address bits (0 for 1 beat)
        bb = max(1, (NB - 1).bit_length())              # bank bits
        nbeat_shape = range(beats_max + 1)
        lenw = cfg.len_bits
        k, shift = cfg.front
        safe = cfg.algorithm == "safe"

        # -- row buffers and per-bank descriptors --
        m.submodules.buf = buf = memory.Memory(
            shape=data.ArrayLayout(tfmt.shape, L), depth=NB << ab, init=[])
        wr = buf.write_port()
        if safe:
            # the sum pass stores each element's normalize exp in a second buffer (same banks),
            # so the emit pass needs no exp unit: t buffer ingest → sum, e buffer sum → emit
            rd_sum = buf.read_port(transparent_for=())
            m.submodules.ebuf = ebuf = memory.Memory(
                shape=data.ArrayLayout(unsigned(cfg.e_frac + 1), L), depth=NB << ab, init=[])
            wr_e = ebuf.write_port()
            rd_out = ebuf.read_port(transparent_for=())
        else:
            rd_out = buf.read_port(transparent_for=())
            rd_sum = wr_e = None

        d_len = Array(Signal(lenw, name=f"d_len{i}") for i in range(NB))
        d_beats = Array(Signal(nbeat_shape, name=f"d_beats{i}") for i in range(NB))
        d_long = Array(Signal(name=f"d_long{i}") for i in range(NB))
        # the max (one bit wider than t: the online max is rounded up to an integer)
        d_m = Array(Signal(signed(tfmt.width + 1), name=f"d_m{i}") for i in range(NB))
        d_s = Array(Signal(cfg.sum_bits, name=f"d_s{i}") for i in range(NB))
        d_r = Array(Signal(cfg.recip_bits, name=f"d_r{i}") for i in range(NB))
        desc = _Descriptors(len=d_len, beats=d_beats, long=d_long, m=d_m, s=d_s, r=d_r)

        def counter(name):
            return Signal(3, name=name)

        def bump(ptr):
            return Mux(ptr == NB - 1, 0, ptr + 1)

        # rows started/finished by each stage (mod 8; at most NB ≤ 4 apart)
        in_start, in_done = counter("in_start"), counter("in_done")
        sum_start, sum_done = counter("sum_start"), counter("sum_done")
        div_start, div_done = counter("div_start"), counter("div_done")
        out_start, out_done = counter("out_start"), counter("out_done")

        # ================================ ingest ================================
        in_row = Signal()                 # inside a row (its first beat was taken)
        in_bank = Signal(bb)
        in_beat = Signal(nbeat_shape)     # beats taken so far in this row (saturates)
        in_rem = Signal(lenw)             # valid elements left from this beat on
        in_over = Signal()                # the row has more than max_len elements
        in_flight = Signal(3)
        m.d.comb += in_flight.eq(in_start - out_done)
        m.d.comb += self.i_x.ready.eq(in_row | (in_flight < NB))
        take = self.i_x.valid & self.i_x.ready
        first = ~in_row
        rem_now = Mux(first, self.i_x.payload.length, in_rem)
        beat_now = Mux(first, 0, in_beat)
        bank_now = in_bank
        over_now = Mux(first, 0, in_over) | (beat_now == beats_max)

        # front-end pipeline tags: F1 (x) → F2 (product) → F3 (t)
        tag_layout = data.StructLayout({
            "v": 1, "first": 1, "last": 1, "we": 1, "bank": bb, "beat": range(beats_max),
            "nbeats": nbeat_shape, "long": 1, "mask": L, "len": lenw})
        f1 = Signal(tag_layout)
        f2 = Signal(tag_layout)
        f3 = Signal(tag_layout)
        x1 = Signal(data.ArrayLayout(cfg.in_fmt.shape, L))
        pw = cfg.product_width + 1
        p2 = Signal(data.ArrayLayout(signed(pw), L))
        t3 = Signal(data.ArrayLayout(tfmt.shape, L))
        len_row = Signal(lenw)

        m.d.sync += f1.v.eq(take)
        with m.If(take):
            m.d.sync += [
                x1.eq(self.i_x.payload.data),
                f1.first.eq(first), f1.last.eq(self.i_x.payload.last),
                f1.we.eq(beat_now < beats_max), f1.bank.eq(bank_now),
                f1.beat.eq(beat_now[:ab]),
                f1.nbeats.eq(Mux(beat_now < beats_max, beat_now + 1, beats_max)),
                f1.long.eq(over_now), f1.mask.eq(self._lane_mask(rem_now)),
                f1.len.eq(Mux(first, self.i_x.payload.length, len_row)),
                in_row.eq(~self.i_x.payload.last),
                in_beat.eq(Mux(beat_now < beats_max, beat_now + 1, beats_max)),
                in_rem.eq(Mux(rem_now > L, rem_now - L, 0)),
                in_over.eq(over_now),
            ]
            with m.If(first):
                m.d.sync += [len_row.eq(self.i_x.payload.length), in_start.eq(in_start + 1)]
            with m.If(self.i_x.payload.last):
                m.d.sync += in_bank.eq(bump(in_bank))
        m.d.sync += [f2.eq(f1), f3.eq(f2)]
        for i in range(L):
            t = _rsh(p2[i], shift)
            m.d.sync += [p2[i].eq(x1[i] * k),
                         t3[i].eq(fit_value(t, tfmt, "saturate") if cfg.t_saturates else t)]

        # writer: t into the bank
        m.d.comb += [wr.addr.eq(Cat(f3.beat, f3.bank)), wr.data.eq(t3),
                     wr.en.eq(f3.v & f3.we)]

        # beat max over the valid lanes: masked lanes to the minimum, then a tree of
        # pairwise maxima, one register per level (MAX_LEVELS(lanes)), with the tags and t
        lo = Const(tfmt.min, tfmt.shape)
        level = [Signal(tfmt.shape, name=f"bm0_{i}") for i in range(L)]
        w1 = Signal(tag_layout, name="w0")
        t_w1 = Signal.like(t3, name="t_w0")
        m.d.sync += [w1.eq(f3), t_w1.eq(t3)]
        m.d.sync += [level[i].eq(Mux(f3.mask[i] & f3.we, t3[i], lo)) for i in range(L)]
        for k in range(max_levels(L)):
            nxt = [Signal(tfmt.shape, name=f"bm{k + 1}_{i}") for i in range((len(level) + 1) // 2)]
            for i, sig in enumerate(nxt):
                a = level[2 * i]
                b = level[2 * i + 1] if 2 * i + 1 < len(level) else a
                m.d.sync += sig.eq(Mux(a > b, a, b))
            nw, nt = Signal(tag_layout, name=f"w{k + 1}"), Signal.like(t3, name=f"t_w{k + 1}")
            m.d.sync += [nw.eq(w1), nt.eq(t_w1)]
            level, w1, t_w1 = nxt, nw, nt
        bmax = level[0]

        if safe:
            # running max; at the row's last beat the row's descriptor is written
            run_max = Signal(tfmt.shape)
            new_max = Mux(w1.first | (bmax > run_max), bmax, run_max)
            with m.If(w1.v):
                m.d.sync += run_max.eq(new_max)
                with m.If(w1.last):
                    desc.finish_row(m, w1, new_max)
                    m.d.sync += in_done.eq(in_done + 1)
        else:
            self._online_ingest(m, w1, bmax, t_w1, desc, in_done)

        # ================================ sum (safe) ================================
        if safe:
            self._pass_sum(m, rd_sum, wr_e, desc, in_done, sum_start, sum_done, ab, bb, bump)
            ready_for_div = sum_done
        else:
            ready_for_div = in_done

        # ================================ divide ================================
        m.submodules.recip = recip = Reciprocal(cfg)
        div_bank = Signal(bb)
        div_busy = Signal()
        m.d.comb += [recip.s.eq(_select(desc.s, div_bank)),
                     recip.start.eq(~div_busy & (ready_for_div != div_start))]
        with m.If(recip.start):
            m.d.sync += [div_busy.eq(1), div_start.eq(div_start + 1)]
        with m.If(recip.done):
            m.d.sync += [desc.r[div_bank].eq(recip.r), div_busy.eq(0), div_done.eq(div_done + 1),
                         div_bank.eq(bump(div_bank))]

        # ================================ emit ================================
        self._pass_emit(m, rd_out, desc, div_done, out_start, out_done, ab, bb, bump)
        return m

    # -- online ingest: integer running max, running sum rescaled by shifts --
    def _online_ingest(self, m, w1, bmax, t_w1, desc, in_done):
        cfg = self.cfg
        L, T, Gs = cfg.lanes, cfg.t_frac, cfg.sum_guard
        tfmt = cfg.t_fmt
        iw = tfmt.width - T + 1                      # integer part of ceil(t), signed
        tag = w1.shape()
        any_v = Signal()
        m.d.comb += any_v.eq((w1.mask & Cat(*([w1.we] * L))) != 0)

        # stage W2: m_new = max(m, ceil(bmax)) per beat (the one-cycle recurrence)
        run_m = Signal(signed(iw))
        seen = Signal()
        bceil = Signal(signed(iw))
        m.d.comb += bceil.eq((bmax + ((1 << T) - 1)) >> T)
        fresh = w1.first | ~seen
        m_new = Mux(any_v, Mux(fresh | (bceil > run_m), bceil, run_m), run_m)
        w2 = Signal(tag)
        k2 = Signal(iw)                        # rescale shift m_new − m_old (0 when fresh)
        mv2 = Signal(signed(iw))
        t_w2 = Signal.like(t_w1)
        restart2 = Signal()
        m.d.sync += [w2.eq(w1), t_w2.eq(t_w1)]
        with m.If(w1.v):
            m.d.sync += [run_m.eq(m_new), seen.eq(Mux(w1.first, any_v, seen | any_v)),
                         mv2.eq(m_new), restart2.eq(fresh),
                         k2.eq(Mux(fresh, 0, (m_new - run_m)[:iw]))]

        # stage W3: d = m_new·2^T − t per lane → exp units
        w3 = Signal(tag)
        k3 = Signal.like(k2)
        mv3 = Signal.like(mv2)
        r3 = Signal()
        d3 = [Signal(cfg.d_bits, name=f"on_d{i}") for i in range(L)]
        m.d.sync += [w3.eq(w2), k3.eq(k2), mv3.eq(mv2), r3.eq(restart2)]
        for i in range(L):
            m.d.sync += d3[i].eq(self._d_of(Cat(Const(0, T), mv2).as_signed(), t_w2[i]))
        es = []
        for i in range(L):
            unit = ExpUnit(cfg, cfg.sum_extra)
            m.submodules[f"on_exp{i}"] = unit
            m.d.comb += [unit.d.eq(d3[i]), unit.en.eq(1)]
            es.append(unit.e)
        # delay the tags alongside the exp pipeline
        wt, kt, mt, rt = w3, k3, mv3, r3
        for s in range(EXP_LATENCY):
            nw, nk, nm_, nr = (Signal(tag, name=f"on_w{s}"), Signal.like(k3, name=f"on_k{s}"),
                               Signal.like(mv3, name=f"on_m{s}"), Signal(name=f"on_r{s}"))
            m.d.sync += [nw.eq(wt), nk.eq(kt), nm_.eq(mt), nr.eq(rt)]
            wt, kt, mt, rt = nw, nk, nm_, nr

        # stage W4: beat sum of the valid lanes
        w4 = Signal(tag)
        k4 = Signal.like(k3)
        m4 = Signal.like(mv3)
        r4 = Signal()
        esum = Signal(cfg.e_frac + cfg.sum_extra + 1 + (L - 1).bit_length())
        m.d.sync += [w4.eq(wt), k4.eq(kt), m4.eq(mt), r4.eq(rt),
                     esum.eq(_tree(lambda a, b: a + b,
                                   [Mux(wt.mask[i] & wt.we, es[i], 0) for i in range(L)]))]

        # stage W5: S = (S >> k) + esum · 2^Gs (the running-sum recurrence)
        run_s = Signal(cfg.sum_bits)
        kmax = cfg.sum_bits
        shifted = Mux(k4 >= kmax, 0, run_s >> k4[:kmax.bit_length()])
        s_new = Mux(r4, 0, shifted) + (esum << Gs)
        with m.If(w4.v):
            m.d.sync += run_s.eq(s_new)
            with m.If(w4.last):
                desc.finish_row(m, w4, Cat(Const(0, T), m4).as_signed())
                m.d.sync += [desc.s[w4.bank].eq(s_new), in_done.eq(in_done + 1)]

    # -- a reader over one bank: issue beats, with the row's descriptor latched --
    def _reader(self, m, prefix, rd, ready, start_ctr, desc, ab, bb, bump, en):
        """A pass over the banks, one row after another: returns ``(issue, last, bank, load,
        lane mask, beat, next bank)``; ``load`` (the next row's descriptor is read from the
        next bank) may coincide with the current row's last issue."""
        L = self.cfg.lanes
        active = Signal(name=f"{prefix}_active")
        bank = Signal(bb, name=f"{prefix}_bank")
        beat = Signal(range(self.cfg.beats_max), name=f"{prefix}_beat")
        nbeats = Signal(range(self.cfg.beats_max + 1), name=f"{prefix}_nbeats")
        rem = Signal(self.cfg.len_bits, name=f"{prefix}_rem")
        load = Signal(name=f"{prefix}_load")
        issue = Signal(name=f"{prefix}_issue")
        last = Signal(name=f"{prefix}_last")
        # the next row loads while the last beat of this one is issued: rows back to back.
        # ``last`` is a register (is the next issued beat the row's last?), so the load path
        # starts at a flip-flop, not at a compare
        done = Signal(name=f"{prefix}_done")
        nxt = Signal(bb, name=f"{prefix}_next_bank")
        m.d.comb += [issue.eq(active & en), done.eq(issue & last),
                     nxt.eq(Mux(done, bump(bank), bank)),
                     load.eq((~active | done) & (ready != start_ctr))]
        with m.If(issue):
            m.d.sync += [beat.eq(beat + 1), rem.eq(Mux(rem > L, rem - L, 0)),
                         last.eq(beat + 2 == nbeats)]
            with m.If(last):
                m.d.sync += [active.eq(0), bank.eq(nxt)]
        with m.If(load):
            n_next = _select(desc.beats, nxt)
            m.d.sync += [active.eq(1), beat.eq(0), nbeats.eq(n_next), last.eq(n_next == 1),
                         rem.eq(_select(desc.len, nxt)), start_ctr.eq(start_ctr + 1)]
        # read only what is issued (the data register holds otherwise): no idle read ever
        # touches a bank another stage writes
        m.d.comb += [rd.addr.eq(Cat(beat, bank)), rd.en.eq(issue)]
        return issue, last, bank, load, self._lane_mask(rem), beat, nxt

    def _pass_sum(self, m, rd, wr_e, desc, in_done, sum_start, sum_done, ab, bb, bump):
        cfg = self.cfg
        L = cfg.lanes
        issue, last, bank, load, mask, beat, _ = self._reader(
            m, "sum", rd, in_done, sum_start, desc, ab, bb, bump, Const(1))
        aw = ab + bb
        # stage 1: memory data out; tags (the row's max travels with its beats)
        v1, l1, b1, k1, a1 = Signal(), Signal(), Signal(bb), Signal(L), Signal(aw)
        m.d.sync += [v1.eq(issue), l1.eq(last), b1.eq(bank), k1.eq(mask),
                     a1.eq(Cat(beat, bank))]
        # stage 2: the memory data registered (block RAM clock-to-out is slow); the row's max
        # is read by bank (ingest rewrites it only after emit has released the bank)
        v2, l2, b2, k2, a2 = Signal(), Signal(), Signal(bb), Signal(L), Signal(aw)
        t2 = Signal.like(rd.data, name="sum_t2")
        m2 = Signal.like(desc.m[0], name="sum_m2")
        m.d.sync += [v2.eq(v1), l2.eq(l1), b2.eq(b1), k2.eq(k1), t2.eq(rd.data), a2.eq(a1),
                     m2.eq(_select(desc.m, b1))]
        # stage 3: d → exp units (the sum's exp with X extra bits, and the normalize exp)
        v, lst, bk, mk, ad = Signal(), Signal(), Signal(bb), Signal(L), Signal(aw)
        m.d.sync += [v.eq(v2), lst.eq(l2), bk.eq(b2), mk.eq(k2), ad.eq(a2)]
        es, e0s = [], []
        for i in range(L):
            unit = ExpUnit(cfg, cfg.sum_extra, with_e0=True)
            m.submodules[f"sum_exp{i}"] = unit
            dd = Signal(cfg.d_bits, name=f"sum_d{i}")
            m.d.sync += dd.eq(self._d_of(m2, t2[i]))
            m.d.comb += [unit.d.eq(dd), unit.en.eq(1)]
            es.append(unit.e)
            e0s.append(unit.e0)
        for s in range(EXP_LATENCY):
            nv, nl, nb, nk, na = (Signal(name=f"sum_v{s}"), Signal(name=f"sum_l{s}"),
                                  Signal(bb, name=f"sum_b{s}"), Signal(L, name=f"sum_k{s}"),
                                  Signal(aw, name=f"sum_a{s}"))
            m.d.sync += [nv.eq(v), nl.eq(lst), nb.eq(bk), nk.eq(mk), na.eq(ad)]
            v, lst, bk, mk, ad = nv, nl, nb, nk, na
        # the normalize exps into the e buffer, same bank and beat
        m.d.comb += [wr_e.addr.eq(ad), wr_e.en.eq(v)]
        m.d.comb += [wr_e.data[i].eq(e0s[i]) for i in range(L)]
        # beat sum, then the row sum
        v4, l4, b4 = Signal(), Signal(), Signal(bb)
        esum = Signal(cfg.e_frac + cfg.sum_extra + 1 + (L - 1).bit_length())
        first4 = Signal(init=1)
        m.d.sync += [v4.eq(v), l4.eq(lst), b4.eq(bk),
                     esum.eq(_tree(lambda a, b: a + b,
                                   [Mux(mk[i], es[i], 0) for i in range(L)]))]
        acc = Signal(cfg.sum_bits)
        s_new = Mux(first4, 0, acc) + esum
        with m.If(v4):
            m.d.sync += [acc.eq(s_new), first4.eq(l4)]
            with m.If(l4):
                m.d.sync += [desc.s[b4].eq(s_new), sum_done.eq(sum_done + 1)]

    def _pass_emit(self, m, rd, desc, div_done, out_start, out_done, ab, bb, bump):
        cfg = self.cfg
        L, F = cfg.lanes, cfg.out_frac
        o = self.o_p
        en = Signal(name="emit_en")
        v_out = Signal(name="emit_valid")
        m.d.comb += en.eq(~v_out | o.ready)
        issue, last, bank, load, mask, _, nxt = self._reader(
            m, "emit", rd, div_done, out_start, desc, ab, bb, bump, en)
        online = cfg.algorithm == "online"
        # the row's descriptor, loaded with the row; it travels with each beat's tags (a bank
        # is free once its last beat is read, so later stages cannot read it by bank)
        row_layout = data.StructLayout({"r": cfg.recip_bits, "long": 1,
                                        **({"m": signed(cfg.t_fmt.width + 1)} if online else {})})
        row = Signal(row_layout, name="emit_row")
        with m.If(load):
            m.d.sync += [row.r.eq(_select(desc.r, nxt)), row.long.eq(_select(desc.long, nxt))]
            if online:
                m.d.sync += row.m.eq(_select(desc.m, nxt))
        with m.If(issue & last):
            m.d.sync += out_done.eq(out_done + 1)      # the bank's last read: release it

        tag = data.StructLayout({"v": 1, "last": 1, "mask": L, "row": row_layout})
        t1 = Signal(tag)
        with m.If(en):
            m.d.sync += [t1.v.eq(issue), t1.last.eq(last), t1.mask.eq(mask), t1.row.eq(row)]
        # the memory data registered (block RAM clock-to-out is slow)
        tq = Signal(tag)
        xq = Signal.like(rd.data, name="emit_xq")
        with m.If(en):
            m.d.sync += [tq.eq(t1), xq.eq(rd.data)]
        if cfg.algorithm == "safe":
            # the e buffer holds the normalize exps the sum pass computed
            es, tt = [xq[i] for i in range(L)], tq
        else:
            t2 = Signal(tag)
            es = []
            with m.If(en):
                m.d.sync += t2.eq(tq)
            for i in range(L):
                unit = ExpUnit(cfg)
                m.submodules[f"emit_exp{i}"] = unit
                dd = Signal(cfg.d_bits, name=f"emit_d{i}")
                with m.If(en):
                    m.d.sync += dd.eq(self._d_of(tq.row.m, xq[i]))
                m.d.comb += [unit.d.eq(dd), unit.en.eq(en)]
                es.append(unit.e)
            tt = t2
            for s in range(EXP_LATENCY):
                nt = Signal(tag, name=f"emit_t{s}")
                with m.If(en):
                    m.d.sync += nt.eq(tt)
                tt = nt
        # product e · r (registered), then round, saturate, mask → output register
        sh = cfg.e_frac + cfg.recip_frac - F
        tp = Signal(tag)
        prods = [Signal(cfg.e_frac + 1 + cfg.recip_bits, name=f"emit_p{i}") for i in range(L)]
        with m.If(en):
            m.d.sync += tp.eq(tt)
            for i in range(L):
                m.d.sync += prods[i].eq(es[i] * tt.row.r)
        top = (1 << F) - 1
        with m.If(en):
            m.d.sync += [v_out.eq(tp.v), o.payload.last.eq(tp.last),
                         o.payload.too_long.eq(tp.row.long)]
            for i in range(L):
                p = _rsh(prods[i], sh)
                m.d.sync += o.payload.data[i].eq(Mux(tp.mask[i], Mux(p > top, top, p), 0))
        m.d.comb += o.valid.eq(v_out)
