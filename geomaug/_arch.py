"""GPU architecture lists: parsing, filtering against nvcc, and device coverage.

Pure Python with no torch import, so that ``setup.py`` can load it by path before torch's build
helpers are imported, and tests can exercise it without a toolkit.

An arch list has the syntax of ``TORCH_CUDA_ARCH_LIST``: entries such as ``7.5``, ``8.6``, ``9.0+PTX``
separated by ``;``, ``,`` or spaces.  ``+PTX`` asks for the PTX of that arch to be embedded as well,
so that newer GPUs can JIT-compile it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The default targets (README, "Build options"): the family first asked for, the current generations, and PTX of the highest.
DEFAULT_ARCH_LIST = "3.5;5.0;6.0;7.0;7.5;8.0;8.6;8.9;9.0+PTX"

# The CUDA releases that still build each old arch, for error messages (newest release that can).
_LAST_RELEASE_FOR = {
    (3, 0): "10.2", (3, 2): "10.2",
    (3, 5): "11.8", (3, 7): "11.8", (5, 0): "12.9", (5, 2): "12.9", (5, 3): "12.9",
    (6, 0): "12.9", (6, 1): "12.9", (6, 2): "12.9", (7, 0): "12.9", (7, 2): "12.9",
}
# The first CUDA release that builds each new arch.
_FIRST_RELEASE_FOR = {
    (8, 0): "11.0", (8, 6): "11.1", (8, 7): "11.4", (8, 9): "11.8", (9, 0): "11.8",
    (10, 0): "12.8", (10, 1): "12.8", (10, 3): "12.9", (11, 0): "13.0", (12, 0): "12.8",
    (12, 1): "12.9", (7, 5): "10.0", (8, 8): "13.0",
}

_ENTRY = re.compile(r"^(\d+)\.(\d+)(\+PTX)?$", re.IGNORECASE)


class ArchError(ValueError):
    """An arch list that cannot be parsed or built."""


@dataclass(frozen=True, order=True)
class Arch:
    major: int
    minor: int
    ptx: bool = False

    @property
    def sm(self) -> int:
        return self.major * 10 + self.minor

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + ("+PTX" if self.ptx else "")


def parse_arch_list(text: str) -> list[Arch]:
    """Parse ``"7.5;8.6;9.0+PTX"`` into sorted, de-duplicated :class:`Arch` entries.

    Raises :class:`ArchError` naming the bad entry for anything else (``sm_86``, ``8``, ``Ampere``).
    """
    if text is None or not text.strip():
        raise ArchError("empty GPU arch list: expected entries like '7.5;8.6;9.0+PTX'")
    merged: dict[tuple[int, int], bool] = {}
    for raw in re.split(r"[;,\s]+", text.strip()):
        if not raw:
            continue
        m = _ENTRY.match(raw)
        if not m:
            raise ArchError(
                f"unknown GPU arch {raw!r} in {text!r}: expected MAJOR.MINOR with an optional "
                "'+PTX', e.g. '7.5;8.6;9.0+PTX'")
        key = (int(m.group(1)), int(m.group(2)))
        merged[key] = merged.get(key, False) or bool(m.group(3))
    return sorted(Arch(maj, mnr, ptx) for (maj, mnr), ptx in merged.items())


def nvcc_supported_sms(nvcc: str) -> set[int]:
    """The ``sm_XY`` codes that ``nvcc --list-gpu-code`` says this toolkit can build."""
    try:
        out = subprocess.run([nvcc, "--list-gpu-code"], check=True, capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ArchError(f"could not ask {nvcc} which GPU archs it builds: {exc}") from exc
    return parse_gpu_code_list(out)


def parse_gpu_code_list(text: str) -> set[int]:
    """``sm_75\\nsm_80\\n...`` → ``{75, 80, ...}`` (family-specific ``sm_90a`` entries are ignored)."""
    return {int(m.group(1)) for m in re.finditer(r"\bsm_(\d+)\b", text)}


def release_hint(arch: Arch, newest: int) -> str:
    """Which CUDA release can build ``arch``, given that the toolkit at hand tops out at ``newest``."""
    key = (arch.major, arch.minor)
    if key not in _LAST_RELEASE_FOR and key not in _FIRST_RELEASE_FOR:
        return ("no CUDA release geomaug knows of builds it: not a GPU arch? (e.g. 8.6 is RTX 30xx, "
                "see the README's fleet table)")
    if arch.sm <= newest:
        last = _LAST_RELEASE_FOR.get(key)
        return f"CUDA {last} or older builds it" if last else "an older CUDA release builds it"
    first = _FIRST_RELEASE_FOR.get(key)
    return f"CUDA {first} or newer builds it" if first else "a newer CUDA release builds it"


def select_archs(requested: list[Arch], supported: set[int], explicit: bool
                 ) -> tuple[list[Arch], list[Arch]]:
    """Intersect ``requested`` with what the toolkit builds.

    Returns ``(kept, dropped)``.  When ``explicit`` (the user named the list), any arch the toolkit
    cannot build raises :class:`ArchError` naming it and a CUDA release that can.  For the default
    list the unbuildable archs are dropped; a ``+PTX`` on a dropped arch moves to the highest kept one.
    """
    newest = max(supported) if supported else 0
    kept = [a for a in requested if a.sm in supported]
    dropped = [a for a in requested if a.sm not in supported]
    if explicit and dropped:
        lines = [f"  {a}: {release_hint(a, newest)}" for a in dropped]
        raise ArchError(
            "GEOMAUG_CUDA_ARCH_LIST asks for GPU archs this CUDA toolkit cannot build "
            f"(it builds sm_{min(supported)}..sm_{newest}):\n" + "\n".join(lines)
            + "\nRemove them, or build with a CUDA release that has them.")
    if not kept:
        raise ArchError(f"none of the GPU archs {' '.join(map(str, requested))} can be built by "
                        f"this toolkit (it builds sm_{min(supported, default=0)}..sm_{newest})")
    if any(a.ptx for a in dropped) and not any(a.ptx for a in kept):
        top = kept[-1]
        kept[-1] = Arch(top.major, top.minor, True)
    return kept, dropped


def gencode_flags(archs: list[Arch]) -> list[str]:
    """One ``-gencode`` per SASS target, plus ``code=compute_XY`` for each ``+PTX`` entry."""
    flags = [f"-gencode=arch=compute_{a.sm},code=sm_{a.sm}" for a in archs]
    flags += [f"-gencode=arch=compute_{a.sm},code=compute_{a.sm}" for a in archs if a.ptx]
    return flags


def format_arch_list(archs: list[Arch]) -> str:
    return ";".join(str(a) for a in archs)


def device_is_covered(capability: tuple[int, int], archs: list[Arch]) -> bool:
    """Whether a GPU of ``capability`` can run a binary built for ``archs``.

    SASS for ``sm_XY`` runs on devices of the same major version and minor ≥ Y; PTX for
    ``compute_XY`` is JIT-compiled by the driver for any device of capability ≥ XY.
    """
    major, minor = capability
    for a in archs:
        if a.major == major and a.minor <= minor:
            return True
        if a.ptx and a.sm <= major * 10 + minor:
            return True
    return False


def find_cuobjdump() -> str | None:
    """A ``cuobjdump``: the one inside torch's ``triton`` package, else the toolkit's on PATH."""
    try:
        import triton
        tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
        if tool.is_file():
            return str(tool)
    except ImportError:
        pass
    return shutil.which("cuobjdump")
