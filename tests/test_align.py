"""Alignment: recovery of random transforms, weights, reflections, agreement with scikit-image and
with a transcription of pytorch3d, degenerate items, kernels vs the PyTorch path, gradients."""
import warnings

import numpy as np
import pytest
import torch
from skimage.transform import EuclideanTransform, SimilarityTransform

import geomaug
from geomaug import _backend
from geomaug.alignment import MODELS, align_reference
from conftest import DEVICES, device_or_skip, needs_ext
from helpers import check_kernel, random_problem, random_rotation


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("model", ["rigid", "similarity", "affine"])
def test_recovers_random_transforms(rng, device, D, model):
    dev = device_or_skip(device)
    src, dst, A, s, t = random_problem(64, 30, D, torch.float64, model=model)
    a = geomaug.estimate(src.to(dev), dst.to(dev), model)
    assert a.valid.all()
    torch.testing.assert_close(a.R.cpu(), A, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(a.s.cpu(), s, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(a.t.cpu(), t, atol=1e-8, rtol=1e-8)
    assert (a.rmse < 1e-6).all()
    torch.testing.assert_close(a.apply(src.to(dev)), dst.to(dev), atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("D", [2, 3])
def test_float32_within_1e5_of_float64_reference(rng, device, D):
    dev = device_or_skip(device)
    src, dst, *_ = random_problem(500, 68, D, torch.float32, noise=0.05)
    a = geomaug.estimate(src.to(dev), dst.to(dev), "similarity")
    _, R, t, s, rmse, valid = align_reference(src.double(), dst.double(), None, 1, False)
    assert a.valid.all() and valid.all()
    assert ((a.R.cpu().double() - R).abs().amax((-2, -1)) <= 1e-5).all()
    assert ((a.s.cpu().double() - s).abs() <= 1e-5 * s).all()
    scale = src.double().abs().amax((-2, -1)) * s + t.abs().amax(-1)
    assert ((a.t.cpu().double() - t).abs().amax(-1) <= 1e-5 * scale).all()
    assert ((a.rmse.cpu().double() - rmse).abs() <= 1e-5 * rmse + 1e-6).all()


@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("model", ["rigid", "similarity", "affine"])
def test_weights_are_true_weighted_least_squares(rng, D, model):
    """Integer weights fit exactly like repeating each point that many times."""
    src, dst, *_ = random_problem(8, 20, D, torch.float64, noise=0.3, model=model)
    w = torch.from_numpy(rng.integers(0, 4, (8, 20))).double()
    w[:, :D + 2] = 1  # keep every set well determined
    a = geomaug.estimate(src, dst, model, weights=w)
    for b in range(8):
        reps = w[b].long()
        rep = geomaug.estimate(src[b].repeat_interleave(reps, 0), dst[b].repeat_interleave(reps, 0), model)
        torch.testing.assert_close(a.matrix[b], rep.matrix, atol=1e-9, rtol=1e-9)
        torch.testing.assert_close(a.rmse[b], rep.rmse, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("D", [2, 3])
def test_reflections(D):
    src, dst, A, s, t = random_problem(16, 25, D, torch.float64)
    flip = torch.ones(D, dtype=torch.float64)
    flip[0] = -1
    dst_reflected = dst * flip
    allowed = geomaug.estimate(src, dst_reflected, allow_reflection=True)
    torch.testing.assert_close(torch.linalg.det(allowed.R), -torch.ones(16, dtype=torch.float64))
    torch.testing.assert_close(allowed.apply(src), dst_reflected, atol=1e-8, rtol=1e-8)
    proper = geomaug.estimate(src, dst_reflected)
    torch.testing.assert_close(torch.linalg.det(proper.R), torch.ones(16, dtype=torch.float64))
    assert (proper.rmse > 0.1).all()
    # A proper rotation is still found when reflections are allowed but not needed.
    ok = geomaug.estimate(src, dst, allow_reflection=True)
    torch.testing.assert_close(ok.R, A, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("model, sk", [("similarity", SimilarityTransform), ("rigid", EuclideanTransform)])
def test_agrees_with_scikit_image_umeyama(rng, D, model, sk):
    src, dst, *_ = random_problem(20, 12, D, torch.float64, noise=0.5, model=model)
    a = geomaug.estimate(src, dst, model)
    for b in range(20):
        tf = sk.from_estimate(src[b].numpy(), dst[b].numpy())
        np.testing.assert_allclose(a.matrix[b].numpy(), tf.params, atol=1e-9, rtol=1e-9)


def pytorch3d_alignment(X, Y, weights=None, estimate_scale=False, allow_reflection=False, eps=1e-9):
    """A transcription of pytorch3d.ops.corresponding_points_alignment for (B, N, D) tensors."""
    b, n, dim = X.shape
    if weights is None:
        Xmu, Ymu = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
    else:
        wsum = weights.sum(1)[:, None, None].clamp(eps)
        Xmu = (X * weights[..., None]).sum(1, keepdim=True) / wsum
        Ymu = (Y * weights[..., None]).sum(1, keepdim=True) / wsum
    Xc, Yc = X - Xmu, Y - Ymu
    total_weight = torch.full((b,), float(max(n, 1)), dtype=X.dtype)
    if weights is not None:
        Xc = Xc * weights[..., None]
        Yc = Yc * weights[..., None]
        total_weight = weights.sum(1).clamp(eps)
    XYcov = Xc.transpose(2, 1) @ Yc / total_weight[:, None, None]
    U, S, Vh = torch.linalg.svd(XYcov)
    V = Vh.mT
    E = torch.eye(dim, dtype=X.dtype).repeat(b, 1, 1)
    if not allow_reflection:
        E[:, -1, -1] = torch.det(U @ V.mT)
    R = U @ E @ V.mT
    if estimate_scale:
        trace_ES = (torch.diagonal(E, dim1=1, dim2=2) * S).sum(1)
        Xcov = (Xc * Xc).sum((1, 2)) / total_weight
        s = trace_ES / Xcov.clamp(eps)
        T = Ymu[:, 0] - s[:, None] * (Xmu @ R)[:, 0]
    else:
        T = Ymu[:, 0] - (Xmu @ R)[:, 0]
        s = torch.ones(b, dtype=X.dtype)
    return R, T, s


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("n_points", [100, 3, 2, 1])
@pytest.mark.parametrize("random_weights", [False, True])
@pytest.mark.parametrize("estimate_scale", [False, True])
@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("allow_reflection", [False, True])
def test_pytorch3d_compatible_grid(rng, dim, n_points, random_weights, estimate_scale, reflect,
                                   allow_reflection):
    """pytorch3d's own test grid (batch 10; X ~ randn; s ~ U(0.1, 1.1); weights normalised then
    zeroed where w*n <= 0.3): the drop-in must give pytorch3d's answer wherever it is unique."""
    b = 10
    X = torch.randn(b, n_points, dim, dtype=torch.float64)
    R = random_rotation(b, dim)
    if reflect:
        M = torch.ones(b, dim, dtype=torch.float64)
        M[torch.arange(b), torch.from_numpy(rng.integers(0, dim, b))] = -1
        R = M[..., None] * R
    T = torch.randn(b, dim, dtype=torch.float64)
    s = torch.rand(b, dtype=torch.float64) + 0.1 if estimate_scale else torch.ones(b, dtype=torch.float64)
    weights = None
    if random_weights:
        weights = torch.rand(b, n_points, dtype=torch.float64)
        weights = weights / weights.sum(1, keepdim=True)
        weights[weights * n_points <= 0.3] = 0.0
    Y = s[:, None, None] * X @ R + T[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = geomaug.corresponding_points_alignment(X, Y, weights, estimate_scale, allow_reflection)
    theirs = pytorch3d_alignment(X, Y, weights, estimate_scale, allow_reflection)
    assert ours.R.shape == (b, dim, dim) and ours.T.shape == (b, dim) and ours.s.shape == (b,)
    # Unique answer: enough points with non-zero weight, spanning the space.
    used = torch.full((b,), n_points) if weights is None else (weights > 0).sum(1)
    unique = used >= dim + 1
    if reflect and not allow_reflection:
        torch.testing.assert_close(torch.det(ours.R), torch.ones(b, dtype=torch.float64))
        unique = unique & False  # the best proper rotation: compare with pytorch3d below
        theirs_ok = torch.full((b,), n_points >= dim + 1)
        if weights is not None:
            theirs_ok &= used >= dim + 1
        for name, o, t in (("R", ours.R, theirs[0]), ("T", ours.T, theirs[1]), ("s", ours.s, theirs[2])):
            torch.testing.assert_close(o[theirs_ok], t[theirs_ok], atol=1e-7, rtol=1e-7, msg=name)
        return
    for name, o, t in (("R", ours.R, theirs[0]), ("T", ours.T, theirs[1]), ("s", ours.s, theirs[2])):
        torch.testing.assert_close(o[unique], t[unique], atol=1e-7, rtol=1e-7, msg=name)
    # And the transform is the true one there.
    torch.testing.assert_close(ours.R[unique], R[unique], atol=1e-7, rtol=1e-7)
    torch.testing.assert_close(ours.s[unique], s[unique], atol=1e-7, rtol=1e-7)


def test_pytorch3d_weighting_quirk_is_followed():
    """With non-uniform weights pytorch3d's covariance uses w²: the drop-in follows it, while
    estimate() does true weighted least squares; the two differ on noisy data."""
    X, Y, *_ = random_problem(6, 40, 3, torch.float64, noise=0.5)
    w = torch.rand(6, 40, dtype=torch.float64) + 0.1
    ours = geomaug.corresponding_points_alignment(X, Y, w, estimate_scale=True)
    theirs = pytorch3d_alignment(X, Y, w, estimate_scale=True)
    torch.testing.assert_close(ours.R, theirs[0], atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ours.T, theirs[1], atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ours.s, theirs[2], atol=1e-10, rtol=1e-10)
    wls = geomaug.estimate(X, Y, weights=w)
    assert (wls.R - ours.R.mT).abs().max() > 1e-6


@pytest.mark.parametrize("device", DEVICES)
def test_degenerate_items_are_flagged_without_touching_the_rest(device):
    dev = device_or_skip(device)
    src, dst, A, s, t = random_problem(7, 10, 3, torch.float32)
    w = torch.ones(7, 10)
    src[1] = src[1, :1]                      # all source points equal
    src[2, :, :] = torch.linspace(0, 1, 10)[:, None] * torch.tensor([1.0, 2.0, 3.0])  # collinear
    w[3] = 0                                 # zero total weight
    src[4, 3, 1] = float("nan")              # non-finite
    dst[5, 0, 0] = float("inf")
    dst[6] = dst[6, :1]                      # all destination points equal
    a = geomaug.estimate(src.to(dev), dst.to(dev), weights=w.to(dev))
    assert a.valid.cpu().tolist() == [True] + [False] * 6
    eye = torch.eye(4).expand(6, 4, 4)
    torch.testing.assert_close(a.matrix[1:].cpu(), eye)
    assert torch.isnan(a.rmse[1:]).all() and torch.isfinite(a.matrix).all()
    torch.testing.assert_close(a.R[0].cpu().double(), A[0], atol=1e-5, rtol=1e-5)


def test_two_points_in_2d_determine_a_similarity():
    src = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    dst = torch.tensor([[[1.0, 1.0], [1.0, 3.0]]])
    a = geomaug.estimate(src, dst)
    assert a.valid.all()
    torch.testing.assert_close(a.s, torch.tensor([2.0]))
    torch.testing.assert_close(a.apply(src), dst)
    one = geomaug.estimate(src[:, :1], dst[:, :1])
    assert not one.valid.any()


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("weighted", [None, "w", "w2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_matches_reference(rng, device, D, mode, weighted, dtype):
    dev = device_or_skip(device)
    model = [k for k, v in MODELS.items() if v == mode][0]
    src, dst, *_ = random_problem(200, int(rng.integers(4, 80)), D, dtype, noise=0.2, model=model)
    # Weights away from 0: with N = 4 a near-zero (squared) weight leaves three effective points,
    # whose reflection/rotation choice is a tie at the noise floor that either path may break.
    w = None if weighted is None else 0.2 + 0.8 * torch.rand(src.shape[:2], dtype=dtype)
    refl = bool(rng.integers(0, 2))
    args = (src, dst, w, mode, refl, weighted == "w2")
    ours = torch.ops.geomaug.align(*[a.to(dev) if isinstance(a, torch.Tensor) else a for a in args])
    ref = align_reference(*args)
    tol = 2e-5 if dtype == torch.float32 else 1e-8
    assert torch.equal(ours[5].cpu(), ref[5])
    for name, o, r in zip(("matrix", "R", "t", "s", "rmse"), ours[:5], ref[:5]):
        scale = r.abs().max().clamp_min(1)
        assert (o.cpu() - r).abs().max() <= tol * scale, name
    # rmse is the residual of the returned transform, accurate to rounding, near-exact fits
    # (N = D + 1 points for affine) included: there the two paths' transforms may differ by the
    # conditioning of the fit, but each one's rmse must be its own residual.
    M = ours[0].cpu().double()
    res = src.double() @ M[:, :D, :D].mT + M[:, None, :D, D] - dst.double()
    wd = torch.ones(src.shape[:2], dtype=torch.float64) if w is None else w.double()
    wd = wd * wd if weighted == "w2" else wd
    direct = ((wd * (res ** 2).sum(-1)).sum(-1) / wd.sum(-1)).sqrt()
    scale = dst.abs().amax((1, 2)).double()
    assert ((ours[4].cpu().double() - direct).abs()
            <= tol * direct + 100 * torch.finfo(dtype).eps * scale).all()


@pytest.mark.parametrize("device", DEVICES)
def test_any_batch_shape_and_large_n(device):
    dev = device_or_skip(device)
    src, dst, A, s, t = random_problem(6, 10000, 3, torch.float32, noise=0.01)
    a = geomaug.estimate(src.view(2, 3, 10000, 3).to(dev), dst.view(2, 3, 10000, 3).to(dev))
    assert a.matrix.shape == (2, 3, 4, 4) and a.valid.shape == (2, 3) and a.valid.all()
    torch.testing.assert_close(a.s.reshape(6).cpu().double(), s, atol=1e-4, rtol=1e-4)
    empty = geomaug.estimate(torch.zeros(0, 5, 2, device=dev), torch.zeros(0, 5, 2, device=dev))
    assert empty.matrix.shape == (0, 3, 3)


def test_inverse_matrix_maps_back():
    src, dst, *_ = random_problem(5, 8, 2, torch.float64)
    a = geomaug.estimate(src, dst)
    back = torch.cat([dst, torch.ones(5, 8, 1, dtype=torch.float64)], -1) @ a.inverse_matrix().mT
    torch.testing.assert_close(back[..., :2], src)


@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("model", ["rigid", "similarity", "affine"])
def test_gradcheck(D, model):
    src, dst, *_ = random_problem(3, 6, D, torch.float64, noise=0.2, model=model)
    src.requires_grad_()
    dst.requires_grad_()

    def f(x, y):
        a = geomaug.estimate(x, y, model)
        return a.matrix, a.rmse

    assert torch.autograd.gradcheck(f, (src, dst))


@pytest.mark.parametrize("D", [2, 3])
def test_gradients_finite_with_repeated_singular_values(D):
    """Symmetric point sets (square, cube corners) have repeated singular values: a generic SVD
    backward divides by their differences; ours stays finite and correct."""
    corners = torch.tensor([[float(i >> k & 1) for k in range(D)] for i in range(2 ** D)],
                           dtype=torch.float64) * 2 - 1
    src = corners[None].clone().requires_grad_()
    R = random_rotation(1, D)
    dst = (1.5 * corners @ R[0].T + 0.3).detach()[None].requires_grad_()

    def f(x, y):
        a = geomaug.estimate(x, y)
        return a.matrix

    out = f(src, dst)
    out.sum().backward()
    assert torch.isfinite(src.grad).all() and torch.isfinite(dst.grad).all()
    assert torch.autograd.gradcheck(f, (src.detach().requires_grad_(), dst.detach().requires_grad_()))


@pytest.mark.parametrize("args, match", [
    ((torch.zeros(5, 4), torch.zeros(5, 4)), r"D in \{2, 3\}"),
    ((torch.zeros(5, 2), torch.zeros(6, 2)), "dst must have src's shape"),
    ((torch.zeros(5, 2, dtype=torch.int64),) * 2, "float32 or float64"),
    ((torch.zeros(5, 2), torch.zeros(5, 2, dtype=torch.float64)), "dtype and device"),
    ((np.zeros((5, 2)), np.zeros((5, 2))), "must be a torch.Tensor"),
])
def test_bad_input_is_a_clear_error(args, match):
    with pytest.raises(geomaug.InputError, match=match):
        geomaug.estimate(*args)


def test_bad_weights_and_model():
    x = torch.zeros(2, 5, 2)
    with pytest.raises(geomaug.InputError, match=r"weights must be \(..., N\) = \(2, 5\)"):
        geomaug.estimate(x, x, weights=torch.ones(5))
    with pytest.raises(geomaug.InputError, match="model must be one of"):
        geomaug.estimate(x, x, "projective")


def _both_paths(src, dst, w, model, refl=False, squared=False):
    """(name, (matrix, R, t, s, rmse, valid)) of the PyTorch path and, when built, the CPU kernel."""
    out = [("torch", align_reference(src, dst, w, MODELS[model], refl, squared))]
    if _backend.extension().module is not None:
        out.append(("kernel", torch.ops.geomaug.align(src, dst, w, MODELS[model], refl, squared)))
    return out


def _plane_sets(B, N, D, dims, dtype, offset=10.0):
    """B sets of N points spanning exactly `dims` < D dimensions (random basis), rounded to dtype."""
    basis = torch.linalg.qr(torch.randn(B, D, D, dtype=torch.float64))[0][..., :dims]
    coef = torch.randn(B, N, dims, dtype=torch.float64) * 3
    return (coef @ basis.mT + offset * torch.randn(B, 1, D, dtype=torch.float64)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("D", [2, 3])
def test_rank_deficient_source_is_degenerate_for_affine(rng, dtype, D):
    torch.manual_seed(int(rng.integers(2**31)))
    two = torch.rand(50, 2, D, dtype=dtype)                     # two points: a line
    flat = _plane_sets(50, int(rng.integers(D + 1, 40)), D, D - 1, dtype)  # collinear / coplanar
    good = _plane_sets(8, flat.shape[1], D, D, dtype)
    for src in (two, torch.cat([flat, good])):
        A = torch.randn(D, D, dtype=torch.float64) + 2 * torch.eye(D, dtype=torch.float64)
        dst = (src.double() @ A.T + 1).to(dtype)
        w = torch.rand(src.shape[:2], dtype=dtype) + 0.5 if rng.integers(2) else None
        expected = torch.arange(src.shape[0]) >= (50 if src is not two else src.shape[0])
        for name, (matrix, R, t, s, rmse, valid) in _both_paths(src, dst, w, "affine"):
            assert torch.equal(valid, expected), (name, valid)
            assert torch.isnan(rmse[~expected]).all(), name
            torch.testing.assert_close(matrix[~expected], torch.eye(D + 1, dtype=dtype).expand(
                int((~expected).sum()), D + 1, D + 1), msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("model", ["rigid", "similarity"])
def test_degenerate_rotations_agree_between_paths(rng, dtype, model):
    """Collinear 3D sets (rotation about the line free), equal points, in both dtypes."""
    torch.manual_seed(int(rng.integers(2**31)))
    N = int(rng.integers(3, 40))
    line = _plane_sets(40, N, 3, 1, dtype)
    same = (torch.randn(10, 1, 3, dtype=torch.float64) * 10).expand(10, N, 3).to(dtype).contiguous()
    good = _plane_sets(8, N, 3, 3, dtype)
    src = torch.cat([line, same, good])
    R = random_rotation(src.shape[0], 3)
    dst = (src.double() @ R.mT * 1.5 + 2).to(dtype)
    expected = torch.arange(src.shape[0]) >= 50
    for name, res in _both_paths(src, dst, None, model, refl=bool(rng.integers(2))):
        assert torch.equal(res[5], expected), (name, res[5])


def test_degenerate_item_does_not_break_the_pytorch_path_or_its_gradients(rng):
    src, dst, *_ = random_problem(4, 12, 3, torch.float64, noise=0.1, model="affine")
    src[2] = _plane_sets(1, 12, 3, 2, torch.float64)[0]          # coplanar item
    src.requires_grad_()
    a = geomaug.estimate(src, dst, "affine")                      # autograd: the PyTorch path
    assert a.valid.tolist() == [True, True, False, True] and torch.isnan(a.rmse[2])
    torch.testing.assert_close(a.matrix[2], torch.eye(4, dtype=torch.float64))
    (a.matrix.sum() + a.rmse[a.valid].sum()).backward()
    assert torch.isfinite(src.grad).all() and (src.grad[2] == 0).all()
    for model in ("affine", "similarity", "rigid"):
        def f(good, model=model):
            x = torch.cat([good[:2], src[2:3].detach(), good[2:]])
            out = geomaug.estimate(x, dst, model)
            return out.matrix[[0, 1, 3]], out.rmse[[0, 1, 3]]
        assert torch.autograd.gradcheck(f, (src[[0, 1, 3]].detach().requires_grad_(),))


def _direct_rmse(a, src, dst, w):
    """sqrt(Σ w ‖s R x + t − y‖² / Σ w) in float64 with the fitted transform."""
    res = (a.s.double()[:, None, None] * src.double() @ a.R.double().mT + a.t.double()[:, None]
           - dst.double())
    w = torch.ones(src.shape[:2], dtype=torch.float64) if w is None else w.double()
    return ((w * (res ** 2).sum(-1)).sum(-1) / w.sum(-1)).sqrt()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("model", ["rigid", "similarity", "affine"])
@pytest.mark.parametrize("weighted", [False, True])
def test_rmse_of_exact_and_near_exact_fits(rng, dtype, D, model, weighted):
    torch.manual_seed(int(rng.integers(2**31)))
    eps = torch.finfo(dtype).eps
    src, dst, *_ = random_problem(32, int(rng.integers(D + 2, 80)), D, torch.float64, model=model)
    w = torch.rand(src.shape[:2], dtype=dtype) + 0.1 if weighted else None
    scale = float(dst.abs().max())
    exact_x, exact_y = src.to(dtype), dst.to(dtype)
    for name, res in _both_paths(exact_x, exact_y, w, model):
        assert res[5].all() and (res[4].double() <= 100 * eps * scale).all(), (name, res[4].max())
    # Tiny noise (far below the moments' cancellation level): rmse within 2 % of a direct sum.
    for rel in ((1e-9, 1e-6) if dtype == torch.float64 else (1e-5,)):
        y = (dst + rel * scale * torch.randn_like(dst)).to(dtype)
        ref = _direct_rmse(geomaug.Alignment(*align_reference(exact_x.double(), y.double(),
                           None if w is None else w.double(), MODELS[model], False)),
                           exact_x, y, w)
        for name, res in _both_paths(exact_x, y, w, model):
            torch.testing.assert_close(res[4].double(), ref, rtol=0.02, atol=0, msg=name)


def test_rmse_issue_examples():
    torch.manual_seed(5)
    x = torch.rand(1, 68, 2, dtype=torch.float64) * 100
    assert float(geomaug.estimate(x, 2 * x + 3).rmse) <= 1e-12
    y = 2 * x + 3 + 1e-6 * torch.randn_like(x)
    a = geomaug.estimate(x, y)
    torch.testing.assert_close(a.rmse, _direct_rmse(a, x, y, None), rtol=1e-3, atol=0)
    torch.manual_seed(0)
    p = torch.rand(200, 2, 3, dtype=torch.float64)
    assert not geomaug.estimate(p, 2 * p + 1, "affine").valid.any()


@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("model", ["rigid", "similarity", "affine"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_contract(D, model, dtype):
    """Input untouched, kernel ≈ PyTorch path, CUDA ≈ CPU, batched = one by one, empty batch keeps
    its shape (tests/helpers.py); one degenerate item rides along in the batch."""
    src, dst, *_ = random_problem(6, 12, D, dtype, noise=0.05, model=model)
    src[2] = src[2, :1]  # all points equal: degenerate, flagged
    tol = 2e-5 if dtype == torch.float32 else 1e-9
    check_kernel(lambda s, d: geomaug.estimate(s, d, model), (src, dst), batched=(0, 1),
                 atol=tol, rtol=tol, memory_format=False)


_SCALES = (1e-15, 1e-9, 1e-3, 1e3, 1e8, 1e15)


def _scaled(x, k):
    """x (float64) times k, rounded to float32: the same set at another scale of coordinates."""
    return (x * k).to(torch.float32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("model", ["rigid", "similarity"])
def test_float32_at_tiny_and_huge_coordinates(rng, device, D, model):
    """The 3D rotation of float32 input is solved in float32 (align_math.h, best_rotation): any
    scale of the coordinates, one per batch or mixed in one, gives the float64 answer."""
    dev = device_or_skip(device)
    refl = bool(rng.integers(2))
    src, dst, *_ = random_problem(8, int(rng.integers(D + 2, 40)), D, torch.float64, noise=0.05,
                                  model=model)
    per_item = torch.from_numpy(rng.choice(_SCALES, 8))[:, None, None]
    for k in _SCALES + (per_item,):
        x, y = _scaled(src, k), _scaled(dst, k)
        _, R, t, s, rmse, valid = align_reference(x.double(), y.double(), None, MODELS[model], refl)
        assert valid.all()
        paths = [("torch", align_reference(x, y, None, MODELS[model], refl))]
        if _backend.extension().module is not None:
            out = torch.ops.geomaug.align(x.to(dev), y.to(dev), None, MODELS[model], refl, False)
            paths.append(("kernel", [o.cpu() for o in out]))
        scale = x.double().abs().amax((-2, -1)) * s + t.abs().amax(-1)
        for name, res in paths:
            where = (name, k if isinstance(k, float) else "mixed")
            assert res[5].all(), where
            assert ((res[1].double() - R).abs().amax((-2, -1)) <= 1e-5).all(), where
            assert ((res[3].double() - s).abs() <= 1e-5 * s).all(), where
            assert ((res[2].double() - t).abs().amax(-1) <= 1e-5 * scale).all(), where
            assert ((res[4].double() - rmse).abs() <= 1e-5 * rmse).all(), where


@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("model", ["rigid", "similarity"])
def test_degenerate_sets_at_tiny_and_huge_coordinates(rng, D, model):
    """All points equal (and collinear in 3D) stay degenerate at any scale; sound sets stay valid."""
    N = int(rng.integers(3, 40))
    same = (torch.randn(10, 1, D, dtype=torch.float64) * 10).expand(10, N, D)
    line = _plane_sets(20, N, D, 1, torch.float64) if D == 3 else same[:0]
    good = _plane_sets(8, N, D, D, torch.float64)
    src = torch.cat([same, line, good])
    R = random_rotation(src.shape[0], D)
    dst = src @ R.mT * 1.5 + 2
    expected = torch.arange(src.shape[0]) >= src.shape[0] - 8
    for k in _SCALES:
        for name, res in _both_paths(_scaled(src, k), _scaled(dst, k), None, model,
                                     refl=bool(rng.integers(2))):
            assert torch.equal(res[5], expected), (name, k, res[5])
