"""Every registered op: the Python view (geomaug/_ops.py) agrees with the extension, and the
kernel dispatch decision is made in one place."""
import pytest
import torch

from geomaug import _backend, _ops
from conftest import DEVICES, EXT_LOADED, device_or_skip, needs_ext
from helpers import random_affine, random_image, random_problem


def _warp_examples(rng):
    for dtype, interp in ((torch.uint8, "bilinear"), (torch.float32, "bilinear"),
                          (torch.int64, "nearest")):
        src = random_image(rng, 2, 3, 12, 12, dtype)
        fill = torch.rand(3, dtype=torch.float64)
        for x, border in ((src, "constant"), (src.contiguous(memory_format=torch.channels_last), "reflect")):
            yield (x, random_affine(rng, 2, 12, 12), 10, 11, _ops.INTERPOLATION[interp], fill,
                   _ops.BORDER[border])


def _align_examples(rng):
    src, dst, *_ = random_problem(4, 9, 3, torch.float32, noise=0.1)
    w = torch.rand(4, 9)
    yield (src, dst, None, 1, False, False)
    yield (src, dst, w, 0, True, True)
    yield (src[..., :2].contiguous(), dst[..., :2].contiguous(), w, 2, False, False)


# Raw-op arguments for every registered op (a new op adds its maker here).
EXAMPLES = {"warp": _warp_examples, "align": _align_examples}


@needs_ext
def test_enum_tables_match_the_cpp_enums():
    assert _backend.extension().module.enums() == _ops.ENUMS


@needs_ext
def test_every_registered_op_has_a_wrapper_and_a_fake():
    registered = {name.split("::")[1].split(".")[0]
                  for name in torch._C._dispatch_get_registrations_for_dispatch_key("CPU")
                  if name.startswith("geomaug::")}
    assert registered == set(_ops.KERNELS) == set(EXAMPLES)


def test_use_kernel_is_the_one_decision(monkeypatch):
    cpu = torch.device("cpu")
    with pytest.raises(KeyError, match="no compiled op 'nope'"):
        _ops.use_kernel("nope", cpu)
    assert _ops.use_kernel("warp", cpu, needs_grad=True) is False
    monkeypatch.setenv("GEOMAUG_BACKEND", "torch")
    assert _ops.use_kernel("warp", cpu) is False
    monkeypatch.setenv("GEOMAUG_BACKEND", "auto")
    assert _ops.use_kernel("align", cpu) is EXT_LOADED


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", sorted(EXAMPLES))
def test_opcheck(rng, device, op):
    """Schema, fake (meta) registration, autograd registration and AOT dispatch of every op."""
    dev = device_or_skip(device)
    for args in EXAMPLES[op](rng):
        args = tuple(a.to(dev) if isinstance(a, torch.Tensor) else a for a in args)
        torch.library.opcheck(getattr(torch.ops.geomaug, op).default, args)


@needs_ext
@pytest.mark.parametrize("op", sorted(EXAMPLES))
def test_raw_ops_trace_under_torch_compile(rng, op):
    """The fake registrations let torch.compile trace every op in one graph."""
    import torch._dynamo

    fn = getattr(torch.ops.geomaug, op)
    args = next(iter(EXAMPLES[op](rng)))
    torch._dynamo.reset()
    compiled = torch.compile(lambda *a: fn(*a), backend="aot_eager", fullgraph=True)
    want = fn(*args)
    got = compiled(*args)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        torch.testing.assert_close(g, w, equal_nan=True)
