"""geomaug: joint geometric augmentation and keypoint alignment for PyTorch, on C++/CUDA kernels
with a PyTorch path that gives the same answers wherever the kernels cannot run.

Topics: :mod:`geomaug.transforms` (joint image / mask / keypoint / box augmentation),
:mod:`geomaug.warping` (batched warps), :mod:`geomaug.color` (colour ops),
:mod:`geomaug.fused` (warp + colour + normalise in one pass, what ``Compose`` runs),
:mod:`geomaug.alignment` (Kabsch / Umeyama), :mod:`geomaug.faces` (landmark templates and
aligned crops).  Conventions (pixel coordinates,
matrix direction, colour semantics): ``docs/conventions.md``.  ``python -m geomaug info`` tells
which backend each op uses here.
"""
from ._backend import GeomaugWarning
from ._checks import InputError
from . import alignment, color, faces, warping
from .alignment import Alignment, corresponding_points_alignment, estimate
from .faces import align_to_template, aligned_crop, template
from .warping import warp
from . import fused, transforms  # after warp: both are built on it
from ._version import installed_version as _installed_version

__version__ = _installed_version()  # e.g. "0.1.0+pt214cu130": the build's label, see _version.py
__all__ = ["Alignment", "GeomaugWarning", "InputError", "align_to_template", "aligned_crop",
           "alignment", "color", "corresponding_points_alignment", "estimate", "faces", "fused",
           "template", "transforms", "warp", "warping"]
