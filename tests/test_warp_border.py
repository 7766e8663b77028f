"""The warp's border rule and border modes, on whichever path is active, against OpenCV.

Inside the image's area [-0.5, W-0.5] x [-0.5, H-0.5] a sample point is image content (taps clamp to
the edge: a resize equals cv2.resize); outside it, each tap follows the border mode as in
cv2.warpAffine (constant / BORDER_REPLICATE / BORDER_REFLECT_101).
"""
import cv2
import numpy as np
import pytest
import torch

import geomaug
from geomaug.warping import warp_reference

CV2_BORDER = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE,
              "reflect": cv2.BORDER_REFLECT_101}
BORDERS = list(CV2_BORDER)


def dyadic_inverse(rng, H, W):
    """A destination → source affine map (rotation + scale, entries multiples of 1/8) whose source
    coordinates are all odd multiples of 1/32: cv2's fixed-point coordinates (1/32 px) are then
    exact, and no point lies on the area's edge or on a pixel boundary, so cv2 and the exact rule
    can be compared pixel by pixel.  Returns it and an output size that leaves part outside."""
    angle, scale = rng.uniform(-np.pi, np.pi), rng.uniform(0.6, 1.4)
    a, b = np.round(8 * scale * np.cos(angle)) / 8, np.round(-8 * scale * np.sin(angle)) / 8
    d, e = -b, a
    if a == 0 and b == 0:
        a = e = 1.0
    OH, OW = int(round(1.5 * H / scale)) + 1, int(round(1.5 * W / scale)) + 1
    cx, cy = (W - 1) / 2 + rng.uniform(-0.2, 0.2) * W, (H - 1) / 2 + rng.uniform(-0.2, 0.2) * H
    c = np.round((cx - a * (OW - 1) / 2 - b * (OH - 1) / 2) * 8) / 8 + 1 / 32
    f = np.round((cy - d * (OW - 1) / 2 - e * (OH - 1) / 2) * 8) / 8 + 3 / 32
    return np.array([[a, b, c], [d, e, f], [0, 0, 1]]), OH, OW


def source_points(inv, OH, OW):
    ys, xs = np.mgrid[0:OH, 0:OW].astype(np.float64)
    return inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2], inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("channels", [1, 3])
def test_points_outside_the_area_follow_cv2_border_modes(rng, border, dtype, channels):
    H, W = int(rng.integers(3, 40)), int(rng.integers(3, 40))
    shape = (H, W, channels) if channels > 1 else (H, W)
    img = (rng.random(shape) * 255).astype(dtype) if dtype == np.uint8 else rng.random(shape).astype(dtype)
    fill = [float(v) for v in (rng.integers(0, 256, channels) if dtype == np.uint8
                               else rng.random(channels))]
    inv, OH, OW = dyadic_inverse(rng, H, W)
    M = np.linalg.inv(inv)
    ours = geomaug.warp(img, M, (OH, OW), fill=fill if channels > 1 else fill[0], border=border)
    theirs = cv2.warpAffine(img, inv[:2], (OW, OH), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=CV2_BORDER[border], borderValue=tuple(fill + [0] * (4 - channels)))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    sx, sy = source_points(inv, OH, OW)
    outside = (sx < -0.5) | (sx > W - 0.5) | (sy < -0.5) | (sy > H - 0.5)
    interior = (sx >= 0) & (sx <= W - 1) & (sy >= 0) & (sy <= H - 1)
    assert outside.mean() > 0.05 and interior.any()
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    tol = 1 if dtype == np.uint8 else 1e-5
    assert diff[outside].max() <= tol, f"outside the area: max diff {diff[outside].max()}"
    assert diff[interior].max() <= tol, f"interior: max diff {diff[interior].max()}"


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("hw, out_hw", [((31, 47), (62, 94)), ((31, 47), (45, 101)),
                                        ((64, 50), (32, 25)), ((63, 51), (40, 29)),
                                        ((17, 19), (17, 19)), ((1, 9), (4, 20))])
def test_resize_equals_cv2_resize_at_every_pixel(rng, dtype, hw, out_hw):
    (H, W), (OH, OW) = hw, out_hw
    img = (rng.random((H, W, 3)) * 255).astype(dtype)
    if dtype == np.float32:
        img /= 255
    M = np.array([[OW / W, 0, 0.5 * OW / W - 0.5], [0, OH / H, 0.5 * OH / H - 0.5], [0, 0, 1]])
    theirs = cv2.resize(img, (OW, OH), interpolation=cv2.INTER_LINEAR)
    for border in BORDERS:  # every destination pixel samples inside the area: no border at all
        ours = geomaug.warp(img, M, (OH, OW), fill=[255, 0, 255] if dtype == np.uint8 else 7.0,
                            border=border)
        diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
        assert diff.max() <= (1 if dtype == np.uint8 else 1e-5), (border, diff.max())


def test_upscaled_edges_are_not_darkened(rng):
    img = torch.full((1, 3, 10, 10), 200, dtype=torch.uint8)
    M = torch.tensor([[2.0, 0, 0.5], [0, 2.0, 0.5], [0, 0, 1]])  # resize 10 -> 20 about the area
    out = geomaug.warp(img, M, (20, 20), fill=0)
    assert (out == 200).all()


@pytest.mark.parametrize("border", BORDERS)
def test_one_pixel_wide_images(rng, border):
    """W == 1: reflect maps every column to 0, as cv2's BORDER_REFLECT_101 does."""
    img = rng.random((6, 1)).astype(np.float32)
    M = np.array([[1.0, 0, 2.25], [0, 1, 0.5], [0, 0, 1]])
    ours = geomaug.warp(img, M, (8, 5), fill=-1.0, border=border)
    theirs = cv2.warpAffine(img, M[:2], (5, 8), flags=cv2.INTER_LINEAR,
                            borderMode=CV2_BORDER[border], borderValue=-1.0)
    sx, sy = source_points(np.linalg.inv(M), 8, 5)
    outside = (sx < -0.5) | (sx > 0.5) | (sy < -0.5) | (sy > 5.5)
    np.testing.assert_allclose(ours[outside], theirs[outside], atol=1e-5)


@pytest.mark.parametrize("border", BORDERS)
def test_nearest_border_modes(rng, border):
    """Nearest: inside the area the rounded index clamps; outside, fill / clamp / reflect."""
    mask = rng.integers(0, 5, (9, 12)).astype(np.uint8)
    M = np.array([[1.0, 0, 4.0], [0, 1, -3.0], [0, 0, 1]])  # pure shift: exact pixel centres
    ours = geomaug.warp(mask, M, (14, 20), interpolation="nearest", fill=255, border=border)
    theirs = cv2.warpAffine(mask, M[:2], (20, 14), flags=cv2.INTER_NEAREST,
                            borderMode=CV2_BORDER[border], borderValue=255)
    np.testing.assert_array_equal(ours, theirs)


def test_far_points_and_projective_maps_are_defined(rng):
    """Points very far outside (or behind a projective camera) give the fill in constant mode and
    finite, in-range values in the other modes, on the kernels and the PyTorch path alike."""
    img = torch.from_numpy(rng.random((2, 2, 11, 13))).float()
    M = torch.tensor([[[1e-9, 0, 0], [0, 1e-9, 0], [0, 0, 1]],
                      [[1, 0.2, 3], [0.1, 1, -2], [0.02, -0.03, 1]]], dtype=torch.float64)
    for border in BORDERS:
        out = geomaug.warp(img, M, (15, 17), fill=[-1, -2], border=border)
        ref = warp_reference(img, M, (15, 17), "bilinear", torch.tensor([-1.0, -2.0]), border)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
        if border != "constant":
            assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_nearest_rounds_halves_between_2_22_and_2_23(border, dtype):
    """Floats in [2^22, 2^23) still have halves: nearest rounds them half to even (as
    torch.round) on the kernels too, so far-outside reflected indices agree with the PyTorch
    path (they once truncated there)."""
    img = torch.arange(1 * 2 * 3 * 7, dtype=torch.float32).reshape(1, 2, 3, 7).to(dtype)
    for base in (2.0**22, 2.0**22 + 1, -(2.0**22) - 2, 2.0**23 - 4):
        # x' = x - base: output column j reads source x = j + base (+ 0.5 on odd columns)
        M = torch.tensor([[[1.0, 0, -base - 0.5], [0, 1, 0], [0, 0, 1]]], dtype=torch.float64)
        out = geomaug.warp(img, M, (3, 9), interpolation="nearest", fill=7, border=border)
        ref = warp_reference(img, M, (3, 9), "nearest", torch.tensor([7.0, 7.0]).to(dtype), border)
        assert torch.equal(out, ref), (base, border)
