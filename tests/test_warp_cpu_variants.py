"""The CPU warp kernel's fast row loops, in every instruction-set variant this CPU runs
(GEOMAUG_CPU_ISA=baseline|avx2|avx512), against the PyTorch path and against each other; the
GEOMAUG_CPU_ISA rule (one for every op)."""
import numpy as np
import pytest
import torch

from geomaug import _backend
from geomaug._ops import BORDER as BORDERS
from geomaug.warping import warp_reference
from conftest import EXT_LOADED, needs_ext
from helpers import random_affine, random_image

ISAS = _backend.extension().module.cpu_isas().split(",") if EXT_LOADED else ["baseline"]
pytestmark = needs_ext


def run_op(monkeypatch, isa, src, M, size, interp, fill, border):
    monkeypatch.setenv("GEOMAUG_CPU_ISA", isa)
    return torch.ops.geomaug.warp(src, M, size[0], size[1], interp, fill, BORDERS[border])


def layouts(rng, dtype, B, C, H, W):
    """The layouts the fast loops specialise: HWC numpy views (interleaved channels), channels-last,
    NCHW and a strided crop."""
    base = random_image(rng, B, C, H + 3, W + 5, dtype)
    return {"hwc_view": torch.from_numpy(base[:, :, :H, :W].permute(0, 2, 3, 1).contiguous()
                                         .numpy()).permute(0, 3, 1, 2),
            "channels_last": base[:, :, :H, :W].contiguous(memory_format=torch.channels_last),
            "nchw": base[:, :, :H, :W].contiguous(),
            "strided_crop": base[:, :, 1:H + 1, 2:W + 2]}


def test_every_variant_is_listed():
    assert ISAS[0] == "baseline" and set(ISAS) <= {"baseline", "avx2", "avx512"}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("channels", [1, 3, 4, 5])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_bilinear_variants_match_reference(rng, monkeypatch, isa, channels, dtype):
    B, H, W = int(rng.integers(1, 3)), int(rng.integers(2, 60)), int(rng.integers(2, 60))
    OH, OW = int(rng.integers(1, 50)), int(rng.integers(1, 50))
    M = random_affine(rng, B, H, W, (OH, OW), scale=(0.5, 2.0), shift=0.3)
    fill = torch.from_numpy(rng.random(channels) * (255 if dtype == torch.uint8 else 1))
    tol = {torch.uint8: 1, torch.float32: 1e-4, torch.float64: 1e-9}[dtype]
    for name, src in layouts(rng, dtype, B, channels, H, W).items():
        for border in BORDERS:
            out = run_op(monkeypatch, isa, src, M, (OH, OW), 0, fill, border)
            ref = warp_reference(src, M, (OH, OW), "bilinear", fill, border)
            diff = (out.double() - ref.double()).abs()
            assert diff.max() <= tol, (name, border, float(diff.max()))
            if dtype == torch.uint8:
                assert (diff > 0).double().mean() < 0.01, (name, border)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.float32])
def test_nearest_variants_match_reference(rng, monkeypatch, isa, dtype):
    B, C, H, W = 2, int(rng.integers(1, 4)), int(rng.integers(2, 50)), int(rng.integers(2, 50))
    M = random_affine(rng, B, H, W, (33, 47), scale=(0.5, 2.0), shift=0.3)
    fill = torch.arange(C).to(dtype) + 100
    for name, src in layouts(rng, dtype, B, C, H, W).items():
        for border in BORDERS:
            out = run_op(monkeypatch, isa, src, M, (33, 47), 1, fill, border)
            ref = warp_reference(src, M, (33, 47), "nearest", fill, border)
            assert (out != ref).double().mean() < 1e-3, (name, border)


def test_variants_agree_bit_for_bit(rng, monkeypatch):
    """No fused multiply-adds: every variant computes exactly the same values."""
    src = torch.from_numpy(rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)).permute(2, 0, 1)[None]
    M = random_affine(rng, 1, 97, 131, (101, 89), scale=(0.6, 1.6), shift=0.2)
    fill = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    for interp in (0, 1):
        outs = [run_op(monkeypatch, isa, src, M, (101, 89), interp, fill, "reflect") for isa in ISAS]
        for o in outs[1:]:
            assert torch.equal(o, outs[0])
    # float32: interleaved (HWC) and planar (CHW) rows of 1 to 4 channels, the 8-column loop and
    # its scalar tail (89 = 11 blocks + 1; rows ending in a full block: below)
    srcf = src.float() / 255
    wide = torch.cat([srcf, srcf[:, :1] * 0.5], 1).contiguous(memory_format=torch.channels_last)
    two = srcf[:, :2].contiguous(memory_format=torch.channels_last)
    for f, fill in ((srcf, fill), (srcf.contiguous(), fill), (wide, torch.arange(4.0)),
                    (wide.contiguous(), torch.arange(4.0)), (two, fill[:2]),
                    (two.contiguous(), fill[:2]), (srcf[:, :1].contiguous(), fill[:1])):
        outs = [run_op(monkeypatch, isa, f, M, (101, 89), 0, fill, "constant") for isa in ISAS]
        for o in outs[1:]:
            assert torch.equal(o, outs[0])


def test_hwc_rows_ending_at_the_last_column_do_not_spill(rng, monkeypatch):
    """A C=3 row's last pixel stores exactly 3 bytes (uint8) or 3 floats (float32): the next row
    (another thread's) is intact."""
    torch.set_num_threads(max(2, torch.get_num_threads()))
    src = torch.from_numpy(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).permute(2, 0, 1)[None]
    M = torch.tensor([[[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1]]], dtype=torch.float64)  # all interior
    fill = torch.zeros(3, dtype=torch.float64)
    for isa in ISAS:
        out = run_op(monkeypatch, isa, src.contiguous(memory_format=torch.channels_last), M,
                     (10, 10), 0, fill, "constant")
        ref = warp_reference(src, M, (10, 10), "bilinear", fill)
        assert (out.int() - ref.int()).abs().max() <= 1
    # float32: rows of two full 8-column blocks, the second ending the row (three floats stored
    # for its last pixel, not four)
    srcf = torch.from_numpy(rng.random((40, 40, 3), dtype=np.float32)).permute(2, 0, 1)[None]
    for isa in ISAS:
        out = run_op(monkeypatch, isa, srcf, M, (10, 16), 0, fill, "constant")
        ref = warp_reference(srcf, M, (10, 16), "bilinear", fill)
        assert (out - ref).abs().max() <= 1e-6


# ---- nearest: the interior span loops (chunks of 512 columns, 4/8/16 lanes, packed offsets) ---

def axis_nearest(src, a, b, out_len, fill_index=-1):
    """Index map of one axis under sx = a x + b (dyadic a, b: exact in float): the nearest source
    index (half to even, clamped) inside the area [-0.5, n - 0.5], else fill_index."""
    n = src
    sx = a * np.arange(out_len, dtype=np.float64) + b
    idx = np.clip(np.rint(sx), 0, n - 1).astype(np.int64)
    return np.where((sx >= -0.5) & (sx <= n - 0.5), idx, fill_index)


def dyadic_oracle(src, ax, bx, ay, by, size, fill):
    """Expected nearest/constant output of the map (x, y) -> (ax x + bx, ay y + by), from numpy."""
    B, C, H, W = src.shape
    xi, yi = axis_nearest(W, ax, bx, size[1]), axis_nearest(H, ay, by, size[0])
    s = src.numpy()
    out = s[:, :, np.clip(yi, 0, None)][:, :, :, np.clip(xi, 0, None)]
    outside = (yi[:, None] < 0) | (xi[None, :] < 0)
    return np.where(outside[None, None], fill.numpy()[None, :, None, None], out)


def dyadic_matrix(ax, bx, ay, by):
    """The forward matrix whose inverse is (x, y) -> (ax x + bx, ay y + by) (exact: dyadic)."""
    return torch.tensor([[[1 / ax, 0, -bx / ax], [0, 1 / ay, -by / ay], [0, 0, 1]]],
                        dtype=torch.float64)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.float32])
def test_nearest_every_span_length_and_area_edge(rng, monkeypatch, isa, dtype):
    """Spans of every length around the 4/8/16-lane vectors and the 512-column chunks, with sample
    points exactly on the area's edges (-0.5 and W - 0.5: inside, clamped) and on .5 ties (half to
    even): equal to a numpy oracle in every layout."""
    C, H, W = int(rng.integers(1, 4)), int(rng.integers(3, 12)), int(rng.integers(60, 300))
    fill = (torch.arange(C) + 100).to(dtype)
    for OW in (1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 129, 511, 512, 513, 1100):
        ax = float(rng.choice([0.25, 0.5, 1.0, 2.0, -1.0]))
        bx = float(rng.integers(-8, 9)) / 2 + (W - 1 if ax < 0 else 0)
        ay, by = float(rng.choice([0.5, 1.0])), float(rng.integers(-2, 3)) / 2
        OH = H + 2
        M = dyadic_matrix(ax, bx, ay, by)
        for name, src in layouts(rng, dtype, 1, C, H, W).items():
            out = run_op(monkeypatch, isa, src, M, (OH, OW), 1, fill, "constant")
            want = dyadic_oracle(src, ax, bx, ay, by, (OH, OW), fill)
            np.testing.assert_array_equal(out.numpy(), want, err_msg=f"{name} OW={OW} {ax} {bx}")


def test_nearest_area_edges_by_hand(monkeypatch):
    """sx = x - 0.5 on a 4-wide row: -0.5 -> 0 (inside), 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 3
    (rounds to 4, clamped: inside), 4.5 -> fill."""
    src = torch.tensor([[[[10, 11, 12, 13]]]], dtype=torch.uint8)
    M = dyadic_matrix(1.0, -0.5, 1.0, 0.0)
    for isa in ISAS:
        out = run_op(monkeypatch, isa, src, M, (1, 6), 1, torch.tensor([255], dtype=torch.uint8),
                     "constant")
        assert out.flatten().tolist() == [10, 10, 12, 12, 13, 255], isa


@pytest.mark.parametrize("shape, crop", [((1, 2, 3, 33000), None),     # W > 2**15
                                          ((1, 1, 33000, 3), None),     # H > 2**15
                                          ((1, 2, 4, 40000), 50)])      # row stride > 2**15
def test_nearest_offsets_beyond_16_bits(rng, monkeypatch, shape, crop):
    """Sources whose indices or strides do not fit the packed 16-bit offset products take the
    32-bit ones: same results."""
    src = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
    if crop is not None:
        src = src[..., :crop]
    H, W = src.shape[2:]
    fill = torch.full((src.shape[1],), 255, dtype=torch.uint8)
    M = random_affine(rng, 1, H, W, (min(H, 70), min(W, 90)), scale=(0.5, 2.0), shift=0.3)
    ax, bx, ay, by = 2.0, float(W) - 40.5, 0.5, 0.5
    for isa in ISAS:
        out = run_op(monkeypatch, isa, src, M, (min(H, 70), min(W, 90)), 1, fill, "constant")
        ref = warp_reference(src, M, (min(H, 70), min(W, 90)), "nearest", fill, "constant")
        assert (out != ref).double().mean() < 1e-3, isa
        out = run_op(monkeypatch, isa, src, dyadic_matrix(ax, bx, ay, by), (9, 30), 1, fill,
                     "constant")
        np.testing.assert_array_equal(out.numpy(), dyadic_oracle(src, ax, bx, ay, by, (9, 30), fill))


def test_image_right_of_the_output_rows(rng, monkeypatch):
    """Rows whose image part starts beyond the last column are all fill, and stay in their row:
    channel 0's fill must not spill into channel 1 (NCHW: the next row in memory)."""
    src = torch.from_numpy(rng.integers(0, 100, (1, 2, 20, 30), dtype=np.uint8))
    fill = torch.tensor([7, 9], dtype=torch.uint8)
    for shift in (41.0, 40.5, 45.25, 1000.0):
        M = torch.tensor([[[1, 0, shift], [0, 1, 0], [0, 0, 1]]], dtype=torch.float64)
        for interp in (0, 1):
            for isa in ISAS:
                out = run_op(monkeypatch, isa, src, M, (20, 40), interp, fill, "constant")
                assert (out[0, 0] == 7).all() and (out[0, 1] == 9).all(), (shift, interp, isa)
    M = random_affine(rng, 1, 20, 30, (20, 40), max_rot=40, scale=(0.9, 1.1))
    M[0, 0, 2] += 25.0  # a rotated image half beyond the right edge: some rows start past it
    for interp, tol in ((0, 1), (1, 0)):
        for isa in ISAS:
            out = run_op(monkeypatch, isa, src, M, (20, 40), interp, fill, "constant")
            ref = warp_reference(src, M, (20, 40), ("bilinear", "nearest")[interp], fill)
            assert (out.int() - ref.int()).abs().max() <= tol, (interp, isa)


@pytest.mark.parametrize("interp", [0, 1])
def test_rows_split_across_threads_and_samples(rng, monkeypatch, interp):
    """Threads take row ranges that start inside a sample: same bits as one thread."""
    threads = torch.get_num_threads()
    src = random_image(rng, 3, 3, 45, 61, torch.uint8)
    M = random_affine(rng, 3, 45, 61, (37, 500))
    fill = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    try:
        for isa in ISAS:
            torch.set_num_threads(1)
            one = run_op(monkeypatch, isa, src, M, (37, 500), interp, fill, "constant")
            torch.set_num_threads(2)  # tasks of 33 rows: they cross the 37-row samples
            two = run_op(monkeypatch, isa, src, M, (37, 500), interp, fill, "constant")
            assert torch.equal(one, two), isa
    finally:
        torch.set_num_threads(threads)


# ---- GEOMAUG_CPU_ISA: one rule for every op ---------------------------------------------------

RANK = {"baseline": 0, "avx2": 1, "avx512": 2}
AUTO = {"warp": "avx512", "augment": "avx512"}  # each op's documented choice under auto


def test_cpu_isa_rule_auto_forced_and_clamped():
    """auto/unset/empty: the op's default; a named variant: that one; both clamped to the CPU's best
    (every CPU simulated); case does not matter."""
    cpu_isa = _backend.extension().module.cpu_isa
    for best in RANK:
        for op, auto in AUTO.items():
            for value in ("", "auto", "AUTO", "baseline", "avx2", "AVX2", "avx512", "Avx512"):
                want = auto if value.lower() in ("", "auto") else value.lower()
                if RANK[want] > RANK[best]:
                    want = best
                assert cpu_isa(op, value, best) == want, (op, value, best)


def test_cpu_isa_follows_the_environment(monkeypatch):
    cpu_isa = _backend.extension().module.cpu_isa
    best = ISAS[-1]
    monkeypatch.delenv("GEOMAUG_CPU_ISA", raising=False)
    for op, auto in AUTO.items():
        assert cpu_isa(op) == min(auto, best, key=RANK.get)
    for isa in ISAS:
        monkeypatch.setenv("GEOMAUG_CPU_ISA", isa)
        assert cpu_isa("warp") == cpu_isa("augment") == isa


@pytest.mark.parametrize("value", ["sse9", "avx", "avx-512", " avx2", "1", "best"])
def test_bad_cpu_isa_is_an_error_for_every_op(monkeypatch, value):
    """Not silently the best variant: an error naming the variable, the allowed values and the value."""
    monkeypatch.setenv("GEOMAUG_CPU_ISA", value)
    src = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    M = torch.eye(3, dtype=torch.float64)[None]
    fill = torch.zeros(1, dtype=torch.uint8)
    expected = f"GEOMAUG_CPU_ISA must be auto, baseline, avx2 or avx512 (or unset), got '{value}'"
    with pytest.raises(RuntimeError, match="geomaug::warp: " + expected.replace("(", r"\(").replace(")", r"\)")):
        torch.ops.geomaug.warp(src, M, 4, 4, 1, fill, 0)
    zeros = torch.zeros(1, 0, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="geomaug::augment: GEOMAUG_CPU_ISA must be auto"):
        torch.ops.geomaug.augment(src, M, 4, 4, 0, 0, [0.0], zeros.long(), zeros, zeros, 0,
                                  None, None, None)
    with pytest.raises(ValueError, match=f"GEOMAUG_CPU_ISA must be .*got '{value}'"):
        _backend.extension().module.cpu_isa("warp")


def test_info_shows_the_variants_and_the_error(monkeypatch, capsys):
    from geomaug import info
    monkeypatch.setenv("GEOMAUG_CPU_ISA", "baseline")
    got = info.collect()["cpu_isa"]
    assert got["variants"] == ISAS and got["ops"] == {"warp": "baseline", "augment": "baseline"}
    monkeypatch.setenv("GEOMAUG_CPU_ISA", "fastest")
    got = info.collect()["cpu_isa"]
    assert "ops" not in got and "got 'fastest'" in got["error"]
    assert info.main() == 0  # still prints everything else
    assert "GEOMAUG_CPU_ISA=fastest: ERROR: GEOMAUG_CPU_ISA must be" in capsys.readouterr().out
