"""Block configs: frozen dataclasses, validation helpers, the block registry, TOML and presets."""

import dataclasses
import difflib
import importlib
import re
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import HwgenError

__all__ = ["BlockConfig", "BlockInfo", "register", "blocks", "get_block", "presets", "load",
           "parse_overrides", "check_int", "check_choice", "check_bool", "check_name"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_int(name: str, value: Any, lo: int, hi: int) -> None:
    """``TypeError`` unless ``value`` is an int, ``ValueError`` unless ``lo <= value <= hi``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], not {value!r}")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {', '.join(map(repr, choices))}, "
                        f"not {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, not {value!r}")


def check_name(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(f"{name} must be a Verilog identifier ([A-Za-z_][A-Za-z0-9_]*), "
                         f"not {value!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class BlockConfig:
    """Base of every block config: a frozen, keyword-only dataclass validated on construction.

    Subclasses validate in ``__post_init__`` (calling ``super().__post_init__()``) and expose
    derived values as properties. ``name`` is the Verilog module name; empty means derived.
    """

    block = ""          # class attribute: the registry name of the block
    name: str = ""

    def __post_init__(self):
        if self.name != "":
            check_name("name", self.name)

    @property
    def module_name(self) -> str:
        return self.name or self.default_name()

    def default_name(self) -> str:
        return self.block

    def to_dict(self) -> dict:
        """Every field (derived ones excluded), ``block`` first: round-trips through from_dict."""
        return {"block": self.block, **dataclasses.asdict(self)}

    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict, *, where: str = "config"):
        """Build from a dict (``block`` key optional); unknown keys get a did-you-mean."""
        data = dict(data)
        blk = data.pop("block", cls.block)
        if blk != cls.block:
            raise HwgenError(f"{where}: block {blk!r} does not match {cls.block!r}")
        known = cls.fields()
        for key in data:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise HwgenError(f"{where}: unknown key {key!r} for block {cls.block!r}{hint}; "
                                 f"known keys: {', '.join(known)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as e:
            raise HwgenError(f"{where}: {e}") from e

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes})


@dataclasses.dataclass(frozen=True)
class BlockInfo:
    """What the registry knows of a block; see docs/ARCHITECTURE for the block contract."""

    name: str
    config: type                       # BlockConfig subclass
    component: Callable                # cfg -> amaranth wiring.Component
    golden: Callable                   # golden(cfg, **inputs) -> outputs
    model: Callable                    # model(cfg, **shape) -> dict (cycles, utilization, ...)
    presets: dict                      # preset name -> cfg
    summary: str = ""


_REGISTRY: dict[str, BlockInfo] = {}


def register(info: BlockInfo) -> BlockInfo:
    if info.name in _REGISTRY:
        raise RuntimeError(f"block {info.name!r} registered twice")
    _REGISTRY[info.name] = info
    return info


def _ensure_loaded():
    importlib.import_module("hwgen.blocks")


def blocks() -> dict[str, BlockInfo]:
    _ensure_loaded()
    return dict(_REGISTRY)


def get_block(name: str) -> BlockInfo:
    reg = blocks()
    if name not in reg:
        hint = difflib.get_close_matches(str(name), list(reg), n=1)
        hint = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise HwgenError(f"unknown block {name!r}{hint}; known blocks: {', '.join(sorted(reg))}")
    return reg[name]


def presets() -> dict[str, tuple[BlockInfo, BlockConfig]]:
    out = {}
    for info in blocks().values():
        for pname, cfg in info.presets.items():
            out[pname] = (info, cfg)
    return out


def parse_overrides(items: Iterable[str]) -> dict:
    """``key=value`` strings → dict; values parse as TOML (``8``, ``true``, ``"x"``), else as
    bare text."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HwgenError(f"--set takes key=value, not {item!r}")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        out[key] = value
    return out


_LINE_RE = re.compile(r"\(at line (\d+), column (\d+)\)")
_END_RE = re.compile(r"\(at end of document\)")


def _read_toml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as e:
        raise HwgenError(f"cannot read config {str(path)!r}: {e.strerror}") from e
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _LINE_RE.search(msg)
        if m:
            msg = _LINE_RE.sub("", msg).strip()
            raise HwgenError(f"{path}:{m.group(1)}: malformed TOML: {msg} "
                             f"(line {m.group(1)}, column {m.group(2)})") from e
        if _END_RE.search(msg):
            last = max(1, len(text.splitlines()))
            msg = _END_RE.sub("", msg).strip()
            raise HwgenError(f"{path}:{last}: malformed TOML: {msg} (at the end of the file, "
                             f"line {last})") from e
        raise HwgenError(f"{path}: malformed TOML: {msg}") from e


def load(source: str | Path, overrides: Iterable[str] | dict = ()) -> tuple[BlockInfo, Any]:
    """Load a preset name or a TOML file, apply ``key=value`` overrides, validate.

    Raises ``HwgenError`` with one line naming the file, key, value and allowed range.
    """
    if isinstance(overrides, dict):
        over = dict(overrides)
    else:
        over = parse_overrides(overrides)
    text = str(source)
    known = presets()
    if text in known:
        info, cfg = known[text]
        if not over:
            return info, cfg
        where = f"preset {text!r} with --set"
        data = {**cfg.to_dict(), **over}
    else:
        path = Path(text)
        if not path.suffix == ".toml" and not path.exists():
            hint = difflib.get_close_matches(text, list(known), n=1)
            hint = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise HwgenError(f"{text!r} is neither a preset nor a .toml file{hint}; "
                             f"`hwgen list` shows the presets")
        if not path.exists():
            raise HwgenError(f"config file {text!r} does not exist")
        data = _read_toml(path)
        where = str(path)
        if "block" not in data:
            raise HwgenError(f"{where}: missing key 'block' "
                             f"(one of: {', '.join(sorted(blocks()))})")
        if over:
            where += " with --set"
        data = {**data, **over}
    try:
        info = get_block(data.get("block"))
    except HwgenError as e:
        raise HwgenError(f"{where}: {e}") from None
    return info, info.config.from_dict(data, where=where)
