"""Block configs: frozen dataclasses, validation helpers, TOML reading (no block is named here)."""

import dataclasses
import difflib
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import HwgenError

__all__ = ["BlockConfig", "parse_overrides", "read_toml", "did_you_mean", "check_int",
           "check_choice", "check_bool", "check_name"]

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
                raise HwgenError(f"{where}: unknown key {key!r} for block {cls.block!r}"
                                 f"{did_you_mean(key, known)}; "
                                 f"known keys: {', '.join(known)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as e:
            raise HwgenError(f"{where}: {e}") from e

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes})


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


def did_you_mean(word, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    hint = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def read_toml(path: Path) -> dict:
    """A TOML file as a dict; ``HwgenError`` names the file (and line) of any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise HwgenError(f"cannot read config {str(path)!r}: {e.strerror}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise HwgenError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                         f"{e.start}); TOML files must be UTF-8") from e
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
