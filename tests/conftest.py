import os
import random

import numpy as np
import pytest
import torch

from geomaug import _backend

HAS_CUDA = torch.cuda.is_available()
EXT_LOADED = _backend.extension().module is not None
EXT_HAS_CUDA = EXT_LOADED and bool(_backend.extension().build_info.get("cuda"))

# Devices a test runs on: CPU always; CUDA (marked `cuda`) when a GPU is present.
DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.cuda, pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU on this machine")])]

needs_ext = pytest.mark.skipif(not EXT_LOADED, reason=f"geomaug._C not loaded: "
                               f"{_backend.extension().reason}")


def pytest_configure(config):
    # The suite also runs on the PyTorch path alone (no extension, or GEOMAUG_BACKEND=torch):
    # there the fallback warning is expected; elsewhere any GeomaugWarning fails the test.
    if not EXT_LOADED or os.environ.get("GEOMAUG_BACKEND", "auto") == "torch":
        config.addinivalue_line("filterwarnings", "ignore::geomaug._backend.GeomaugWarning")


def pytest_report_header(config):
    ext = _backend.extension()
    return (f"geomaug: extension {'loaded' if ext.module else 'NOT loaded (' + ext.reason + ')'}, "
            f"GEOMAUG_BACKEND={os.environ.get('GEOMAUG_BACKEND', 'auto')}, "
            f"CUDA GPU: {torch.cuda.get_device_name(0) if HAS_CUDA else 'none'}")


@pytest.fixture(autouse=True)
def seed():
    """Every test runs seeded: a fresh seed per test and run for torch, numpy and random (printed,
    so a failure shows it; rerun one with GEOMAUG_TEST_SEED=<seed>)."""
    value = int(os.environ.get("GEOMAUG_TEST_SEED") or random.SystemRandom().randrange(2**31))
    print(f"seed={value}")
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    random.seed(value)
    return value


@pytest.fixture
def rng(seed):
    """A numpy Generator from the test's seed: random inputs, never fixed ones."""
    return np.random.default_rng(seed)


def device_or_skip(device: str) -> torch.device:
    if device == "cuda" and not HAS_CUDA:
        pytest.skip("no CUDA GPU on this machine")
    return torch.device(device)
