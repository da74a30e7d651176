"""The block contract: everything a block provides, declared in one ``BlockInfo``.

CLI, emit, sim, the generic cocotb bench, the benchmark driver and the tests read a block only
through its ``BlockInfo`` (``docs/blocks.md`` explains each member and how to add a block).
"""

import dataclasses
from collections.abc import Callable, Mapping

from .config import BlockConfig
from .errors import HwgenError
from .tensors import Tensors, read_npz

__all__ = ["BlockInfo", "Description", "Transactions", "Workload", "FpgaRow", "SimRow",
           "BenchRows"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Description:
    """What ``describe(cfg)`` says of a config.

    Members
    -------
    line : str
        One line of key parameters (``hwgen list``, the head of ``hwgen generate``).
    facts : dict
        Derived values, JSON-able (printed by ``hwgen generate``, stored in the manifest as
        ``derived``).
    """

    line: str
    facts: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Transactions:
    """How user tensors map to stream transfers and back (the executable streaming order).

    Members
    -------
    to_streams : callable
        ``to_streams(cfg, **inputs) -> {input port: [payload value, ...]}`` (values as
        ``hwgen.core.streams.pack`` takes them).
    counts : callable
        ``counts(cfg, **inputs) -> {output port: number of transfers}``.
    from_streams : callable
        ``from_streams(cfg, streams, **inputs) -> {output name: array}`` from the transfers of
        every output port; raises ``ValueError`` on wrong framing.
    start : str
        The input port whose first transfer of a job starts its cycle count; the count ends at
        the job's last output transfer (the definition ``model`` follows).
    """

    to_streams: Callable[..., dict]
    counts: Callable[..., dict]
    from_streams: Callable[..., dict]
    start: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Workload:
    """A named input set for the benchmark: ``make(cfg) -> {name: array}`` (deterministic)."""

    name: str
    make: Callable[..., dict]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FpgaRow:
    """One FPGA benchmark row: a preset built for a target at a clock constraint.

    ``goals`` and ``reference`` are figures the block's bench module compares against
    (e.g. ``{"lut_per_mac": 50, "fmax_mhz": 190}``); the driver only carries them.
    """

    preset: str
    target: str
    freq_mhz: float
    overrides: Mapping = dataclasses.field(default_factory=dict)
    goals: Mapping = dataclasses.field(default_factory=dict)
    reference: Mapping = dataclasses.field(default_factory=dict)
    slow: bool = False            # left out of ``--quick`` runs


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimRow:
    """One simulation benchmark row: a preset run on a workload (user-tensor mode, no stalls)."""

    preset: str
    workload: Workload
    overrides: Mapping = dataclasses.field(default_factory=dict)
    simulator: str = "verilator"


@dataclasses.dataclass(frozen=True, kw_only=True)
class BenchRows:
    """What ``make bench`` measures of a block: FPGA rows and simulation rows."""

    fpga: tuple = ()
    sim: tuple = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class BlockInfo:
    """Everything a block provides (the way ``stream.Signature`` lists its members).

    Members
    -------
    name : str
        Registry name (``block = "..."`` in a TOML config).
    summary : str
        One line for ``hwgen list`` and the FuseSoC core.
    config : type
        The frozen config dataclass (a ``BlockConfig`` subclass).
    presets : mapping
        Preset name → config.
    component : callable
        ``component(cfg) -> wiring.Component`` whose members are streams or plain ports.
    golden : callable
        ``golden(cfg, **inputs) -> {output name: array}``: the bit-exact specification.
    model : callable
        ``model(cfg, **shape) -> dict``. Without a shape: static figures for the manifest.
        With one: at least ``cycles`` (``Transactions.start`` to the last output transfer, no
        stalls) and ``tolerance`` (``{"abs": a, "rel": r}``; both 0 when the count is exact).
    tensors : Tensors
        The user-tensor schema (inputs, outputs, sizes, example, extra checks).
    transactions : Transactions
        Golden inputs → stream transfers per port; transfers → outputs.
    describe : callable
        ``describe(cfg) -> Description``.
    bench : BenchRows
        The rows ``make bench`` measures.
    cocotb_bench : str
        The block's cocotb test module, relative to ``sim/`` (``"<block>/test_<block>.py"``).
    sim_presets : tuple of str
        Presets the default test suite simulates on every simulator (at least two).
    docs : str
        The block's documentation page, relative to the repository (``"docs/<block>.md"``).
    """

    name: str
    summary: str
    config: type
    presets: Mapping
    component: Callable
    golden: Callable[..., dict]
    model: Callable[..., dict]
    tensors: Tensors
    transactions: Transactions
    describe: Callable[..., Description]
    bench: BenchRows
    cocotb_bench: str
    sim_presets: tuple
    docs: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"block name must be an identifier, not {self.name!r}")
        if not (isinstance(self.config, type) and issubclass(self.config, BlockConfig)):
            raise TypeError(f"block {self.name}: config must be a BlockConfig subclass, "
                            f"not {self.config!r}")
        if self.config.block != self.name:
            raise ValueError(f"block {self.name}: config.block is {self.config.block!r}")
        for pname, cfg in self.presets.items():
            if not isinstance(cfg, self.config):
                raise TypeError(f"block {self.name}: preset {pname!r} is not a "
                                f"{self.config.__name__}")
        for key in ("component", "golden", "model", "describe"):
            if not callable(getattr(self, key)):
                raise TypeError(f"block {self.name}: {key} must be callable")
        if not isinstance(self.tensors, Tensors):
            raise TypeError(f"block {self.name}: tensors must be a Tensors")
        if not isinstance(self.transactions, Transactions):
            raise TypeError(f"block {self.name}: transactions must be a Transactions")
        if not isinstance(self.bench, BenchRows):
            raise TypeError(f"block {self.name}: bench must be a BenchRows")
        missing = [p for p in self.sim_presets if p not in self.presets]
        rows = [*self.bench.fpga, *self.bench.sim]
        missing += [r.preset for r in rows if r.preset not in self.presets]
        if missing:
            raise ValueError(f"block {self.name}: unknown presets {missing}")
        if len(self.sim_presets) < 2:
            raise ValueError(f"block {self.name}: sim_presets must name at least two presets")

    def check_inputs(self, cfg, arrays: Mapping) -> dict:
        """``tensors.validate`` naming this block in its messages."""
        return self.tensors.validate(cfg, arrays, block=self.name)

    def read_inputs(self, cfg, path) -> dict:
        """The validated arrays of an inputs npz; ``HwgenError`` (one line, naming the file,
        the array, the rule and the offending value) otherwise."""
        arrays = read_npz(path)
        try:
            return self.check_inputs(cfg, arrays)
        except (TypeError, ValueError) as e:
            raise HwgenError(f"{path}: {e}") from e

    def model_for(self, cfg, inputs: Mapping) -> dict:
        """``model`` for the (validated) ``inputs``."""
        return self.model(cfg, **self.tensors.model_shape(cfg, inputs))
