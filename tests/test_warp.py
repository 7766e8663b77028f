"""The warp op: kernels vs the PyTorch path, vs cv2.warpAffine, layouts, masks, bad input."""

import cv2
import numpy as np
import pytest
import torch

import geomaug
from geomaug._ops import BORDER as BORDER_CODE
from geomaug.warping import warp_reference
from conftest import DEVICES, device_or_skip, needs_ext
from helpers import check_kernel, random_affine, random_image, smooth_image


TOL = {torch.uint8: 1, torch.float32: 1e-4, torch.float64: 1e-9}
BORDERS = ["constant", "replicate", "reflect"]


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("border", BORDERS)
def test_bilinear_kernel_matches_reference(rng, device, dtype, channels_last, border):
    dev = device_or_skip(device)
    B, C, H, W = int(rng.integers(1, 4)), 3, 37, 53
    src = random_image(rng, B, C, H, W, dtype).to(dev)
    if channels_last:
        src = src.contiguous(memory_format=torch.channels_last)
    # Scales down to 0.4 and shifts of 30 %: many points outside the source, near and far.
    M = random_affine(rng, B, H, W, (29, 41), scale=(0.4, 1.75), shift=0.3).to(dev)
    fill = torch.tensor(rng.random(C) * (255 if dtype == torch.uint8 else 1)).to(dev)
    before = src.clone()
    out = torch.ops.geomaug.warp(src, M, 29, 41, 0, fill, BORDER_CODE[border])
    ref = warp_reference(src, M, (29, 41), "bilinear", fill, border)
    assert torch.equal(src, before), "input modified in place"
    assert out.dtype == dtype and out.device == src.device and out.shape == (B, C, 29, 41)
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last
                             else torch.contiguous_format)
    diff = (out.double() - ref.double()).abs()
    assert diff.max() <= TOL[dtype], f"max diff {diff.max()}"
    if dtype == torch.uint8:  # off by one only where the exact value sits near .5
        assert (diff > 0).double().mean() < 0.01


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64, torch.float32,
                                   torch.float64])
@pytest.mark.parametrize("border", BORDERS)
def test_nearest_kernel_matches_reference(rng, device, dtype, border):
    dev = device_or_skip(device)
    src = random_image(rng, 4, 2, 40, 31, dtype).to(dev)
    M = random_affine(rng, 4, 40, 31, scale=(0.4, 1.75), shift=0.3).to(dev)
    fill = torch.tensor([255, 7]).to(dtype).to(dev)
    out = torch.ops.geomaug.warp(src, M, 40, 40, 1, fill, BORDER_CODE[border])
    ref = warp_reference(src, M, (40, 40), "nearest", fill, border)
    assert out.dtype == dtype
    # Same coordinate arithmetic: equal but where a compiler fuses a multiply-add (ties at .5).
    assert (out != ref).double().mean() < 1e-3


def test_perspective_kernel_matches_reference(rng):
    src = random_image(rng, 2, 3, 32, 32, torch.float32)
    M = random_affine(rng, 2, 32, 32)
    M[:, 2, :2] = torch.from_numpy(rng.uniform(-2e-3, 2e-3, (2, 2)))
    for border in BORDERS:
        out = geomaug.warp(src, M, (32, 32), border=border)
        ref = warp_reference(src, M, (32, 32), "bilinear", torch.zeros(3), border)
        assert (out - ref).abs().max() < 1e-4


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_matches_cv2_warp_affine(rng, dtype):
    H, W, C = 64, 80, 3
    img = smooth_image(rng, 1, C, H, W, dtype)
    M = random_affine(rng, 1, H, W, (50, 60))
    fill = [10.0, 20.0, 30.0] if dtype == torch.uint8 else [0.1, 0.2, 0.3]
    ours = geomaug.warp(img[0].permute(1, 2, 0).numpy(), M[0], (50, 60), fill=fill)
    theirs = cv2.warpAffine(img[0].permute(1, 2, 0).numpy(), M[0, :2].numpy(), (60, 50),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=tuple(fill))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    # Interior: pixels whose whole bilinear footprint is inside the source.
    inv = np.linalg.inv(M[0].numpy())
    ys, xs = np.mgrid[0:50, 0:60]
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    interior = (sx >= 1) & (sx <= W - 2) & (sy >= 1) & (sy <= H - 2)
    assert interior.mean() > 0.3
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))[interior]
    assert diff.max() <= (1 if dtype == torch.uint8 else 1e-4), diff.max()
    # Outside the source both give the fill value.
    outside = (sx < -1.5) | (sx > W + 0.5) | (sy < -1.5) | (sy > H + 0.5)
    np.testing.assert_allclose(ours[outside], theirs[outside], atol=1e-6)


def test_numpy_hwc_round_trip_without_copies(rng):
    img = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
    out = geomaug.warp(img, np.eye(3), (30, 40))
    assert isinstance(out, np.ndarray) and out.shape == (30, 40, 3)
    assert out.flags.c_contiguous  # written interleaved, not a transposed planar tensor
    np.testing.assert_array_equal(out, img)  # identity warp is exact
    gray = geomaug.warp(img[..., 0], np.eye(3), (30, 40))
    assert gray.shape == (30, 40) and gray.flags.c_contiguous
    np.testing.assert_array_equal(gray, img[..., 0])


@pytest.mark.parametrize("device", DEVICES)
def test_translation_moves_content(rng, device):
    dev = device_or_skip(device)
    img = random_image(rng, 1, 2, 20, 30, torch.float32).to(dev)
    M = torch.tensor([[1.0, 0, 3], [0, 1, 2], [0, 0, 1]], device=dev)
    out = geomaug.warp(img, M, (20, 30), fill=[-1.0, -2.0])
    torch.testing.assert_close(out[..., 2:, 3:], img[..., :-2, :-3])
    torch.testing.assert_close(out[:, 0, :2, :], torch.full_like(out[:, 0, :2, :], -1.0))
    torch.testing.assert_close(out[:, 1, :, :3], torch.full_like(out[:, 1, :, :3], -2.0))


@pytest.mark.parametrize("device", DEVICES)
def test_keypoint_on_marked_pixel_lands_on_the_mark(rng, device):
    """The warp samples at M⁻¹p: a mark at keypoint k appears at M k in the output."""
    dev = device_or_skip(device)
    H, W = 64, 64
    for M in random_affine(rng, 8, H, W, scale=(0.9, 1.5), shift=0.05):
        x, y = rng.integers(20, 44, 2)
        img = torch.zeros(1, 1, H, W)
        img[0, 0, y - 1:y + 2, x - 1:x + 2] = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]])
        out = geomaug.warp(img.to(dev), M.to(dev), (H, W))[0, 0].cpu().double()
        kx, ky, _ = (M @ torch.tensor([float(x), float(y), 1.0], dtype=torch.float64)).tolist()
        ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64),
                                torch.arange(W, dtype=torch.float64), indexing="ij")
        cx, cy = float((out * xs).sum() / out.sum()), float((out * ys).sum() / out.sum())
        assert abs(cx - kx) < 0.3 and abs(cy - ky) < 0.3, (cx, cy, kx, ky)


@pytest.mark.parametrize("device", DEVICES)
def test_mask_labels_preserved_dtype_and_fill(rng, device):
    dev = device_or_skip(device)
    mask = torch.from_numpy(rng.integers(0, 5, (2, 1, 48, 48))).to(dev)
    M = random_affine(rng, 2, 48, 48).to(dev)
    out = geomaug.warp(mask, M, (40, 40), interpolation="nearest", fill=255)
    assert out.dtype == torch.int64
    assert set(out.unique().tolist()) <= {0, 1, 2, 3, 4, 255}


def test_singular_and_nonfinite_matrices_give_fill(rng):
    img = random_image(rng, 3, 1, 10, 10, torch.float32)
    M = torch.eye(3, dtype=torch.float64).repeat(3, 1, 1)
    M[1, 0, 0] = 0.0  # singular
    M[2, 0, 2] = float("nan")
    out = geomaug.warp(img, M, (10, 10), fill=7.0)
    torch.testing.assert_close(out[0], img[0])
    assert (out[1:] == 7.0).all()
    ref = warp_reference(img, M, (10, 10), "bilinear", torch.tensor([7.0], dtype=torch.float64))
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("shape, size", [((0, 3, 10, 10), (5, 5)), ((2, 3, 10, 10), (0, 5)),
                                         ((2, 0, 10, 10), (5, 5)), ((2, 3, 0, 10), (4, 4))])
def test_empty_inputs_keep_their_shape(shape, size):
    img = torch.zeros(shape, dtype=torch.uint8)
    out = geomaug.warp(img, torch.eye(3), size, fill=9)
    assert out.shape == (shape[0], shape[1], *size)
    if shape[2] == 0 and out.numel():
        assert (out == 9).all()  # nothing to sample: all fill


def test_single_image_and_2x3_matrix(rng):
    img = random_image(rng, 1, 3, 16, 16, torch.float32)[0]
    out = geomaug.warp(img, torch.tensor([[1.0, 0, 0], [0, 1, 0]]), (16, 16))
    torch.testing.assert_close(out, img)


@pytest.mark.parametrize("kwargs, match", [
    (dict(image=torch.zeros(3, 4)), r"image must be \(C, H, W\) or \(B, C, H, W\)"),
    (dict(image=torch.zeros(1, 3, 4, 4, dtype=torch.int64)), "image dtype must be one of"),
    (dict(matrix=torch.eye(4)), r"matrix must be \(3, 3\)"),
    (dict(matrix=torch.eye(3).repeat(3, 1, 1)), "3 matrices for a batch of 2"),
    (dict(fill=[1, 2]), r"fill must be a scalar or have one value per channel \(3\), got 2"),
    (dict(fill=float("nan")), "fill must be finite"),
    (dict(interpolation="cubic"), "interpolation must be one of"),
    (dict(image="img"), "image must be a torch.Tensor or numpy.ndarray"),
])
def test_bad_input_is_a_clear_error(kwargs, match):
    args = dict(image=torch.zeros(2, 3, 4, 4), matrix=torch.eye(3), size=(4, 4))
    args.update(kwargs)
    extra = {k: args.pop(k) for k in ("fill", "interpolation") if k in args}
    with pytest.raises(geomaug.InputError, match=match):
        geomaug.warp(args["image"], args["matrix"], args["size"], **extra)


def test_non_contiguous_views_are_read_in_place(rng):
    big = random_image(rng, 2, 3, 40, 40, torch.float32)
    view = big[:, :, 5:35:2, 3:33]  # strided crop, no copy
    M = random_affine(rng, 2, 15, 30)
    out = geomaug.warp(view, M, (15, 30))
    ref = warp_reference(view.contiguous(), M, (15, 30), "bilinear", torch.zeros(3, dtype=torch.float64))
    assert (out - ref).abs().max() < 1e-4


def test_gradients_flow_through_the_pytorch_path(rng):
    img = random_image(rng, 1, 1, 8, 8, torch.float64).requires_grad_()
    M = random_affine(rng, 1, 8, 8, scale=(0.9, 1.1)).requires_grad_()
    out = geomaug.warp(img, M, (8, 8))
    out.sum().backward()
    assert img.grad is not None and torch.isfinite(img.grad).all()
    assert M.grad is not None and torch.isfinite(M.grad).all()


@needs_ext
def test_op_level_errors_name_the_argument():
    M = torch.eye(3, dtype=torch.float64)[None]
    with pytest.raises(RuntimeError, match="matrix must be a contiguous float64"):
        torch.ops.geomaug.warp(torch.zeros(1, 1, 4, 4), M.float(), 4, 4, 0, torch.zeros(1, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="src dtype must be uint8, float32 or float64"):
        torch.ops.geomaug.warp(torch.zeros(1, 1, 4, 4, dtype=torch.int64), M, 4, 4, 0,
                               torch.zeros(1, dtype=torch.float64))


@pytest.mark.parametrize("dtype, interpolation", [(torch.uint8, "bilinear"), (torch.float32, "bilinear"),
                                                  (torch.float64, "bilinear"), (torch.int64, "nearest")])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("border", ["constant", "replicate", "reflect"])
def test_kernel_contract(rng, dtype, interpolation, channels_last, border):
    """Input untouched, layout kept, kernel ≈ PyTorch path, CUDA ≈ CPU, batched = one by one,
    empty batch keeps its shape (tests/helpers.py)."""
    img = random_image(rng, 3, 3, 23, 31, dtype)
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    M = random_affine(rng, 3, 23, 31, (17, 19))
    fill = [5.0, 7.0, 9.0]
    check_kernel(lambda i, m: geomaug.warp(i, m, (17, 19), interpolation=interpolation, fill=fill,
                                           border=border),
                 (img, M), batched=(0, 1), atol=TOL.get(dtype, 0), rtol=0)
