"""The one call through which the transforms resample images and masks: :func:`geomaug.warp` with
the pipeline's border mode (see docs/conventions.md, "Borders": a sample point inside the source
area is image content, its taps clamp to the edge pixels; outside it the border mode applies per
tap as OpenCV: ``"constant"`` (the fill), ``"replicate"``, ``"reflect"`` (BORDER_REFLECT_101)).
"""
from __future__ import annotations

import torch

from .._ops import BORDER
from ..warping import warp

BORDERS = tuple(BORDER)


def resample(src: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int], interpolation: str,
             fill, border: str) -> torch.Tensor:
    """Warp ``src`` ``(B, C, H, W)`` by forward ``matrices`` ``(B, 3, 3)`` to ``size`` (h, w)."""
    return warp(src, matrices, size, interpolation=interpolation, fill=fill, border=border)
