"""Processing elements of the systolic arrays and their pipelined multiplier."""

from amaranth.hdl import Const, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...core.mult import ecp5_mult, ice40_mac, lut_mult_2stage, multiply, product_shape

__all__ = ["multiply", "ecp5_mult", "WSPE", "OSPE"]


class WSPE(wiring.Component):
    """Weight-stationary PE: ``ps_out <= ps_in + a·w`` three cycles after ``a`` arrives.

    Pipeline: ``a_in`` → ``a`` register (forwarded right as ``a_out``) → product register →
    second product register → ``ps_out`` register (with ``lut``: the two stages of
    ``lut_mult_2stage`` in place of the two product registers). ``w`` (the active weight) is a
    plain register, loaded from the shadow weight when ``s_in`` (the tile-swap token, travelling
    with the activation) is set, in the same edge that loads the activation it belongs to. The
    shadow weight loads ``sh_in`` (or 0 with ``sh_zero``) when ``sh_en`` is set — one enable
    per PE row, the data broadcast down the column.

    Parameters
    ----------
    a_shape, w_shape, ps_shape : Shape
        Activation, weight and partial-sum shapes (``ps_shape`` must hold ``ps_in + a·w``).
    lut : bool
        Keep the multiplier in logic.
    dsp : None | "ecp5" | "ice40"
        Hand-instantiated DSP: ``"ecp5"`` MULT18X18D with its input and output registers (the
        ``a``, ``w`` and product registers; the second product register and the adder stay in
        fabric); ``"ice40"`` SB_MAC16 holding all of it (``core.mult.ice40_mac``: operands of
        at most 16 bits, ``ps_shape`` at most 32), same timing.
    """

    def __init__(self, a_shape, w_shape, ps_shape, *, lut=False, dsp=None):
        self._lut = lut
        self._dsp = dsp
        self._prod_shape = product_shape(Shape.cast(a_shape), Shape.cast(w_shape))
        super().__init__({
            "a_in": In(a_shape), "s_in": In(1), "a_out": Out(a_shape), "s_out": Out(1),
            "sh_en": In(1), "sh_zero": In(1), "sh_in": In(w_shape),
            "ps_in": In(ps_shape), "ps_out": Out(ps_shape),
        })

    def elaborate(self, platform):
        m = Module()
        shadow = Signal.like(self.sh_in, name="shadow")
        m.d.sync += [self.a_out.eq(self.a_in), self.s_out.eq(self.s_in)]
        with m.If(self.sh_en):
            # a clear maps onto the flip-flops' synchronous reset: no logic
            m.d.sync += shadow.eq(Mux(self.sh_zero, 0, self.sh_in))
        if self._dsp == "ice40":
            # the whole multiply-add with its four registers inside SB_MAC16; B is ``w``
            ice40_mac(m, self.a_in, shadow, self.s_in, self.ps_in, self.ps_out, name="mac")
            return m
        if self._dsp == "ecp5":
            prod = Signal(self._prod_shape, name="prod")
            ecp5_mult(m, self.a_in, shadow, self.s_in, prod, name="mult")
        else:
            w = Signal.like(self.sh_in, name="w")
            with m.If(self.s_in):
                m.d.sync += w.eq(shadow)
            if self._lut:
                # two multiplier stages in place of the product and its second register
                prod_r = lut_mult_2stage(m, self.a_out, w, name="mult")
            else:
                prod = Signal(self._prod_shape, name="prod")
                m.d.sync += prod.eq(multiply(self.a_out, w))
        if not self._lut:
            # a second product register, in fabric beside the adder: the DSP → adder route is
            # the critical path of large ECP5 arrays otherwise
            prod_r = Signal.like(prod, name="prod_r")
            m.d.sync += prod_r.eq(prod)
        m.d.sync += self.ps_out.eq(self.ps_in + prod_r)
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
        self._prod_shape = product_shape(Shape.cast(a_shape), Shape.cast(b_shape))
        acc_shape = acc_fmt.shape
        super().__init__({
            "a_in": In(a_shape), "f_in": In(2), "a_out": Out(a_shape), "f_out": Out(2),
            "b_in": In(b_shape), "b_out": Out(b_shape),
            "o_shift": In(1), "o_in": In(acc_shape), "o_out": Out(acc_shape),
        })

    def elaborate(self, platform):
        from ...core.numerics import add_fit

        m = Module()
        pf = Signal(2, name="pf")            # flags (first, last) of the product
        acc = Signal(self._acc_fmt.shape, name="acc")
        m.d.sync += [self.a_out.eq(self.a_in), self.f_out.eq(self.f_in),
                     self.b_out.eq(self.b_in), pf.eq(self.f_out)]
        pf_r = Signal(2, name="pf_r")
        m.d.sync += pf_r.eq(pf)
        if self._lut:
            # two multiplier stages in place of the product and its second register
            prod_r = lut_mult_2stage(m, self.a_out, self.b_out, name="mult")
        else:
            prod = Signal(self._prod_shape, name="prod")
            if self._dsp == "ecp5":
                ecp5_mult(m, self.a_in, self.b_in, Const(1), prod, name="mult")
            else:
                m.d.sync += prod.eq(multiply(self.a_out, self.b_out))
            # second product register (see WSPE), its flags alongside
            prod_r = Signal.like(prod, name="prod_r")
            m.d.sync += prod_r.eq(prod)
        total = add_fit(Mux(pf_r[0], 0, acc), prod_r, self._acc_fmt, self._overflow)
        m.d.sync += acc.eq(total)
        with m.If(pf_r[1]):
            m.d.sync += self.o_out.eq(total)
        with m.Elif(self.o_shift):
            m.d.sync += self.o_out.eq(self.o_in)
        return m
