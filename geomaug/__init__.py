"""geomaug: joint geometric augmentation and keypoint alignment for PyTorch, on C++/CUDA kernels
with a PyTorch path that gives the same answers wherever the kernels cannot run.

Topics: :mod:`geomaug.warp` (batched warps), :mod:`geomaug.align` (Kabsch / Umeyama),
:mod:`geomaug.faces` (landmark templates and aligned crops).  ``python -m geomaug info`` tells
which backend each op uses here.
"""
from ._backend import GeomaugWarning
from ._checks import InputError
from . import align, faces
from .align import Alignment, corresponding_points_alignment, estimate
from .faces import align_to_template, aligned_crop, template
from .warp import warp
from ._version import installed_version as _installed_version

__version__ = _installed_version()  # e.g. "0.1.0+pt214cu130": the build's label, see _version.py
__all__ = ["Alignment", "GeomaugWarning", "InputError", "align", "align_to_template",
           "aligned_crop", "corresponding_points_alignment", "estimate", "faces", "template",
           "warp"]
