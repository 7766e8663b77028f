"""Which implementation runs an op: the compiled extension or the PyTorch path.

Per op and device: the extension when it is loaded and can run there, else the PyTorch path, with
one warning that says why.  ``GEOMAUG_BACKEND=auto|ext|torch`` forces the choice (``ext`` raises
when the extension cannot run).  Within the extension, PyTorch's dispatcher picks the CPU or CUDA
kernel; this module only decides whether the extension is usable at all.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import _arch, _version

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_DIR = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "setup.py").is_file() else None


class GeomaugWarning(UserWarning):
    """geomaug runs, but not as well as it could (e.g. on the PyTorch path instead of its kernels)."""


@dataclass
class _Extension:
    module: object | None = None
    build_info: dict = field(default_factory=dict)
    reason: str = ""  # why the extension is not loaded
    warned: set = field(default_factory=set)
    cuda_devices: dict = field(default_factory=dict)  # device index -> reason ("" = usable)


_ext: _Extension | None = None


def _cuda_major(version: str | None) -> str | None:
    return version.split(".")[0] if version else None


def version_mismatch(build_info: dict) -> str:
    """Why a build for another torch minor, or for another CUDA major than the running torch's,
    cannot load here ("" when it fits), naming the wheel label that would fit."""
    built = str(build_info.get("torch_version", "?"))
    built_cuda = build_info.get("torch_cuda") if build_info.get("cuda") else None
    running, running_cuda = torch.__version__, torch.version.cuda
    try:
        same_torch = _version.torch_minor(built) == _version.torch_minor(running)
        label = build_info.get("label") or _version.local_label(built, built_cuda)
    except ValueError:
        same_torch, label = False, "unknown label"
    same_cuda = built_cuda is None or _cuda_major(built_cuda) == _cuda_major(running_cuda)
    if same_torch and same_cuda:
        return ""
    fits = _version.local_label(running, running_cuda)
    if not same_torch:
        what = f"built against torch {built} (+{label}) but torch {running} is running"
    elif running_cuda is None:
        what = (f"built with CUDA {built_cuda} kernels (+{label}) but torch {running} has no CUDA")
    else:
        what = (f"built with CUDA {built_cuda} kernels (+{label}) but torch {running} runs CUDA "
                f"{running_cuda}; the CUDA major versions must match")
    cpu = "" if running_cuda is None else f" (or +{_version.local_label(running, None)}: CPU kernels only)"
    return (f"geomaug._C was {what}; install the geomaug wheel labelled +{fits}{cpu}, or rebuild: "
            f"{rebuild_command()}")


def extension() -> _Extension:
    """Load ``geomaug._C`` once; never raises (a failure is recorded in ``.reason``)."""
    global _ext
    if _ext is not None:
        return _ext
    _ext = _Extension()
    info_path = PACKAGE_DIR / "_build_info.json"
    try:
        _ext.build_info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        _ext.reason = ("the extension geomaug._C is not built "
                       f"({'run `make build`' if SOURCE_DIR else 'reinstall geomaug'} to build it)")
        return _ext
    _ext.reason = version_mismatch(_ext.build_info)
    if _ext.reason:
        return _ext
    try:
        from . import _C  # noqa: F401  (registers torch.ops.geomaug.*)
    except (ImportError, OSError) as exc:
        _ext.reason = f"geomaug._C could not be loaded: {exc}"
        return _ext
    _ext.module = _C
    return _ext


def mark_stale(missing_ops: list[str]) -> None:
    """The loaded geomaug._C lacks ops this Python package calls (built from older sources):
    run everything on the PyTorch path, and say how to rebuild."""
    ext = extension()
    ext.module = None
    ext.reason = (f"geomaug._C is out of date: it lacks the op(s) {', '.join(missing_ops)} "
                  f"(built from older sources); rebuild it: "
                  f"{'make build' if SOURCE_DIR else rebuild_command()}")


def compiled_archs() -> list[_arch.Arch]:
    text = extension().build_info.get("arch_list", "")
    return _arch.parse_arch_list(text) if text else []


def rebuild_command(arch_list: str | None = None) -> str:
    env = f"GEOMAUG_CUDA_ARCH_LIST='{arch_list}' " if arch_list else ""
    target = str(SOURCE_DIR) if SOURCE_DIR else "geomaug"
    return f"{env}pip install --no-build-isolation --no-deps --force-reinstall {target}"


def _device_capability(index: int) -> tuple[int, int]:
    return torch.cuda.get_device_capability(index)


def _probe(index: int) -> tuple[int, str]:
    code, message, _, _ = extension().module.cuda_probe(index)
    return code, message


def cuda_reason(device: torch.device) -> str:
    """Why the extension cannot run on this CUDA device ("" when it can); cached per device."""
    ext = extension()
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index in ext.cuda_devices:
        return ext.cuda_devices[index]
    if ext.module is None:
        reason = ext.reason
    elif not ext.build_info.get("cuda"):
        reason = ("geomaug._C was built without CUDA kernels (no CUDA toolkit or CUDA torch at "
                  f"build time); rebuild with a toolkit: {rebuild_command()}")
    else:
        cap = _device_capability(index)
        archs = compiled_archs()
        if not _arch.device_is_covered(cap, archs):
            sass = " ".join(f"sm_{a.sm}" for a in archs) or "none"
            ptx = " ".join(f"compute_{a.sm}" for a in archs if a.ptx) or "none"
            name = torch.cuda.get_device_name(index)
            wanted = _arch.format_arch_list(archs + [_arch.Arch(*cap)])
            reason = (f"GPU {index} ({name}) is sm_{cap[0]}{cap[1]}, which geomaug's compiled "
                      f"kernels do not cover (SASS: {sass}; PTX: {ptx}); rebuild for it with: "
                      f"{rebuild_command(wanted)}")
        else:
            code, message = _probe(index)
            reason = "" if code == 0 else (
                f"geomaug's probe kernel failed on GPU {index}: {message}; rebuild with: "
                f"{rebuild_command(_arch.format_arch_list(archs + [_arch.Arch(*cap)]))}")
    ext.cuda_devices[index] = reason
    return reason


MODES = ("auto", "ext", "torch")


class BackendSettingError(ValueError):
    """The environment variable GEOMAUG_BACKEND holds a value geomaug does not know."""


_VAR = "GEOMAUG_BACKEND"
_KEY = os.environ.encodekey(_VAR)


def _setting() -> str:
    """GEOMAUG_BACKEND's value ("" when unset), read on every call.  ``os.environ.get`` raises and
    catches two KeyErrors when the variable is unset (the usual case), several microseconds per
    op call: its dict is read directly where it has one (CPython's ``os.environ`` does)."""
    env = os.environ
    data = getattr(env, "_data", None)
    if not isinstance(data, dict):
        return env.get(_VAR, "")
    value = data.get(_KEY)
    return "" if value is None else env.decodevalue(value)


def mode() -> str:
    """The backend setting: GEOMAUG_BACKEND (``auto`` when unset or empty); raises
    :class:`BackendSettingError` naming the allowed values for anything else."""
    raw = _setting()
    value = raw.strip().lower() or "auto"
    if value not in MODES:
        raise BackendSettingError(
            f"environment variable GEOMAUG_BACKEND must be one of {', '.join(MODES)} (or unset), "
            f"got {raw!r}")
    return value


def unavailable_reason(device: torch.device) -> str:
    """Why the extension cannot run ops on ``device`` ("" when it can)."""
    ext = extension()
    if ext.module is None:
        return ext.reason
    if device.type == "cpu":
        return ""
    if device.type == "cuda":
        return cuda_reason(device)
    return f"geomaug has no kernels for {device.type} tensors"


def use_extension(op: str, device: torch.device) -> bool:
    """True to run ``op`` through ``torch.ops.geomaug``, False for the PyTorch path."""
    chosen = mode()
    if chosen == "torch":
        return False
    if not isinstance(device, torch.device):
        device = torch.device(device)
    reason = unavailable_reason(device)
    if not reason:
        return True
    if chosen == "ext":
        raise RuntimeError(f"GEOMAUG_BACKEND=ext but geomaug.{op} cannot use its kernels: {reason}")
    key = (torch.device(device).type, reason)
    ext = extension()
    if key not in ext.warned:
        ext.warned.add(key)
        warnings.warn(f"geomaug uses its PyTorch path: {reason}", GeomaugWarning, stacklevel=3)
    return False


def backend_name(op: str, device: torch.device) -> str:
    """'ext' or 'torch' for ``op`` on ``device``, without warning (for ``geomaug info``)."""
    if mode() == "torch":
        return "torch (GEOMAUG_BACKEND=torch)"
    reason = unavailable_reason(torch.device(device))
    return "ext" if not reason else f"torch ({reason})"


def _reset_for_tests() -> None:
    """Forget the loaded state (tests that simulate devices or missing builds use this)."""
    global _ext
    _ext = None
