"""geomaug.transforms, the per-call path: parameters drawn from a pool of uniforms (one torch.rand
per call), Normalize's cached scale/bias, keypoints read and mapped without the public checks."""
import numpy as np
import pytest
import torch

import geomaug
import geomaug.transforms as T
from geomaug.transforms import geometry as G


def _flat(params):
    """All arrays of a call's params, in order."""
    if isinstance(params, np.ndarray):
        return [params]
    if isinstance(params, dict):
        return [t for v in params.values() for t in _flat(v)]
    if isinstance(params, (list, tuple)):
        return [t for v in params for t in _flat(v)]
    return []


@pytest.mark.parametrize("B", [1, 3])
def test_more_draws_than_one_pool_are_reproducible(rng, B):
    # Three RandomResizedCrops draw 3 × 40 uniforms per sample: several pools per call.
    t = T.Compose([T.RandomResizedCrop(12), T.RandomResizedCrop(10), T.HorizontalFlip(),
                   T.RandomResizedCrop(9),
                   T.RandomAffine(20, translate=(0.1, 0.2), scale=(0.9, 1.1), shear=5),
                   T.ColorJitter(0.3, 0.3, 0.3, 0.1, p=0.7)])
    x = torch.from_numpy(rng.integers(0, 256, (B, 3, 17, 15)).astype(np.uint8))
    seed = int(rng.integers(1 << 30))
    a, b = t(image=x, seed=seed), t(image=x, seed=seed)
    assert all(np.array_equal(u, v) for u, v in zip(_flat(a["params"]), _flat(b["params"])))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["matrix"], b["matrix"])
    assert torch.equal(t.replay(a["params"], image=x)["image"], a["image"])
    # every drawn value is its own array (no view of a shared pool)
    assert all(p.base is None for p in _flat(a["params"]))
    # a generator goes on: the next call draws new values (the pool is not kept between calls)
    g = torch.Generator().manual_seed(seed)
    first, second = t(image=x, generator=g), t(image=x, generator=g)
    assert torch.equal(first["matrix"], a["matrix"])
    assert not torch.equal(second["matrix"], first["matrix"])


def test_uniform_ranges_and_coins(rng):
    t = T.Compose([T.RandomAffine(degrees=(10, 20), translate=(0.25, 0.5), scale=(0.5, 0.75)),
                   T.HorizontalFlip(p=0.3)])
    B, H, W = 400, 9, 16
    out = t(keypoints=torch.zeros(B, 1, 2), size=(H, W), seed=int(rng.integers(1 << 30)))
    affine, flip = out["params"]
    for name, lo, hi in (("angle", 10, 20), ("scale", 0.5, 0.75), ("tx", -0.25 * W, 0.25 * W),
                         ("ty", -0.5 * H, 0.5 * H)):
        v = affine[name]
        assert v.dtype == np.float64 and v.shape == (B,)
        assert lo <= v.min() and v.max() < hi and v.max() - v.min() > 0.8 * (hi - lo), name
    assert flip["apply"].dtype == bool and 0.2 < flip["apply"].mean() < 0.4
    # the columns of one draw are not reused: different parameters are not equal
    assert not np.array_equal((affine["angle"] - 10) / 10, (affine["scale"] - 0.5) / 0.25)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_one_normalize_in_several_settings(rng, dtype):
    """A Normalize shared by pipelines of different channel orders and input types gives each its
    own scale and bias."""
    norm = T.Normalize(mean=(0.1, 0.5, 0.9), std=(0.2, 0.3, 0.4))
    a = rng.integers(0, 256, (2, 3, 5, 7))
    x = torch.from_numpy(a.astype(np.uint8) if dtype == torch.uint8 else a / 255.0).to(dtype)
    for order in ("RGB", "BGR", "RGB"):
        out = T.Compose([norm], channel_order=order)(image=x)["image"]
        want = geomaug.color.normalize(x, norm.mean, norm.std, channel_order=order)
        assert out.dtype == torch.float32
        assert torch.allclose(out, want, atol=1e-5)
    norm.mean = (0.0, 0.0, 0.0)  # a changed attribute is honoured
    out = T.Compose([norm])(image=x)["image"]
    assert torch.allclose(out, geomaug.color.normalize(x, norm.mean, norm.std), atol=1e-5)


def test_keypoint_inputs_kept_and_typed(rng):
    t = T.Compose([T.HorizontalFlip(p=1.0), T.Pad(2)])
    kp = (rng.random((5, 2)) * 8).astype(np.float32)
    kp.flags.writeable = False
    before = kp.copy()
    out = t(keypoints=kp, size=(8, 10))
    assert np.array_equal(kp, before)
    assert isinstance(out["keypoints"], np.ndarray) and out["keypoints"].dtype == np.float32
    assert np.allclose(out["keypoints"], np.stack([9 - kp[:, 0] + 2, kp[:, 1] + 2], 1))
    ints = t(keypoints=np.array([[1, 2]], dtype=np.int16), size=(8, 10))["keypoints"]
    assert ints.dtype == np.float64 and np.array_equal(ints, [[10.0, 4.0]])
    listed = t(keypoints=[[1, 2.5]], size=(8, 10))["keypoints"]
    assert listed.dtype == np.float64 and np.array_equal(listed, [[10.0, 4.5]])
    empty = t(keypoints=np.zeros((0, 2), np.float32), size=(8, 10))
    assert empty["keypoints"].shape == (0, 2) and empty["visible"].shape == (0,)
    for bad in (np.array([["a", "b"]]), np.array([[1 + 1j, 2]]), np.array([[True, False]]),
                [[object(), 1.0]]):
        with pytest.raises(TypeError, match="keypoints must hold"):
            t(keypoints=bad, size=(8, 10))
    with pytest.raises(geomaug.InputError, match="keypoints must be finite"):
        t(keypoints=np.array([[1.0, np.inf]]), size=(8, 10))
    with pytest.raises(geomaug.InputError, match="keypoints must be"):
        t(keypoints=np.zeros((2, 3)), size=(8, 10))


@pytest.mark.parametrize("B", [1, 4])
def test_keypoints_and_visibility_follow_the_matrix(rng, B):
    t = T.Compose([T.HorizontalFlip(), T.RandomAffine(40, translate=(0.3, 0.3), scale=(0.5, 1.5)),
                   T.CenterCrop((13, 11))], flip_pairs=[(0, 3)])
    kp = torch.from_numpy(rng.random((B, 6, 2)) * [20, 15] - 1)
    out = t(image=torch.zeros(B, 1, 15, 20), keypoints=kp, seed=int(rng.integers(1 << 30)))
    mapped = G.swap_pairs(G.map_points(kp, out["matrix"]), G.mirrors(out["matrix"]), [(0, 3)])
    assert torch.allclose(out["keypoints"], mapped, atol=1e-9)
    x, y = out["keypoints"][..., 0], out["keypoints"][..., 1]
    inside = (x >= -0.5) & (x < 10.5) & (y >= -0.5) & (y < 12.5)
    assert torch.equal(out["visible"], inside)
