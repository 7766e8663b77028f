"""geomaug.color vs torchvision.transforms.v2.functional, a float64 reference, and its own contract
(per-sample factors, RGB/BGR, layouts, dtypes, bad input)."""
import colorsys
import doctest
import warnings

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms.v2.functional import _color as tv_color

import geomaug
from geomaug import color
from geomaug.color import (adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation,
                           denormalize, gray_mean, normalize, to_grayscale)

from conftest import DEVICES, device_or_skip

OPS = {  # name: (geomaug, torchvision, factors including 0 and > 1)
    "brightness": (adjust_brightness, TF.adjust_brightness, [0.0, 0.3, 1.0, 1.6]),
    "contrast": (adjust_contrast, TF.adjust_contrast, [0.0, 0.5, 1.0, 1.7, 3.0]),
    "saturation": (adjust_saturation, TF.adjust_saturation, [0.0, 0.4, 1.0, 1.8, 3.0]),
    "hue": (adjust_hue, TF.adjust_hue, [-0.5, -0.21, 0.0, 0.13, 0.37, 0.5]),
}
CASES = [(name, f) for name, (_, _, fs) in OPS.items() for f in fs]
W = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)


def image(rng, shape, dtype=torch.uint8):
    """Random (never constant) image: uint8 in [0, 255] or float in [0, 1]."""
    if dtype == torch.uint8:
        return torch.from_numpy(rng.integers(0, 256, size=shape, dtype=np.uint8))
    return torch.from_numpy(rng.random(shape)).to(dtype)


@pytest.fixture
def tv_geomaug_weights(monkeypatch):
    """torchvision with the grayscale weights 0.299/0.587/0.114 (it uses 0.2989 for red): the
    remaining difference is the formula, which must then agree to float32 rounding."""
    def gray(img, num_output_channels=1, preserve_dtype=True):
        r, g, b = img.unbind(-3)
        out = (r * 0.299 + g * 0.587 + b * 0.114).unsqueeze(-3)
        out = out.to(img.dtype) if preserve_dtype else out
        return out.expand(img.shape) if num_output_channels == 3 else out
    monkeypatch.setattr(tv_color, "_rgb_to_grayscale_image", gray)


def reference(name, x, f):
    """float64 reference on [0, bound]-scaled float64 input x (B, 3, H, W); hue via colorsys."""
    bound = 255.0 if x.max() > 1 else 1.0
    x = x.double()
    if name == "brightness":
        out = x * f
    elif name in ("contrast", "saturation"):
        gray = torch.einsum("c,bchw->bhw", W, x)[:, None]
        base = gray.mean(dim=(-3, -2, -1), keepdim=True) if name == "contrast" else gray
        out = f * x + (1 - f) * base
    else:
        out = torch.empty_like(x)
        for b, i, j in np.ndindex(x.shape[0], x.shape[2], x.shape[3]):
            h, s, v = colorsys.rgb_to_hsv(*(x[b, :, i, j] / bound).tolist())
            out[b, :, i, j] = torch.tensor(colorsys.hsv_to_rgb((h + f) % 1.0, s, v),
                                            dtype=torch.float64) * bound
    return out.clamp(0, bound)


# ---------------------------------------------------------------- semantics vs peers / reference

@pytest.mark.parametrize("name,f", CASES)
@pytest.mark.parametrize("shape", [(1, 3, 17, 23), (3, 3, 8, 5)])
def test_float32_matches_torchvision(rng, name, f, shape, tv_geomaug_weights):
    ours, tv, _ = OPS[name]
    x = image(rng, shape, torch.float32)
    torch.testing.assert_close(ours(x, f), tv(x, f), rtol=0, atol=1e-5)
    torch.testing.assert_close(ours(x, f).double(), reference(name, x, f), rtol=0, atol=2e-6)


@pytest.mark.parametrize("name,f", CASES)
def test_float32_vs_unpatched_torchvision(rng, name, f):
    """Only the red weight differs (0.299 vs 0.2989): at most |1 − f|·1e-4 on [0, 1]."""
    ours, tv, _ = OPS[name]
    x = image(rng, (2, 3, 9, 13), torch.float32)
    tol = 1e-5 + (abs(1 - f) * 1.01e-4 if name in ("contrast", "saturation") else 0.0)
    assert (ours(x, f) - tv(x, f)).abs().max().item() <= tol


@pytest.mark.parametrize("name,f", CASES)
@pytest.mark.parametrize("shape", [(1, 3, 17, 23), (3, 3, 8, 5)])
def test_uint8(rng, name, f, shape):
    ours, tv, _ = OPS[name]
    x = image(rng, shape)
    out = ours(x, f)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    # The exact formula rounded once (half to even), away from ties where float32 may go either way.
    ref = reference(name, x, f)
    away = ((ref - ref.floor()) - 0.5).abs() > 1e-3
    assert torch.equal(out.double()[away], ref.round()[away])
    assert (out.double() - ref).abs().max().item() <= 0.5 + 1e-3
    # torchvision's float kernel on x/255, rescaled: within one level (its rounding of x/255·f).
    tv_float = (tv(x.float() / 255, f) * 255).round()
    assert (out.float() - tv_float).abs().max().item() <= 1
    # torchvision's uint8 kernel truncates, and floors the gray image (saturation, contrast's
    # mean) which |1 − f| amplifies: within 1 for brightness/hue, else 1.5 + |1 − f| levels.
    tol = 1 if name in ("brightness", "hue") else int(1.5 + abs(1 - f) + 1e-3)
    assert (out.int() - tv(x, f).int()).abs().max().item() <= tol


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float16, 1e-3),
                                        (torch.bfloat16, 8e-3)])
@pytest.mark.parametrize("name,f", [("brightness", 1.4), ("contrast", 0.6), ("saturation", 2.0),
                                    ("hue", -0.3)])
def test_other_float_dtypes(rng, name, f, dtype, atol):
    ours = OPS[name][0]
    x = image(rng, (2, 3, 7, 11), dtype)
    out = ours(x, f)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), reference(name, x, f), rtol=0, atol=atol)


def test_grayscale(rng, tv_geomaug_weights):
    x = image(rng, (2, 3, 9, 14), torch.float32)
    torch.testing.assert_close(to_grayscale(x, 1), TF.rgb_to_grayscale(x, 1), rtol=0, atol=1e-6)
    assert to_grayscale(x).shape == x.shape and to_grayscale(x, 1).shape == (2, 1, 9, 14)
    assert torch.equal(to_grayscale(x, 3), to_grayscale(x, 1).expand(x.shape))
    x8 = image(rng, (3, 15, 4))
    ref = torch.einsum("c,chw->hw", W, x8.double())
    assert (to_grayscale(x8, 1)[0].double() - ref).abs().max() <= 0.5 + 1e-4
    one = image(rng, (2, 1, 5, 6))
    assert torch.equal(to_grayscale(one), one) and to_grayscale(one) is not one
    assert torch.equal(to_grayscale(one, 3), one.expand(2, 3, 5, 6))


def test_gray_mean_and_explicit_contrast_mean(rng):
    x = image(rng, (3, 3, 10, 7))
    m = gray_mean(x)
    assert m.shape == (3,) and m.dtype == torch.float32
    torch.testing.assert_close(m.double(), torch.einsum("c,bchw->b", W, x.double()) / 70,
                               rtol=1e-6, atol=1e-4)                    # float32 on 0..255
    assert gray_mean(x[0]).shape == ()
    assert torch.equal(adjust_contrast(x, 0.3, m), adjust_contrast(x, 0.3))
    other = adjust_contrast(x, 0.0, torch.tensor([10.0, 20.0, 30.0]))
    assert torch.equal(other[:, 0, 0, 0], torch.tensor([10, 20, 30], dtype=torch.uint8))
    xf = image(rng, (2, 1, 5, 5), torch.float64)      # a 1-channel image is its own gray
    torch.testing.assert_close(gray_mean(xf), xf.mean(dim=(1, 2, 3)))


def test_single_channel(rng):
    x = image(rng, (2, 1, 9, 6))
    torch.testing.assert_close(adjust_brightness(x, 1.3).int(),
                               TF.adjust_brightness(x, 1.3).int(), rtol=0, atol=1)
    torch.testing.assert_close(adjust_contrast(x, 0.5).int(), TF.adjust_contrast(x, 0.5).int(),
                               rtol=0, atol=1)
    for op, f in ((adjust_saturation, 0.2), (adjust_hue, 0.3)):
        out = op(x, f)
        assert torch.equal(out, x) and out is not x


# ---------------------------------------------------------------- the contract

@pytest.mark.parametrize("name", list(OPS) + ["grayscale", "gray_mean"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_bgr_is_reversed_rgb(rng, name, dtype):
    x = image(rng, (2, 3, 6, 9), dtype)
    if name == "grayscale":
        def op(img, order):
            return to_grayscale(img, channel_order=order)
    elif name == "gray_mean":
        def op(img, order):
            return gray_mean(img, channel_order=order)
        assert torch.equal(op(x.flip(-3), "BGR"), op(x, "RGB"))
        return
    else:
        def op(img, order):
            return OPS[name][0](img, 0.3, channel_order=order)
    assert torch.equal(op(x.flip(-3), "BGR"), op(x, "RGB").flip(-3))
    if name in ("saturation", "hue", "grayscale"):       # the order matters for these
        assert not torch.equal(op(x.flip(-3), "RGB"), op(x, "RGB").flip(-3))


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_per_sample_factors(rng, name, dtype):
    ours, _, fs = OPS[name]
    x = image(rng, (4, 3, 7, 5), dtype)
    f = torch.tensor(rng.choice(fs, size=4), dtype=torch.float64)
    one_by_one = torch.cat([ours(x[i:i + 1], float(f[i])) for i in range(4)])
    assert torch.equal(ours(x, f), one_by_one)
    assert torch.equal(ours(x, f[:1].squeeze(0)), ours(x, float(f[0])))      # 0-d: all samples
    assert torch.equal(ours(x[1], f[1:2]), one_by_one[1])                    # (1,) unbatched


@pytest.mark.parametrize("name", list(OPS) + ["grayscale"])
def test_layouts(rng, name):
    def op(t):
        return to_grayscale(t) if name == "grayscale" else OPS[name][0](t, 0.2)
    x = image(rng, (3, 3, 11, 8))
    cl = x.contiguous(memory_format=torch.channels_last)
    out = op(cl)
    assert out.is_contiguous(memory_format=torch.channels_last) and torch.equal(out, op(x))
    hwc = torch.from_numpy(x[0].permute(1, 2, 0).numpy().copy()).permute(2, 0, 1)  # strided CHW
    assert torch.equal(op(hwc), op(x[0])) and op(hwc).stride() == hwc.stride()
    sliced = x[..., ::2]                                  # non-contiguous, not dense
    assert torch.equal(op(sliced), op(sliced.contiguous()))
    assert op(x).is_contiguous()


@pytest.mark.parametrize("name", list(OPS) + ["grayscale"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float16])
def test_input_untouched_and_empty(rng, name, dtype):
    op = (lambda t: to_grayscale(t)) if name == "grayscale" else (lambda t: OPS[name][0](t, 0.4))
    x = image(rng, (2, 3, 5, 4), dtype)
    before = x.clone()
    out = op(x)
    assert torch.equal(x, before) and out.data_ptr() != x.data_ptr()
    assert out.dtype == dtype
    for shape in [(0, 3, 5, 4), (2, 3, 0, 4), (3, 0, 6)]:
        empty = torch.empty(shape, dtype=dtype)
        assert op(empty).shape == shape and op(empty).dtype == dtype


def test_float_chain(rng):
    """The internal chain on float32 0..255 (no rounding between ops) rounded once equals the
    float64 reference chain rounded; one op of it equals the public uint8 function."""
    x8 = image(rng, (2, 3, 6, 7))
    f = torch.tensor([0.7, 1.3], dtype=torch.float64)
    x = x8.float()
    y = color._brightness(x, f, 255.0)
    y = color._contrast(y, f, color._gray_mean(y), 255.0)
    y = color._saturation(y, f, 255.0)
    y = color._hue(y, f - 1.0, 255.0)
    ref = reference("brightness", x8, f.view(-1, 1, 1, 1))
    ref = reference("contrast", ref, f.view(-1, 1, 1, 1))
    ref = reference("saturation", ref, f.view(-1, 1, 1, 1))
    ref = torch.cat([reference("hue", ref[i:i + 1], float(f[i]) - 1.0) for i in range(2)])
    assert (y.double() - ref).abs().max().item() < 1e-3
    assert torch.equal(color._saturation(x, f, 255.0).round().to(torch.uint8),
                       adjust_saturation(x8, f))


def test_autograd(rng):
    x = (image(rng, (2, 3, 5, 6), torch.float64) * 0.5 + 0.25).requires_grad_()
    torch.autograd.gradcheck(lambda t: adjust_saturation(adjust_contrast(t, 0.8), 1.1), (x,))
    torch.autograd.gradcheck(lambda t: adjust_brightness(t, 1.2), (x,))
    grad, = torch.autograd.grad(adjust_hue(x, 0.1).sum(), x)
    assert grad.isfinite().all()


def test_compile_dynamic(rng):
    def chain(img, f, shift):
        y = adjust_brightness(img, f)
        y = adjust_contrast(y, f)
        y = adjust_saturation(y, f)
        return normalize(adjust_hue(y, shift))
    compiled = torch.compile(chain, dynamic=True)
    for shape in [(2, 3, 10, 11), (3, 3, 7, 9)]:
        f = torch.from_numpy(rng.uniform(0.6, 1.4, shape[0]))
        shift = torch.from_numpy(rng.uniform(-0.5, 0.5, shape[0]))
        # uint8 rounds after each public op: a fused multiply-add may flip a near-tie by one level
        x = image(rng, shape)
        diff = (compiled(x, f, shift) - chain(x, f, shift)).abs() * 255 * 0.229
        assert diff.max() < 4 and (diff > 0.5).float().mean() < 0.02


# ---------------------------------------------------------------- normalize / denormalize

def test_normalize(rng):
    x = image(rng, (2, 3, 9, 10))
    mean, std = torch.tensor(color.IMAGENET_MEAN), torch.tensor(color.IMAGENET_STD)
    out = normalize(x)
    assert out.dtype == torch.float32 and out.shape == x.shape
    hand = (x.double() / 255 - mean.double().view(3, 1, 1)) / std.double().view(3, 1, 1)
    torch.testing.assert_close(out.double(), hand, rtol=0, atol=1e-6)
    tv = TF.normalize(TF.to_dtype(x, torch.float32, scale=True), list(color.IMAGENET_MEAN),
                      list(color.IMAGENET_STD))
    torch.testing.assert_close(out, tv, rtol=0, atol=1e-5)
    xf = image(rng, (3, 4, 5), torch.float64)
    torch.testing.assert_close(normalize(xf, (0.5,) * 3, (0.25,) * 3), (xf.float() - 0.5) / 0.25)
    assert torch.equal(normalize(x.flip(-3), channel_order="BGR"), out.flip(-3))
    assert normalize(x, dtype=torch.float16).dtype == torch.float16
    assert normalize(x, dtype=torch.bfloat16).dtype == torch.bfloat16
    cl = x.contiguous(memory_format=torch.channels_last)
    assert normalize(cl).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(normalize(cl), out)
    assert normalize(x[:0]).shape == (0, 3, 9, 10)


def test_normalize_numpy(rng):
    hwc = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    hwc.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = normalize(hwc)
    assert out.shape == (3, 7, 9) and out.is_contiguous() and out.dtype == torch.float32
    assert torch.equal(out, normalize(torch.from_numpy(hwc.copy()).permute(2, 0, 1)))
    chw = torch.from_numpy(hwc.copy()).permute(2, 0, 1)
    assert torch.equal(normalize(hwc, dtype=torch.float16), normalize(chw, dtype=torch.float16))
    gray = np.ascontiguousarray(hwc[..., 0])
    torch.testing.assert_close(normalize(gray, 0.5, 0.25)[0],
                               (torch.from_numpy(gray).float() / 255 - 0.5) / 0.25)
    bgr = hwc.copy()[..., ::-1]  # writeable, negative strides: read through a copy
    assert torch.equal(normalize(bgr, channel_order="BGR"),
                       normalize(np.ascontiguousarray(bgr), channel_order="BGR"))
    assert torch.equal(normalize(hwc.copy()[::-1, ::2]), normalize(np.ascontiguousarray(hwc[::-1, ::2])))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 0), (torch.float16, 1),
                                       (torch.bfloat16, 1)])
def test_denormalize_round_trip(rng, dtype, tol):
    x = image(rng, (2, 3, 13, 6))
    for order in ("RGB", "BGR"):
        back = denormalize(normalize(x, dtype=dtype, channel_order=order), channel_order=order)
        assert back.dtype == torch.uint8 and back.shape == x.shape
        assert (back.int() - x.int()).abs().max().item() <= tol
    m, s = (0.1, 0.2, 0.3), (0.3, 0.2, 0.1)
    assert torch.equal(denormalize(normalize(x[0], m, s), m, s), x[0])
    cl = normalize(x).contiguous(memory_format=torch.channels_last)
    assert denormalize(cl).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("device", DEVICES)
def test_device(rng, device):
    dev = device_or_skip(device)
    x = image(rng, (3, 3, 8, 9))
    f = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64)     # CPU factors, moved to the image
    for name, (ours, _, _) in OPS.items():
        g = f - 1.0 if name == "hue" else f
        out = ours(x.to(dev), g)
        assert out.device == dev
        assert (out.cpu().int() - ours(x, g).int()).abs().max() <= 1
    assert normalize(x.to(dev)).device == dev


# ---------------------------------------------------------------- bad input

BAD = [
    (lambda x: adjust_brightness(x, -0.1), "factor must be >= 0, got -0.1"),
    (lambda x: adjust_contrast(x, float("nan")), "factor"),
    (lambda x: adjust_saturation(x, torch.tensor([1.0, -2.0])), "factor must be >= 0, got -2"),
    (lambda x: adjust_saturation(x, torch.ones(3)), r"factor .*\(2,\).*got shape \(3,\)"),
    (lambda x: adjust_brightness(x, "1"), "factor must be a number"),
    (lambda x: adjust_brightness(x, True), "factor must be a number"),
    (lambda x: adjust_hue(x, 0.6), r"shift must be in \[-0.5, 0.5\], got 0.6"),
    (lambda x: adjust_hue(x, torch.tensor([0.0, -0.7])), "shift must be in"),
    (lambda x: adjust_contrast(x, 1.0, torch.ones(5)), "mean must be"),
    (lambda x: adjust_hue(x, 0.1, channel_order="rgb"),
     "channel_order must be 'RGB' or 'BGR', got 'rgb'"),
    (lambda x: to_grayscale(x, channel_order="HSV"), "channel_order"),
    (lambda x: normalize(x, channel_order=None), "channel_order"),
    (lambda x: adjust_hue(x[:, :2], 0.1), "image must have 1 or 3 channels .* got 2"),
    (lambda x: adjust_brightness(x[0, 0], 1.0),
     r"image must be \(C, H, W\) or \(B, C, H, W\), got shape"),
    (lambda x: adjust_brightness(x.int(), 1.0), "image must be uint8 or float.*got torch.int32"),
    (lambda x: adjust_brightness(x.numpy(), 1.0), "image must be a torch tensor .*got ndarray"),
    (lambda x: to_grayscale(x, 2), "num_output_channels must be 1, 3 or None, got 2"),
    (lambda x: normalize(x, std=(0.2, 0.0, 0.2)), "std must be > 0"),
    (lambda x: normalize(x, mean=(0.5, 0.5)), r"mean must have one value per channel \(3\), got 2"),
    (lambda x: normalize(x, dtype=torch.int32), "dtype must be float32"),
    (lambda x: normalize(x.permute(0, 2, 3, 1)[0].numpy().astype(np.float32)),
     "numpy array must be uint8"),
    (lambda x: denormalize(x), "tensor must be a float tensor from normalize, got torch.uint8"),
    (lambda x: denormalize(x.float(), std=(1, 1)), "std must have one value per channel"),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input(rng, call, message):
    x = image(rng, (2, 3, 4, 5))
    with pytest.raises(geomaug.InputError, match=message):
        call(x)


def test_docstring_examples():
    result = doctest.testmod(color, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0
