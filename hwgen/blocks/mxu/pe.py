"""Processing elements of the systolic arrays and their pipelined multiplier."""

from amaranth.hdl import ClockSignal, Const, Instance, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["multiply", "ecp5_mult", "WSPE", "OSPE"]


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


def _product_shape(a: Shape, b: Shape) -> Shape:
    lo = min(x * y for x in (_min(a), _max(a)) for y in (_min(b), _max(b)))
    hi = max(x * y for x in (_min(a), _max(a)) for y in (_min(b), _max(b)))
    if lo >= 0:
        return unsigned(max(1, hi.bit_length()))
    return signed(max((-lo - 1).bit_length(), hi.bit_length()) + 1)


def _min(s: Shape) -> int:
    return -(1 << (s.width - 1)) if s.signed else 0


def _max(s: Shape) -> int:
    return (1 << (s.width - 1)) - 1 if s.signed else (1 << s.width) - 1


class WSPE(wiring.Component):
    """Weight-stationary PE: ``ps_out <= ps_in + a·w`` three cycles after ``a`` arrives.

    Pipeline: ``a_in`` → ``a`` register (forwarded right as ``a_out``) → product register →
    second product register → ``ps_out`` register. ``w`` (the active weight) is a plain
    register, loaded from the shadow weight when ``s_in`` (the tile-swap token, travelling
    with the activation) is set, in the same edge that loads the activation it belongs to. The
    shadow weight loads ``sh_in`` (or 0 with ``sh_zero``) when ``sh_en`` is set — one enable
    per PE row, the data broadcast down the column.

    Parameters
    ----------
    a_shape, w_shape, ps_shape : Shape
        Activation, weight and partial-sum shapes (``ps_shape`` must hold ``ps_in + a·w``).
    lut : bool
        Keep the multiplier in logic.
    """

    def __init__(self, a_shape, w_shape, ps_shape, *, lut=False, dsp=None):
        self._lut = lut
        self._dsp = dsp
        self._prod_shape = _product_shape(Shape.cast(a_shape), Shape.cast(w_shape))
        super().__init__({
            "a_in": In(a_shape), "s_in": In(1), "a_out": Out(a_shape), "s_out": Out(1),
            "sh_en": In(1), "sh_zero": In(1), "sh_in": In(w_shape),
            "ps_in": In(ps_shape), "ps_out": Out(ps_shape),
        })

    def elaborate(self, platform):
        m = Module()
        shadow = Signal.like(self.sh_in, name="shadow")
        prod = Signal(self._prod_shape, name="prod")
        m.d.sync += [self.a_out.eq(self.a_in), self.s_out.eq(self.s_in)]
        with m.If(self.sh_en):
            # a clear maps onto the flip-flops' synchronous reset: no logic
            m.d.sync += shadow.eq(Mux(self.sh_zero, 0, self.sh_in))
        if self._dsp == "ecp5":
            ecp5_mult(m, self.a_in, shadow, self.s_in, prod, name="mult")
        else:
            w = Signal.like(self.sh_in, name="w")
            with m.If(self.s_in):
                m.d.sync += w.eq(shadow)
            m.d.sync += prod.eq(multiply(self.a_out, w, lut=self._lut))
        # a second product register, in fabric beside the adder: the DSP → adder route is the
        # critical path of large ECP5 arrays otherwise
        prod_r = Signal.like(prod, name="prod_r")
        m.d.sync += [prod_r.eq(prod), self.ps_out.eq(self.ps_in + prod_r)]
        return m


class OSPE(wiring.Component):
    """Output-stationary PE: accumulates ``a·b`` in place; results leave via a shift chain.

    ``a``/``b`` registers forward right/down with their ``first``/``last`` flags (carried with
    ``a``). Products are registered; ``acc <= fit(first ? prod : acc + prod)``. When the product
    of a ``last`` element is accumulated, the final value is copied into ``o`` (the drain
    register) — ``o`` is a shift chain toward the top of the column (``o_in`` from below, read by
    the PE above as its ``o_in``), advanced by ``o_shift``.

    Parameters
    ----------
    a_shape, b_shape : Shape
    acc_fmt : NumFormat
    overflow : "wrap" | "saturate"
    lut : bool
    """

    def __init__(self, a_shape, b_shape, acc_fmt, overflow, *, lut=False, dsp=None):
        self._lut = lut
        self._dsp = dsp
        self._acc_fmt = acc_fmt
        self._overflow = overflow
        self._prod_shape = _product_shape(Shape.cast(a_shape), Shape.cast(b_shape))
        acc_shape = acc_fmt.shape
        super().__init__({
            "a_in": In(a_shape), "f_in": In(2), "a_out": Out(a_shape), "f_out": Out(2),
            "b_in": In(b_shape), "b_out": Out(b_shape),
            "o_shift": In(1), "o_in": In(acc_shape), "o_out": Out(acc_shape),
        })

    def elaborate(self, platform):
        from ...core.numerics import fit_value

        m = Module()
        prod = Signal(self._prod_shape, name="prod")
        pf = Signal(2, name="pf")            # flags (first, last) of prod
        acc = Signal(self._acc_fmt.shape, name="acc")
        m.d.sync += [self.a_out.eq(self.a_in), self.f_out.eq(self.f_in),
                     self.b_out.eq(self.b_in), pf.eq(self.f_out)]
        if self._dsp == "ecp5":
            ecp5_mult(m, self.a_in, self.b_in, Const(1), prod, name="mult")
        else:
            m.d.sync += prod.eq(multiply(self.a_out, self.b_out, lut=self._lut))
        # second product register (see WSPE), its flags alongside
        prod_r = Signal.like(prod, name="prod_r")
        pf_r = Signal(2, name="pf_r")
        m.d.sync += [prod_r.eq(prod), pf_r.eq(pf)]
        total = fit_value(Mux(pf_r[0], 0, acc) + prod_r, self._acc_fmt, self._overflow)
        m.d.sync += acc.eq(total)
        with m.If(pf_r[1]):
            m.d.sync += self.o_out.eq(total)
        with m.Elif(self.o_shift):
            m.d.sync += self.o_out.eq(self.o_in)
        return m
