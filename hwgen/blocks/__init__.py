"""The list of blocks, their registry, and ``load``: preset or TOML file → (BlockInfo, config).

Each block is a package ``hwgen.blocks.<name>`` that exports ``INFO``, its
``hwgen.core.contract.BlockInfo``. Adding a block adds its name to :data:`BLOCK_NAMES`.
"""

import functools
import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.config import BlockConfig, did_you_mean, parse_overrides, read_toml
from ..core.contract import BlockInfo
from ..core.errors import HwgenError

__all__ = ["BLOCK_NAMES", "DEFAULT_PRESET", "blocks", "get_block", "presets", "load"]

#: Every block, by package name (the registry name is the package name).
BLOCK_NAMES = ("mxu", "softmax", "kvcache", "sparse")

#: What ``hwgen demo`` (``make demo``) runs when given no config.
DEFAULT_PRESET = "mxu-4x4-int8"


@functools.cache
def _registry() -> dict[str, BlockInfo]:
    reg: dict[str, BlockInfo] = {}
    seen_presets: dict[str, str] = {}
    for pkg in BLOCK_NAMES:
        info = getattr(importlib.import_module(f"{__name__}.{pkg}"), "INFO", None)
        if not isinstance(info, BlockInfo):
            raise RuntimeError(f"hwgen.blocks.{pkg} must export INFO, a BlockInfo")
        if info.name != pkg:
            raise RuntimeError(f"hwgen.blocks.{pkg}: INFO.name is {info.name!r}")
        for pname in info.presets:
            if pname in seen_presets:
                raise RuntimeError(f"preset {pname!r} of block {pkg} is also one of "
                                   f"{seen_presets[pname]}")
            seen_presets[pname] = pkg
        reg[pkg] = info
    return reg


def blocks() -> dict[str, BlockInfo]:
    """Registry name → BlockInfo, for every block."""
    return dict(_registry())


def get_block(name: str) -> BlockInfo:
    """The block ``name``; ``HwgenError`` with a did-you-mean and the known blocks otherwise."""
    reg = _registry()
    if name not in reg:
        raise HwgenError(f"unknown block {name!r}{did_you_mean(name, reg)}; known blocks: "
                         f"{', '.join(sorted(reg))}")
    return reg[name]


def presets() -> dict[str, tuple[BlockInfo, BlockConfig]]:
    """Preset name → (BlockInfo, config), over every block."""
    return {pname: (info, cfg) for info in _registry().values()
            for pname, cfg in info.presets.items()}


def load(source: str | Path, overrides: Iterable[str] | dict = ()) -> tuple[BlockInfo, Any]:
    """Load a preset name or a TOML file, apply ``key=value`` overrides, validate.

    Raises ``HwgenError`` with one line naming the file, key, value and allowed range.
    """
    over = dict(overrides) if isinstance(overrides, dict) else parse_overrides(overrides)
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
        if path.suffix != ".toml" and not path.exists():
            raise HwgenError(f"{text!r} is neither a preset nor a .toml file"
                             f"{did_you_mean(text, known)}; `hwgen list` shows the presets")
        if not path.exists():
            raise HwgenError(f"config file {text!r} does not exist")
        data = read_toml(path)
        where = str(path)
        if "block" not in data:
            raise HwgenError(f"{where}: missing key 'block' "
                             f"(one of: {', '.join(sorted(_registry()))})")
        if over:
            where += " with --set"
        data = {**data, **over}
    try:
        info = get_block(data.get("block"))
    except HwgenError as e:
        raise HwgenError(f"{where}: {e}") from None
    return info, info.config.from_dict(data, where=where)
