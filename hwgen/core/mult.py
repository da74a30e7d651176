"""Multipliers for the RTL: a LUT-only form, ECP5's MULT18X18D with its registers on, and
iCE40's SB_MAC16 as a fully pipelined multiply-add."""

from amaranth.hdl import ClockSignal, Const, Instance, Mux, Shape, Signal, signed, unsigned

__all__ = ["multiply", "lut_mult_2stage", "ecp5_mult", "ice40_mac", "ICE40_MAC_WIDTHS",
           "product_shape"]


def multiply(a, b, *, lut: bool = False):
    """``a * b`` as an expression; with ``lut`` a shift-and-add form that synthesis keeps in
    logic (no DSP inference), with the sign of ``b``'s top bit handled two's-complement style."""
    if not lut:
        return a * b
    bs = b.shape()
    acc = Const(0, 1)
    for i in range(bs.width):
        term = Mux(b[i], a, 0) << i
        if bs.signed and i == bs.width - 1:
            acc = acc - term
        else:
            acc = acc + term
    return acc


def lut_mult_2stage(m, a, b, *, name):
    """A LUT multiplier in two pipeline stages: returns a signal that is ``a·b`` of the values
    two edges earlier. The first stage registers the shift-and-add sums of ``b``'s low and high
    halves (the high one signed when ``b`` is), the second their sum. Every register is fed by
    logic, so on iCE40 each packs into the LC of the LUT that computes it (a register fed by a
    register takes an LC of its own), and each stage is half the adder chain deep."""
    sa, sb = a.shape(), b.shape()
    h = sb.width // 2
    if h == 0:
        first = Signal(product_shape(sa, sb), name=f"{name}_p1")
        m.d.sync += first.eq(multiply(a, b, lut=True))
        out = Signal.like(first, name=f"{name}_p")
        m.d.sync += out.eq(first)
        return out
    b_lo = b[:h]
    b_hi = b[h:].as_signed() if sb.signed else b[h:]
    lo = Signal(product_shape(sa, unsigned(h)), name=f"{name}_lo")
    hi = Signal(product_shape(sa, b_hi.shape()), name=f"{name}_hi")
    m.d.sync += [lo.eq(multiply(a, b_lo, lut=True)), hi.eq(multiply(a, b_hi, lut=True))]
    out = Signal(product_shape(sa, sb), name=f"{name}_p")
    m.d.sync += out.eq(lo + (hi << h))
    return out


def ecp5_mult(m, a_in, b_in, b_ce, prod, *, name):
    """ECP5 MULT18X18D with its A, B input registers and output register on: ``prod`` is
    ``a·b`` of the values registered one cycle before (``b`` only where ``b_ce``). Same timing
    as fabric registers ``a_r <= a_in; b_r <= b_in if b_ce; prod <= a_r·b_r``, but the whole
    register → multiply → register path stays inside the DSP (see FPGA-NOTES: Yosys never packs
    these registers itself). Simulation model: ``fpga/models/MULT18X18D.v``.
    """
    sa, sb = a_in.shape(), b_in.shape()
    a18 = Signal(18, name=f"{name}_a")
    b18 = Signal(18, name=f"{name}_b")
    p36 = Signal(36, name=f"{name}_p")
    m.d.comb += [a18.eq(a_in.as_signed() if sa.signed else a_in),
                 b18.eq(b_in.as_signed() if sb.signed else b_in),
                 prod.eq(p36[:prod.shape().width])]
    ports = {f"i_A{i}": a18[i] for i in range(18)}
    ports.update({f"i_B{i}": b18[i] for i in range(18)})
    ports.update({f"o_P{i}": p36[i] for i in range(36)})
    m.submodules[name] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
        p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE1", p_REG_INPUTB_RST="RST0",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
        p_GSR="DISABLED", p_RESETMODE="SYNC",
        i_SIGNEDA=int(sa.signed), i_SIGNEDB=int(sb.signed), i_SOURCEA=0, i_SOURCEB=0,
        i_CLK0=ClockSignal(), i_CE0=1, i_CE1=b_ce, i_RST0=0,
        **ports)


#: Widest operands and sum of :func:`ice40_mac` (SB_MAC16: 16×16 multiplier, 32-bit adder).
ICE40_MAC_WIDTHS = {"a": 16, "b": 16, "out": 32}


def ice40_mac(m, a_in, b_in, b_ce, c_in, out, *, name):
    """iCE40 SB_MAC16 as a four-stage multiply-add, every register inside the DSP: in the
    edge that is the fourth after ``a_in`` was sampled, ``out <= c_in + a·b`` (``c_in`` as of
    that edge; ``b`` as the B register held it, which loads ``b_in`` in edges where ``b_ce``
    is set). Stages: A and B input registers (B's hold = ``~b_ce``), the 8×8 partial products,
    the 16×16 product, and the output registers of the two 16-bit adders (low: product[15:0] +
    D, high: product[31:16] + C + the low carry; C:D = ``c_in``). Same timing as fabric
    ``a_r <= a_in; b_r <= b_in if b_ce; p <= a_r·b_r; p2 <= p; out <= c_in + p2``.
    Operands up to 16 bits (signed or not: ``A_SIGNED``/``B_SIGNED``); the sum is computed
    modulo 2**32 and ``out`` (at most 32 bits) takes its low bits, so it is exact when
    ``out``'s shape holds every ``c + a·b``. No resets are used (the registers of invalid
    slots are never read). Simulation model: ``fpga/models/SB_MAC16.v``; gate-level checks
    simulate the netlist with Yosys' model. Yosys' ``ice40_dsp`` would re-configure the cell:
    the iCE40 target keeps it out of that pass (``keep_cells``, docs/fpga.md).
    """
    sa, sb, sc = a_in.shape(), b_in.shape(), c_in.shape()
    width = out.shape().width
    lim = ICE40_MAC_WIDTHS
    if sa.width > lim["a"] or sb.width > lim["b"] or max(sc.width, width) > lim["out"]:
        raise ValueError(f"ice40_mac: operands of at most 16 bits and sums of at most 32, not "
                         f"a {sa.width}, b {sb.width}, c {sc.width}, out {width} bits")
    a16 = Signal(16, name=f"{name}_a")
    b16 = Signal(16, name=f"{name}_b")
    c32 = Signal(32, name=f"{name}_c")
    o32 = Signal(32, name=f"{name}_o")
    m.d.comb += [a16.eq(a_in.as_signed() if sa.signed else a_in),
                 b16.eq(b_in.as_signed() if sb.signed else b_in),
                 c32.eq(c_in.as_signed() if sc.signed else c_in),
                 out.eq(o32[:width])]
    ports = {"i_A": a16, "i_B": b16, "i_C": c32[16:], "i_D": c32[:16], "o_O": o32}
    m.submodules[name] = Instance(
        "SB_MAC16",
        p_NEG_TRIGGER=Const(0, 1), p_A_REG=Const(1, 1), p_B_REG=Const(1, 1),
        p_C_REG=Const(0, 1), p_D_REG=Const(0, 1),
        p_TOP_8x8_MULT_REG=Const(1, 1), p_BOT_8x8_MULT_REG=Const(1, 1),
        p_PIPELINE_16x16_MULT_REG1=Const(1, 1), p_PIPELINE_16x16_MULT_REG2=Const(1, 1),
        # high half: product[31:16] + C + carry of the low half; low: product[15:0] + D
        p_TOPOUTPUT_SELECT=Const(1, 2), p_TOPADDSUB_LOWERINPUT=Const(2, 2),
        p_TOPADDSUB_UPPERINPUT=Const(1, 1), p_TOPADDSUB_CARRYSELECT=Const(2, 2),
        p_BOTOUTPUT_SELECT=Const(1, 2), p_BOTADDSUB_LOWERINPUT=Const(2, 2),
        p_BOTADDSUB_UPPERINPUT=Const(1, 1), p_BOTADDSUB_CARRYSELECT=Const(0, 2),
        p_MODE_8x8=Const(0, 1), p_A_SIGNED=Const(int(sa.signed), 1),
        p_B_SIGNED=Const(int(sb.signed), 1),
        i_CLK=ClockSignal(), i_CE=1,
        i_AHOLD=0, i_BHOLD=~b_ce, i_CHOLD=0, i_DHOLD=0,
        i_IRSTTOP=0, i_IRSTBOT=0, i_ORSTTOP=0, i_ORSTBOT=0,
        i_OLOADTOP=0, i_OLOADBOT=0, i_ADDSUBTOP=0, i_ADDSUBBOT=0,
        i_OHOLDTOP=0, i_OHOLDBOT=0, i_CI=0, i_ACCUMCI=0, i_SIGNEXTIN=0,
        **ports)


def product_shape(a: Shape, b: Shape) -> Shape:
    """The smallest shape that holds every product of an ``a`` and a ``b`` value."""
    lo = min(x * y for x in (_min(a), _max(a)) for y in (_min(b), _max(b)))
    hi = max(x * y for x in (_min(a), _max(a)) for y in (_min(b), _max(b)))
    if lo >= 0:
        return unsigned(max(1, hi.bit_length()))
    return signed(max((-lo - 1).bit_length(), hi.bit_length()) + 1)


def _min(s: Shape) -> int:
    return -(1 << (s.width - 1)) if s.signed else 0


def _max(s: Shape) -> int:
    return (1 << (s.width - 1)) - 1 if s.signed else (1 << s.width) - 1
