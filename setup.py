"""Builds geomaug and its extension ``geomaug._C``.

Environment:
  GEOMAUG_NO_EXT=1          no extension at all (the package runs on its PyTorch path)
  GEOMAUG_FORCE_CUDA=1      build the CUDA kernels even without a visible GPU (wheels); fail if impossible
  GEOMAUG_NO_CUDA=1         CPU kernels only, even where CUDA could be built (a +pt214cpu wheel)
  GEOMAUG_CUDA_ARCH_LIST    e.g. "7.5;8.6;9.0+PTX"; default: the list in geomaug/_arch.py, filtered by nvcc
  GEOMAUG_LOCAL_VERSION     1: the version carries the build's label (0.1.0+pt214cu130), 0: never
                            (for an index that forbids local versions); unset: label a build from
                            the checkout, not one from an sdist (pip, having found geomaug-0.1.0.tar.gz
                            on an index, rejects a build whose version differs from 0.1.0)
  CUDA_HOME                 the CUDA toolkit (else /usr/local/cuda, else where nvcc really lives)
  MAX_JOBS                  parallel compile jobs (default: all cores)
  GEOMAUG_KEEP_DEBUG=1      keep the host debug info in a wheel's _C (stripped by default)
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def _load_module(name: str, filename: str):
    """A module of the package loaded by path: importing geomaug itself would import torch."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "geomaug" / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


arch = _load_module("_geomaug_arch", "_arch.py")
versions = _load_module("_geomaug_version", "_version.py")
VERSION = versions.VERSION  # written once, in geomaug/_version.py


def fail(message: str) -> None:
    """One clear message (which, why, what to do) instead of a traceback from setuptools."""
    sys.stderr.write(f"\n*** geomaug build error: {message}\n\n")
    sys.exit(1)


def note(message: str) -> None:
    print(f"geomaug build: {message}", flush=True)


def _nvcc_from_wrapper(path: str) -> str | None:
    """The nvcc on PATH may be a shell script that execs the real one; find what it execs."""
    try:
        text = Path(path).read_text(errors="ignore")[:4096]
    except OSError:
        return None
    m = re.search(r"(/\S+/bin/nvcc)\b", text)
    return m.group(1) if m else None


DEFAULT_CUDA_HOME = "/usr/local/cuda"


def find_cuda_home() -> str | None:
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), DEFAULT_CUDA_HOME]
    nvcc = shutil.which("nvcc")
    if nvcc:
        for real in (os.path.realpath(nvcc), _nvcc_from_wrapper(nvcc)):
            if real:
                candidates.append(str(Path(os.path.realpath(real)).parent.parent))
    for c in candidates:
        if c and (Path(c) / "bin" / "nvcc").is_file():
            return str(Path(c))
    return None


def nvcc_release(nvcc: str) -> str:
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        fail(f"the CUDA toolkit's compiler {nvcc} does not run ({exc}). Fix the toolkit, point "
             "CUDA_HOME at a working one, or build without CUDA (GEOMAUG_FORCE_CUDA unset and no "
             "toolkit, or GEOMAUG_NO_EXT=1).")
    m = re.search(r"release (\d+)\.(\d+)", out)
    if not m:
        fail(f"could not read the CUDA release from `{nvcc} --version`:\n{out}")
    return f"{m.group(1)}.{m.group(2)}"


def has_cudart(cuda_home: str) -> bool:
    home = Path(cuda_home)
    return any(list(home.glob(pattern)) for pattern in
               ("lib64/libcudart.so*", "lib/libcudart.so*", "targets/*/lib/libcudart.so*"))


def plan_cuda(torch) -> dict | None:
    """Decide whether to build the CUDA kernels and for which archs; None for a CPU-only build."""
    force = os.environ.get("GEOMAUG_FORCE_CUDA", "") == "1"
    if os.environ.get("GEOMAUG_NO_CUDA", "") == "1":
        if force:
            fail("GEOMAUG_FORCE_CUDA=1 and GEOMAUG_NO_CUDA=1 contradict each other: unset one "
                 "(make wheel forces CUDA unless GEOMAUG_NO_CUDA=1).")
        note("GEOMAUG_NO_CUDA=1: building the CPU kernels only")
        return None
    torch_cuda = torch.version.cuda
    cuda_home = find_cuda_home()
    if not torch_cuda:
        if force:
            fail(f"GEOMAUG_FORCE_CUDA=1 but this torch ({torch.__version__}) has no CUDA support. "
                 "Install a CUDA build of torch, or drop GEOMAUG_FORCE_CUDA for a CPU-only build.")
        note(f"torch {torch.__version__} has no CUDA: building the CPU kernels only")
        return None
    if cuda_home is None:
        if force:
            fail("GEOMAUG_FORCE_CUDA=1 but no CUDA toolkit was found (looked at $CUDA_HOME, "
                 "$CUDA_PATH, /usr/local/cuda and nvcc on PATH). Set CUDA_HOME to the toolkit.")
        note("no CUDA toolkit found (set CUDA_HOME): building the CPU kernels only")
        return None
    nvcc = str(Path(cuda_home) / "bin" / "nvcc")
    release = nvcc_release(nvcc)
    if release.split(".")[0] != torch_cuda.split(".")[0]:
        msg = (f"the CUDA toolkit at {cuda_home} is CUDA {release} but torch {torch.__version__} "
               f"was built with CUDA {torch_cuda}; the major versions must match. Point CUDA_HOME "
               f"at a CUDA {torch_cuda.split('.')[0]}.x toolkit")
        if force:
            fail(msg + ".")
        note(msg + ": building the CPU kernels only")
        return None
    if not has_cudart(cuda_home):
        fail(f"the CUDA toolkit at {cuda_home} has no libcudart (looked in lib64/, lib/, "
             "targets/*/lib/). Point CUDA_HOME at a complete toolkit.")
    explicit = os.environ.get("GEOMAUG_CUDA_ARCH_LIST")
    try:
        requested = arch.parse_arch_list(explicit if explicit else arch.DEFAULT_ARCH_LIST)
        supported = arch.nvcc_supported_sms(nvcc)
        kept, dropped = arch.select_archs(requested, supported, explicit=bool(explicit))
    except arch.ArchError as exc:
        fail(str(exc))
    if dropped:
        note(f"CUDA {release} cannot build {' '.join(str(a) for a in dropped)}; dropped them from "
             f"the default list (set GEOMAUG_CUDA_ARCH_LIST to choose)")
    note(f"CUDA {release} at {cuda_home}; building for {arch.format_arch_list(kept)}")
    return {"cuda_home": cuda_home, "nvcc_version": release, "archs": kept,
            "dropped": [str(a) for a in dropped]}


def wants_local_label() -> bool:
    """Whether the distribution's version carries the build's local label (GEOMAUG_LOCAL_VERSION)."""
    value = os.environ.get("GEOMAUG_LOCAL_VERSION", "").strip()
    if value not in ("", "0", "1"):
        fail(f"GEOMAUG_LOCAL_VERSION must be 1 (version with its build label, e.g. "
             f"{VERSION}+pt214cu130), 0 (plain {VERSION}) or unset (label unless building from "
             f"an sdist), got {value!r}")
    if value:
        return value == "1"
    return not (ROOT / "PKG-INFO").is_file()  # PKG-INFO at the top: we are an unpacked sdist


def extension_setup() -> dict:
    if os.environ.get("GEOMAUG_NO_EXT", "") == "1":
        note("GEOMAUG_NO_EXT=1: no extension; geomaug will run on its PyTorch path")
        return {}
    try:
        import torch
    except ImportError:
        fail("building the extension needs torch installed first (pip install torch), and "
             "pip's --no-build-isolation so that the build sees it; or set GEOMAUG_NO_EXT=1.")
    cuda = plan_cuda(torch)
    if cuda:
        os.environ["CUDA_HOME"] = cuda["cuda_home"]  # read when cpp_extension is imported
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 1))
    # Every op brings a binding file, a CPU kernel and a CUDA kernel: found by glob, not listed.
    sources = sorted(str(p.relative_to(ROOT)) for pattern in ("csrc/bindings/*.cpp", "csrc/cpu/*.cpp")
                     for p in ROOT.glob(pattern))
    # Recent torch headers need C++20 (the kernels are C++17).  -fopenmp turns at::parallel_for
    # into torch's own OpenMP pool (the libgomp torch loads), so torch.set_num_threads applies.
    cxx = ["-O3", "-std=c++20", "-fopenmp"]
    include_dirs = [str(ROOT / "csrc" / "include")]
    label = versions.local_label(torch.__version__, torch.version.cuda if cuda else None)
    version = f"{VERSION}+{label}" if wants_local_label() else VERSION
    note(f"version {version} (label {label}; GEOMAUG_LOCAL_VERSION=0/1 drops/forces it)")
    info = {"version": version, "label": label, "torch_version": torch.__version__,
            "torch_cuda": torch.version.cuda, "cuda": bool(cuda)}
    if cuda:
        archs = cuda["archs"]
        sources += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("csrc/cuda/*.cu"))
        nvcc = ["-O3", "-std=c++17", "-lineinfo", "-DGEOMAUG_WITH_CUDA",
                # ';' would end the shell command ninja runs: encode the list with '-'
                "-DGEOMAUG_ARCH_LIST=" + arch.format_arch_list(archs).replace(";", "-"),
                *arch.gencode_flags(archs)]
        ext = CUDAExtension("geomaug._C", sources, include_dirs=include_dirs,
                            extra_compile_args={"cxx": cxx + ["-DGEOMAUG_WITH_CUDA"], "nvcc": nvcc},
                            extra_link_args=["-fopenmp"])
        info.update(nvcc_version=cuda["nvcc_version"], arch_list=arch.format_arch_list(archs),
                    dropped_archs=cuda["dropped"], gencode=arch.gencode_flags(archs))
    else:
        ext = CppExtension("geomaug._C", sources, include_dirs=include_dirs,
                           extra_compile_args={"cxx": cxx}, extra_link_args=["-fopenmp"])

    class Build(BuildExtension):
        """Also records, beside the extension it builds (in place, or in the wheel's build
        directory), what it was built for and against which torch: geomaug reads that before
        importing _C."""

        def run(self):
            super().run()
            target = ROOT / "geomaug" if self.inplace else Path(self.build_lib) / "geomaug"
            target.mkdir(parents=True, exist_ok=True)
            (target / "_build_info.json").write_text(json.dumps(info, indent=1) + "\n")
            if not self.inplace:  # a wheel: host debug info is 3/4 of the binary; the SASS stays
                strip = shutil.which("strip")
                for so in target.glob("_C*.so"):
                    if strip and os.environ.get("GEOMAUG_KEEP_DEBUG", "") != "1":
                        subprocess.run([strip, "--strip-debug", str(so)], check=True)
                        note(f"stripped host debug info from {so.name} (GEOMAUG_KEEP_DEBUG=1 keeps it)")

    return {"version": version, "ext_modules": [ext],
            "cmdclass": {"build_ext": Build.with_options(use_ninja=True)}}


if __name__ == "__main__":  # also under pip's build backend; tests import this file instead
    # An sdist is source: plain version, no torch or toolkit needed (MANIFEST.in lists its files).
    options = {} if "sdist" in sys.argv[1:] else extension_setup()
    setup(
        version=options.pop("version", VERSION),
        packages=find_packages(include=["geomaug", "geomaug.*"]),
        # What geomaug reads at run time besides its modules (tests/test_wheel.py checks them).
        package_data={"geomaug": ["data/*", "_build_info.json"]},
        **options,
    )
