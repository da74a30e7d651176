"""Self-test top: pseudo-random stimulus in, registered XOR signature out, for any block."""

from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
    Value,
)
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SelfTestTop", "Prbs", "BlackBox"]

# x^31 + x^28 + 1 is primitive: a 31-bit Fibonacci LFSR with these taps has period 2^31 - 1.
_CORE_WIDTH = 31
_TAPS = (30, 27)


class Prbs(Elaboratable):
    """A pseudo-random bit vector: a 31-bit maximal LFSR, extended by a shift register.

    Every output bit is its own flip-flop (bit ``i`` is the LFSR sequence delayed by ``i``
    steps), so synthesis can neither merge two bits nor constant-fold one.

    Parameters
    ----------
    width : int
        Output bits (any positive number; the state is at least 31 bits).
    seed : int
        Reset value of the LFSR; only its low 31 bits are used and they must not all be zero.

    Members
    -------
    en : Signal, in
        The state advances by one step in each cycle ``en`` is high.
    out : Signal(width), out
        The current pseudo-random bits.
    """

    def __init__(self, *, width, seed=1):
        if not isinstance(width, int) or width < 1:
            raise TypeError(f"PRBS width must be a positive integer, not {width!r}")
        if not isinstance(seed, int) or seed & ((1 << _CORE_WIDTH) - 1) == 0:
            raise ValueError(f"PRBS seed must have a non-zero low {_CORE_WIDTH} bits, "
                             f"not {seed!r}")
        self.width = width
        self.seed = seed & ((1 << _CORE_WIDTH) - 1)
        self.en = Signal(init=1)
        self.out = Signal(width)

    def elaborate(self, platform):
        m = Module()
        n = max(self.width, _CORE_WIDTH)
        state = Signal(n, init=self.seed)
        feedback = state[_TAPS[0]] ^ state[_TAPS[1]]
        with m.If(self.en):
            m.d.sync += state.eq(Cat(feedback, state[:-1]))
        m.d.comb += self.out.eq(state[:self.width])
        return m


def _fold(m, bits: Value, width: int) -> Value:
    """XOR-fold ``bits`` to ``width`` bits through registered stages of at most 4 inputs."""
    stage = 0
    while len(bits) > width:
        out_w = max(width, -(-len(bits) // 4))
        folded = Signal(out_w, name=f"fold{stage}")
        for i in range(out_w):
            acc = bits[i]
            for j in range(i + out_w, len(bits), out_w):
                acc = acc ^ bits[j]
            m.d.sync += folded[i].eq(acc)
        bits = folded
        stage += 1
    return bits


class SelfTestTop(wiring.Component):
    """Wrap any block so that it places on a package with a clock pin and a few LED pins.

    Every input stream of ``block`` is fed by its own :class:`Prbs`: ``valid`` and ``payload``
    are pseudo-random but obey the stream rules (held while ``valid && !ready``). Every output
    stream's ``ready`` is a pseudo-random bit. Plain input ports get pseudo-random values,
    changing every cycle.

    Every observed bit (output payloads and valids, input readies, plain output ports) enters a
    rotating multiple-input signature register (one flip-flop and one 2-input XOR per bit), which
    is then XOR-folded through registered stages of at most four inputs down to
    ``signature_width`` bits on ``led``. Each observed bit reaches the signature through its own
    register, so synthesis cannot remove any of the block's logic, and every harness path is one
    LUT deep: the harness is never the critical path unless the block's own ``ready`` is.

    The ``sync`` domain is defined here: clocked by ``clk``, reset synchronously by a 4-bit
    power-on counter (for the first 16 cycles), so the only inputs are the clock pin.

    Parameters
    ----------
    block : wiring.Component
        Any component whose members are ``lib.stream`` interfaces or plain ports.
    signature_width : int
        Width of ``led``, 1..64.

    Members
    -------
    clk : In(1)
        The clock.
    led : Out(signature_width)
        The registered signature.

    Raises
    ------
    TypeError
        If ``block`` is not a component, or has a member that is neither a stream nor a port.
    """

    def __init__(self, block, *, signature_width=8):
        if not isinstance(block, wiring.Component):
            raise TypeError(f"block must be a wiring.Component, not {block!r}")
        if not isinstance(signature_width, int) or not 1 <= signature_width <= 64:
            raise TypeError(f"signature_width must be an integer in [1, 64], "
                            f"not {signature_width!r}")
        self.block = block
        self.signature_width = signature_width
        self.streams_in, self.streams_out, self.ports_in, self.ports_out = _classify(block)
        super().__init__({"clk": In(1), "led": Out(signature_width)})

    @property
    def observed_bits(self) -> int:
        """How many block bits feed the signature."""
        return (sum(len(Value.cast(getattr(self.block, n).payload)) + 1
                    for n in self.streams_out)
                + len(self.streams_in)
                + sum(len(Value.cast(getattr(self.block, n))) for n in self.ports_out))

    @property
    def stimulus_bits(self) -> int:
        """How many block input bits the harness drives."""
        return (sum(len(Value.cast(getattr(self.block, n).payload)) + 1
                    for n in self.streams_in)
                + len(self.streams_out)
                + sum(len(Value.cast(getattr(self.block, n))) for n in self.ports_in))

    def elaborate(self, platform):
        m = Module()

        # Clock and power-on reset: a reset-less counter holds `sync` in reset for 16 cycles.
        m.domains.por = ClockDomain(reset_less=True)
        m.domains.sync = ClockDomain()
        # The reset is a register, so its (large) fan-out starts at a flip-flop.
        por = Signal(4)
        rst = Signal(init=1)
        m.d.comb += [
            ClockSignal("por").eq(self.clk),
            ClockSignal("sync").eq(self.clk),
            ResetSignal("sync").eq(rst),
        ]
        with m.If(~por.all()):
            m.d.por += por.eq(por + 1)
        m.d.por += rst.eq(~por.all())

        m.submodules.dut = dut = self.block
        seed = 0x1234567

        def next_seed():
            nonlocal seed
            # A fixed odd step keeps the seeds distinct and non-zero in 31 bits.
            seed = (seed + 0x2545F491) & ((1 << _CORE_WIDTH) - 1) or 1
            return seed

        observed = []

        for name in self.streams_in:
            intf = getattr(dut, name)
            payload = Value.cast(intf.payload)
            gen = Prbs(width=len(payload) + 1, seed=next_seed())
            m.submodules[f"gen_{name}"] = gen
            # Advance only when the current word is not pending: valid stays up until the
            # transfer and the payload is stable meanwhile.
            m.d.comb += [
                gen.en.eq(~intf.valid | intf.ready),
                intf.valid.eq(gen.out[0]),
                payload.eq(gen.out[1:]),
            ]
            observed.append(intf.ready)

        if self.streams_out:
            rdy = Prbs(width=len(self.streams_out), seed=next_seed())
            m.submodules.gen_ready = rdy
            for i, name in enumerate(self.streams_out):
                intf = getattr(dut, name)
                m.d.comb += intf.ready.eq(rdy.out[i])
                observed.append(Value.cast(intf.payload))
                observed.append(intf.valid)

        for name in self.ports_in:
            port = Value.cast(getattr(dut, name))
            gen = Prbs(width=len(port), seed=next_seed())
            m.submodules[f"gen_{name}"] = gen
            m.d.comb += port.eq(gen.out)

        for name in self.ports_out:
            observed.append(Value.cast(getattr(dut, name)))

        if not observed:
            m.d.comb += self.led.eq(0)
            return m

        bits = Cat(*observed)
        n = len(bits)
        # Rotating MISR: bit i takes bit i-1 (bit 0 takes bit n-1) XOR the observed bit i.
        misr = Signal(n)
        rotated = Cat(misr[-1], misr[:-1]) if n > 1 else misr
        m.d.sync += misr.eq(rotated ^ bits)
        sig = _fold(m, misr, self.signature_width)
        if len(sig) < self.signature_width:
            sig = Cat(sig, Const(0, self.signature_width - len(sig)))
        m.d.comb += self.led.eq(sig)
        return m


def _classify(block):
    streams_in, streams_out, ports_in, ports_out = [], [], [], []
    for name, member in block.signature.members.items():
        if member.is_port:
            (ports_in if member.flow == wiring.In else ports_out).append(name)
            continue
        sig = member.signature
        if isinstance(sig, wiring.FlippedSignature):
            sig = sig.flip()
        if not isinstance(sig, stream.Signature):
            raise TypeError(f"block member {name!r} must be a stream or a port, not {sig!r}")
        (streams_in if member.flow == wiring.In else streams_out).append(name)
    return streams_in, streams_out, ports_in, ports_out


class BlackBox(wiring.Component):
    """A stand-in for ``block`` that instantiates its module by name (``Instance``), so that a
    design around it (the self-test top) is synthesized without the block, and the block's own
    netlist is linked in afterwards, unchanged.

    Ports and their Verilog names are those Amaranth gives the block's top module
    (``i_a__payload``, ``clk``, ``rst``), so any netlist of the block fits.

    Parameters
    ----------
    block : wiring.Component
        The block (only its signature is used).
    name : str
        Its Verilog module name.
    """

    def __init__(self, block, *, name: str):
        if not isinstance(block, wiring.Component):
            raise TypeError(f"block must be a wiring.Component, not {block!r}")
        self.name = name
        # only its signature is wanted: the block is never elaborated here, and that is fine
        block._MustUse__silence = True
        super().__init__(block.signature)

    def elaborate(self, platform):
        m = Module()
        ports = {"i_clk": ClockSignal("sync"), "i_rst": ResetSignal("sync")}
        for path, member, value in self.signature.flatten(self):
            prefix = "i_" if member.flow == wiring.In else "o_"
            ports[prefix + "__".join(map(str, path))] = Value.cast(value)
        m.submodules.block = Instance(self.name, **ports)
        return m

