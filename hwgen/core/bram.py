"""Block RAM with a registered read (inferred, or ECP5 DP16KD tiles with their output register),
a FIFO built on it whose read data is that output register, and delay lines that go to block
RAM on iCE40."""

from amaranth.hdl import Cat, ClockSignal, Const, Elaboratable, Instance, Module, Mux, Signal, Value
from amaranth.lib import data, memory

__all__ = ["DataMemory", "CreditFifo", "delay_taps", "delay_in_ram", "DELAY_RAM_MIN_BITS"]

#: A delay line goes to block RAM on iCE40 when its register chain would hold at least this many
#: bits (an iCE40 block RAM holds a 16-bit word per address: 2 tiles for 17–32 bits).
DELAY_RAM_MIN_BITS = 48


def delay_in_ram(tech, width: int, kmax: int) -> bool:
    """Whether :func:`delay_taps` puts a ``width``-bit line with ``kmax`` as its longest tap in
    block RAM."""
    return tech.family == "ice40" and kmax >= 2 and width * kmax >= DELAY_RAM_MIN_BITS


def delay_taps(m, sig, taps, tech, *, reg_name):
    """``sig`` delayed by each of ``taps`` clock edges: ``({k: value}, in_ram)``, where the
    value of tap ``k`` after edge ``t`` is ``sig`` as sampled at edge ``t − k + 1`` — what a
    chain of ``k`` registers after ``sig`` holds (tap 0 is ``sig``).

    Normally that chain of registers (named ``reg_name(i)``, i = 0 for the first; a
    ``data.View`` keeps its layout). On iCE40, which has no shift-register primitive and puts
    every flip-flop in a logic cell of its own, a chain of at least :data:`DELAY_RAM_MIN_BITS`
    bits (taps ≥ 2) is an inferred block RAM instead (``in_ram`` True): written every cycle at
    a free-running counter, one read port per tap whose address counter runs ``k − 1`` behind,
    so a word is read ``k − 1`` edges after its write and never in the edge it is written. The
    RAM is not reset: a caller that needs reset behaviour (a valid bit) keeps that bit in a
    register chain of its own and overrides it in the taps.
    """
    shape = sig.shape() if isinstance(sig, data.View) else Value.cast(sig).shape()
    width, kmax = len(Value.cast(sig)), max(taps)
    if delay_in_ram(tech, width, kmax):
        depth = 1 << (kmax - 1).bit_length()              # ≥ kmax, a power of two: wraps free
        mem = memory.Memory(shape=shape, depth=depth, init=[],
                            attrs={"no_rw_check": 1, "ram_style": "block"})
        m.submodules[reg_name(0)] = mem
        wcount = Signal(range(depth), name=f"{reg_name(0)}_w")
        wp = mem.write_port()
        m.d.sync += wcount.eq(wcount + 1)
        m.d.comb += [wp.addr.eq(wcount), wp.data.eq(sig), wp.en.eq(1)]
        short = [k for k in taps if k < 2]                 # 0 or 1: the signal or a register
        chain = _register_chain(m, sig, max(short, default=0), shape, reg_name)
        out = {k: chain[k] for k in short}
        for k in sorted(set(taps) - set(short)):
            rcount = Signal(range(depth), init=-(k - 1) % depth, name=f"{reg_name(0)}_r{k}")
            rp = mem.read_port(transparent_for=())
            m.d.sync += rcount.eq(rcount + 1)
            m.d.comb += [rp.addr.eq(rcount), rp.en.eq(1)]
            out[k] = rp.data
        return out, True
    chain = _register_chain(m, sig, kmax, shape, reg_name)
    return {k: chain[k] for k in taps}, False


def _register_chain(m, sig, n, shape, reg_name):
    """``[sig, r0, …, r(n−1)]``: ``n`` registers in a row after ``sig``."""
    chain = [sig]
    for i in range(n):
        r = Signal(shape, name=reg_name(i))
        m.d.sync += r.eq(chain[-1])
        chain.append(r)
    return chain


class DataMemory(Elaboratable):
    """A memory with one write port, one read port whose data passes an output register.

    ``rdata`` is ``mem[raddr]`` two edges after ``raddr`` with ``ren`` then ``oce`` high (the
    read, then the output register; each holds when its enable is low). On ECP5 with at most
    2048 words the memory is hand-instantiated DP16KD block RAM (36-bit pseudo-dual-port
    tiles up to 512 words, 18-bit up to 1024, 9-bit up to 2048) with ``REGMODE = "OUTREG"``,
    the block RAM's own output register: no fabric logic between the tile and the register
    (Yosys gives an inferred memory's output register with an initial value a LUT). A 36-bit
    tile's word leaves on DOA and DOB; nextpnr times DOA by ``REGMODE_A`` (the read latch's
    5.6 ns clock-to-out with ``NOREG``), so both ports' REGMODE are ``OUTREG``, as Lattice's
    PDPW16KD sets them. Elsewhere an ``amaranth.lib.memory`` read port and a register (block
    RAM by inference). Simulation model of the primitive: ``fpga/models/DP16KD.v``.

    ``no_rw_check``: the user guarantees a read never meets a write of the same word in one
    edge, so the inferred memory carries Yosys' ``no_rw_check`` attribute and synthesis does
    not emulate old-data-on-collision (on iCE40 that emulation is two fabric flip-flops per
    data bit beside the SB_RAM40_4K tiles).

    ``late_read``: for users that keep ``oce`` high and never write a word in the edge after
    they read it (nor in the edge of the read: ``no_rw_check``). An inferred memory then
    registers ``raddr`` and ``ren`` and reads one edge later in place of registering the read
    data: the same ``rdata`` at the same time, a few flip-flops instead of one per data bit
    (on iCE40, whose block RAM has no output register, those are fabric cells). DP16KD tiles
    keep their own output register.
    """

    def __init__(self, shape, depth: int, tech, *, no_rw_check: bool = False,
                 late_read: bool = False):
        self.shape, self.depth, self.tech = shape, depth, tech
        self.no_rw_check = no_rw_check
        self.late_read = late_read
        self.waddr = Signal(range(depth))
        self.wdata = Signal(shape)
        self.wen = Signal()
        self.raddr = Signal(range(depth))
        self.ren = Signal()
        self.oce = Signal()
        self.rdata = Signal(shape)

    @property
    def tile_width(self) -> int | None:
        """Bits per DP16KD tile (36, 18 or 9), or None when the memory is inferred."""
        if self.tech.family != "ecp5" or self.depth > 2048:
            return None
        return 36 if self.depth <= 512 else 18 if self.depth <= 1024 else 9

    def elaborate(self, platform):
        m = Module()
        tw = self.tile_width
        if tw is None:
            attrs = {"no_rw_check": 1} if self.no_rw_check else {}
            m.submodules.mem = mem = memory.Memory(shape=self.shape, depth=self.depth, init=[],
                                                   attrs=attrs)
            wp, rp = mem.write_port(), mem.read_port(transparent_for=())
            m.d.comb += [wp.addr.eq(self.waddr), wp.data.eq(self.wdata), wp.en.eq(self.wen)]
            if self.late_read:
                raddr_d = Signal.like(self.raddr, name="raddr_d")
                ren_d = Signal(name="ren_d")
                m.d.sync += [raddr_d.eq(self.raddr), ren_d.eq(self.ren)]
                m.d.comb += [rp.addr.eq(raddr_d), rp.en.eq(ren_d), self.rdata.eq(rp.data)]
                return m
            m.d.comb += [rp.addr.eq(self.raddr), rp.en.eq(self.ren)]
            with m.If(self.oce):
                m.d.sync += self.rdata.eq(rp.data)
            return m
        width = len(Value.cast(self.wdata))
        wbits = Cat(Value.cast(self.wdata), Const(0, -width % tw))
        rbits = Signal(len(wbits))
        m.d.comb += Value.cast(self.rdata).eq(rbits[:width])
        abits = {36: 9, 18: 10, 9: 11}[tw]
        lsb = 14 - abits
        byte_en = {36: 0b1111, 18: 0b11, 9: 0}[tw]
        wad = Cat(Const(byte_en, lsb), self.waddr, Const(0, abits))[:14]
        rad = Cat(Const(0, lsb), self.raddr, Const(0, abits))[:14]
        for t in range(len(wbits) // tw):
            d = wbits[t * tw:(t + 1) * tw]
            q = rbits[t * tw:(t + 1) * tw]
            ports = {f"i_ADA{i}": wad[i] for i in range(14)}
            ports.update({f"i_ADB{i}": rad[i] for i in range(14)})
            ports.update({f"i_DIA{i}": (d[i] if i < tw else 0) for i in range(18)})
            ports.update({f"i_DIB{i}": (d[18 + i] if tw == 36 else 0) for i in range(18)})
            ports.update({f"o_DOA{i}": q[i] for i in range(18)} if tw == 36 else {})
            ports.update({f"o_DOB{i}": q[(18 if tw == 36 else 0) + i]
                          for i in range(min(tw, 18))})
            m.submodules[f"tile{t}"] = Instance(
                "DP16KD",
                # REGMODE_A too: the 36-bit word leaves on DOA and DOB, and nextpnr times DOA
                # by REGMODE_A (Lattice's PDPW16KD sets both from its one REGMODE)
                p_DATA_WIDTH_A=tw, p_DATA_WIDTH_B=tw, p_REGMODE_A="OUTREG",
                p_REGMODE_B="OUTREG", p_RESETMODE="SYNC", p_WRITEMODE_A="NORMAL",
                p_WRITEMODE_B="NORMAL", p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
                p_GSR="DISABLED",
                i_CLKA=ClockSignal(), i_CEA=1, i_OCEA=self.oce, i_WEA=self.wen, i_RSTA=0,
                i_CSA0=0, i_CSA1=0, i_CSA2=0,
                i_CLKB=ClockSignal(), i_CEB=self.ren, i_OCEB=self.oce, i_WEB=0, i_RSTB=0,
                i_CSB0=0, i_CSB1=0, i_CSB2=0,
                **ports)
        return m


class CreditFifo(Elaboratable):
    """A FIFO in block RAM for writers that never overrun it (they hold credits), read as a
    stream: ``r_data`` *is* the memory's output register (no multiplexer, no fabric copy).

    Two read stages follow the memory: the read latch (``ren``) and the output register
    (``oce``); each loads when the stage after it is empty or passing its word on, so a word
    written at an edge is at ``r_data`` (``r_rdy``) two edges later, and the FIFO streams a word
    a cycle. It holds ``depth`` words in the memory plus one in each read stage. The writer
    must not write when ``depth`` words are in the memory (credits: count ``w_en`` against
    ``r_en``; a writer that reserves ``depth`` credits never overruns). A word is never read in
    the edge it is written (the read pointer reads only words counted in an earlier cycle), so
    the block RAM never sees a read/write collision.

    Members
    -------
    w_data, w_en : in
    r_data, r_rdy : out;  r_en : in (``r_rdy`` and the consumer takes the word)
    """

    def __init__(self, width: int, depth: int, tech):
        self.width, self.depth = width, depth
        self.mem = DataMemory(width, depth, tech, no_rw_check=True)
        self.w_data = Signal(width)
        self.w_en = Signal()
        self.r_data = Signal(width)
        self.r_rdy = Signal()
        self.r_en = Signal()

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        m.submodules.mem = mem = self.mem
        wp = Signal(range(depth))
        rp = Signal(range(depth))
        n = Signal(range(depth + 1))              # words in the memory, not yet read
        avail = Signal()                          # n ≥ 1, as a register
        s1 = Signal()                             # the read latch holds a word
        adv2 = ~self.r_rdy | self.r_en            # the output register may load
        adv1 = ~s1 | adv2                         # the read latch may load
        ren = Signal()
        m.d.comb += [ren.eq(adv1 & avail),
                     mem.waddr.eq(wp), mem.wdata.eq(self.w_data), mem.wen.eq(self.w_en),
                     mem.raddr.eq(rp), mem.ren.eq(ren), mem.oce.eq(adv2),
                     self.r_data.eq(mem.rdata)]
        with m.If(self.w_en):
            m.d.sync += wp.eq(Mux(wp == depth - 1, 0, wp + 1))
        with m.If(ren):
            m.d.sync += rp.eq(Mux(rp == depth - 1, 0, rp + 1))
        # n ± 1 from the register, selected by the handshakes (ren, from the consumer's ready,
        # selects last: one multiplexer between it and the flip-flops)
        m.d.sync += [n.eq(Mux(ren, Mux(self.w_en, n, n - 1), Mux(self.w_en, n + 1, n))),
                     avail.eq(self.w_en | Mux(ren, n >= 2, n >= 1))]
        with m.If(adv1):
            m.d.sync += s1.eq(avail)
        with m.If(adv2):
            m.d.sync += self.r_rdy.eq(s1)
        return m
