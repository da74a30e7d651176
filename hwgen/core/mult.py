"""Multipliers for the RTL: a LUT-only form, and ECP5's MULT18X18D with its registers on."""

from amaranth.hdl import ClockSignal, Const, Instance, Mux, Shape, Signal, signed, unsigned

__all__ = ["multiply", "lut_mult_2stage", "ecp5_mult", "product_shape"]


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
