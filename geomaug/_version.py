"""geomaug's version, written here and nowhere else, and the local label of a build.

``setup.py`` loads this file by path (no torch import) and builds the distribution's version from
:data:`VERSION` and :func:`local_label`: a wheel built against torch 2.14 with CUDA 13.0 kernels is
``0.1.0+pt214cu130``, a CPU-only build ``0.1.0+pt214cpu``, a build without the extension plain
``0.1.0``.  The build writes the version it gave the distribution into ``_build_info.json``;
``geomaug.__version__`` reads it from there (:func:`installed_version`), so an installed wheel says
which torch and CUDA it was built for.

Why ``cu130`` and not ``cu13``: the label spells torch's CUDA the way torch's own wheels do
(``torch 2.14.1+cu130`` → ``geomaug 0.1.0+pt214cu130``), so a fleet matches the two by eye and
wheels built for different CUDA minors can sit side by side on one index.  Only the CUDA *major*
must match torch's for the kernels to load; ``geomaug info`` and the load check say so.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

#: The release number: the one place it is written (setup.py and pyproject.toml read it from here).
VERSION = "0.1.0"


def torch_minor(torch_version: str) -> tuple[int, int]:
    """``"2.14.1+cu130"`` → ``(2, 14)``."""
    m = re.match(r"^(\d+)\.(\d+)", torch_version.strip())
    if not m:
        raise ValueError(f"torch version {torch_version!r}: expected MAJOR.MINOR[...], e.g. '2.14.1'")
    return int(m.group(1)), int(m.group(2))


def local_label(torch_version: str, cuda_version: str | None) -> str:
    """The PEP 440 local label of a build against torch ``torch_version``.

    ``cuda_version`` is torch's CUDA (``torch.version.cuda``) when CUDA kernels are built, ``None``
    for a CPU-only build.  Example: ``local_label("2.14.1+cu130", "13.0") == "pt214cu130"``.
    """
    major, minor = torch_minor(torch_version)
    if cuda_version is None:
        return f"pt{major}{minor}cpu"
    m = re.match(r"^(\d+)\.(\d+)", cuda_version.strip())
    if not m:
        raise ValueError(f"CUDA version {cuda_version!r}: expected MAJOR.MINOR, e.g. '13.0'")
    return f"pt{major}{minor}cu{m.group(1)}{m.group(2)}"


def installed_version() -> str:
    """The version this copy of geomaug was built as (with its local label), else :data:`VERSION`."""
    try:
        info = json.loads((Path(__file__).resolve().parent / "_build_info.json").read_text())
    except (OSError, ValueError):
        return VERSION
    return str(info.get("version", VERSION))
