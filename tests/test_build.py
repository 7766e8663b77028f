"""The built extension: archs really embedded (cuobjdump), build-time errors, `geomaug info`."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from geomaug import _arch, _backend
from conftest import EXT_HAS_CUDA, EXT_LOADED

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not EXT_HAS_CUDA, reason="the extension was built without CUDA kernels")
def test_every_requested_arch_is_embedded():
    tool = _arch.find_cuobjdump()
    if tool is None:
        pytest.skip("no cuobjdump (neither in triton nor on PATH)")
    so = Path(_backend.extension().module.__file__)
    elf = subprocess.run([tool, "--list-elf", str(so)], capture_output=True, text=True, check=True).stdout
    ptx = subprocess.run([tool, "--list-ptx", str(so)], capture_output=True, text=True, check=True).stdout
    archs = _backend.compiled_archs()
    assert archs, "build info lists no archs"
    units = sorted(p.stem for p in (ROOT / "csrc" / "cuda").glob("*.cu"))  # every CUDA file
    for unit in units:
        for a in archs:
            assert f"{unit}.sm_{a.sm}.cubin" in elf, f"{unit}: no SASS for sm_{a.sm}:\n{elf}"
            assert (f"{unit}.sm_{a.sm}.ptx" in ptx) == a.ptx, f"{unit}: PTX for {a} wrong:\n{ptx}"
    # Nothing beyond what was asked for.
    assert elf.count(".cubin") == len(units) * len(archs)
    # What the binary recorded at compile time agrees.
    recorded = _backend.extension().module.build_info()
    assert recorded["cuda_arch_list_macro"] == ",".join(f"{a.sm}0" for a in archs)
    assert recorded["arch_list"].replace("-", ";") == _arch.format_arch_list(archs)


@pytest.mark.skipif(not EXT_HAS_CUDA, reason="the extension was built without CUDA kernels")
def test_default_build_on_cuda13_covers_turing_to_hopper():
    info = _backend.extension().build_info
    if os.environ.get("GEOMAUG_CUDA_ARCH_LIST") or info.get("nvcc_version") != "13.0":
        pytest.skip("not a default-arch CUDA 13.0 build")
    assert info["arch_list"] == "7.5;8.0;8.6;8.9;9.0+PTX"
    assert info["dropped_archs"] == ["3.5", "5.0", "6.0", "7.0"]


@pytest.fixture
def setup_module(monkeypatch):
    """setup.py imported as a module (its setup() call only runs as a script)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("geomaug_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for key in [k for k in os.environ if k.startswith("GEOMAUG_") or k in ("CUDA_HOME", "CUDA_PATH")]:
        monkeypatch.delenv(key)
    return module


def _fake_torch(cuda):
    from types import SimpleNamespace
    return SimpleNamespace(__version__="2.4.0", version=SimpleNamespace(cuda=cuda))


def _fails_with(capsys, fn, *args):
    with pytest.raises(SystemExit):
        fn(*args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_setup_force_cuda_with_cpu_torch_fails_clearly(setup_module, monkeypatch, capsys):
    monkeypatch.setenv("GEOMAUG_FORCE_CUDA", "1")
    err = _fails_with(capsys, setup_module.plan_cuda, _fake_torch(None))
    assert "GEOMAUG_FORCE_CUDA=1 but this torch (2.4.0) has no CUDA support" in err


def test_setup_cpu_torch_builds_cpu_only(setup_module):
    assert setup_module.plan_cuda(_fake_torch(None)) is None


def test_setup_force_cuda_without_toolkit_fails_clearly(setup_module, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(setup_module, "DEFAULT_CUDA_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("GEOMAUG_FORCE_CUDA", "1")
    err = _fails_with(capsys, setup_module.plan_cuda, _fake_torch("13.0"))
    assert "no CUDA toolkit was found" in err and "CUDA_HOME" in err


def _fake_toolkit(tmp_path, release, script_body=None):
    home = tmp_path / f"cuda-{release}"
    (home / "bin").mkdir(parents=True)
    (home / "lib64").mkdir()
    (home / "lib64" / "libcudart.so").write_text("")
    nvcc = home / "bin" / "nvcc"
    nvcc.write_text(script_body or f"""#!/bin/sh
case "$1" in
  --version) echo "Cuda compilation tools, release {release}, V{release}.0";;
  --list-gpu-code) printf 'sm_75\\nsm_80\\nsm_86\\nsm_89\\nsm_90\\nsm_100\\n';;
esac
""")
    nvcc.chmod(0o755)
    return home


def test_setup_finds_toolkit_behind_an_nvcc_wrapper(setup_module, monkeypatch, tmp_path):
    home = _fake_toolkit(tmp_path, "13.0")
    wrapper_dir = tmp_path / "wrapbin"
    wrapper_dir.mkdir()
    (wrapper_dir / "nvcc").write_text(f"#!/bin/sh\nexec {home}/bin/nvcc \"$@\"\n")
    (wrapper_dir / "nvcc").chmod(0o755)
    monkeypatch.setattr(setup_module, "DEFAULT_CUDA_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", f"{wrapper_dir}:/usr/bin:/bin")
    assert setup_module.find_cuda_home() == str(home)


def test_setup_mismatched_toolkit_major(setup_module, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CUDA_HOME", str(_fake_toolkit(tmp_path, "12.4")))
    assert setup_module.plan_cuda(_fake_torch("13.0")) is None  # auto: CPU only, with a note
    assert "must match" in capsys.readouterr().out
    monkeypatch.setenv("GEOMAUG_FORCE_CUDA", "1")
    assert "CUDA 12.4 but torch 2.4.0 was built with CUDA 13.0" in _fails_with(
        capsys, setup_module.plan_cuda, _fake_torch("13.0"))


def test_setup_broken_toolkit_fails_clearly(setup_module, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CUDA_HOME", str(_fake_toolkit(tmp_path, "13.0", "#!/bin/sh\nexit 3\n")))
    err = _fails_with(capsys, setup_module.plan_cuda, _fake_torch("13.0"))
    assert "does not run" in err


def test_setup_default_and_explicit_arch_lists(setup_module, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CUDA_HOME", str(_fake_toolkit(tmp_path, "13.0")))
    plan = setup_module.plan_cuda(_fake_torch("13.0"))
    assert _arch.format_arch_list(plan["archs"]) == "7.5;8.0;8.6;8.9;9.0+PTX"
    assert "cannot build 3.5 5.0 6.0 7.0" in capsys.readouterr().out
    monkeypatch.setenv("GEOMAUG_CUDA_ARCH_LIST", "8.6;10.0+PTX")
    assert _arch.format_arch_list(setup_module.plan_cuda(_fake_torch("13.0"))["archs"]) == "8.6;10.0+PTX"
    for bad, expected in (("sm_86", "unknown GPU arch 'sm_86'"),
                          ("3.5;9.0", "3.5: CUDA 11.8 or older builds it")):
        monkeypatch.setenv("GEOMAUG_CUDA_ARCH_LIST", bad)
        assert expected in _fails_with(capsys, setup_module.plan_cuda, _fake_torch("13.0"))


def test_info_tells_the_truth():
    r = subprocess.run([sys.executable, "-m", "geomaug", "info", "--json"], capture_output=True,
                       text=True, check=True, cwd=ROOT)
    info = json.loads(r.stdout)
    import torch
    assert info["torch"] == torch.__version__
    assert info["extension"]["loaded"] == EXT_LOADED
    assert len(info["gpus"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    expected = "ext" if EXT_LOADED and os.environ.get("GEOMAUG_BACKEND", "auto") != "torch" else "torch"
    assert info["ops"]["align"]["cpu"].startswith(expected)
    if EXT_HAS_CUDA:
        archs = _backend.compiled_archs()
        assert info["extension"]["sass"] == [f"sm_{a.sm}" for a in archs]
        for gpu in info["gpus"]:
            assert gpu["probe"] == "ok" if gpu["covered_by_build"] else True
    text = subprocess.run([sys.executable, "-m", "geomaug", "info"], capture_output=True, text=True,
                          check=True, cwd=ROOT).stdout
    assert "backend (GEOMAUG_BACKEND=" in text and "align" in text


# --- versions and labels (geomaug/_version.py, setup.py, the load check in _backend.py) ---

def test_local_label_names_torch_minor_and_cuda():
    from geomaug import _version
    assert _version.local_label("2.14.1+cu130", "13.0") == "pt214cu130"
    assert _version.local_label("2.14.0", None) == "pt214cpu"
    assert _version.local_label("2.4.1+cu121", "12.1") == "pt24cu121"
    assert _version.local_label("3.0.0a0+git1234", "13.2") == "pt30cu132"
    for bad_torch, bad_cuda in (("", None), ("two.four", None), ("2.14.1", "thirteen")):
        with pytest.raises(ValueError, match="expected MAJOR.MINOR"):
            _version.local_label(bad_torch, bad_cuda)


def test_version_is_written_once():
    from geomaug import _version
    assert 'version = "' not in (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in (ROOT / "pyproject.toml").read_text()
    import re
    for path in (ROOT / "setup.py", ROOT / "geomaug" / "__init__.py"):  # no version literal set there
        assert not re.search(r"(VERSION|__version__|version)\s*=\s*[\"']\d", path.read_text()), path
    import geomaug
    assert geomaug.__version__.split("+")[0] == _version.VERSION


def test_installed_version_reads_the_build_info(monkeypatch, tmp_path):
    from geomaug import _version
    fake = tmp_path / "_version.py"
    fake.write_text("")
    monkeypatch.setattr(_version, "__file__", str(fake))
    assert _version.installed_version() == _version.VERSION  # no build info: plain
    (tmp_path / "_build_info.json").write_text(json.dumps({"version": "0.1.0+pt214cu130"}))
    assert _version.installed_version() == "0.1.0+pt214cu130"
    (tmp_path / "_build_info.json").write_text("{broken")
    assert _version.installed_version() == _version.VERSION


def test_setup_local_label_switch(setup_module, monkeypatch, capsys, tmp_path):
    assert not (ROOT / "PKG-INFO").exists()
    assert setup_module.wants_local_label()  # a build from the checkout: labelled
    monkeypatch.setattr(setup_module, "ROOT", tmp_path)
    (tmp_path / "PKG-INFO").write_text("Metadata-Version: 2.4\nName: geomaug\n")
    assert not setup_module.wants_local_label()  # from an sdist: plain, as pip expects
    monkeypatch.setenv("GEOMAUG_LOCAL_VERSION", "1")
    assert setup_module.wants_local_label()
    monkeypatch.setenv("GEOMAUG_LOCAL_VERSION", "0")
    assert not setup_module.wants_local_label()
    monkeypatch.setenv("GEOMAUG_LOCAL_VERSION", "yes")
    err = _fails_with(capsys, setup_module.wants_local_label)
    assert "GEOMAUG_LOCAL_VERSION must be 1" in err and "'yes'" in err


@pytest.mark.parametrize("built, running, expected", [
    ({"torch_version": "2.13.0+cu130", "torch_cuda": "13.0", "cuda": True, "label": "pt213cu130"},
     ("2.14.1+cu130", "13.0"),
     "built against torch 2.13.0+cu130 (+pt213cu130) but torch 2.14.1+cu130 is running; install the "
     "geomaug wheel labelled +pt214cu130 (or +pt214cpu: CPU kernels only)"),
    ({"torch_version": "2.14.0+cu128", "torch_cuda": "12.8", "cuda": True},
     ("2.14.1+cu130", "13.0"), "built with CUDA 12.8 kernels (+pt214cu128) but torch 2.14.1+cu130 "
     "runs CUDA 13.0; the CUDA major versions must match; install the geomaug wheel labelled +pt214cu130"),
    ({"torch_version": "2.14.1+cu130", "torch_cuda": "13.0", "cuda": True},
     ("2.14.0+cpu", None), "but torch 2.14.0+cpu has no CUDA; install the geomaug wheel labelled "
     "+pt214cpu, or rebuild"),
    ({"torch_version": "2.14.1+cu130", "torch_cuda": "13.0", "cuda": True}, ("2.14.0+cu132", "13.2"), ""),
    ({"torch_version": "2.14.0", "torch_cuda": "12.8", "cuda": False}, ("2.14.1+cu130", "13.0"), ""),
    ({"torch_version": "2.14.0", "torch_cuda": None, "cuda": False}, ("2.15.0", None),
     "(+pt214cpu) but torch 2.15.0 is running; install the geomaug wheel labelled +pt215cpu, or rebuild"),
])
def test_load_check_names_the_wheel_that_fits(monkeypatch, built, running, expected):
    monkeypatch.setattr(_backend.torch, "__version__", running[0])
    monkeypatch.setattr(_backend.torch.version, "cuda", running[1])
    reason = _backend.version_mismatch(built)
    if not expected:
        assert reason == ""
    else:
        assert expected in reason and "pip install --no-build-isolation" in reason, reason


def test_setup_arch_that_does_not_exist_is_named_so(setup_module, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CUDA_HOME", str(_fake_toolkit(tmp_path, "13.0")))
    for bad in ("8.5", "7.5;9.9+PTX"):
        monkeypatch.setenv("GEOMAUG_CUDA_ARCH_LIST", bad)
        err = _fails_with(capsys, setup_module.plan_cuda, _fake_torch("13.0"))
        assert "not a GPU arch?" in err and "GEOMAUG_CUDA_ARCH_LIST" in err, err
    monkeypatch.setenv("GEOMAUG_CUDA_ARCH_LIST", "7.5;7.5;7.5+PTX")  # duplicates merge, PTX kept
    assert _arch.format_arch_list(setup_module.plan_cuda(_fake_torch("13.0"))["archs"]) == "7.5+PTX"


def test_setup_no_cuda_builds_cpu_only_and_contradicting_force_fails(setup_module, monkeypatch,
                                                                     capsys, tmp_path):
    monkeypatch.setenv("CUDA_HOME", str(_fake_toolkit(tmp_path, "13.0")))
    assert setup_module.plan_cuda(_fake_torch("13.0")) is not None  # a toolkit: CUDA by default
    monkeypatch.setenv("GEOMAUG_NO_CUDA", "1")
    assert setup_module.plan_cuda(_fake_torch("13.0")) is None
    assert "GEOMAUG_NO_CUDA=1: building the CPU kernels only" in capsys.readouterr().out
    monkeypatch.setenv("GEOMAUG_FORCE_CUDA", "1")
    assert "contradict" in _fails_with(capsys, setup_module.plan_cuda, _fake_torch("13.0"))
