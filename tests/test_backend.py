"""Backend choice: the missing-extension path, a build for another torch, the arch-mismatch
fallback on a simulated GPU, and GEOMAUG_BACKEND."""
import json
import os
import warnings

import pytest
import torch

import geomaug
from geomaug import _backend


@pytest.fixture
def fresh_backend(monkeypatch):
    """Backend state forgotten before and after the test (it is cached per process)."""
    _backend._reset_for_tests()
    yield monkeypatch
    _backend._reset_for_tests()


def test_missing_build_info_means_not_built(fresh_backend, tmp_path):
    fresh_backend.setattr(_backend, "PACKAGE_DIR", tmp_path)
    ext = _backend.extension()
    assert ext.module is None and "not built" in ext.reason


def test_build_for_another_torch_is_not_loaded(fresh_backend, tmp_path):
    (tmp_path / "_build_info.json").write_text(json.dumps({"torch_version": "1.13.0", "cuda": False}))
    fresh_backend.setattr(_backend, "PACKAGE_DIR", tmp_path)
    ext = _backend.extension()
    assert ext.module is None
    assert "built against torch 1.13.0" in ext.reason and "pip install" in ext.reason


def test_missing_extension_falls_back_with_one_warning(fresh_backend, tmp_path, rng):
    fresh_backend.setattr(_backend, "PACKAGE_DIR", tmp_path)
    fresh_backend.setenv("GEOMAUG_BACKEND", "auto")
    src = torch.randn(4, 10, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = geomaug.estimate(src, 3 * src + 1)
        geomaug.estimate(src, 3 * src + 1)
    ours = [w for w in caught if issubclass(w.category, geomaug.GeomaugWarning)]
    assert len(ours) == 1 and "not built" in str(ours[0].message)
    torch.testing.assert_close(a.s, torch.full((4,), 3.0))


def test_backend_ext_fails_loudly_without_extension(fresh_backend, tmp_path):
    fresh_backend.setattr(_backend, "PACKAGE_DIR", tmp_path)
    fresh_backend.setenv("GEOMAUG_BACKEND", "ext")
    with pytest.raises(RuntimeError, match="GEOMAUG_BACKEND=ext.*not built"):
        geomaug.estimate(torch.randn(2, 5, 2), torch.randn(2, 5, 2))


def test_backend_env_value_is_checked(fresh_backend):
    fresh_backend.setenv("GEOMAUG_BACKEND", "gpu")
    with pytest.raises(ValueError, match="GEOMAUG_BACKEND must be"):
        _backend.mode()


def test_backend_torch_never_uses_the_extension(fresh_backend):
    fresh_backend.setenv("GEOMAUG_BACKEND", "torch")
    assert _backend.use_extension("align", torch.device("cpu")) is False


def _simulate_cuda_build(monkeypatch, arch_list, capability, probe=(0, "ok")):
    ext = _backend.extension()
    monkeypatch.setattr(ext, "module", ext.module or object())
    monkeypatch.setattr(ext, "build_info", {**ext.build_info, "cuda": True, "arch_list": arch_list})
    monkeypatch.setattr(_backend, "_device_capability", lambda index: capability)
    monkeypatch.setattr(_backend, "_probe", lambda index: probe)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Simulated GPU")


def test_uncovered_gpu_warns_once_with_rebuild_command(fresh_backend):
    fresh_backend.setenv("GEOMAUG_BACKEND", "auto")
    _simulate_cuda_build(fresh_backend, "7.5;8.0;8.6", (9, 0))
    dev = torch.device("cuda", 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _backend.use_extension("warp", dev) is False
        assert _backend.use_extension("align", dev) is False
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert "sm_90" in msg and "SASS: sm_75 sm_80 sm_86" in msg and "PTX: none" in msg
    assert "GEOMAUG_CUDA_ARCH_LIST='7.5;8.0;8.6;9.0' pip install" in msg


def test_uncovered_gpu_with_backend_ext_raises(fresh_backend):
    fresh_backend.setenv("GEOMAUG_BACKEND", "ext")
    _simulate_cuda_build(fresh_backend, "7.5", (8, 0))
    with pytest.raises(RuntimeError, match="sm_80"):
        _backend.use_extension("warp", torch.device("cuda", 0))


@pytest.mark.parametrize("arch_list, cap", [("7.5;8.0;9.0+PTX", (12, 0)), ("8.0", (8, 6))])
def test_covered_gpu_uses_the_extension(fresh_backend, arch_list, cap):
    fresh_backend.setenv("GEOMAUG_BACKEND", "auto")
    _simulate_cuda_build(fresh_backend, arch_list, cap)
    assert _backend.use_extension("warp", torch.device("cuda", 0)) is True


def test_failed_probe_falls_back(fresh_backend):
    fresh_backend.setenv("GEOMAUG_BACKEND", "auto")
    _simulate_cuda_build(fresh_backend, "9.0", (9, 0), probe=(209, "no kernel image is available"))
    with pytest.warns(geomaug.GeomaugWarning, match="probe kernel failed"):
        assert _backend.use_extension("warp", torch.device("cuda", 0)) is False


def _run_with_backend(value: str, *args: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, GEOMAUG_BACKEND=value,
               PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_bogus_backend_setting_is_one_line_and_status_2_for_the_cli():
    r = _run_with_backend("bogus", "-m", "geomaug", "info")
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "GEOMAUG_BACKEND" in lines[0] and "auto, ext, torch" in lines[0] and "'bogus'" in lines[0]


def test_bogus_backend_setting_is_a_clear_error_for_an_op():
    code = ("import torch, geomaug\n"
            "try:\n"
            "    geomaug.estimate(torch.rand(2, 5, 2), torch.rand(2, 5, 2))\n"
            "except _backend_error as exc:\n"
            "    print('ERR', type(exc).__name__, exc)\n")
    code = code.replace("_backend_error", "geomaug._backend.BackendSettingError")
    r = _run_with_backend("bogus", "-c", code)
    assert r.returncode == 0, r.stderr
    assert "ERR BackendSettingError environment variable GEOMAUG_BACKEND must be one of auto, ext, " \
           "torch (or unset), got 'bogus'" in r.stdout, r.stdout


@pytest.mark.skipif(_backend.extension().module is None, reason="needs the built extension")
def test_extension_lacking_an_op_is_out_of_date_not_an_import_error(fresh_backend, rng):
    """An in-place build from older sources (an op missing) must not break `import geomaug`:
    the extension is set aside with the rebuild command and the PyTorch path runs."""
    from geomaug import _ops

    fresh_backend.setitem(_ops.KERNELS, "not_an_op", None)
    fresh_backend.setenv("GEOMAUG_BACKEND", "auto")
    assert _ops._check_loaded_ops() is False
    ext = _backend.extension()
    assert ext.module is None and "out of date" in ext.reason and "not_an_op" in ext.reason
    assert "make build" in ext.reason
    src = torch.randn(3, 8, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = geomaug.estimate(src, 2 * src)
    assert any("out of date" in str(w.message) for w in caught)
    torch.testing.assert_close(fit.s, torch.full((3,), 2.0))


def test_setting_is_read_on_every_call(monkeypatch):
    """mode() reads os.environ's dict directly: set, changed, emptied and removed values are seen
    at once, as os.environ.get would see them."""
    monkeypatch.delenv("GEOMAUG_BACKEND", raising=False)
    assert _backend._setting() == "" and _backend.mode() == "auto"
    for value, want in (("torch", "torch"), (" EXT ", "ext"), ("", "auto"), ("auto", "auto")):
        monkeypatch.setenv("GEOMAUG_BACKEND", value)
        assert _backend._setting() == os.environ.get("GEOMAUG_BACKEND") == value
        assert _backend.mode() == want
    monkeypatch.delenv("GEOMAUG_BACKEND")
    assert _backend.mode() == "auto"
