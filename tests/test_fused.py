"""The fused augment op (geomaug.fused): kernel vs PyTorch path on random inputs, every layout,
dtype, border mode, colour op and order, channel order; CPU instruction-set variants; 64-bit
offsets; determinism of the measured contrast mean; bad input."""
import math
import os
from contextlib import contextmanager

import numpy as np
import pytest
import torch

import geomaug
from geomaug import _backend, fused
from conftest import EXT_LOADED, needs_ext
from helpers import backend, check_kernel, random_affine, random_image

BORDERS = ("constant", "replicate", "reflect")
ISAS = ("baseline", "avx2", "avx512")


@contextmanager
def cpu_isa(value: str | None):
    old = os.environ.get("GEOMAUG_CPU_ISA")
    if value is None:
        os.environ.pop("GEOMAUG_CPU_ISA", None)
    else:
        os.environ["GEOMAUG_CPU_ISA"] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GEOMAUG_CPU_ISA", None)
        else:
            os.environ["GEOMAUG_CPU_ISA"] = old


def random_program(rng, B, S, C, measured=True):
    """(ops, factors, means): random codes (only brightness for C not in {1, 3}), factors in the
    ops' ranges, contrast means given or NaN (at most one NaN per sample)."""
    top = 6 if C in (1, 3) else 2
    ops = torch.from_numpy(rng.integers(0, top, (B, S)))
    factors = torch.from_numpy(rng.uniform(0.0, 2.0, (B, S)))
    hue = ops == 4
    factors[hue] = torch.from_numpy(rng.uniform(-0.5, 0.5, (B, S)))[hue]
    means = torch.from_numpy(rng.uniform(0.0, 1.0, (B, S)))
    for b in range(B):
        contrast = (ops[b] == 2).nonzero().flatten().tolist()
        if contrast and measured:
            means[b, contrast[int(rng.integers(len(contrast)))]] = math.nan
    return ops, factors, means


def layout(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if kind == "hwc_view":  # a (B, H, W, C) buffer seen as (B, C, H, W), as numpy HWC arrays are
        return x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    if kind == "strided":  # every other column of a wider image
        wide = torch.repeat_interleave(x, 2, dim=3)
        return wide[..., ::2]
    if kind == "hwc_crop":  # columns 2.. of a wider (B, H, W + 5, C) buffer: rows longer than W C
        B, C, H, W = x.shape
        wide = torch.zeros(B, H, W + 5, C, dtype=x.dtype)
        wide[:, :, 2:W + 2] = x.permute(0, 2, 3, 1)
        return wide[:, :, 2:W + 2].permute(0, 3, 1, 2)
    return x


def run_both(*args, **kw):
    with backend("ext"):
        got = fused.augment(*args, **kw)
    with backend("torch"):
        want = fused.augment(*args, **kw)
    return got, want


def assert_close(got, want, bound=1.0):
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.is_contiguous()
    g, w = got.double(), want.double()
    if got.dtype == torch.uint8:
        assert (g - w).abs().max() <= 1
    elif got.dtype == torch.float32:
        torch.testing.assert_close(g, w, atol=1e-4 * bound, rtol=0)
    else:  # float16 / bfloat16: one rounding of the same float32 value, off by at most an ulp
        rtol = 2.0**-7 if got.dtype == torch.bfloat16 else 2.0**-10
        torch.testing.assert_close(g, w, atol=2e-4, rtol=rtol)


@needs_ext
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("kind", ["contiguous", "channels_last", "hwc_view", "strided"])
@pytest.mark.parametrize("border", BORDERS)
def test_kernel_matches_reference(rng, dtype, kind, border):
    for B, C, H, W, oh, ow in ((1, 3, 37, 29, 31, 41), (3, 3, 20, 24, 16, 17), (2, 1, 9, 13, 12, 5),
                               (2, 4, 15, 11, 10, 14), (1, 3, 1, 1, 3, 4), (2, 2, 6, 7, 1, 1)):
        img = layout(random_image(rng, B, C, H, W, dtype), kind)
        mats = random_affine(rng, B, H, W, (oh, ow))
        ops, factors, means = random_program(rng, B, int(rng.integers(0, 6)), C)
        fill = rng.uniform(0, 255 if dtype == torch.uint8 else 1, C).tolist()
        order = "BGR" if rng.random() < 0.5 else "RGB"
        interp = "nearest" if rng.random() < 0.25 else "bilinear"
        bound = 255.0 if dtype == torch.uint8 else 1.0
        kw = dict(interpolation=interp, border=border, fill=fill, color_ops=ops,
                  color_factors=factors, contrast_means=means * bound, channel_order=order)
        got, want = run_both(img, mats, (oh, ow), **kw)
        assert got.dtype == dtype
        assert_close(got, want, bound)
        got, want = run_both(img, mats, (oh, ow), mean=rng.uniform(0.2, 0.6, C).tolist(),
                             std=rng.uniform(0.1, 0.4, C).tolist(), **kw)
        assert got.dtype == torch.float32
        assert_close(got, want)


@needs_ext
@pytest.mark.parametrize("out_dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_output_dtypes(rng, out_dtype):
    img = random_image(rng, 2, 3, 30, 30, torch.uint8)
    mats = random_affine(rng, 2, 30, 30, (25, 27))
    ops, factors, means = random_program(rng, 2, 4, 3)
    kw = dict(color_ops=ops, color_factors=factors, contrast_means=means * 255)
    got, want = run_both(img, mats, (25, 27), mean=0.5, std=0.25, out_dtype=out_dtype, **kw)
    assert got.dtype == out_dtype
    assert_close(got, want)
    if out_dtype == torch.float32:  # uint8 → float32 without normalising: the unrounded chain
        got, want = run_both(img, mats, (25, 27), out_dtype=torch.float32, **kw)
        assert_close(got, want, 255.0)


@needs_ext
@pytest.mark.parametrize("isa", ISAS)
def test_every_cpu_variant_matches_reference(rng, isa):
    """GEOMAUG_CPU_ISA forces a variant (clamped to the best this CPU runs)."""
    img = layout(random_image(rng, 2, 3, 64, 70, torch.uint8), "hwc_view")
    mats = random_affine(rng, 2, 64, 70, (48, 53))
    for order in ("RGB", "BGR"):
        ops, factors, means = random_program(rng, 2, 8, 3)
        kw = dict(color_ops=ops, color_factors=factors, contrast_means=means * 255,
                  channel_order=order, mean=geomaug.color.IMAGENET_MEAN,
                  std=geomaug.color.IMAGENET_STD)
        with cpu_isa(isa):
            got, want = run_both(img, mats, (48, 53), **kw)
        assert_close(got, want)
        with cpu_isa(isa):
            got, want = run_both(img, mats, (48, 53), border="reflect", **dict(kw, mean=None, std=None))
        assert_close(got, want, 255.0)


def zoom_out_matrices(rng, B, H, W, oh, ow):
    """Rotations that shrink the image into the middle of the output: every row crosses the
    source's edges (interior, border band and far-outside pixels in the same SIMD blocks)."""
    mats = random_affine(rng, B, H, W, (oh, ow), scale=(0.3, 0.7))
    return mats


def run_isas(img, mats, size, **kw):
    out = {}
    for isa in ISAS:
        with cpu_isa(isa), backend("ext"):
            out[isa] = fused.augment(img, mats, size, **kw)
    return out


@needs_ext
@pytest.mark.parametrize("kind", ["hwc_view", "hwc_crop", "channels_last", "contiguous",
                                  "strided"])
@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_cpu_variants_are_bit_identical(rng, kind, border, interpolation, dtype):
    """Every variant runs the same float operations in the same order (the SIMD resample of
    interleaved uint8 RGB, of planar uint8 rows, of planar and interleaved float32, the SIMD nearest of
    any layout, their edge and far-fill lanes, the colour blocks, the grey sums): equal outputs,
    not merely close ones, and each within tolerance of the PyTorch path.  Widths cover no full
    block, one partial block and tails after 8 and 16 lanes; W = 3 is the narrowest image the
    8-byte row loads take, W = 2 / H = 2 the narrowest with interior pixels."""
    bound = 255.0 if dtype == torch.uint8 else 1.0
    for C, B, H, W, oh, ow in ((3, 2, 40, 50, 37, 61), (3, 1, 23, 3, 9, 7), (3, 2, 5, 9, 20, 33),
                               (3, 1, 64, 64, 1, 16), (3, 2, 31, 29, 17, 25),
                               (1, 2, 30, 41, 29, 35), (1, 1, 2, 2, 5, 18),
                               (4, 2, 19, 26, 23, 40), (3, 1, 2, 7, 17, 17),
                               (2, 2, 21, 30, 19, 27)):
        img = layout(random_image(rng, B, C, H, W, dtype), kind)
        mats = zoom_out_matrices(rng, B, H, W, oh, ow)
        mats[0] = random_affine(rng, 1, H, W, (oh, ow), scale=(1.0, 1.75))[0]  # mostly interior
        ops, factors, means = random_program(rng, B, int(rng.integers(1, 6)), C)
        fill = rng.uniform(0, bound, C).tolist()
        order = "BGR" if rng.random() < 0.5 else "RGB"
        base = dict(border=border, fill=fill, color_ops=ops, color_factors=factors,
                    contrast_means=means * bound, channel_order=order, interpolation=interpolation)
        norm = geomaug.color.IMAGENET_MEAN if C == 3 else 0.45
        for extra in (dict(mean=norm, std=geomaug.color.IMAGENET_STD if C == 3 else 0.2),
                      dict(), dict(out_dtype=torch.float32),
                      dict(mean=0.5, std=0.25, out_dtype=torch.float16),
                      dict(mean=0.5, std=0.25, out_dtype=torch.bfloat16)):
            kw = dict(base, **extra)
            outs = run_isas(img, mats, (oh, ow), **kw)
            for isa in ISAS[1:]:
                assert torch.equal(outs[isa], outs["baseline"]), (isa, extra)
            with backend("torch"):
                want = fused.augment(img, mats, (oh, ow), **kw)
            assert_close(outs["baseline"], want, 1.0 if extra.get("mean") or
                         extra.get("out_dtype") != torch.float32 else bound)


@needs_ext
@pytest.mark.parametrize("kind", ["hwc_view", "channels_last", "contiguous", "strided"])
@pytest.mark.parametrize("border", BORDERS)
def test_nearest_without_colour_is_the_nearest_warp(rng, kind, border):
    """uint8 in, uint8 out, no colour steps: every variant's nearest resample reads exactly the
    pixels (and fill) of geomaug.warp's nearest mode, C = 1..4, B > 1, odd widths."""
    for C in (1, 2, 3, 4):
        B, H, W = 3, int(rng.integers(1, 40)), int(rng.integers(1, 40))
        img = layout(random_image(rng, B, C, H, W, torch.uint8), kind)
        mats = random_affine(rng, B, H, W, (27, 37), scale=(0.5, 2.0))
        fill = rng.integers(0, 256, C).tolist()
        want = geomaug.warp(img, mats, (27, 37), interpolation="nearest", fill=fill, border=border)
        outs = run_isas(img, mats, (27, 37), interpolation="nearest", fill=fill, border=border)
        for isa, got in outs.items():
            assert got.dtype == torch.uint8
            assert torch.equal(got, want), (isa, C, kind)


@needs_ext
@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_border_rule_far_outside(rng, border, interpolation, dtype):
    """Points many image sizes outside (reflect's period arithmetic), on images of 1 or 2
    pixels per side, and at either side of the 2^22 limit of the vectorised border rule: every
    variant equal, and equal to the PyTorch path within tolerance."""
    for trial in range(24):
        H, W = (int(v) for v in rng.integers(1, 7, 2))
        C = 3 if trial % 2 == 0 else int(rng.choice([1, 3]))
        img = random_image(rng, 1, C, H, W, dtype)
        img = layout(img, "hwc_view") if trial % 2 == 0 else img
        scale, angle = 10 ** rng.uniform(-3, 1), rng.uniform(0, 2 * math.pi)
        shift = [rng.choice([-1, 1]) * 10 ** rng.uniform(0, 7.2) for _ in range(2)]
        if trial % 4 == 0:
            shift = [rng.choice([-1, 1]) * (2.0**22 + rng.uniform(-20, 20)) for _ in range(2)]
        c, s = scale * math.cos(angle), scale * math.sin(angle)
        inverse = torch.tensor([[c, -s, shift[0]], [s, c, shift[1]], [0, 0, 1]], dtype=torch.float64)
        M = torch.linalg.inv(inverse)[None].contiguous()
        size = (int(rng.integers(1, 30)), int(rng.integers(1, 60)))
        kw = dict(border=border, fill=rng.uniform(0, 255, C).tolist(), out_dtype=torch.float32,
                  interpolation=interpolation)
        outs = run_isas(img, M, size, **kw)
        with backend("torch"):
            want = fused.augment(img, M, size, **kw)
        for isa in ISAS:
            assert torch.equal(outs[isa], outs["baseline"]), (isa, trial)
        assert_close(outs["baseline"], want, 255.0 if dtype == torch.uint8 else 1.0)


@needs_ext
def test_non_finite_source_points_take_the_fill(rng):
    """A finite forward matrix whose float32 inverse, a = 1e38 times a rotation, sends source
    points past the float range: a x - a y is inf - inf = NaN once x, y >= 4.  Those pixels are
    exactly the fill in every variant, as on the PyTorch path."""
    img = layout(random_image(rng, 1, 3, 20, 20, torch.uint8), "hwc_view")
    inverse = torch.tensor([[1e38, -1e38, 0], [1e38, 1e38, 0], [0, 0, 1]], dtype=torch.float64)
    M = torch.linalg.inv(inverse)[None]
    fill = [10.0, 20.0, 30.0]
    kw = dict(fill=fill, color_ops=[[1]], color_factors=[[1.0]])
    outs = run_isas(img, M, (9, 40), **kw)
    with backend("torch"):
        want = fused.augment(img, M, (9, 40), **kw)
    for isa in ISAS:
        assert torch.equal(outs[isa], want), isa
    assert (want[0, :, 4:, 4:] == torch.tensor(fill).view(3, 1, 1)).all()


@needs_ext
def test_normalisation_divides_exactly(rng):
    """finish_value's x / 255 (the SIMD variants divide without a division instruction):
    brightness-scaled values over many factors, normalised with mean 0 and std 1, equal the
    float32 quotient bit for bit; fills of -0 and +-inf (the raw op does not check them) keep
    their sign and infinity."""
    B = 64
    img = layout(random_image(rng, B, 3, 9, 21, torch.uint8), "hwc_view")
    f = torch.from_numpy(rng.uniform(0.0, 1.0, B))
    eye = torch.eye(3, dtype=torch.float64).expand(B, 3, 3).contiguous()
    want = ((img.float() * f.float().view(B, 1, 1, 1)).clamp(0, 255) / 255).contiguous()
    outs = run_isas(img, eye, (9, 21), color_ops=[[1]], color_factors=f[:, None], mean=0.0,
                    std=1.0)
    for isa in ISAS:
        assert torch.equal(outs[isa].view(torch.int32), want.view(torch.int32)), isa
    # Source points at NaN (see the test above) take exactly the fill.
    fill = [-0.0, math.inf, -math.inf]
    inverse = torch.tensor([[1e38, -1e38, 0], [1e38, 1e38, 0], [0, 0, 1]], dtype=torch.float64)
    M = torch.linalg.inv(inverse)[None].contiguous()
    ops = torch.zeros(1, 0, dtype=torch.int64)
    factors = torch.zeros(1, 0, dtype=torch.float64)
    expect = torch.tensor(fill, dtype=torch.float32).view(3, 1, 1).expand(3, 5, 36)
    for isa in ISAS:
        with cpu_isa(isa):
            out = torch.ops.geomaug.augment(img[:1], M, 9, 40, 0, 0, fill, ops, factors,
                                            factors, 0, [0.0] * 3, [1.0] * 3, None)
        got = out[0, :, 4:, 4:].contiguous()
        assert torch.equal(got.view(torch.int32), expect.contiguous().view(torch.int32)), isa


@needs_ext
def test_bad_cpu_isa_is_an_error():
    img = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    with cpu_isa("sse9"), backend("ext"), pytest.raises(RuntimeError, match="GEOMAUG_CPU_ISA"):
        fused.augment(img, torch.eye(3), (4, 4))


@pytest.mark.parametrize("code", range(6))
@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_each_colour_op_matches_geomaug_color(rng, code, order):
    """Identity geometry + one step = the public colour function (within one uint8 level)."""
    img = random_image(rng, 2, 3, 16, 15, torch.uint8)
    f = torch.from_numpy(rng.uniform(-0.5, 0.5, 2) if code == 4 else rng.uniform(0, 2, 2))
    out = fused.augment(img, torch.eye(3), (16, 15), color_ops=[code], color_factors=f[:, None],
                        channel_order=order)
    C = geomaug.color
    want = {0: lambda: img, 1: lambda: C.adjust_brightness(img, f, channel_order=order),
            2: lambda: C.adjust_contrast(img, f, channel_order=order),
            3: lambda: C.adjust_saturation(img, f, channel_order=order),
            4: lambda: C.adjust_hue(img, f, channel_order=order),
            5: lambda: C.to_grayscale(img, channel_order=order)}[code]()
    assert (out.double() - want.double()).abs().max() <= 1


def test_normalization_matches_geomaug_color(rng):
    img = random_image(rng, 1, 3, 12, 13, torch.uint8)
    for order in ("RGB", "BGR"):
        out = fused.augment(img, torch.eye(3), (12, 13), mean=geomaug.color.IMAGENET_MEAN,
                            std=geomaug.color.IMAGENET_STD, channel_order=order)
        want = geomaug.color.normalize(img, channel_order=order)
        torch.testing.assert_close(out, want, atol=1e-5, rtol=0)


def test_numpy_hwc_input_is_read_in_place(rng):
    arr = rng.integers(0, 256, (33, 35, 3), dtype=np.uint8)
    arr.flags.writeable = False
    M = random_affine(rng, 1, 33, 35, (30, 31))[0]
    out = fused.augment(arr, M, (30, 31), mean=0.5, std=0.5)
    want = fused.augment(torch.from_numpy(arr.copy()).permute(2, 0, 1), M, (30, 31), mean=0.5,
                         std=0.5)
    assert out.shape == (3, 30, 31)
    torch.testing.assert_close(out, want, atol=0, rtol=0)


@needs_ext
def test_check_kernel_contract(rng):
    img = random_image(rng, 3, 3, 21, 19, torch.uint8).contiguous(memory_format=torch.channels_last)
    mats = random_affine(rng, 3, 21, 19, (18, 20))
    ops, factors, means = random_program(rng, 3, 5, 3)
    means = means.nan_to_num(-1.0)  # NaN != NaN would fail the "input untouched" check

    def fn(img, mats, ops, factors, means):
        means = torch.where(means < 0, math.nan, means * 255)
        return fused.augment(img, mats, (18, 20), color_ops=ops, color_factors=factors,
                             contrast_means=means, mean=0.45, std=0.2)

    check_kernel(fn, (img, mats, ops, factors, means), batched=(0, 1, 2, 3, 4), atol=1e-4,
                 memory_format=False)


@needs_ext
def test_measured_mean_does_not_depend_on_threads(rng):
    img = random_image(rng, 2, 3, 80, 90, torch.uint8)
    mats = random_affine(rng, 2, 80, 90, (70, 75))
    kw = dict(color_ops=[[1, 2, 3]], color_factors=[[1.3, 0.6, 1.2]], mean=0.5, std=0.2)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fused.augment(img, mats, (70, 75), **kw)
        torch.set_num_threads(max(2, threads))
        many = fused.augment(img, mats, (70, 75), **kw)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)


@needs_ext
def test_output_past_2_31_bytes_is_indexed_correctly():
    """A (1, 1, 23200, 23200) float32 output (2.15 GB): a 2x2 image upscaled, its four corners
    (and the rows near the end) hold the four source values."""
    n = 23200
    img = torch.tensor([[[[10, 20], [30, 40]]]], dtype=torch.uint8)
    scale = n / 2
    M = torch.tensor([[scale, 0, 0.5 * scale - 0.5], [0, scale, 0.5 * scale - 0.5], [0, 0, 1]],
                     dtype=torch.float64)
    with backend("ext"):
        out = fused.augment(img, M, (n, n), out_dtype=torch.float32)
    flat = out.view(-1)
    assert flat[0] == 10 and flat[n - 1] == 20 and flat[(n - 1) * n] == 30
    assert flat[-1] == 40 and flat[-n // 4] == 40 and bool((out[0, 0, -1, -100:] == 40).all())


def test_autograd_uses_the_pytorch_path(rng):
    img = random_image(rng, 1, 3, 10, 10, torch.float32).requires_grad_()
    out = fused.augment(img, torch.eye(3), (8, 8), color_ops=[1], color_factors=[[0.9]],
                        mean=0.5, std=0.5)
    out.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(color_ops=[[7]], color_factors=[[1.0]]), "codes 0..5"),
    (dict(color_ops=[[2, 2]], color_factors=[[1.0, 1.0]]), "at most one contrast mean"),
    (dict(color_ops=[[1]]), "color_factors must be given"),
    (dict(color_ops=[[1]], color_factors=[[-1.0]]), ">= 0"),
    (dict(color_ops=[[4]], color_factors=[[0.7]]), r"\[-0.5, 0.5\]"),
    (dict(mean=0.5), "together"),
    (dict(mean=0.5, std=[0.1, 0.0, 0.2]), "std must be > 0"),
    (dict(mean=[0.1, 0.2], std=0.5), r"one per channel \(3\), got 2 value"),
    (dict(mean=0.5, std=0.5, out_dtype=torch.uint8), "out_dtype with mean/std"),
    (dict(out_dtype=torch.float16), "out_dtype without mean/std"),
    (dict(channel_order="RGBA"), "channel_order"),
    (dict(border="wrap"), "border"),
    (dict(color_ops=[[2]], color_factors=[[0.5]], contrast_means=[[math.inf]]),
     "finite .* or NaN"),
    (dict(color_ops=[[1, 2]], color_factors=[[1.0, 0.5]], contrast_means=[[0.0, -math.inf]]),
     "finite .* or NaN"),
    (dict(fill=1000), r"uint8's range \[0, 255\]"),
    (dict(fill=[0, 255.6, 0], mean=0.5, std=0.5), r"uint8's range"),
    (dict(fill=-0.6), r"uint8's range"),
])
def test_bad_arguments(kwargs, match):
    img = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(geomaug.InputError, match=match):
        fused.augment(img, torch.eye(3), (4, 4), **kwargs)


def test_fill_within_uint8_range_once_rounded():
    """A uint8 image's fill is taken as geomaug.warp takes it: values that round into [0, 255]
    (half to even) pass, unrounded; a float image's fill may be any finite value."""
    img = torch.full((1, 3, 4, 4), 7, dtype=torch.uint8)
    far = torch.tensor([[1.0, 0, 100], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    for backend_name in ("torch",) + (("ext",) if EXT_LOADED else ()):
        with backend(backend_name):
            out = fused.augment(img, far, (4, 4), fill=[-0.5, 255.25, 3.25],
                                out_dtype=torch.float32)
            assert out[0, :, 0, 0].tolist() == [-0.5, 255.25, 3.25]
            out = fused.augment(img.float(), far, (4, 4), fill=[-2.0, 300.0, 1.5])
            assert out[0, :, 0, 0].tolist() == [-2.0, 300.0, 1.5]


def test_bad_images():
    with pytest.raises(geomaug.InputError, match="uint8 or float32"):
        fused.augment(torch.zeros(1, 3, 4, 4, dtype=torch.float64), torch.eye(3), (4, 4))
    with pytest.raises(geomaug.InputError, match="1 to 4 channels"):
        fused.augment(torch.zeros(1, 5, 4, 4), torch.eye(3), (4, 4))
    with pytest.raises(geomaug.InputError, match="need 1 or 3 channels"):
        fused.augment(torch.zeros(1, 4, 4, 4), torch.eye(3), (4, 4), color_ops=[[3]],
                      color_factors=[[1.0]])
    with pytest.raises(geomaug.InputError, match="not be empty"):
        fused.augment(torch.zeros(1, 3, 0, 4), torch.eye(3), (4, 4))
    with pytest.raises(geomaug.InputError, match="color_factors must have shape"):
        fused.augment(torch.zeros(2, 3, 4, 4), torch.eye(3), (4, 4), color_ops=[[1, 1]] * 2,
                      color_factors=[[1.0]] * 2)


@needs_ext
def test_raw_op_checks_values_on_cpu():
    img = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    ops = torch.tensor([[2, 2]])
    nan = torch.full((1, 2), math.nan, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="at most one contrast mean"):
        torch.ops.geomaug.augment(img, torch.eye(3, dtype=torch.float64)[None], 4, 4, 0, 0,
                                  [0.0] * 3, ops, torch.ones(1, 2, dtype=torch.float64), nan, 0,
                                  None, None, None)


@needs_ext
def test_raw_op_takes_an_infinite_mean_as_given(rng):
    """Only NaN means 'measure the mean' in the kernel, as on the PyTorch path: +-inf (which the
    transforms' previews can pass for an image holding inf) is a given mean there too."""
    img = random_image(rng, 1, 3, 6, 7, torch.uint8)
    eye = torch.eye(3, dtype=torch.float64)[None]
    for mean in (math.inf, -math.inf):
        means = torch.tensor([[math.nan, mean]], dtype=torch.float64)
        args = (torch.tensor([[2, 2]]), torch.full((1, 2), 0.5, dtype=torch.float64), means)
        got = torch.ops.geomaug.augment(img, eye, 6, 7, 0, 0, [0.0] * 3, *args, 0, None, None,
                                        torch.float32)
        want = fused.augment_reference(img, eye, (6, 7), torch.zeros(3, dtype=torch.float64),
                                       *args, None, torch.float32)
        assert torch.equal(got, want)


def test_pytorch_path_when_no_extension(monkeypatch, rng):
    monkeypatch.setenv("GEOMAUG_BACKEND", "torch")
    img = random_image(rng, 1, 3, 6, 6, torch.uint8)
    out = fused.augment(img, torch.eye(3), (6, 6), color_ops=[1], color_factors=[[1.0]])
    assert torch.equal(out, img)
    assert EXT_LOADED == (_backend.extension().module is not None)


# ---------------------------------------------------------------------------------------------
# Compose uses the fused op

def _w1(**kw):
    T = geomaug.transforms
    return T.Compose([T.HorizontalFlip(), T.RandomAffine(degrees=30, scale=(0.75, 1.75),
                                                         translate=(0.1, 0.1)),
                      T.CenterCrop(48), T.ColorJitter(0.4, 0.4, 0.4, 0.1), T.Normalize()], **kw)


def _pipelines():
    T = geomaug.transforms
    yield _w1()
    yield _w1(channel_order="BGR")
    yield T.Compose([T.ColorJitter(0.4, 0.4, 0.4), T.RandomAffine(degrees=20), T.CenterCrop(40),
                     T.RandomGrayscale(0.5)])  # contrast mean before the geometry: passed in
    yield T.Compose([T.Rotate(15), T.ColorJitter(contrast=0.5, hue=0.2, p=0.7),
                     T.Normalize(dtype=torch.bfloat16)], border="reflect")
    yield T.Compose([T.Resize(40), T.ColorJitter(brightness=0.3), T.Normalize(mean=0.5, std=0.25)])


@pytest.mark.parametrize("kind", ["numpy", "torch", "torch_batch"])
def test_compose_same_with_kernel_and_pytorch_path(rng, kind):
    seed = int(rng.integers(2**31))
    for t in _pipelines():
        if kind == "numpy":
            img = rng.integers(0, 256, (57, 61, 3), dtype=np.uint8)
        else:
            img = random_image(rng, 3 if kind == "torch_batch" else 1, 3, 57, 61, torch.uint8)
            img = img if kind == "torch_batch" else img[0]
        with backend("torch"):
            want = t(image=img, seed=seed)["image"]
        with backend("auto"):
            got = t(image=img, seed=seed)["image"]
        assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
        g, w = torch.as_tensor(got).double(), torch.as_tensor(want).double()
        tol = 1.0 if got.dtype == torch.uint8 else 1e-4
        tol = max(tol, 2.0**-7 * float(w.abs().max())) if got.dtype == torch.bfloat16 else tol
        assert float((g - w).abs().max()) <= tol


def test_compose_decides_in_one_function(monkeypatch, rng):
    """fused_plan is the decision; Compose calls geomaug.fused.run exactly when it says so."""
    from geomaug.transforms import _apply

    T = geomaug.transforms
    calls, decisions = [], []
    real_run, real_plan = _apply.fused_run, _apply.fused_plan

    def spy_plan(*a, **k):
        decisions.append(real_plan(*a, **k) is not None)
        return real_plan(*a, **k)

    monkeypatch.setattr(_apply, "fused_run", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    monkeypatch.setattr(_apply, "fused_plan", spy_plan)
    img = random_image(rng, 1, 3, 30, 30, torch.uint8)[0]
    cases = [(_w1(), True),
             (T.Compose([T.RandomAffine(degrees=10)]), False),                  # no colour work
             (T.Compose([T.ColorJitter(0.3), T.Normalize()]), False),              # no resample
             (T.Compose([T.Rotate(10), T.Normalize(dtype=torch.float64)]), False),
             (T.Compose([T.Rotate(10), T.ColorJitter(contrast=0.4), T.ColorJitter(contrast=0.4)]),
              False),                                                           # two measured means
             (T.Compose([T.Rotate(10), T.ColorJitter(0.3, channel_order="BGR"), T.Normalize()]),
              False)]                                                           # two channel orders
    for t, fuses in cases:
        calls.clear(), decisions.clear()
        t(image=img, seed=1)
        assert decisions == ([fuses] if decisions else [])
        assert len(calls) == int(fuses)
    assert decisions  # the last cases did ask
    calls.clear()
    t = T.Compose([T.Rotate(10), T.ColorJitter(0.3)])
    t(image=img.double() / 255, seed=1)  # float64 image: step by step
    assert not calls


def test_step_by_step_colour_path_equals_the_fused_op(monkeypatch, rng):
    """The transforms' step-by-step colour path (taken where the fused op cannot run) and the
    fused op compute the same arithmetic, the contrast mean's included (grey summed in float64 in
    both): uint8 results are equal, not just within 1."""
    from geomaug.transforms import _apply

    T = geomaug.transforms
    img = random_image(rng, 8, 3, int(rng.integers(9, 64)), int(rng.integers(9, 64)), torch.uint8)
    t = T.Compose([T.HorizontalFlip(), T.RandomAffine(25, scale=(0.7, 1.3)),
                   T.ColorJitter(0.4, 0.4, 0.4), T.RandomGrayscale(0.3)])
    seed = int(rng.integers(1 << 30))
    fused = t(image=img, seed=seed)["image"]
    monkeypatch.setattr(_apply, "fused_plan", lambda *a, **k: None)
    step = t(image=img, seed=seed)["image"]
    assert torch.equal(step, fused)
