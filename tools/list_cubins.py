"""List the SASS and PTX inside a built geomaug (a wheel or the in-place extension) with cuobjdump,
and check them against the arch list it was built for: `python tools/list_cubins.py [WHEEL]`."""
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from geomaug._arch import find_cuobjdump, parse_arch_list  # noqa: E402


def main(argv):
    with tempfile.TemporaryDirectory() as tmp:
        if argv:
            with zipfile.ZipFile(argv[0]) as z:
                z.extractall(tmp)
            pkg = Path(tmp) / "geomaug"
        else:
            pkg = ROOT / "geomaug"
        so = next(pkg.glob("_C*.so"))
        info = json.loads((pkg / "_build_info.json").read_text())
        tool = find_cuobjdump()
        if tool is None:
            sys.exit("cuobjdump not found (it ships inside the triton package, or with the CUDA toolkit)")
        elf = subprocess.run([tool, "--list-elf", str(so)], capture_output=True, text=True).stdout
        ptx = subprocess.run([tool, "--list-ptx", str(so)], capture_output=True, text=True).stdout
    print(elf + ptx)
    archs = parse_arch_list(info["arch_list"]) if info.get("arch_list") else []
    missing = [f"sm_{a.sm}" for a in archs if f".sm_{a.sm}.cubin" not in elf]
    missing += [f"compute_{a.sm} (PTX)" for a in archs if a.ptx and f".sm_{a.sm}.ptx" not in ptx]
    print(f"built for {info.get('arch_list', 'no CUDA')}: "
          + ("all present" if not missing else "MISSING " + ", ".join(missing)))
    return 1 if missing or not archs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
