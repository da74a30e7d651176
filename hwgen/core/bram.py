"""Block RAM with a registered read: inferred, or ECP5 DP16KD tiles with their output register."""

from amaranth.hdl import Cat, ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import memory

__all__ = ["DataMemory"]


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
    """

    def __init__(self, shape, depth: int, tech):
        self.shape, self.depth, self.tech = shape, depth, tech
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
            m.submodules.mem = mem = memory.Memory(shape=self.shape, depth=self.depth, init=[])
            wp, rp = mem.write_port(), mem.read_port(transparent_for=())
            m.d.comb += [wp.addr.eq(self.waddr), wp.data.eq(self.wdata), wp.en.eq(self.wen),
                         rp.addr.eq(self.raddr), rp.en.eq(self.ren)]
            with m.If(self.oce):
                m.d.sync += self.rdata.eq(rp.data)
            return m
        width = len(self.wdata.as_value())
        wbits = Cat(self.wdata.as_value(), Const(0, -width % tw))
        rbits = Signal(len(wbits))
        m.d.comb += self.rdata.as_value().eq(rbits[:width])
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
