"""The warp op's edge cases: projective gradients, torch.compile, sizes, read-only numpy, extreme
matrices, exact integer fills — on the kernels and on the PyTorch path."""
import warnings

import cv2
import numpy as np
import pytest
import torch

import geomaug
from geomaug.warping import warp_reference
from conftest import EXT_LOADED, needs_ext

PROJECTIVE = [[1.1, 0.1, 0.5], [-0.1, 0.9, 0.3], [0.0, 0.0, 1.0]]


def test_gradient_wrt_projective_row_is_not_dropped(rng):
    """d out / d M[2, :] of an affine matrix is not zero (the map is projective in general)."""
    img = torch.from_numpy(rng.random((1, 1, 9, 11)) + 0.5)
    M = torch.tensor(PROJECTIVE, dtype=torch.float64, requires_grad=True)
    geomaug.warp(img, M, (9, 11)).sum().backward()
    assert M.grad[2, 0].abs() > 1.0 and M.grad[2, 1].abs() > 1.0
    # The same derivative by central differences.
    eps = 1e-6
    for k in (0, 1):
        plus, minus = M.detach().clone(), M.detach().clone()
        plus[2, k] += eps
        minus[2, k] -= eps
        fd = (geomaug.warp(img, plus, (9, 11)).sum() - geomaug.warp(img, minus, (9, 11)).sum()) / (2 * eps)
        assert abs(float(fd) - float(M.grad[2, k])) < 1e-4 * max(1.0, abs(float(fd))), (k, fd, M.grad)


def _away_from_kinks(M: torch.Tensor, size, margin: float = 1e-4) -> bool:
    """True when no output pixel samples within ``margin`` of a pixel-grid line or of the image
    area's edge, where the warp is not differentiable (finite differences would straddle it)."""
    inv = torch.linalg.inv(M)
    ys, xs = torch.meshgrid(torch.arange(size[0], dtype=torch.float64),
                            torch.arange(size[1], dtype=torch.float64), indexing="ij")
    q = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, -1, 3) @ inv.mT
    coords = q[..., :2] / q[..., 2:]
    to_grid = (coords - coords.round()).abs()
    to_edge = (coords + 0.5 - (coords + 0.5).round()).abs()
    return bool(to_grid.min() > margin and to_edge.min() > margin)


@pytest.mark.parametrize("border", ["constant", "replicate", "reflect"])
def test_gradcheck_all_nine_entries_and_the_image(rng, border):
    img = torch.from_numpy(rng.random((2, 2, 6, 7))).requires_grad_()
    while True:  # random matrices, redrawn until every sample point is a smooth point
        M = torch.tensor(PROJECTIVE, dtype=torch.float64).repeat(2, 1, 1)
        M[:, 2, :2] = torch.from_numpy(rng.uniform(-0.02, 0.02, (2, 2)))
        M[:, :2, :2] += torch.from_numpy(rng.uniform(-0.05, 0.05, (2, 2, 2)))
        if _away_from_kinks(M, (7, 8)):
            break
    M.requires_grad_()
    fill = torch.tensor([0.25, 0.5], dtype=torch.float64)
    torch.autograd.gradcheck(
        lambda i, m: geomaug.warp(i, m, (7, 8), fill=fill, border=border), (img, M))


@pytest.mark.parametrize("backend", [pytest.param("ext", marks=needs_ext), "torch"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_compiles_fullgraph_dynamic(rng, monkeypatch, backend, interpolation):
    monkeypatch.setenv("GEOMAUG_BACKEND", backend)
    torch._dynamo.reset()
    fn = torch.compile(lambda i, m: geomaug.warp(i, m, (5, 5), interpolation=interpolation),
                       fullgraph=True, dynamic=True)
    for shape in ((2, 3, 9, 11), (1, 1, 7, 6)):
        img = torch.from_numpy(rng.random(shape)).float()
        M = torch.tensor(PROJECTIVE, dtype=torch.float64).expand(shape[0], 3, 3).contiguous()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", geomaug._backend.GeomaugWarning)
            expected = geomaug.warp(img, M, (5, 5), interpolation=interpolation)
        torch.testing.assert_close(fn(img, M), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("size, match", [
    ((10.7, 5.2), r"size must be \(height, width\) of integers, got \(10.7, 5.2\)"),
    ((10, 5.0), r"size must be \(height, width\) of integers"),
    ((2**31, 4), r"size must be between 0 and 1073741823 on each side, got \(2147483648, 4\)"),
    ((4, 2**30), r"between 0 and 1073741823"),
])
def test_bad_sizes_are_clear_errors(size, match):
    with pytest.raises(geomaug.InputError, match=match):
        geomaug.warp(torch.zeros(1, 4, 4), torch.eye(3), size)


def test_integer_like_sizes_are_accepted():
    out = geomaug.warp(torch.zeros(1, 4, 4), torch.eye(3), (np.int64(3), torch.tensor(5)))
    assert out.shape == (1, 3, 5)


def test_read_only_numpy_image_gives_no_warning(rng):
    from PIL import Image
    img = np.asarray(Image.fromarray((rng.random((12, 15, 3)) * 255).astype(np.uint8)))
    assert not img.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = geomaug.warp(img, np.eye(3), (12, 15))
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_huge_and_tiny_matrices_are_not_singular(rng, dtype):
    img = (rng.random((8, 9, 3)) * 255).astype(dtype)
    for scale in (1e200, 1e-200, 1e30):
        M = np.diag([scale, scale, 1.0])
        ours = geomaug.warp(img, M, (6, 7))
        theirs = cv2.warpAffine(img, M[:2], (7, 6), flags=cv2.INTER_LINEAR)
        if scale > 1:  # every output pixel samples (about) source pixel (0, 0), as cv2's does
            np.testing.assert_allclose(ours, np.broadcast_to(img[0, 0], ours.shape), atol=1e-5)
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
        else:  # everything but pixel (0, 0) maps far outside: fill
            assert (ours[1:] == 0).all() and (ours[:, 1:] == 0).all()
    M = torch.tensor([[1e200, 0, 0], [0, 1e200, 0], [0, 0, 1]], dtype=torch.float64)[None]
    ref = warp_reference(torch.from_numpy(img).permute(2, 0, 1)[None], M, (6, 7))
    assert (ref[0].permute(1, 2, 0).numpy() == img[0, 0]).all()


def test_int64_fill_beyond_2_53_is_exact(rng):
    mask = torch.from_numpy(rng.integers(0, 5, (1, 1, 6, 6)))
    fill = 2**60 + 1  # not a float64
    shift = torch.tensor([[1.0, 0, 3], [0, 1, 0], [0, 0, 1]])
    out = geomaug.warp(mask, shift, (6, 6), interpolation="nearest", fill=fill)
    assert (out[..., :3] == fill).all() and torch.equal(out[..., 3:], mask[..., :3])
    per_channel = geomaug.warp(mask, shift, (6, 6), interpolation="nearest", fill=[fill])
    assert torch.equal(per_channel, out)
    ref = warp_reference(mask, shift.double()[None], (6, 6), "nearest", torch.tensor([fill]))
    assert torch.equal(ref, out)


@pytest.mark.parametrize("fill, match", [
    (256, r"fill must be within uint8's range \[0, 255\], got 256"),
    ([-1, 0, 0], r"fill must be within uint8's range"),
    (float("inf"), "fill must be finite"),
    (True, "fill must hold real numbers"),
])
def test_fill_out_of_the_dtype_range(fill, match):
    with pytest.raises(geomaug.InputError, match=match):
        geomaug.warp(torch.zeros(3, 4, 4, dtype=torch.uint8), torch.eye(3), (4, 4), fill=fill)


def test_fractional_uint8_fill_rounds_half_to_even():
    out = geomaug.warp(torch.zeros(1, 2, 2, dtype=torch.uint8), torch.eye(3), (2, 4), fill=12.5)
    assert (out[..., 2:] == 12).all()


@pytest.mark.skipif(not EXT_LOADED, reason="needs the extension")
def test_op_accepts_float64_and_typed_fill():
    src = torch.zeros(1, 1, 2, 2, dtype=torch.int64)
    M = torch.tensor([[[1.0, 0, 5], [0, 1, 0], [0, 0, 1]]], dtype=torch.float64)
    typed = torch.ops.geomaug.warp(src, M, 2, 2, 1, torch.tensor([2**60 + 1]), 0)
    assert (typed == 2**60 + 1).all()
    as_double = torch.ops.geomaug.warp(src, M, 2, 2, 1, torch.tensor([7.4], dtype=torch.float64))
    assert (as_double == 7).all()
    with pytest.raises(RuntimeError, match="border must be 0 \\(constant\\)"):
        torch.ops.geomaug.warp(src, M, 2, 2, 1, torch.tensor([1]), 3)
