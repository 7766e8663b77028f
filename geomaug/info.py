"""What geomaug was built with, what runs it now, and which backend each op uses."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess

import torch

from . import _arch, _backend, _ops


def _nvcc_now() -> str | None:
    nvcc = shutil.which("nvcc")
    if not nvcc:
        return None
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if "release" in line:
            return line.split("release")[-1].split(",")[0].strip()
    return None


def _cpu_isa(module) -> dict:
    """The CPU kernels' variants this CPU runs and the one each op runs under GEOMAUG_CPU_ISA now
    (or the error that value gives)."""
    d = {"variants": module.cpu_isas().split(","),
         "GEOMAUG_CPU_ISA": os.environ.get("GEOMAUG_CPU_ISA")}
    try:
        d["ops"] = {op: module.cpu_isa(op) for op in ("warp", "augment")}
    except ValueError as exc:
        d["error"] = str(exc)
    return d


def collect() -> dict:
    from . import __version__

    ext = _backend.extension()
    build = dict(ext.build_info)
    archs = _backend.compiled_archs() if ext.module is not None else []
    info = {
        "geomaug": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "nvcc_now": _nvcc_now(),
        "backend_mode": _backend.mode(),
        "extension": {
            "loaded": ext.module is not None,
            "reason": ext.reason,
            "built_with_torch": build.get("torch_version"),
            "built_with_cuda_kernels": bool(build.get("cuda")),
            "built_with_nvcc": build.get("nvcc_version"),
            "sass": [f"sm_{a.sm}" for a in archs],
            "ptx": [f"compute_{a.sm}" for a in archs if a.ptx],
            "dropped_archs": build.get("dropped_archs", []),
        },
        "gpus": [],
        "ops": {},
    }
    if ext.module is not None:
        info["cpu_isa"] = _cpu_isa(ext.module)
        recorded = ext.module.build_info()
        info["extension"]["cuda_arch_list_macro"] = recorded.get("cuda_arch_list_macro")
        info["extension"]["recorded_arch_list"] = recorded.get("arch_list", "").replace("-", ";")
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            cap = torch.cuda.get_device_capability(i)
            gpu = {"index": i, "name": torch.cuda.get_device_name(i), "capability": f"{cap[0]}.{cap[1]}",
                   "covered_by_build": _arch.device_is_covered(cap, archs)}
            if ext.module is not None and build.get("cuda"):
                code, message, binary, ptx = ext.module.cuda_probe(i)
                gpu["probe"] = message
                gpu["probe_binary_version"] = binary
                gpu["probe_ptx_version"] = ptx
            info["gpus"].append(gpu)
            devices.append(torch.device("cuda", i))
    for op in _ops.KERNELS:
        info["ops"][op] = {str(d): _backend.backend_name(op, d) for d in devices}
    return info


def main(as_json: bool = False) -> int:
    info = collect()
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    ext = info["extension"]
    print(f"geomaug {info['geomaug']}  (python {info['python']}, torch {info['torch']}, "
          f"torch CUDA {info['torch_cuda'] or 'none'}, nvcc now {info['nvcc_now'] or 'not found'})")
    if ext["loaded"]:
        print(f"extension: loaded; built with torch {ext['built_with_torch']}, "
              + (f"CUDA kernels by nvcc {ext['built_with_nvcc']}" if ext["built_with_cuda_kernels"]
                 else "CPU kernels only"))
        if ext["built_with_cuda_kernels"]:
            print(f"  SASS: {' '.join(ext['sass'])}")
            print(f"  PTX:  {' '.join(ext['ptx']) or 'none'}")
            print(f"  __CUDA_ARCH_LIST__ in the binary: {ext.get('cuda_arch_list_macro')}")
            if ext["dropped_archs"]:
                print(f"  dropped at build (toolkit cannot build them): {' '.join(ext['dropped_archs'])}")
        isa = info["cpu_isa"]
        chosen = (", ".join(f"{op} {v}" for op, v in isa["ops"].items()) if "ops" in isa
                  else f"ERROR: {isa['error']}")
        print(f"  CPU variants: {','.join(isa['variants'])}; "
              f"GEOMAUG_CPU_ISA={isa['GEOMAUG_CPU_ISA'] or 'auto'}: {chosen}")
    else:
        print(f"extension: NOT loaded: {ext['reason']}")
    if not info["gpus"]:
        print("GPU: none visible")
    for gpu in info["gpus"]:
        print(f"GPU {gpu['index']}: {gpu['name']}, sm_{gpu['capability'].replace('.', '')}, "
              f"{'covered' if gpu['covered_by_build'] else 'NOT covered'} by the build"
              + (f"; probe kernel: {gpu['probe']} (binary {gpu['probe_binary_version']}, "
                 f"ptx {gpu['probe_ptx_version']})" if "probe" in gpu else ""))
    print(f"backend (GEOMAUG_BACKEND={info['backend_mode']}):")
    for op, per_device in info["ops"].items():
        for device, name in per_device.items():
            print(f"  {op:<6} on {device:<7} {name}")
    return 0
