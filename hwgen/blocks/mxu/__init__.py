"""Systolic matrix unit (MXU): C = A·B (+ D), weight- or output-stationary."""

from ...core.config import BlockInfo, register
from .config import PRESETS, MXUConfig
from .golden import golden
from .model import model
from .rtl import MXU

__all__ = ["MXUConfig", "MXU", "golden", "model", "PRESETS", "INFO"]

INFO = register(BlockInfo(
    name="mxu", config=MXUConfig, component=MXU, golden=golden, model=model, presets=PRESETS,
    summary="systolic int matrix unit C = A·B (+D), weight/output-stationary, K/N/M tiling"))
