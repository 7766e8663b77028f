"""geomaug as a fleet gets it: sdist → wheel → installed outside the checkout → imported and run.

One sdist is built from the checkout, one wheel from that sdist (CUDA 7.5 only when torch has CUDA
and a toolkit is found, to keep it to a few minutes), installed with ``pip install --target`` into
a fresh directory, and run from another directory with only that target on ``PYTHONPATH``.  The
checks: what the sdist and wheel hold, the wheel's name (version with its build label), the SASS /
PTX inside (cuobjdump), the libraries it needs (auditwheel), and that the installed package loads
its kernels, warps, aligns, crops and finds its data.

Slow (a clean build), so it runs once per CI run: in the kernels pass of ``make test``; the
GEOMAUG_BACKEND=torch and GEOMAUG_NO_EXT=1 passes skip it (reason printed by ``-ra``).
``-m 'not wheel'`` skips it when iterating.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from geomaug import _arch, _version

ROOT = Path(__file__).resolve().parents[1]
ARCH = "7.5"  # one arch: the test checks the build, not the fleet's coverage

pytestmark = [pytest.mark.wheel, pytest.mark.skipif(
    os.environ.get("GEOMAUG_BACKEND", "auto").strip().lower() == "torch"
    or os.environ.get("GEOMAUG_NO_EXT") == "1",
    reason="the wheel test runs once per CI run, in the kernels pass (not under "
           "GEOMAUG_BACKEND=torch or GEOMAUG_NO_EXT=1)")]


def _toolkit() -> str | None:
    for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if home and (Path(home) / "bin" / "nvcc").is_file():
            return home
    return None


WITH_CUDA = bool(torch.version.cuda) and _toolkit() is not None
# The libraries geomaug._C may need: torch's (loaded by `import torch`, libgomp included: torch
# ships its own), the CUDA runtime torch depends on, and what every manylinux system has.
ALLOWED_LIBS = re.compile(r"^(libc10(_cuda)?\.so|libtorch(_cpu|_cuda|_python)?\.so|libgomp\.so\.1|"
                          r"libcudart\.so\.\d+|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libm\.so\.6|"
                          r"libc\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|"
                          r"ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$")


def _run(cmd, cwd, env=None, timeout=1800):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout


def _build_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOMAUG_")}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """sdist and wheel (built from the sdist) in a directory outside the checkout, installed."""
    import build  # noqa: F401  (the test extra installs it; a clear ImportError otherwise)

    work = tmp_path_factory.mktemp("wheel")
    dist, target, elsewhere = work / "dist", work / "site", work / "elsewhere"
    elsewhere.mkdir()
    _run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(dist), str(ROOT)],
         cwd=work, env=_build_env())
    sdist, = dist.glob("geomaug-*.tar.gz")
    env = _build_env(GEOMAUG_CUDA_ARCH_LIST=ARCH, GEOMAUG_LOCAL_VERSION="1")
    if WITH_CUDA:
        env.update(GEOMAUG_FORCE_CUDA="1", CUDA_HOME=_toolkit())
    log = _run([sys.executable, "-m", "pip", "wheel", "-v", "--no-build-isolation", "--no-deps",
                "-w", str(dist), str(sdist)], cwd=work, env=env)
    wheel, = dist.glob("geomaug-*.whl")
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
          str(wheel)], cwd=work, env=_build_env())
    run_env = _build_env(PYTHONPATH=str(target))
    return {"sdist": sdist, "wheel": wheel, "target": target, "cwd": elsewhere, "env": run_env,
            "log": log}


def _names(archive: Path) -> set[str]:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return set(z.namelist())
    with tarfile.open(archive) as t:
        return {n.split("/", 1)[1] for n in t.getnames() if "/" in n}


def test_sdist_holds_what_a_build_needs(built):
    sdist = built["sdist"]
    assert sdist.name == f"geomaug-{_version.VERSION}.tar.gz"  # source: no build label
    names = _names(sdist)
    needed = {str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*") if p.is_file()}
    needed |= {str(p.relative_to(ROOT)) for p in (ROOT / "geomaug").rglob("*.py")}
    needed |= {"docs/conventions.md", "setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "PKG-INFO",
               "geomaug/_arch.py", "geomaug/_version.py", "geomaug/data/astronaut.png"}
    assert not needed - names, f"missing from the sdist: {sorted(needed - names)}"
    leftovers = [n for n in names if n.endswith((".so", ".o", ".pyc")) or n.endswith("_build_info.json")]
    assert not leftovers, f"build leftovers in the sdist: {leftovers}"


def test_wheel_name_says_what_it_needs(built):
    label = _version.local_label(torch.__version__, torch.version.cuda if WITH_CUDA else None)
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert re.fullmatch(rf"geomaug-{re.escape(_version.VERSION)}\+{label}-{tag}-{tag}-linux_\w+\.whl",
                        built["wheel"].name), built["wheel"].name
    assert ("cu" in label) == WITH_CUDA


def test_wheel_holds_the_package_and_its_data(built):
    names = _names(built["wheel"])
    needed = {str(p.relative_to(ROOT)) for p in (ROOT / "geomaug").rglob("*.py")}  # subpackages too
    needed |= {"geomaug/_build_info.json", "geomaug/data/astronaut.png"}
    assert not needed - names, f"missing from the wheel: {sorted(needed - names)}"
    assert [n for n in names if re.fullmatch(r"geomaug/_C\..*\.so", n)], sorted(names)
    assert not [n for n in names if n.startswith(("csrc/", "tests/", "benchmarks/"))]
    with zipfile.ZipFile(built["wheel"]) as z:
        info = json.loads(z.read("geomaug/_build_info.json"))
    assert info["version"] == built["wheel"].name.split("-")[1]
    assert info["cuda"] == WITH_CUDA
    if WITH_CUDA:
        assert info["arch_list"] == ARCH


def test_wheel_has_exactly_the_requested_arch(built):
    if not WITH_CUDA:
        pytest.skip("CPU-only wheel (torch without CUDA, or no CUDA toolkit): no cubins")
    if _arch.find_cuobjdump() is None:
        pytest.skip("no cuobjdump (neither in triton nor in the toolkit)")
    out = _run([sys.executable, str(ROOT / "tools" / "list_cubins.py"), str(built["wheel"])],
               cwd=built["cwd"])
    cubins = sorted(re.findall(r"\b(\w+\.sm_\d+\.cubin)\b", out))
    units = sorted(p.stem for p in (ROOT / "csrc" / "cuda").glob("*.cu"))
    assert cubins == [f"{u}.sm_75.cubin" for u in units], out  # each source: sm_75, nothing else
    assert not re.findall(r"\.ptx\b", out.split("ELF file")[-1]), out  # 7.5 without +PTX: no PTX
    assert f"built for {ARCH}: exactly these" in out


def test_wheel_needs_only_torch_and_cuda_runtime_libraries(built):
    """auditwheel's view, and the extension's DT_NEEDED entries checked one by one."""
    if shutil.which("auditwheel", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("auditwheel is not installed (the test extra has it on Linux)")
    auditwheel = str(Path(sys.executable).parent / "auditwheel")
    shown = subprocess.run([auditwheel, "show", str(built["wheel"])], capture_output=True, text=True)
    report = shown.stdout + shown.stderr
    from elftools.elf.dynamic import DynamicSection  # auditwheel's dependency
    from elftools.elf.elffile import ELFFile

    so, = built["target"].glob("geomaug/_C*.so")
    with open(so, "rb") as f:
        needed = {t.needed for s in ELFFile(f).iter_sections() if isinstance(s, DynamicSection)
                  for t in s.iter_tags() if t.entry.d_tag == "DT_NEEDED"}
    assert needed, f"no DT_NEEDED in {so}?"
    assert {n for n in needed if not ALLOWED_LIBS.match(n)} == set(), (needed, report)
    assert ("libcudart.so" in " ".join(needed)) == WITH_CUDA
    with open(so, "rb") as f:  # setup.py strips host debug info from a wheel's binary
        assert ELFFile(f).get_section_by_name(".debug_info") is None
    # Every library auditwheel names as external is one of those.
    for lib in re.findall(r"\b(lib[\w+.-]+\.so[\w.]*)", report):
        assert ALLOWED_LIBS.match(lib), f"auditwheel names {lib}:\n{report}"


CHECK = r"""
import json, sys
from pathlib import Path
import numpy as np, torch, geomaug
from geomaug import _backend
target, root = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
assert Path(geomaug.__file__).resolve().is_relative_to(target), geomaug.__file__
assert not [p for p in sys.path if p and Path(p).resolve() == root], sys.path
ext = _backend.extension()
assert ext.module is not None, ext.reason
torch.manual_seed(int(sys.argv[3]))
img = torch.randint(0, 256, (2, 3, 37, 53), dtype=torch.uint8)
shift = torch.eye(3).repeat(2, 1, 1); shift[:, 0, 2] = 1.0
out = geomaug.warp(img, shift, (37, 53), interpolation="nearest", fill=0)
assert torch.equal(out[..., 1:], img[..., :-1]) and not out[..., 0].any()
src = torch.randn(4, 9, 3, dtype=torch.float64)
a = geomaug.estimate(src, 2.5 * src + 1.0, "similarity")
torch.testing.assert_close(a.s, torch.full((4,), 2.5, dtype=torch.float64))
from geomaug import demo
photo, crop, al = demo.run()
assert photo.shape == (512, 512, 3) and tuple(crop.shape) == (3, 112, 112) and bool(al.valid)
import os; os.environ["GEOMAUG_BACKEND"] = "torch"  # the installed kernels agree with the reference
_, crop_ref, al_ref = demo.run()
torch.testing.assert_close(al.matrix, al_ref.matrix, rtol=1e-5, atol=1e-4)
assert (crop.int() - crop_ref.int()).abs().max() <= 1
print(json.dumps({"version": geomaug.__version__, "rmse": float(al.rmse), "file": geomaug.__file__}))
"""


def test_installed_wheel_runs_outside_the_checkout(built, rng):
    check = built["cwd"] / "check.py"
    check.write_text(CHECK)
    out = _run([sys.executable, "-P", str(check), str(built["target"]), str(ROOT),
                str(int(rng.integers(2**31)))], cwd=built["cwd"], env=built["env"])
    result = json.loads(out.strip().splitlines()[-1])
    assert result["version"] == built["wheel"].name.split("-")[1]  # __version__ carries the label
    assert 0 < result["rmse"] < 5.0, result  # hand-placed landmarks vs the template: ~3.5 px
    info = json.loads(_run([sys.executable, "-P", "-m", "geomaug", "info", "--json"],
                           cwd=built["cwd"], env=built["env"]))
    assert info["geomaug"] == result["version"] and info["torch"] == torch.__version__
    assert info["extension"]["loaded"], info["extension"]
    assert info["extension"]["sass"] == (["sm_75"] if WITH_CUDA else [])
    assert info["ops"]["warp"]["cpu"] == "ext" and info["ops"]["align"]["cpu"] == "ext"
    text = _run([sys.executable, "-P", "-m", "geomaug", "info"], cwd=built["cwd"], env=built["env"])
    assert f"geomaug {result['version']}" in text and "backend (GEOMAUG_BACKEND=" in text
