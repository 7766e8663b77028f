"""geomaug.transforms ops against their peers: Resize = cv2.resize, warps = cv2.warpAffine with the
returned matrix, border modes = OpenCV's outside the image, colour ops = torchvision v2 functional,
crops/pads = torchvision/numpy; pipeline semantics of colour in a pass."""
import numpy as np
import pytest
import torch

import geomaug.transforms as T
from geomaug import color as geomaug_color
from geomaug.transforms._resample import resample

cv2 = pytest.importorskip("cv2")
TF = pytest.importorskip("torchvision.transforms.v2.functional")

CV_BORDER = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE,
             "reflect": cv2.BORDER_REFLECT_101}


def smooth_image(rng, h, w, c=3, dtype=np.uint8):
    """A random image with gradients ≤ ~16 levels/px (cv2's warps quantise coordinates to 1/32 px)."""
    small = rng.uniform(0, 255, (max(2, h // 16 + 2), max(2, w // 16 + 2), c)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, c)
    big = np.clip(big, 0, 255)
    return big.astype(np.uint8) if dtype == np.uint8 else (big / 255).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_resize_equals_cv2_resize(rng, dtype):
    for _ in range(4):
        h, w = (int(v) for v in rng.integers(3, 40, 2))
        nh, nw = (int(v) for v in rng.integers(3, 90, 2))
        a = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        a = a if dtype == np.uint8 else (a / 255).astype(np.float32)
        out = T.Resize((nh, nw))(image=a)["image"]
        ref = cv2.resize(a, (nw, nh), interpolation=cv2.INTER_LINEAR)
        diff = np.abs(out.astype(np.float64) - ref.astype(np.float64)).max()
        assert diff <= (1 if dtype == np.uint8 else 1e-5), (h, w, nh, nw, diff)


@pytest.mark.parametrize("border", ["constant", "replicate", "reflect"])
def test_warp_with_matrix_equals_cv2_warp_affine(rng, border):
    h, w = (int(v) for v in rng.integers(16, 48, 2))
    a = smooth_image(rng, h, w)
    t = T.Compose([T.RandomAffine(40, translate=(0.3, 0.3), scale=(0.6, 1.6), shear=10, border=border)],
                  fill=7)
    out = t(image=a, seed=int(rng.integers(1 << 30)))
    M = out["matrix"]
    ref = cv2.warpAffine(a, M[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=CV_BORDER[border],
                         borderValue=(7, 7, 7))
    # where every tap is inside the image both agree; where the sample point is outside the image
    # area, the border mode decides (per tap, as OpenCV); only the half-pixel ring inside the area
    # differs (geomaug clamps there: image content, not a blend with the border).
    ys, xs = np.mgrid[0:h, 0:w]
    inv = np.linalg.inv(M)
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    interior = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    outside = (sx < -0.5 - 1 / 32) | (sx > w - 0.5 + 1 / 32) | (sy < -0.5 - 1 / 32) | (sy > h - 0.5 + 1 / 32)
    diff = np.abs(out["image"].astype(int) - ref.astype(int)).max(-1)
    assert interior.sum() > 0
    assert diff[interior].max() <= 1
    if outside.any():
        assert diff[outside].max() <= (1 if border != "reflect" else 2)


def test_border_modes_on_pad_equal_numpy_pad(rng):
    a = rng.integers(0, 256, (7, 9, 3)).astype(np.uint8)
    m = rng.integers(0, 3, (7, 9)).astype(np.uint8)
    for border, mode in (("constant", "constant"), ("replicate", "edge"), ("reflect", "reflect")):
        out = T.Pad((3, 2, 4, 5), border=border, fill=9, ignore_index=200)(image=a, mask=m)
        kw = {"constant_values": 9} if mode == "constant" else {}
        ref = np.pad(a, ((2, 5), (3, 4), (0, 0)), mode=mode, **kw)
        np.testing.assert_array_equal(out["image"], ref)
        kwm = {"constant_values": 200} if mode == "constant" else {}
        np.testing.assert_array_equal(out["mask"], np.pad(m, ((2, 5), (3, 4)), mode=mode, **kwm))


def test_random_crop_pads_smaller_images(rng):
    a = torch.from_numpy(rng.integers(0, 200, (3, 5, 6)).astype(np.uint8))
    m = torch.from_numpy(rng.integers(0, 3, (5, 6)).astype(np.uint8))
    out = T.RandomCrop((8, 10), fill=(250, 251, 252))(image=a, mask=m, seed=int(rng.integers(1 << 30)))
    top, left = -int(out["params"]["top"][0]), -int(out["params"]["left"][0])
    assert 0 <= top <= 3 and 0 <= left <= 4
    assert torch.equal(out["image"][:, top:top + 5, left:left + 6], a)
    assert torch.equal(out["mask"][top:top + 5, left:left + 6], m)
    pad = torch.ones(8, 10, dtype=torch.bool)
    pad[top:top + 5, left:left + 6] = False
    assert (out["image"][:, pad] == torch.tensor([250, 251, 252], dtype=torch.uint8)[:, None]).all()
    assert (out["mask"][pad] == 255).all()


@pytest.mark.parametrize("size", [(4, 6), (10, 3), (12, 14)])
def test_center_crop_equals_torchvision(rng, size):
    a = torch.from_numpy(rng.integers(0, 256, (3, 9, 8)).astype(np.uint8))
    assert torch.equal(T.CenterCrop(size)(image=a)["image"], TF.center_crop(a, list(size)))


def test_random_resized_crop_full_area_is_resize(rng):
    a = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
    out = T.RandomResizedCrop(20, scale=(1.0, 1.0), ratio=(1.0, 1.0))(image=a, seed=1)
    np.testing.assert_array_equal(out["image"], T.Resize(20)(image=a)["image"])
    out = T.RandomResizedCrop((9, 7))(image=np.zeros((30, 50, 3), np.uint8), seed=int(rng.integers(1 << 30)))
    p = out["params"]
    assert out["image"].shape == (9, 7, 3)
    assert (p["top"] >= 0).all() and (p["top"] + p["height"] <= 30).all()
    assert (p["left"] >= 0).all() and (p["left"] + p["width"] <= 50).all()


def test_rotate_equals_cv2(rng):
    h, w = 31, 40
    a = smooth_image(rng, h, w)
    out = T.Rotate((25, 25))(image=a)
    ref = cv2.warpAffine(a, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 25, 1.0), (w, h))
    assert np.abs(out["image"][8:-8, 8:-8].astype(int) - ref[8:-8, 8:-8]).max() <= 1


def test_random_scale_sizes(rng):
    a = np.zeros((10, 21), np.uint8)
    for s in (0.5, 0.75, 1.3):
        out = T.RandomScale(choices=[s])(image=a)
        assert out["image"].shape == (int(np.floor(10 * s + 0.5)), int(np.floor(21 * s + 0.5)))
    draws = T.RandomScale((0.75, 2.0))(image=torch.zeros(1, 1, 8, 8).expand(200, 1, 8, 8)[:1], seed=3)
    assert 0.75 <= float(draws["params"]["scale"][0]) <= 2.0
    seen = {float(T.RandomScale(choices=[0.5, 1.0, 2.0])(image=a, seed=s)["params"]["scale"][0]) for s in range(30)}
    assert seen == {0.5, 1.0, 2.0}


# ---- colour ----------------------------------------------------------------------------------

def _jitter(name, f, **kw):
    return T.ColorJitter(**{name: (f, f)}, **kw)


@pytest.fixture
def tv_luma_0299(monkeypatch):
    """torchvision with geomaug.color's luma weights (0.299, not 0.2989, for red; see its docs)."""
    from torchvision.transforms.v2.functional import _color as tv_color

    def gray(img, num_output_channels=1, preserve_dtype=True):
        r, g, b = img.unbind(-3)
        out = (r * 0.299 + g * 0.587 + b * 0.114).unsqueeze(-3)
        out = out.to(img.dtype) if preserve_dtype else out
        return out.expand(img.shape) if num_output_channels == 3 else out

    monkeypatch.setattr(tv_color, "_rgb_to_grayscale_image", gray)


@pytest.mark.parametrize("name", ["brightness", "contrast", "saturation", "hue"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_color_ops_equal_torchvision(rng, name, dtype, order, tv_luma_0299):
    import geomaug.color as C

    x = torch.from_numpy(rng.integers(0, 256, (2, 3, 11, 13)).astype(np.uint8))
    x = x if dtype == torch.uint8 else x.float() / 255
    f = float(rng.uniform(-0.4, 0.4)) if name == "hue" else float(rng.uniform(0.2, 1.8))
    inp = x if order == "RGB" else x.flip(1)
    out = T.Compose([_jitter(name, f)], channel_order=order)(image=inp)["image"]
    # exactly geomaug.color's functional (the same float chain, rounded once)
    assert torch.equal(out, getattr(C, f"adjust_{name}")(inp, f, channel_order=order))
    out = out if order == "RGB" else out.flip(1)
    ref = getattr(TF, f"adjust_{name}")(x, f)
    if dtype == torch.uint8:  # torchvision floors the luma and truncates (see geomaug.color)
        tol = 1 if name in ("brightness", "hue") else int(1.5 + abs(1 - f) + 1e-3)
    else:
        tol = 1e-5
    assert (out.double() - ref.double()).abs().max() <= tol


@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_grayscale_equals_torchvision(rng, order):
    x = torch.from_numpy(rng.integers(0, 256, (3, 9, 10)).astype(np.uint8))
    ref = TF.rgb_to_grayscale(x, num_output_channels=3)
    inp = x if order == "RGB" else x.flip(0)
    out = T.RandomGrayscale(p=1.0, channel_order=order)(image=inp)["image"]
    assert (out.int() - ref.int()).abs().max() <= 1


def test_fixed_order_equals_chain_of_torchvision(rng, tv_luma_0299):
    x = torch.from_numpy(rng.integers(0, 256, (3, 12, 12)).astype(np.uint8)).float() / 255
    fs = [float(v) for v in rng.uniform(0.5, 1.5, 3)] + [float(rng.uniform(-0.2, 0.2))]
    t = T.ColorJitter(*[(v, v) for v in fs], random_order=False)
    ref = TF.adjust_hue(TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(x, fs[0]), fs[1]), fs[2]), fs[3])
    assert (t(image=x)["image"] - ref).abs().max() < 1e-5
    orders = np.concatenate([t2["params"]["order"] for t2 in
                        [T.ColorJitter(0.1, 0.1, 0.1, 0.1)(image=x[None].expand(8, 3, 12, 12), seed=s) for s in range(4)]])
    assert len({tuple(o) for o in orders.tolist()}) > 3  # random order per sample by default


def test_normalize_and_denormalize(rng):
    a = rng.integers(0, 256, (10, 12, 3)).astype(np.uint8)
    out = T.Normalize()(image=a)["image"]
    ref = TF.normalize(TF.to_dtype(torch.from_numpy(a).permute(2, 0, 1), torch.float32, scale=True),
                       list(T.IMAGENET_MEAN), list(T.IMAGENET_STD))
    assert out.shape == (3, 10, 12) and out.dtype == torch.float32
    assert (out - ref).abs().max() < 1e-5
    assert torch.equal(T.denormalize(out), torch.from_numpy(a).permute(2, 0, 1))
    chw = torch.from_numpy(a).permute(2, 0, 1)
    assert (T.Normalize()(image=chw)["image"] - ref).abs().max() < 1e-5
    half = T.Normalize(dtype=torch.float16)(image=chw[None])["image"]
    assert half.dtype == torch.float16 and half.shape == (1, 3, 10, 12)


def test_colour_acts_on_resampled_pixels_and_rounds_once(rng):
    a = torch.from_numpy(rng.integers(0, 256, (2, 3, 15, 17)).astype(np.uint8))
    t = T.Compose([T.RandomAffine(30, scale=(0.8, 1.2)), T.ColorJitter(brightness=(1.3, 1.3)),
                   T.ColorJitter(contrast=(0.6, 0.6))])
    out = t(image=a, seed=4)
    warped = resample(a.float(), out["matrix"], (15, 17), "bilinear", 0.0, "constant")
    b = (warped * 1.3).clamp(0, 255)
    # The fused op's contrast (this pipeline fuses): the float32 grey summed in float64, and
    # x·f + (1 − f)·mean in float32 (a float32 mean or 0.4 for 1 − f moves ties by an ulp).
    mean = geomaug_color._gray(b).double().mean(dim=(1, 2, 3)).float().view(2, 1, 1, 1)
    f = torch.tensor(0.6)
    ref = (b * f + (1.0 - f) * mean).clamp(0, 255).round().to(torch.uint8)
    assert torch.equal(out["image"], ref)


def test_contrast_mean_where_the_op_stands(rng, tv_luma_0299):
    a = torch.from_numpy(rng.integers(0, 256, (3, 20, 20)).astype(np.uint8)).float() / 255
    before = T.Compose([T.ColorJitter(contrast=(0.5, 0.5)), T.CenterCrop(6)])(image=a)["image"]
    after = T.Compose([T.CenterCrop(6), T.ColorJitter(contrast=(0.5, 0.5))])(image=a)["image"]
    crop = TF.center_crop(a, [6, 6])
    assert (before - TF.center_crop(TF.adjust_contrast(a, 0.5), [6, 6])).abs().max() < 1e-5
    assert (after - TF.adjust_contrast(crop, 0.5)).abs().max() < 1e-5
    # between geometric ops: the mean of the image as it is there (rotated, not yet cropped)
    mid = T.Compose([T.Rotate((90, 90)), T.ColorJitter(contrast=(0.5, 0.5)), T.CenterCrop(6)])(image=a)["image"]
    rot = torch.rot90(a, 1, (1, 2))
    assert (mid - TF.center_crop(TF.adjust_contrast(rot, 0.5), [6, 6])).abs().max() < 1e-5


def test_multiscale_copies_and_merge(rng):
    img = torch.rand(2, 3, 20, 24, dtype=torch.float64)
    ms = T.MultiScale((0.5, 1.0, 2.0), flip=True)
    copies = ms(image=img, keypoints=torch.tensor([[3.0, 4.0]]))
    assert [tuple(c["image"].shape[-2:]) for c in copies] == [(10, 12)] * 2 + [(20, 24)] * 2 + [(40, 48)] * 2
    assert torch.allclose(copies[3]["image"], img.flip(-1))
    # identity-scale copies map back exactly; the 2x copies nearly (bilinear twice)
    back = ms.merge([c["image"] for c in copies[2:4]], copies[2:4], (20, 24))
    assert torch.allclose(back, img)
    kp_back = T.inverse_points(copies[5]["keypoints"], copies[5]["matrix"])
    assert torch.allclose(kp_back, torch.tensor([[3.0, 4.0]], dtype=kp_back.dtype).expand(2, 1, 2))


def test_bgr_pipeline_equals_rgb_pipeline_flipped(rng):
    x = torch.from_numpy(rng.integers(0, 256, (2, 3, 14, 12)).astype(np.uint8))
    ops = lambda: [T.ColorJitter(0.5, 0.5, 0.5, 0.2), T.RandomGrayscale(0.5), T.RandomAffine(20), T.Normalize()]  # noqa: E731
    rgb = T.Compose(ops())(image=x, seed=9)["image"]
    bgr = T.Compose(ops(), channel_order="BGR")(image=x.flip(1), seed=9)["image"]
    assert (bgr.flip(1) - rgb).abs().max() < 1e-5


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float64])
def test_nested_compose_channel_order_reaches_its_colour_ops(rng, dtype):
    """A nested Compose's channel_order is that of its ops (colour and Normalize alike), uint8
    and float64 (step by step here: the outer brightness jitter is RGB, a second channel order);
    the outer pipeline's stays RGB."""
    x = torch.from_numpy(rng.integers(0, 256, (2, 3, 14, 12)).astype(np.uint8)).to(dtype)
    x = x if dtype == torch.uint8 else x / 255
    ops = lambda order=None: [T.ColorJitter(0.4, 0.4, 0.4, 0.2, channel_order=order),  # noqa: E731
                              T.RandomGrayscale(0.5, channel_order=order)]
    nested = T.Compose([T.RandomAffine(20), T.Compose(ops(), channel_order="BGR"),
                        T.ColorJitter(brightness=0.3), T.Normalize()])
    declared = T.Compose([T.RandomAffine(20), *ops("BGR"), T.ColorJitter(brightness=0.3),
                          T.Normalize()])
    for batch in (x, x[0]):
        assert torch.equal(nested(image=batch, seed=4)["image"],
                           declared(image=batch, seed=4)["image"])


def test_nested_channel_order_on_the_fused_path(rng, monkeypatch):
    """All colour ops and Normalize in one nested BGR Compose: one channel order, so the uint8
    image takes the fused op, with BGR (as the same ops declared BGR one by one)."""
    from geomaug.transforms import _apply

    calls = []
    real = _apply.fused_run
    monkeypatch.setattr(_apply, "fused_run", lambda *a, **k: calls.append(k) or real(*a, **k))
    x = torch.from_numpy(rng.integers(0, 256, (2, 3, 14, 12)).astype(np.uint8))
    nested = T.Compose([T.RandomAffine(20), T.Compose(
        [T.ColorJitter(0.4, 0.4, 0.4, 0.2), T.RandomGrayscale(0.5), T.Normalize()],
        channel_order="BGR")])
    declared = T.Compose([T.RandomAffine(20), T.ColorJitter(0.4, 0.4, 0.4, 0.2, channel_order="BGR"),
                          T.RandomGrayscale(0.5, channel_order="BGR"),
                          T.Normalize(channel_order="BGR")])
    rgb = T.Compose([T.RandomAffine(20), T.ColorJitter(0.4, 0.4, 0.4, 0.2), T.RandomGrayscale(0.5),
                     T.Normalize()])
    for batch in (x, x[0]):
        got = nested(image=batch, seed=4)["image"]
        assert torch.equal(got, declared(image=batch, seed=4)["image"])
        assert not torch.equal(got, rgb(image=batch, seed=4)["image"])
    assert [k["channel_order"] for k in calls[:2]] == ["BGR", "BGR"]
