"""The one-sample walk (geomaug/transforms/_single.py): an unbatched call without params gives
exactly what the batched walk gives for it (params, matrix, image, mask, keypoints, boxes,
visible), for every op it takes, random settings, sizes, dtypes and target types; and the calls it
must not take go to the batched walk."""
import numpy as np
import pytest
import torch

import geomaug.transforms as T
from geomaug.transforms import _apply, _single


def _random_op(rng, h, w):
    """One op of _single.OPS with random settings."""
    kind = int(rng.integers(11))
    p = float(rng.choice([0.0, 0.5, 1.0]))
    if kind == 0:
        return T.HorizontalFlip(p=p, flip_pairs=[(0, 1)])
    if kind == 1:
        return T.VerticalFlip(p=p)
    if kind == 2:
        return T.Resize(int(rng.integers(3, 40)) if rng.random() < 0.5 else
                        (int(rng.integers(3, 40)), int(rng.integers(3, 40))))
    if kind == 3:
        return T.RandomCrop((int(rng.integers(1, h + 8)), int(rng.integers(1, w + 8))))
    if kind == 4:
        return T.Crop(int(rng.integers(-5, h)), int(rng.integers(-5, w)), int(rng.integers(1, 30)),
                      int(rng.integers(1, 30)))
    if kind == 5:
        return T.CenterCrop((int(rng.integers(1, h + 9)), int(rng.integers(1, w + 9))))
    if kind == 6:
        return T.Pad(tuple(int(v) for v in rng.integers(0, 6, 4)))
    if kind == 7:
        return T.Rotate(float(rng.uniform(0, 180)), p=max(p, 0.5))
    if kind == 8:
        return T.RandomAffine(float(rng.uniform(0, 45)), translate=(0.1, 0.2), scale=(0.7, 1.4),
                              shear=float(rng.uniform(0, 20)) if rng.random() < 0.5 else None,
                              p=max(p, 0.5))
    if kind == 9:
        return T.ColorJitter(0.4, 0.4 if rng.random() < 0.7 else 0.0, 0.4,
                             float(rng.choice([0.0, 0.1])), random_order=bool(rng.random() < 0.8),
                             p=max(p, 0.5))
    return T.RandomGrayscale(p=p)


def _pipeline(rng, h, w, normalize):
    ops = [_random_op(rng, h, w) for _ in range(int(rng.integers(1, 6)))]
    while not any(o.geometric for o in ops):  # colour work without a warp: the step-by-step path
        ops.insert(0, _random_op(rng, h, w))
    # at most one contrast, after every geometric op: the walk then takes images with colour ops
    seen = False
    for i in reversed(range(len(ops))):
        if isinstance(ops[i], T.ColorJitter) and ops[i].contrast is not None:
            if seen or any(o.geometric for o in ops[i + 1:]):
                ops[i].contrast = None
            seen = True
    if normalize:
        ops.append(T.Normalize(dtype=rng.choice([torch.float32, torch.float16, torch.bfloat16])))
    settings = dict(border=str(rng.choice(["constant", "replicate", "reflect"])),
                    interpolation=str(rng.choice(["bilinear", "nearest"])),
                    fill=float(rng.uniform(0, 200)) if rng.random() < 0.5 else 0.0)
    return T.Compose(ops, **settings)


def _batched_walk(t, **kw):
    """The same call through the batched walk (the one-sample walk switched off)."""
    saved, _single.run = _single.run, lambda *a: None
    try:
        return t(**kw)
    finally:
        _single.run = saved


def _assert_same(a, b, path="out"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, path
        assert a.stride() == b.stride(), path
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert type(a) is type(b), path  # PIL images
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)


def _targets(rng, kind, h, w, C, dtype):
    if dtype == "uint8":
        a = rng.integers(0, 256, (h, w, C)).astype(np.uint8)
    else:
        a = rng.random((h, w, C)).astype(dtype)
    m = rng.integers(0, 5, (h, w)).astype(rng.choice([np.uint8, np.int32, np.int64]))
    kp = rng.uniform(-2, max(h, w) + 2, (int(rng.integers(0, 6)), 2))
    boxes = np.sort(rng.uniform(0, max(h, w), (2, 2, 2)), axis=0).transpose(1, 0, 2).reshape(2, 4)
    if kind == "pil":
        from PIL import Image
        a = (a * 255).astype(np.uint8) if a.dtype != np.uint8 else a
        return dict(image=Image.fromarray(a if C > 1 else a[..., 0]),
                    mask=Image.fromarray(m.astype(np.uint8)), keypoints=kp, boxes=boxes)
    if kind == "numpy":
        a.flags.writeable = bool(rng.random() < 0.5)
        return dict(image=a if C > 1 or rng.random() < 0.5 else a[..., 0], mask=m,
                    keypoints=kp.astype(np.float32), boxes=boxes)
    img = torch.from_numpy(a).permute(2, 0, 1)
    if kind == "torch":
        img = img.contiguous()
    return dict(image=img, mask=torch.from_numpy(m), keypoints=torch.from_numpy(kp),
                boxes=torch.from_numpy(boxes))


@pytest.mark.parametrize("kind", ["numpy", "torch", "channels_last", "pil"])
def test_one_sample_walk_equals_batched_walk(rng, kind, monkeypatch):
    """... and where it takes a call with colour work or Normalize, the batched walk's decision
    (_apply.fused_plan) is the fused op too: the two decisions agree."""
    taken, fused = [], []
    real, real_plan = _single.run, _apply.fused_plan

    def spy(*a, **k):
        out = real(*a, **k)
        taken.append(out is not None)
        return out

    def spy_plan(*a, **k):
        plan = real_plan(*a, **k)
        fused.append(plan is not None)
        return plan

    monkeypatch.setattr(_single, "run", spy)
    monkeypatch.setattr(_apply, "fused_plan", spy_plan)
    for trial in range(60):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        C = int(rng.choice([1, 3, 4]))
        dtype = str(rng.choice(["uint8", "float32"]))
        t = _pipeline(rng, h, w, normalize=rng.random() < 0.5)
        if C == 4 and any(o.color for o in t.transforms):
            C = 3
        kw = _targets(rng, kind, h, w, C, dtype)
        if rng.random() < 0.3:
            del kw["image"]
        seed = int(rng.integers(1 << 31))
        taken.clear(), fused.clear()
        try:
            ref = _batched_walk(t, **kw, seed=seed)
        except Exception as e:  # e.g. an empty output size: both walks raise the same error
            with pytest.raises(type(e), match=None) as got:
                t(**kw, seed=seed)
            assert str(got.value) == str(e)
            continue
        taken.clear()
        out = t(**kw, seed=seed)
        assert taken == [True], (trial, t)  # every pipeline here is one the walk takes
        assert all(fused), (trial, t)  # asked only for colour work / Normalize: it fused
        _assert_same(out, ref)


def test_w1_pipeline_takes_the_walk_and_replays(rng, monkeypatch):
    t = T.Compose([T.HorizontalFlip(flip_pairs=[(0, 1)]), T.RandomAffine(30, scale=(0.75, 1.75),
                   translate=(0.1, 0.1)), T.CenterCrop(24), T.ColorJitter(0.4, 0.4, 0.4),
                   T.Normalize()])
    img = rng.integers(0, 256, (32, 30, 3)).astype(np.uint8)
    mask = rng.integers(0, 5, (32, 30)).astype(np.uint8)
    kp = rng.uniform(0, 30, (68, 2)).astype(np.float32)
    calls = []
    real = _single.run
    monkeypatch.setattr(_single, "run", lambda *a: calls.append(1) or real(*a))
    for seed in range(20):
        out = t(image=img, mask=mask, keypoints=kp, seed=seed)
        _assert_same(out, _batched_walk(t, image=img, mask=mask, keypoints=kp, seed=seed))
        again = t(image=img, mask=mask, keypoints=kp, params=out["params"])  # batched walk
        _assert_same({k: v for k, v in again.items() if k != "params"},
                     {k: v for k, v in out.items() if k != "params"})
    # the global RNG (no seed) draws the same values in both walks
    torch.manual_seed(5)
    a = t(image=img, mask=mask)
    torch.manual_seed(5)
    _assert_same(a, _batched_walk(t, image=img, mask=mask))


def _taken(t, **kw):
    """(whether the one-sample walk took the call, its output or the error it raised)."""
    calls = []
    real = _single.run

    def spy(*a):
        out = real(*a)
        calls.append(out is not None)
        return out

    _single.run, saved = spy, _single.run
    try:
        out = t(**kw)
    except ValueError as e:
        out = e
    finally:
        _single.run = saved
    assert len(calls) <= 1
    return bool(calls and calls[0]), out


class MyFlip(T.HorizontalFlip):
    def matrix(self, params, sizes):  # a subclass may change the math: not the walk's to take
        return super().matrix(params, sizes)


@pytest.mark.parametrize("case", ["batched", "params", "container", "unsupported", "subclass",
                                  "contrast before a warp", "two contrasts", "float64 colour",
                                  "four channels colour", "no geometry", "float64 normalize",
                                  "mixed channel orders", "needs grad", "method on an instance",
                                  "normalize not last"])
def test_calls_the_walk_does_not_take(rng, case):
    img = torch.from_numpy(rng.integers(0, 256, (3, 20, 20)).astype(np.uint8))
    jitter = T.ColorJitter(0.3, 0.3, 0.3)
    ops = [T.HorizontalFlip(), T.RandomAffine(10), jitter, T.Normalize()]
    kw = dict(image=img, seed=int(rng.integers(1000)))
    if case == "batched":
        kw["image"] = img[None]
    elif case == "params":
        kw["params"] = T.Compose(ops)(image=img, seed=1)["params"]
        del kw["seed"]
    elif case == "container":
        ops[0] = T.RandomApply([T.HorizontalFlip()])
    elif case == "unsupported":
        ops[1] = T.RandomScale((0.8, 1.2))
        ops.insert(2, T.CenterCrop(16))
    elif case == "subclass":
        ops[0] = MyFlip()
    elif case == "contrast before a warp":
        ops = [jitter, T.RandomAffine(10), T.Normalize()]
    elif case == "two contrasts":
        ops.insert(3, T.ColorJitter(contrast=0.2))
    elif case == "float64 colour":
        kw["image"] = img.double() / 255
    elif case == "four channels colour":  # the batched walk raises the colour op's error
        kw["image"] = torch.cat([img, img[:1]])
    elif case == "no geometry":
        ops = [jitter, T.Normalize()]
    elif case == "float64 normalize":
        ops[-1] = T.Normalize(dtype=torch.float64)
    elif case == "mixed channel orders":
        ops[-1] = T.Normalize(channel_order="BGR")
    elif case == "method on an instance":
        ops[0].matrix = ops[0].matrix  # an instance attribute now: the class's may not be the one
    elif case == "needs grad":
        ops = [T.HorizontalFlip(p=1.0), T.Normalize()]
        kw["image"] = (img.float() / 255).requires_grad_()
    t = T.Compose(ops)
    if case == "normalize not last":  # the list edited after the build (the batched walk runs it)
        t.transforms.append(T.ColorJitter(0.2))
    taken, out = _taken(t, **kw)
    if case == "needs grad":  # taken: the fused op's own decision sends it to the PyTorch path
        assert taken and out["image"].requires_grad
        out["image"].sum().backward()
        assert kw["image"].grad is not None
        return
    assert not taken
    if case == "four channels colour":
        assert isinstance(out, ValueError) and "ColorJitter" in str(out)
    else:
        assert not isinstance(out, Exception), out


@pytest.mark.parametrize("change", ["list", "compose order", "op order", "contrast", "dtype"])
def test_the_pipeline_is_read_at_each_call(rng, change):
    """Ops and settings changed after the Compose is built count from the next call on, in both
    walks (the decision to take a call reads the pipeline as it is then)."""
    img = rng.integers(0, 256, (24, 22, 3)).astype(np.uint8)
    jitter, norm = T.ColorJitter(0.3, 0.0, 0.3, 0.1), T.Normalize()
    late = T.ColorJitter(brightness=0.3)
    t = T.Compose([late, T.RandomAffine(10), jitter, norm])
    t(image=img, seed=1)  # a call before the change
    if change == "list":
        t.transforms.insert(0, T.VerticalFlip(p=1.0))
    elif change == "compose order":
        t.channel_order = "BGR"
    elif change == "op order":
        jitter.channel_order = "BGR"
    elif change == "contrast":
        late.contrast = (0.5, 1.5)  # a contrast before the warp: the step-by-step path
    else:
        norm.dtype = torch.float64
    seed = int(rng.integers(1000))
    taken, out = _taken(t, image=img, seed=seed)
    _assert_same(out, _batched_walk(t, image=img, seed=seed))
    assert taken == (change in ("list", "compose order"))
    if change == "list":
        assert out["matrix"][1, 1] < 0  # the inserted flip ran


def test_negative_stride_numpy_inputs(rng):
    """img[..., ::-1] (BGR to RGB) and flipped masks are read (copied), in both walks."""
    img = rng.integers(0, 256, (20, 18, 3)).astype(np.uint8)
    mask = rng.integers(0, 4, (20, 18)).astype(np.uint8)
    t = T.Compose([T.HorizontalFlip(), T.RandomAffine(15), T.CenterCrop(12),
                   T.ColorJitter(0.3, 0.3), T.Normalize()])
    seed = int(rng.integers(1000))
    out = t(image=img[..., ::-1], mask=mask[:, ::-1], seed=seed)
    ref = _batched_walk(t, image=np.ascontiguousarray(img[..., ::-1]),
                        mask=np.ascontiguousarray(mask[:, ::-1]), seed=seed)
    _assert_same(out, ref)
    plain = T.Compose([T.VerticalFlip(p=1.0)])(image=img[::-1], mask=mask[::-1])
    np.testing.assert_array_equal(plain["image"], img)
    np.testing.assert_array_equal(plain["mask"], mask)
