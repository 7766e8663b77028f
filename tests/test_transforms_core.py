"""geomaug.transforms core: conventions of the matrices, target types in and out, one matrix per
sample, replay, flip pairs, inverse mapping, settings rules, bad input."""
import math
import pickle

import numpy as np
import pytest
import torch

import geomaug
import geomaug.transforms as T
from geomaug.transforms import geometry as G


def _img(rng, shape, dtype=torch.uint8):
    a = rng.integers(0, 256, shape)
    return torch.from_numpy(a.astype(np.uint8)) if dtype == torch.uint8 else \
        torch.from_numpy(a / 255.0).to(dtype)


# ---- matrices -----------------------------------------------------------------------------------

def test_matrix_conventions(rng):
    W, H = int(rng.integers(2, 50)), int(rng.integers(2, 50))
    x, y = rng.uniform(-1, W), rng.uniform(-1, H)
    p = torch.tensor([[x, y]], dtype=torch.float64)
    assert torch.allclose(G.map_points(p, G.hflip(torch.tensor(float(W)))), torch.tensor([[W - 1 - x, y]], dtype=torch.float64))
    assert torch.allclose(G.map_points(p, G.vflip(torch.tensor(float(H)))), torch.tensor([[x, H - 1 - y]], dtype=torch.float64))
    W2 = int(rng.integers(1, 80))
    m = G.resize(torch.tensor(float(H)), torch.tensor(float(W)), float(H), float(W2))
    assert torch.allclose(G.map_points(p, m)[0, 0], torch.tensor((x + 0.5) * W2 / W - 0.5, dtype=torch.float64))
    # whole-image area maps onto the whole output area
    assert torch.allclose(G.map_points(torch.tensor([[-0.5, 0.0]]), m.astype(np.float32))[0, 0], torch.tensor(-0.5))


def test_rotation_about_centre_matches_cv2(rng):
    cv2 = pytest.importorskip("cv2")
    H, W = int(rng.integers(5, 60)), int(rng.integers(5, 60))
    angle, scale = float(rng.uniform(-180, 180)), float(rng.uniform(0.5, 2))
    m = G.centered_affine(torch.tensor(angle), torch.tensor(scale), 0.0, 0.0, 0.0, 0.0,
                          torch.tensor(float(H)), torch.tensor(float(W)))
    ref = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), angle, scale)
    np.testing.assert_allclose(m[:2], ref, atol=1e-5)  # cv2 keeps the centre as float32


def test_shear_matrix(rng):
    kx = float(rng.uniform(-30, 30))
    m = G.centered_affine(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(kx, dtype=torch.float64), 0.0, 0.0, 0.0,
                          torch.tensor(11.0), torch.tensor(11.0))
    # about the centre (5, 5): x' = x + tan(kx) (y - 5)
    q = G.map_points(torch.tensor([[5.0, 8.0]], dtype=torch.float64), m)
    assert math.isclose(float(q[0, 0]), 5 + math.tan(math.radians(kx)) * 3, abs_tol=1e-9)


# ---- targets in, targets out --------------------------------------------------------------------

def test_types_and_layouts_round_trip(rng):
    t = T.Compose([T.HorizontalFlip(p=1.0), T.RandomCrop((9, 11))])
    hwc = rng.integers(0, 256, (13, 17, 3)).astype(np.uint8)
    hwc.flags.writeable = False  # read-only numpy
    out = t(image=hwc, mask=rng.integers(0, 4, (13, 17)).astype(np.int16), keypoints=[[1.0, 2.0]],
            seed=1)
    assert isinstance(out["image"], np.ndarray) and out["image"].shape == (9, 11, 3)
    assert out["image"].dtype == np.uint8
    assert out["mask"].dtype == np.int16 and out["mask"].shape == (9, 11)
    assert isinstance(out["matrix"], np.ndarray) and out["matrix"].shape == (3, 3)
    assert isinstance(out["keypoints"], np.ndarray) and out["keypoints"].shape == (1, 2)
    # the content: flip then crop, i.e. out[i, j] = in[top + i, W-1-(left + j)]
    top, left = int(out["params"][1]["top"][0]), int(out["params"][1]["left"][0])
    np.testing.assert_array_equal(out["image"], hwc[top:top + 9, ::-1][:, left:left + 11])
    gray = hwc[..., 0].copy()
    o2 = t(image=gray, params=out["params"])
    np.testing.assert_array_equal(o2["image"], gray[top:top + 9, ::-1][:, left:left + 11])
    # torch, channels-last batch: layout kept
    x = _img(rng, (2, 3, 13, 17)).contiguous(memory_format=torch.channels_last)
    o3 = t(image=x, seed=2)
    assert o3["image"].shape == (2, 3, 9, 11)
    assert o3["image"].is_contiguous(memory_format=torch.channels_last)
    assert o3["matrix"].shape == (2, 3, 3) and o3["matrix"].dtype == torch.float64


def test_pil_in_pil_out(rng):
    Image = pytest.importorskip("PIL.Image")
    a = rng.integers(0, 256, (12, 10, 3)).astype(np.uint8)
    out = T.HorizontalFlip(p=1.0)(image=Image.fromarray(a), mask=Image.fromarray(a[..., 0]))
    assert isinstance(out["image"], Image.Image) and out["image"].size == (10, 12)
    np.testing.assert_array_equal(np.asarray(out["image"]), a[:, ::-1])
    np.testing.assert_array_equal(np.asarray(out["mask"]), a[:, ::-1, 0])
    norm = T.Compose([T.HorizontalFlip(p=1.0), T.Normalize()])(image=Image.fromarray(a))["image"]
    assert isinstance(norm, torch.Tensor) and norm.shape == (3, 12, 10) and norm.dtype == torch.float32


def test_pil_modes_read_whole_or_refused(rng):
    """Every PIL mode is read without losing data or refused: float F stays float (it became
    RGB zeros), LA keeps its alpha, I;16 / I images are refused (they were clipped to 255);
    1, P, CMYK are converted and given back converted; I;16 and I masks come back as they went
    in (I;16 crashed on the way back)."""
    Image = pytest.importorskip("PIL.Image")
    flip = T.HorizontalFlip(p=1.0)
    f = rng.random((6, 9)).astype(np.float32)
    out = flip(image=Image.fromarray(f))["image"]
    assert out.mode == "F"
    np.testing.assert_array_equal(np.asarray(out), f[:, ::-1])
    la = rng.integers(0, 256, (6, 9, 2)).astype(np.uint8)
    out = flip(image=Image.fromarray(la))["image"]
    assert out.mode == "LA"
    np.testing.assert_array_equal(np.asarray(out), la[:, ::-1])
    rgb = rng.integers(0, 256, (6, 9, 3)).astype(np.uint8)
    for mode, back in (("1", "L"), ("P", "RGB"), ("CMYK", "RGB")):
        im = Image.fromarray(rgb).convert(mode)
        out = flip(image=im)["image"]
        assert out.mode == back
        np.testing.assert_array_equal(np.asarray(out), np.asarray(im.convert(back))[:, ::-1])
    p = Image.fromarray(rgb).convert("P")
    p.info["transparency"] = 0
    assert flip(image=p)["image"].mode == "RGBA"
    for wide in (rng.integers(0, 60000, (6, 9)).astype(np.uint16),
                 rng.integers(-5, 70000, (6, 9)).astype(np.int32)):
        with pytest.raises(geomaug.InputError, match="not supported"):
            flip(image=Image.fromarray(wide))
        out = flip(mask=Image.fromarray(wide))["mask"]
        assert out.mode == Image.fromarray(wide).mode
        np.testing.assert_array_equal(np.asarray(out), wide[:, ::-1])


@pytest.mark.parametrize("B", [1, 2, 3])
def test_unbatched_points_with_a_batched_image_come_back_per_sample(rng, B):
    """Keypoints (K, 2) and boxes (N, 4) with a (B, C, H, W) image are the same for every sample:
    given back (B, K, 2) / (B, N, 4) like visible and matrix, B = 1 included (it dropped the 1);
    with an unbatched image they come back as they came."""
    t = T.Compose([T.RandomAffine(10)])
    kp, boxes = rng.uniform(0, 11, (5, 2)), np.array([[1.0, 1, 3, 3]])
    img = torch.zeros(B, 3, 12, 12, dtype=torch.uint8)
    for kind in (torch.from_numpy, np.asarray):  # torch or numpy points
        out = t(image=img, keypoints=kind(kp), boxes=kind(boxes), seed=0)
        assert tuple(out["keypoints"].shape) == (B, 5, 2) and tuple(out["visible"].shape) == (B, 5)
        assert tuple(out["boxes"].shape) == (B, 1, 4) and tuple(out["matrix"].shape) == (B, 3, 3)
        one = t(image=img[0], keypoints=kind(kp), boxes=kind(boxes), seed=0)
        assert tuple(one["keypoints"].shape) == (5, 2) and tuple(one["boxes"].shape) == (1, 4)
        one = t(image=img[0], keypoints=kind(kp[None]), seed=0)
        assert tuple(one["keypoints"].shape) == (1, 5, 2)


def test_big_endian_numpy_arrays_are_read(rng):
    img = rng.random((6, 9, 3)).astype(">f4")
    mask = rng.integers(0, 9, (6, 9)).astype(">i4")
    out = T.HorizontalFlip(p=1.0)(image=img, mask=mask)
    np.testing.assert_array_equal(out["image"], img[:, ::-1])
    np.testing.assert_array_equal(out["mask"], mask[:, ::-1])
    np.testing.assert_array_equal(geomaug.warp(img, np.eye(3), (6, 9)), img)


@pytest.mark.parametrize("shape", [(13, 17), (3, 13, 17), (3, 1, 13, 17)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64])
def test_mask_shapes_and_dtypes_kept(rng, shape, dtype):
    m = torch.from_numpy(rng.integers(0, 5, shape)).to(dtype)
    out = T.Compose([T.RandomCrop(20)], ignore_index=100)(mask=m, seed=3)
    assert out["mask"].dtype == dtype
    assert out["mask"].shape == shape[:-2] + (20, 20)
    assert set(out["mask"].unique().tolist()) <= set(m.unique().tolist()) | {100}


def test_noncontiguous_and_float64(rng):
    x = _img(rng, (3, 17, 26), torch.float64)[:, :, ::2]  # non-contiguous
    out = T.HorizontalFlip(p=1.0)(image=x)
    assert out["image"].dtype == torch.float64
    assert torch.equal(out["image"], x.flip(-1))


def test_keypoints_only_need_size_and_k0(rng):
    kp = torch.from_numpy(rng.uniform(0, 10, (4, 2))).float()
    out = T.HorizontalFlip(p=1.0)(keypoints=kp, size=(10, 12))
    assert out["keypoints"].dtype == torch.float32
    assert torch.allclose(out["keypoints"][:, 0], 11 - kp[:, 0])
    out = T.RandomAffine(30)(image=torch.zeros(3, 8, 8), keypoints=torch.zeros(0, 2), seed=0)
    assert out["keypoints"].shape == (0, 2) and out["visible"].shape == (0,)
    out = T.RandomAffine(30)(image=torch.zeros(2, 3, 8, 8), keypoints=torch.zeros(2, 0, 2), seed=0)
    assert out["keypoints"].shape == (2, 0, 2)
    with pytest.raises(geomaug.InputError, match="size"):
        T.HorizontalFlip()(keypoints=kp)


def test_unbatched_keypoints_with_batch_get_each_matrix(rng):
    x = _img(rng, (3, 3, 10, 10))
    kp = torch.tensor([[1.0, 2.0]])
    out = T.RandomAffine(40)(image=x, keypoints=kp, seed=5)
    assert out["keypoints"].shape == (3, 1, 2)
    assert torch.allclose(out["keypoints"].double(), G.map_points(kp.double().expand(3, 1, 2), out["matrix"]))


# ---- one matrix, composition, replay -----------------------------------------------------------

def test_compose_matrix_is_product_in_order(rng):
    ops = [T.HorizontalFlip(p=1.0), T.RandomScale((0.5, 2.0)), T.Rotate(45), T.RandomCrop(12),
           T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)]
    x = _img(rng, (3, 20, 24))
    out = T.Compose(ops)(image=x, seed=int(rng.integers(1 << 30)))
    # each op alone with its recorded params, chained on the sizes it sees
    m = torch.eye(3, dtype=torch.float64)
    cur = x
    for op, p in zip(ops, out["params"]):
        o = op(image=cur, params=p)
        m = o["matrix"] @ m
        cur = o["image"]
    assert torch.allclose(out["matrix"], m, atol=1e-12)
    assert out["image"].shape == cur.shape


def test_same_seed_same_result_and_replay(rng):
    t = T.Compose([T.ColorJitter(0.4, 0.4, 0.4, 0.1), T.HorizontalFlip(), T.RandomAffine(30, scale=(0.8, 1.2)),
                   T.RandomCrop(10), T.Normalize()])
    x = _img(rng, (3, 3, 15, 14))
    a, b = t(image=x, seed=7), t(image=x, seed=7)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["matrix"], b["matrix"])
    c = t.replay(a["params"], image=x)
    assert torch.equal(a["image"], c["image"])
    g = torch.Generator().manual_seed(7)
    assert torch.equal(t(image=x, generator=g)["image"], a["image"])
    assert not torch.equal(t(image=x, seed=8)["matrix"], a["matrix"])


def test_bad_replayed_params_are_errors(rng):
    """Replayed params are checked as the drawing would make them: shape, finite numbers, the
    ranges the colour functions and the fused op take, OneOf's index (they went through unchecked,
    the two backends disagreeing on inf / NaN factors, or failed deep inside)."""
    import copy

    x = torch.from_numpy(rng.integers(0, 256, (2, 3, 20, 24)).astype(np.uint8))
    t = T.Compose([T.Rotate(10), T.ColorJitter(0.3, 0.3, 0.3, 0.1),
                   T.OneOf([T.HorizontalFlip(p=1.0), T.VerticalFlip(p=1.0)])])
    good = t(image=x, seed=0)["params"]
    cases = [((1, "brightness"), np.array([np.inf, 1.0]), "finite"),
             ((1, "contrast"), np.array([np.nan, 1.0]), "finite"),
             ((1, "saturation"), np.array([-2.0, 1.0]), ">= 0"),
             ((1, "hue"), np.array([0.7, 0.0]), r"\[-0.5, 0.5\]"),
             ((1, "order"), np.array([[0, 0, 1, 2], [0, 1, 2, 3]]), "permutation"),
             ((1, "order"), np.array([[0, 1, 2, 7], [0, 1, 2, 3]]), "permutation"),
             ((1, "order"), np.arange(4), r"shape \(2, 4\)"),
             ((0, "angle"), np.zeros((2, 2)), r"shape \(2,\)"),
             ((0, "angle"), np.array(["a", "b"]), "real numbers"),
             ((2, "index"), np.array([0, 2]), r"\[-1, 1\]"),
             ((2, "index"), np.array([0.0, 1.0]), "integers")]
    for (i, key), value, match in cases:
        params = copy.deepcopy(good)
        params[i][key] = value
        with pytest.raises(geomaug.InputError, match=match):
            t(image=x, params=params)
    assert torch.equal(t(image=x, params=copy.deepcopy(good))["image"], t(image=x, seed=0)["image"])


def test_custom_op_params_of_any_trailing_shape_replay(rng):
    """A custom op's own parameters (here (B, 2)) replay: only their row count is checked."""
    from geomaug.transforms.geometric import GeometricTransform

    class Shift(GeometricTransform):
        def draw_values(self, ctx):
            return {"shift": ctx.uniform(-2.0, 2.0, 2)}

        def matrix(self, params, sizes):
            m = np.repeat(np.eye(3)[None], len(sizes), 0)
            m[:, :2, 2] = params["shift"]
            return m, sizes

    x = torch.rand(2, 3, 10, 10)
    t = T.Compose([Shift(p=0.5), T.Rotate(10)])
    out = t(image=x, seed=3)
    assert out["params"][0]["shift"].shape == (2, 2)
    assert torch.equal(t(image=x, params=out["params"])["image"], out["image"])
    out["params"][0]["shift"] = np.zeros((3, 2))
    with pytest.raises(geomaug.InputError, match="2 rows"):
        t(image=x, params=out["params"])


def test_batch_equals_one_by_one(rng):
    """Each sample replayed alone gives its row of the batch: the same matrix to the bit (one
    sample is computed on floats, a batch on arrays), image within float rounding."""
    t = T.Compose([T.ColorJitter(0.5, 0.5, 0.5, 0.2), T.RandomGrayscale(0.5), T.HorizontalFlip(flip_pairs=[(0, 1)]),
                   T.RandomScale((0.6, 1.8)), T.RandomAffine(20, translate=(0.1, 0.2), shear=10),
                   T.Rotate(15), T.RandomCrop((11, 9))])
    B = 5
    x = _img(rng, (B, 3, 16, 13))
    m = torch.from_numpy(rng.integers(0, 4, (B, 16, 13))).to(torch.uint8)
    kp = torch.from_numpy(rng.uniform(0, 12, (B, 3, 2)))
    out = t(image=x, mask=m, keypoints=kp, seed=int(rng.integers(1 << 30)))

    def one(params, b):
        if isinstance(params, list):
            return [one(p, b) for p in params]
        return {k: (one(v, b) if k == "params" else v[b:b + 1]) for k, v in params.items()}

    for b in range(B):
        o = t(image=x[b], mask=m[b], keypoints=kp[b], params=one(out["params"], b))
        assert (o["image"].int() - out["image"][b].int()).abs().max() <= 1  # float rounding only
        assert torch.equal(o["mask"], out["mask"][b])
        assert torch.allclose(o["keypoints"], out["keypoints"][b])
        assert torch.equal(o["matrix"], out["matrix"][b])


def test_random_apply_and_one_of(rng):
    B = 64
    x = torch.zeros(B, 1, 6, 6)
    out = T.RandomApply([T.HorizontalFlip(p=1.0)], p=0.5)(image=x, seed=1)
    flipped = out["matrix"][:, 0, 0] < 0
    assert np.array_equal(flipped.numpy(), out["params"]["apply"])
    assert 10 < int(flipped.sum()) < 54
    one = T.OneOf([T.HorizontalFlip(p=1.0), T.VerticalFlip(p=1.0)], weights=[1, 3])
    out = one(image=x, seed=2)
    idx = torch.from_numpy(out["params"]["index"])
    assert torch.equal(out["matrix"][:, 0, 0] < 0, idx == 0)
    assert torch.equal(out["matrix"][:, 1, 1] < 0, idx == 1)
    assert int((idx == 1).sum()) > int((idx == 0).sum())
    again = one(image=x, params=out["params"])
    assert torch.equal(again["matrix"], out["matrix"])


# ---- flip pairs, inverse, boxes -----------------------------------------------------------------

def test_flip_pairs_follow_the_composed_matrix(rng):
    kp = torch.tensor([[2.0, 3.0], [7.0, 3.0], [4.5, 6.0]])
    img = torch.zeros(3, 10, 10)
    one = T.Compose([T.HorizontalFlip(p=1.0)], flip_pairs=[(0, 1)])(image=img, keypoints=kp)
    assert torch.allclose(one["keypoints"], torch.tensor([[2.0, 3.0], [7.0, 3.0], [4.5, 6.0]]))  # swapped back onto themselves
    two = T.Compose([T.HorizontalFlip(p=1.0, flip_pairs=[(0, 1)]), T.VerticalFlip(p=1.0)])(image=img, keypoints=kp)
    assert torch.allclose(two["keypoints"], torch.tensor([[7.0, 6.0], [2.0, 6.0], [4.5, 3.0]]))  # 180°: no swap
    v = T.VerticalFlip(p=1.0, flip_pairs=[(0, 1)])(image=img, keypoints=kp)
    assert torch.allclose(v["keypoints"], torch.tensor([[7.0, 6.0], [2.0, 6.0], [4.5, 3.0]]))
    with pytest.raises(geomaug.InputError, match="flip_pairs"):
        T.HorizontalFlip(p=1.0, flip_pairs=[(0, 5)])(image=img, keypoints=kp)
    with pytest.raises(geomaug.InputError, match="flip_pairs"):
        T.Compose([T.HorizontalFlip(flip_pairs=[(0, 1)])], flip_pairs=[(1, 2)])


def test_inverse_points_and_boxes(rng):
    t = T.Compose([T.HorizontalFlip(), T.RandomAffine(30, translate=(0.2, 0.2), scale=(0.5, 2), shear=20),
                   T.RandomCrop(20)], flip_pairs=[(0, 1), (2, 3)])
    kp = torch.from_numpy(rng.uniform(-5, 30, (4, 5, 2)))
    boxes = torch.tensor([[[1.0, 2.0, 5.0, 9.0]]]).expand(4, 1, 4)
    out = t(image=torch.zeros(4, 1, 25, 25), keypoints=kp, boxes=boxes, seed=int(rng.integers(1 << 30)))
    back = T.inverse_points(out["keypoints"], out["matrix"], flip_pairs=[(0, 1), (2, 3)])
    assert (back - kp).abs().max() < 1e-9
    # boxes: the mapped box contains every mapped corner; mapping back contains the original
    bb = T.inverse_boxes(out["boxes"], out["matrix"])
    assert (bb[..., :2] <= boxes[..., :2] + 1e-9).all() and (bb[..., 2:] >= boxes[..., 2:] - 1e-9).all()
    np_back = T.inverse_points(out["keypoints"].numpy(), out["matrix"].numpy(), [(0, 1), (2, 3)])
    assert isinstance(np_back, np.ndarray) and np.abs(np_back - kp.numpy()).max() < 1e-9


def test_box_flip_and_corners():
    out = T.HorizontalFlip(p=1.0)(boxes=torch.tensor([[1.0, 2.0, 4.0, 5.0]]), size=(10, 10))
    assert torch.equal(out["boxes"], torch.tensor([[5.0, 2.0, 8.0, 5.0]]))
    whole = torch.tensor([[-0.5, -0.5, 9.5, 9.5]])
    assert torch.allclose(T.Resize((20, 40))(boxes=whole, size=(10, 10))["boxes"],
                          torch.tensor([[-0.5, -0.5, 39.5, 19.5]]))


def test_visible_flags(rng):
    kp = torch.tensor([[0.0, 0.0], [9.0, 9.0], [-0.6, 3.0], [3.0, 9.6]])
    out = T.Pad(0)(keypoints=kp, size=(10, 10))
    assert out["visible"].tolist() == [True, True, False, False]
    out = T.CenterCrop(4)(keypoints=kp, size=(10, 10))  # crop [3, 7)
    assert out["visible"].tolist() == [False, False, False, False]
    assert torch.allclose(out["keypoints"], kp - 3)  # kept, never dropped


# ---- pass settings, Normalize position, pickling ------------------------------------------------

def test_border_rule_conflicts_raise_at_construction():
    with pytest.raises(geomaug.InputError, match="Rotate.*RandomAffine|border"):
        T.Compose([T.Rotate(10, border="reflect"), T.RandomAffine(5, border="replicate")])
    c = T.Compose([T.Rotate(10, border="reflect"), T.RandomCrop(5)])
    assert T.pass_settings(c)["border"] == "reflect"
    assert T.pass_settings(T.Compose([T.Rotate(10)]))["border"] == "constant"
    with pytest.raises(geomaug.InputError, match="Normalize must be the last"):
        T.Compose([T.Normalize(), T.HorizontalFlip()])


def test_oneof_weights_set_again_count_and_numpy_seeds(rng):
    x = _img(rng, (8, 3, 12, 12))
    t = T.OneOf([T.HorizontalFlip(p=1.0), T.VerticalFlip(p=1.0)])
    t.weights = [0.0, 1.0]  # read at each call (the choice table was made once)
    assert t(image=x, seed=0)["params"]["index"].tolist() == [1] * 8
    assert t.weights == (0.0, 1.0)
    with pytest.raises(geomaug.InputError, match="weights must be 2 non-negative"):
        t.weights = [0.0, 0.0]
    assert torch.equal(t(image=x, seed=np.int64(5))["image"], t(image=x, seed=5)["image"])
    with pytest.raises(TypeError, match="seed must be an int"):
        t(image=x, seed=np.float64(5))


def test_normalize_last_in_nested_composes_only(rng):
    """Normalize may end a nested Compose that ends the pipeline (same result as flat); never in
    RandomApply / OneOf, bare or nested (it normalised every sample whatever was drawn)."""
    x = _img(rng, (2, 3, 12, 12))
    nested = T.Compose([T.Compose([T.Rotate(10), T.Compose([T.Normalize()])])])
    flat = T.Compose([T.Rotate(10), T.Normalize()])
    assert torch.equal(nested(image=x, seed=1)["image"], flat(image=x, seed=1)["image"])
    for build in (lambda: T.RandomApply([T.Normalize()], p=0.0),
                  lambda: T.OneOf([T.Normalize(), T.Rotate(10)]),
                  lambda: T.Compose([T.Rotate(10), T.RandomApply([T.Normalize()])]),
                  lambda: T.Compose([T.Compose([T.Normalize()]), T.Rotate(10)])):
        with pytest.raises(geomaug.InputError, match="Normalize must be the last"):
            build()


def test_pickle_round_trip(rng):
    t = T.Compose([T.ColorJitter(0.3, 0.3), T.OneOf([T.Rotate(10), T.RandomScale(choices=[0.5, 1.5])]),
                   T.RandomCrop(8), T.Normalize()], flip_pairs=[(0, 1)])
    t2 = pickle.loads(pickle.dumps(t))
    x = _img(rng, (3, 12, 12))
    assert torch.equal(t(image=x, seed=3)["image"], t2(image=x, seed=3)["image"])
    assert "RandomCrop" in repr(t2)


# ---- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: T.RandomCrop(0), "size"),
    (lambda: T.RandomCrop((5, -1)), "size"),
    (lambda: T.HorizontalFlip(p=1.5), "p must be in"),
    (lambda: T.RandomApply([T.HorizontalFlip()], p=-0.1), "p must be in"),
    (lambda: T.Rotate((10, -10)), "degrees"),
    (lambda: T.RandomScale((2.0, 0.5)), "scale"),
    (lambda: T.RandomScale((0.0, 2.0)), "scale"),
    (lambda: T.RandomScale(choices=[]), "choices"),
    (lambda: T.RandomAffine(10, scale=(0.0, 1.0)), "scale"),
    (lambda: T.RandomAffine(10, translate=(1.5, 0)), "translate"),
    (lambda: T.RandomResizedCrop(10, scale=(0.5, 0.1)), "scale"),
    (lambda: T.RandomResizedCrop(10, ratio=(0, 1)), "ratio"),
    (lambda: T.ColorJitter(brightness=-1), "brightness"),
    (lambda: T.ColorJitter(hue=0.7), "hue"),
    (lambda: T.ColorJitter(contrast=(2, 1)), "contrast"),
    (lambda: T.Compose([T.Rotate(5)], interpolation="cubicle"), "interpolation"),
    (lambda: T.Compose([T.Rotate(5)], border="wrap"), "border"),
    (lambda: T.Compose([T.ColorJitter(0.1)], channel_order="BRG"), "channel_order"),
    (lambda: T.Normalize(std=(0.2, 0.0, 0.1)), "std"),
    (lambda: T.OneOf([T.Rotate(1)], weights=[0]), "weights"),
    (lambda: T.Pad(-1), "padding"),
])
def test_bad_construction(make, match):
    with pytest.raises(geomaug.InputError, match=match):
        make()


def test_bad_types():
    with pytest.raises(TypeError, match="transforms"):
        T.Compose(T.Rotate(1))
    with pytest.raises(TypeError, match=r"transforms\[1\]"):
        T.Compose([T.Rotate(1), lambda x: x])
    with pytest.raises(TypeError, match="image"):
        T.Rotate(1)(image=[[1, 2]])
    with pytest.raises(TypeError, match="p must be a number"):
        T.HorizontalFlip(p="0.5")


def test_bad_call_input(rng):
    t = T.Compose([T.Rotate(10), T.RandomCrop(4)])
    img = torch.zeros(2, 3, 8, 8)
    cases = [
        (dict(image=torch.zeros(8, 8)), "image must be"),
        (dict(image=torch.zeros(3, 0, 8)), "empty"),
        (dict(image=img, mask=torch.zeros(2, 8, 9, dtype=torch.uint8)), "sizes differ"),
        (dict(image=img, mask=torch.zeros(3, 8, 8, dtype=torch.uint8)), "batch sizes differ"),
        (dict(image=img, keypoints=torch.zeros(3, 2, 2)), "batch sizes differ"),
        (dict(image=img, keypoints=torch.tensor([[1.0, float("nan")]])), "finite"),
        (dict(image=img, keypoints=torch.zeros(2, 3)), "keypoints must be"),
        (dict(image=img, boxes=torch.tensor([[5.0, 1.0, 2.0, 3.0]])), "x2"),
        (dict(image=img, mask=torch.zeros(2, 8, 8)), "integer"),
        (dict(image=torch.zeros(3, 8, 8, dtype=torch.int32)), "dtype"),
        (dict(), "nothing to transform"),
    ]
    for kwargs, match in cases:
        with pytest.raises(geomaug.InputError, match=match):
            t(**kwargs)
    with pytest.raises(geomaug.InputError, match="different sizes"):
        T.RandomScale((0.5, 2.0))(image=img, seed=1)
    with pytest.raises(geomaug.InputError, match="ignore_index"):
        T.RandomCrop(10)(mask=torch.zeros(8, 8, dtype=torch.int8))
    with pytest.raises(geomaug.InputError, match="params"):
        t(image=img, params=[{}, {"top": torch.zeros(3), "left": torch.zeros(3)}])


def test_empty_batch_keeps_its_shape():
    t = T.Compose([T.ColorJitter(0.2, 0.2), T.HorizontalFlip(), T.RandomScale((0.5, 2.0)), T.RandomCrop((5, 7)),
                   T.Normalize()])
    out = t(image=torch.zeros(0, 3, 9, 9, dtype=torch.uint8), mask=torch.zeros(0, 9, 9, dtype=torch.uint8),
            keypoints=torch.zeros(0, 4, 2), seed=0)
    assert out["image"].shape == (0, 3, 5, 7) and out["mask"].shape == (0, 5, 7)
    assert out["keypoints"].shape == (0, 4, 2) and out["matrix"].shape == (0, 3, 3)


def test_gradients_flow_to_a_float_image(rng):
    x = torch.rand(2, 3, 10, 12, dtype=torch.float64, requires_grad=True)
    t = T.Compose([T.RandomAffine(20, scale=(0.8, 1.2)), T.RandomCrop(8), T.ColorJitter(0.3, 0.3)])
    out = t(image=x, seed=int(rng.integers(1 << 30)))
    out["image"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_gradients_flow_through_a_contrast_mean_taken_before_the_geometry(rng):
    """A float32 image whose contrast jitter stands before the last geometric op (its mean is
    taken where it stands) gets the float64 path's gradient, the mean's share included (the
    fused op would take that mean as a constant)."""
    t = T.Compose([T.ColorJitter(contrast=0.3), T.RandomAffine(15), T.RandomCrop(8),
                   T.ColorJitter(brightness=0.2, contrast=0.2)])
    x64 = torch.rand(3, 3, 10, 12, dtype=torch.float64, requires_grad=True)
    x32 = x64.detach().float().requires_grad_(True)
    seed = int(rng.integers(1 << 30))
    weights = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    for x in (x64, x32):
        (t(image=x, seed=seed)["image"] * weights.to(x.dtype)).sum().backward()
    assert x32.grad.dtype == torch.float32
    assert torch.allclose(x32.grad.double(), x64.grad, atol=1e-4)


def test_normalize_settings_changed_after_a_call_count():
    """Normalize's mean and std are read at each call, on the fused (uint8) path as on the
    step-by-step (float64) one."""
    img = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    norm = T.Normalize()
    t = T.Compose([T.Rotate(10), norm])
    for x in (img, img.double() / 255):
        t(image=x, seed=0)
        norm.mean, norm.std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        fresh = T.Compose([T.Rotate(10), T.Normalize(mean=0.0, std=1.0)])
        torch.testing.assert_close(t(image=x, seed=0)["image"], fresh(image=x, seed=0)["image"])
        norm.mean, norm.std = [0.2, 0.3, 0.4], np.array([0.5, 0.6, 0.7])  # checked, kept as tuples
        assert norm.mean == (0.2, 0.3, 0.4) and norm.std == (0.5, 0.6, 0.7)
        fresh = T.Compose([T.Rotate(10), T.Normalize(mean=[0.2, 0.3, 0.4], std=[0.5, 0.6, 0.7])])
        torch.testing.assert_close(t(image=x, seed=0)["image"], fresh(image=x, seed=0)["image"])
        norm.mean, norm.std = T.Normalize().mean, T.Normalize().std
    with pytest.raises(geomaug.InputError, match="std must be > 0"):
        norm.std = [0.1, 0.0, 0.2]
    with pytest.raises(geomaug.InputError, match="4 channels .*alpha.* mean has 3 values"):
        t(image=torch.zeros(4, 8, 8, dtype=torch.uint8), seed=0)


def test_uint8_fill_out_of_range_is_an_error_on_every_path():
    """fill=1000 on a uint8 image fails whether the image is warped alone, fused with colour and
    Normalize or taken step by step, batched or one sample (it was accepted, unrounded, where the
    ops fuse and where a float copy is resampled)."""
    img = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    step_by_step = [T.Normalize(dtype=torch.float64)]  # not fused: a float copy is resampled
    mixed = [T.ColorJitter(brightness=0.1), T.RandomGrayscale(0.5, channel_order="BGR")]
    for tail in ([], [T.Normalize()], [T.ColorJitter(brightness=0.1)], step_by_step, mixed):
        t = T.Compose([T.Rotate((30, 30), fill=1000)] + tail)
        for x in (img, img[None].expand(2, -1, -1, -1)):
            with pytest.raises(geomaug.InputError, match="range"):
                t(image=x, seed=0)


def test_each_contrast_mean_is_taken_where_its_op_stands():
    """Two contrast jitters with geometry between them: the first blends with the input's grey
    mean, the second with the mean of the image where it stands (rotated, first jitter applied)."""
    from geomaug.color import gray_mean

    x = torch.rand(2, 3, 24, 24, dtype=torch.float64)
    t = T.Compose([T.ColorJitter(contrast=(0.2, 0.2)), T.Rotate((30, 30)),
                   T.ColorJitter(contrast=(0.5, 0.5)), T.CenterCrop(12)])
    rotated = T.Compose([T.Rotate((30, 30))])(image=x, seed=0)["image"]
    a = (0.2 * rotated + 0.8 * gray_mean(x)[:, None, None, None]).clamp(0, 1)
    b = (0.5 * a + 0.5 * gray_mean(a)[:, None, None, None]).clamp(0, 1)
    for dtype in (torch.float64, torch.float32):
        got = t(image=x.to(dtype), seed=0)["image"]
        assert (got.double() - b[..., 6:18, 6:18]).abs().max() < (1e-12 if dtype == torch.float64
                                                                  else 1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_batch_equals_cpu_with_the_same_seed(rng):
    t = T.Compose([T.ColorJitter(0.4, 0.4, 0.4, 0.1), T.HorizontalFlip(flip_pairs=[(0, 1)]),
                   T.RandomAffine(30, translate=(0.1, 0.1), scale=(0.75, 1.75)), T.CenterCrop(40), T.Normalize()])
    x = _img(rng, (6, 3, 48, 48))
    m = torch.from_numpy(rng.integers(0, 5, (6, 48, 48)).astype(np.uint8))
    kp = torch.from_numpy(rng.uniform(0, 47, (6, 3, 2))).float()
    cpu = t(image=x, mask=m, keypoints=kp, seed=3)
    gpu = t(image=x.cuda(), mask=m.cuda(), keypoints=kp.cuda(), seed=3)
    assert gpu["image"].is_cuda and gpu["matrix"].is_cuda
    assert torch.equal(gpu["matrix"].cpu(), cpu["matrix"])
    assert (gpu["image"].cpu() - cpu["image"]).abs().max() < 1e-4
    assert (gpu["mask"].cpu() != cpu["mask"]).float().mean() < 1e-3  # nearest ties may differ
    assert torch.allclose(gpu["keypoints"].cpu(), cpu["keypoints"], atol=1e-4)


def test_wrong_channel_counts():
    with pytest.raises(geomaug.InputError, match="1 or 3 channels"):
        T.ColorJitter(0.3)(image=torch.zeros(4, 5, 5))
    with pytest.raises(geomaug.InputError, match="1 or 3 channels"):
        T.RandomGrayscale(1.0)(image=torch.zeros(2, 5, 5))
    with pytest.raises(geomaug.InputError, match="mean"):
        T.Normalize(mean=(0.5, 0.5))(image=torch.zeros(3, 5, 5))
    with pytest.raises(geomaug.InputError, match="fill"):
        T.Compose([T.Rotate(5)], fill=(1, 2))(image=torch.zeros(3, 5, 5))
    out = T.Normalize(mean=0.5, std=0.25)(image=torch.full((4, 2, 2), 255, dtype=torch.uint8))["image"]
    assert torch.allclose(out, torch.full((4, 2, 2), 2.0))  # one number for every channel


def test_custom_projective_op_composes_and_maps_points(rng):
    """A custom geometric op may return a projective matrix: the pipeline's matrix is the full
    product and keypoints are divided by w (the built-in ops' are affine)."""
    from geomaug.transforms.geometric import GeometricTransform

    P = np.array([[1.0, 0.1, 0.5], [0.0, 1.2, -0.3], [0.01, 0.02, 1.0]])

    class Perspective(GeometricTransform):
        def matrix(self, params, sizes):
            return np.repeat(P[None], len(sizes), 0), sizes

    kp = rng.uniform(0, 10, (3, 2))
    out = T.Compose([Perspective(), T.HorizontalFlip(p=1.0)])(image=torch.zeros(3, 12, 12),
                                                              keypoints=kp, seed=0)
    want = G.hflip(12.0) @ P
    np.testing.assert_allclose(out["matrix"], want, rtol=1e-15)
    h = np.c_[kp, np.ones(3)] @ want.T
    np.testing.assert_allclose(out["keypoints"], h[:, :2] / h[:, 2:], rtol=1e-12)
