"""geomaug.fused.augment with ``mask=``: the label masks of the same images through the same
matrices (nearest, ignore_index outside, dtype and form kept), and what Compose does with masks."""
import numpy as np
import pytest
import torch

import geomaug
import geomaug.transforms as T
from geomaug import fused
from helpers import random_affine, random_image

MEAN, STD = geomaug.color.IMAGENET_MEAN, geomaug.color.IMAGENET_STD


def _labels(rng, shape, dtype, n=7):
    return torch.from_numpy(rng.integers(0, n, shape)).to(dtype)


@pytest.mark.parametrize("border", ["constant", "replicate", "reflect"])
@pytest.mark.parametrize("form", ["BHW", "B1HW"])
def test_mask_is_the_nearest_warp_with_ignore_index(rng, border, form):
    B, H, W = 3, 23, 17
    img = random_image(rng, B, 3, H, W, torch.uint8)
    m = _labels(rng, (B, H, W), torch.uint8)
    M = random_affine(rng, B, H, W, out_hw=(19, 21))
    given = m if form == "BHW" else m[:, None]
    out, warped = fused.augment(img, M, (19, 21), border=border, mask=given, ignore_index=250,
                                mean=MEAN, std=STD)
    want = geomaug.warp(m[:, None], M, (19, 21), interpolation="nearest", fill=250, border=border)
    assert warped.shape == given.shape[:-2] + (19, 21) and warped.dtype == torch.uint8
    assert torch.equal(warped.reshape(B, 19, 21), want[:, 0])
    assert torch.equal(out, fused.augment(img, M, (19, 21), border=border, mean=MEAN, std=STD))
    if border == "constant":
        assert (warped == 250).any()  # some points fall outside


@pytest.mark.parametrize("dtype", [torch.int64, torch.int16, torch.bool])
def test_mask_dtype_kept_and_ignore_index_exact(rng, dtype):
    B, H, W = 2, 15, 15
    img = random_image(rng, B, 1, H, W, torch.float32)
    m = _labels(rng, (B, H, W), dtype, n=2 if dtype == torch.bool else 9)
    ignore = {torch.int64: 2**40 + 1, torch.int16: -300, torch.bool: 1}[dtype]
    M = random_affine(rng, B, H, W, scale=(1.5, 2.0))
    _, warped = fused.augment(img, M, (15, 15), mask=m, ignore_index=ignore)
    assert warped.dtype == dtype
    want = geomaug.warp(m[:, None].to(torch.int64), M, (15, 15), interpolation="nearest",
                        fill=int(ignore))[:, 0].to(dtype)
    assert torch.equal(warped, want)


def test_numpy_and_unbatched_forms(rng):
    H, W = 31, 29
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    m = rng.integers(0, 5, (H, W)).astype(np.uint8)
    m.flags.writeable = False  # read-only numpy, as np.asarray(PIL image) gives
    M = random_affine(rng, 1, H, W)[0].numpy()
    out, warped = fused.augment(img, M, (20, 24), mask=m, mean=MEAN, std=STD)
    assert isinstance(warped, np.ndarray) and warped.shape == (20, 24) and warped.dtype == np.uint8
    np.testing.assert_array_equal(
        warped, geomaug.warp(m, M, (20, 24), interpolation="nearest", fill=255))
    chw = torch.from_numpy(img).permute(2, 0, 1)
    out2, warped2 = fused.augment(chw, M, (20, 24), mask=torch.from_numpy(m.copy()), mean=MEAN,
                                  std=STD)
    assert torch.equal(out2, out) and np.array_equal(warped2.numpy(), warped)


def test_bad_masks_are_clear_errors(rng):
    img = random_image(rng, 2, 3, 10, 12, torch.uint8)
    M = torch.eye(3)
    cases = [(torch.zeros(2, 10, 11, dtype=torch.uint8), "does not match"),
             (torch.zeros(3, 10, 12, dtype=torch.uint8), "does not match"),
             (torch.zeros(2, 2, 10, 12, dtype=torch.uint8), r"\(B, H, W\) or \(B, 1, H, W\)"),
             (torch.zeros(2, 10, 12), "integer"),
             (np.zeros((10, 12), np.uint8), "torch tensor like the image")]
    for mask, match in cases:
        with pytest.raises(geomaug.InputError, match=match):
            fused.augment(img, M, (8, 8), mask=mask)
    with pytest.raises(geomaug.InputError, match="ignore_index=300 does not fit"):
        fused.augment(img, M, (8, 8), mask=torch.zeros(2, 10, 12, dtype=torch.uint8),
                      ignore_index=300)


def test_compose_mask_equals_the_ops_mask(rng):
    """Compose's mask pass is warp_mask with the composed matrix: the same as augment(mask=)."""
    t = T.Compose([T.HorizontalFlip(), T.RandomAffine(30, translate=(0.1, 0.1), scale=(0.75, 1.75)),
                   T.CenterCrop(40), T.ColorJitter(0.4, 0.4, 0.4), T.Normalize()],
                  ignore_index=254)
    img = rng.integers(0, 256, (48, 52, 3), dtype=np.uint8)
    m = rng.integers(0, 5, (48, 52)).astype(np.uint8)
    out = t(image=img, mask=m, seed=int(rng.integers(1 << 30)))
    _, warped = fused.augment(img, out["matrix"], (40, 40), mask=m, ignore_index=254)
    np.testing.assert_array_equal(out["mask"], warped)


def test_warp_mask_checks_its_arguments():
    from geomaug.warping import warp_mask

    m = torch.zeros(2, 6, 6, dtype=torch.uint8)
    eye = torch.eye(3).expand(2, 3, 3)
    for bad, match in ((torch.zeros(2, 2, 6, 6, dtype=torch.uint8), r"\(B, H, W\) or \(B, 1, H, W\)"),
                       (np.zeros((2, 6, 6), np.uint8), "tensor"),
                       (torch.zeros(6, 6, dtype=torch.uint8), r"\(B, H, W\)")):
        with pytest.raises(geomaug.InputError, match=match):
            warp_mask(bad, eye, (4, 4))
    with pytest.raises(geomaug.InputError, match="border must be one of"):
        warp_mask(m, eye, (4, 4), border="wrap")
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        warp_mask(m, eye, (4, 4), ignore_index=1.5)
    assert warp_mask(m[:, None], eye, (4, 4)).shape == (2, 1, 4, 4)
    assert warp_mask(m, eye, (4, 4)).shape == (2, 4, 4)
