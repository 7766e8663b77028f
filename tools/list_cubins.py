"""List the SASS and PTX inside a built geomaug (wheels, or the in-place extension) with cuobjdump,
and check them against the arch list it was built for: exactly those, nothing missing, nothing more.

    python tools/list_cubins.py [WHEEL ...]

Exit status 0 when every wheel holds exactly its recorded archs (a CPU-only build passes with a
note), 1 otherwise.  cuobjdump comes from the CUDA toolkit or the triton package.
"""
import importlib.util
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# geomaug/_arch.py by path: importing geomaug would import torch and the checkout's package.
_spec = importlib.util.spec_from_file_location("_geomaug_arch", ROOT / "geomaug" / "_arch.py")
_arch = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _arch
_spec.loader.exec_module(_arch)

def check_package(pkg: Path, name: str) -> int:
    sos = sorted(pkg.glob("_C*.so"))
    if not sos:
        print(f"{name}: no geomaug/_C*.so (built with GEOMAUG_NO_EXT=1?)")
        return 1
    info = json.loads((pkg / "_build_info.json").read_text())
    print(f"{name}: version {info.get('version')}, torch {info.get('torch_version')}")
    if not info.get("cuda"):
        print(f"{name}: CPU kernels only (no CUDA at build time): nothing to list")
        return 0
    tool = _arch.find_cuobjdump()
    if tool is None:
        sys.exit("cuobjdump not found (it ships inside the triton package, or with the CUDA toolkit)")
    elf = subprocess.run([tool, "--list-elf", str(sos[0])], capture_output=True, text=True).stdout
    ptx = subprocess.run([tool, "--list-ptx", str(sos[0])], capture_output=True, text=True).stdout
    print(elf + ptx)
    archs = _arch.parse_arch_list(info["arch_list"]) if info.get("arch_list") else []
    found_elf = {line.split()[-1] for line in elf.splitlines() if ".cubin" in line}
    found_ptx = {line.split()[-1] for line in ptx.splitlines() if ".ptx" in line}
    # Each CUDA source (warp_cuda.cu, ...) must hold SASS for every arch, PTX for each +PTX one.
    units = {name.split(".sm_")[0] for name in found_elf | found_ptx}
    wanted_elf = {f"{u}.sm_{a.sm}.cubin" for u in units for a in archs}
    wanted_ptx = {f"{u}.sm_{a.sm}.ptx" for u in units for a in archs if a.ptx}
    missing = sorted((wanted_elf - found_elf) | (wanted_ptx - found_ptx))
    extra = sorted((found_elf - wanted_elf) | (found_ptx - wanted_ptx))
    verdict = "exactly these" if not missing and not extra else (
        ("MISSING " + ", ".join(missing) if missing else "")
        + ("; " if missing and extra else "") + ("EXTRA " + ", ".join(extra) if extra else ""))
    print(f"{name}: built for {info.get('arch_list') or 'no archs'}: {verdict}")
    return 1 if missing or extra or not archs or not units else 0


def main(argv):
    if not argv:
        return check_package(ROOT / "geomaug", "in place")
    status = 0
    for wheel in argv:
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(wheel) as z:
                z.extractall(tmp)
            status |= check_package(Path(tmp) / "geomaug", Path(wheel).name)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
