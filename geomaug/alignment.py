"""Keypoint alignment (Kabsch / Umeyama): the transform that best maps one point set onto another.

Model: ``dst ≈ s R src + t`` (column vectors) minimising ``Σ wᵢ ‖s R srcᵢ + t − dstᵢ‖²``, with
``det R = +1`` unless reflections are allowed; ``"affine"`` fits a general linear part instead.
Inputs are ``(..., N, D)`` with D ∈ {2, 3}, any batch shape, float32 or float64, CPU or CUDA.

Kernels: ``csrc/cpu/align_cpu.cpp``, ``csrc/cuda/align_cuda.cu``, per-set math in
``csrc/include/geomaug/align_math.h``; the PyTorch path is :func:`align_reference`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
import warnings

import torch

from . import _ops
from ._checks import fail

MODELS = _ops.ALIGN_MODEL
_EPS = {torch.float32: 1.1920928955078125e-07, torch.float64: 2.220446049250313e-16}


@dataclass
class Alignment:
    """Result of an alignment, batched over the leading dimensions ``...``.

    Attributes:
        matrix: ``(..., D+1, D+1)`` homogeneous forward matrix (src → dst).
        R: ``(..., D, D)`` rotation (rigid/similarity) or linear part (affine).
        t: ``(..., D)`` translation.
        s: ``(...)`` scale (1 for rigid and affine).
        rmse: ``(...)`` weighted root-mean-square residual, accurate to the dtype's rounding
            (exact fits included: near-exact fits are summed point by point, not from moments);
            NaN where not ``valid``.
        valid: ``(...)`` bool; False for degenerate items (fewer than two distinct points, collinear
            points in 3D for rigid/similarity, a rank-deficient source — collinear in 2D, coplanar
            in 3D — for affine, zero total weight, non-finite values), which get the identity.
            "Distinct", "collinear" etc. are judged against the rounding noise of the dtype and of
            the data: a spread (variance, smallest eigenvalue of the source covariance) must exceed
            ``(8 eps)² Σw|x|² + 64 eps_float64 Σw|x − x₀|²``.
    """
    matrix: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    s: torch.Tensor
    rmse: torch.Tensor
    valid: torch.Tensor

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """Map ``(..., K, D)`` points with this transform: ``s R p + t``."""
        return self.s[..., None, None] * points @ self.R.mT + self.t[..., None, :]

    def inverse_matrix(self) -> torch.Tensor:
        """``(..., D+1, D+1)`` dst → src matrix."""
        return torch.linalg.inv(self.matrix)


def estimate(src, dst, model: str = "similarity", *, weights=None,
             allow_reflection: bool = False) -> Alignment:
    """Best ``model`` transform mapping ``src`` onto ``dst``.

    Convention: column vectors, ``dst ≈ s R src + t``; ``matrix`` is the homogeneous forward map
    (docs/conventions.md, "Alignment").

    Args:
        src, dst: ``(..., N, D)`` corresponding points, D ∈ {2, 3}, float32 or float64.
        model: ``"rigid"`` (R, t), ``"similarity"`` (s, R, t) or ``"affine"`` (A, t).
        weights: optional ``(..., N)`` non-negative per-point weights (true weighted least
            squares; a zero or non-finite total weight makes that item invalid; negative weights
            are not checked, since checking would cost a device synchronisation).
        allow_reflection: let R be a reflection (det −1) when that fits better.

    Example:
        >>> src = torch.rand(10, 68, 2)
        >>> a = estimate(src, 2 * src + 1)
        >>> bool(a.s.allclose(torch.full((10,), 2.0)))
        True
    """
    if model not in MODELS:
        fail(f"model must be one of {sorted(MODELS)}, got {model!r}")
    src, dst, w = _check_points(src, dst, weights)
    batch = src.shape[:-2]
    N, D = src.shape[-2:]
    flat = (src, dst, w) if src.dim() == 3 else (
        src.reshape(-1, N, D), dst.reshape(-1, N, D), None if w is None else w.reshape(-1, N))
    out = _align(*flat, model, allow_reflection, False)
    if len(batch) != 1:
        out = [v.reshape(tuple(batch) + tuple(v.shape[1:])) for v in out]
    return Alignment(*out)


class SimilarityTransform(NamedTuple):
    """pytorch3d's return type: ``Y ≈ s[:, None, None] * X @ R + T[:, None, :]`` (row vectors)."""
    R: torch.Tensor
    T: torch.Tensor
    s: torch.Tensor


def corresponding_points_alignment(X, Y, weights=None, estimate_scale: bool = False,
                                   allow_reflection: bool = False, eps: float = 1e-9
                                   ) -> SimilarityTransform:
    """Drop-in for ``pytorch3d.ops.corresponding_points_alignment`` on ``(B, N, D)`` tensors.

    Convention: pytorch3d's row vectors, ``Y ≈ s X R + T`` (the transpose of :func:`estimate`'s R).

    Row-vector convention and return fields as pytorch3d: ``Y ≈ s X R + T``.  Weighting follows
    pytorch3d too: centroids are weighted by ``w`` but the covariances by ``w²`` (each centred set
    is multiplied by ``w``), which is not the weighted least-squares fit of :func:`estimate`.
    ``eps`` is accepted for compatibility; pytorch3d uses it only to clamp zero totals, and here
    such degenerate items get the identity (with a warning) instead.  ``Pointclouds`` inputs are not
    supported.
    """
    for name, v in (("X", X), ("Y", Y)):
        if not isinstance(v, torch.Tensor):
            fail(f"{name} must be a (B, N, D) torch.Tensor (Pointclouds are not supported), got "
                 f"{type(v).__name__}")
        if v.dim() != 3:
            fail(f"{name} must be (B, N, D), got shape {tuple(v.shape)}")
    X, Y, w = _check_points(X, Y, weights)
    model = "similarity" if estimate_scale else "rigid"
    _, R, t, s, _, valid = _align(X, Y, w, model, allow_reflection, w is not None)
    if X.shape[0] and not bool(valid.all()):
        warnings.warn(f"corresponding_points_alignment: {int((~valid).sum())} of {X.shape[0]} "
                      "point sets are degenerate (no unique rotation); they get the identity",
                      stacklevel=2)
    return SimilarityTransform(R.mT, t, s)


def _align(src, dst, w, model: str, allow_reflection, squared_weights):
    """(B, N, D) → (matrix, R, t, s, rmse, valid), through the kernels when they can run."""
    needs_grad = torch.is_grad_enabled() and any(
        v is not None and v.requires_grad for v in (src, dst, w))
    if _ops.use_kernel("align", src.device, needs_grad=needs_grad):
        return _ops.align(src.contiguous(), dst.contiguous(), None if w is None else w.contiguous(),
                          model, allow_reflection, squared_weights)
    return align_reference(src, dst, w, MODELS[model], allow_reflection, squared_weights)


def _check_points(src, dst, weights):
    for name, v in (("src", src), ("dst", dst)):
        if not isinstance(v, torch.Tensor):
            fail(f"{name} must be a torch.Tensor of shape (..., N, D), got {type(v).__name__}")
        if v.dim() < 2 or v.shape[-1] not in (2, 3):
            fail(f"{name} must be (..., N, D) with D in {{2, 3}}, got shape {tuple(v.shape)}")
        if v.dtype not in (torch.float32, torch.float64):
            fail(f"{name} must be float32 or float64, got {v.dtype}")
    if dst.shape != src.shape:
        fail(f"dst must have src's shape {tuple(src.shape)}, got {tuple(dst.shape)}")
    if dst.dtype != src.dtype or dst.device != src.device:
        fail(f"dst must match src's dtype and device ({src.dtype}, {src.device}), got "
             f"({dst.dtype}, {dst.device})")
    if weights is not None:
        weights = torch.as_tensor(weights, device=src.device)
        if weights.shape != src.shape[:-1]:
            fail(f"weights must be (..., N) = {tuple(src.shape[:-1])}, got {tuple(weights.shape)}")
        weights = weights.to(src.dtype)
    return src, dst, weights


def _homogeneous(s, R, t):
    D = R.shape[-1]
    top = torch.cat([s[..., None, None] * R, t[..., :, None]], dim=-1)
    bottom = torch.zeros(*R.shape[:-2], 1, D + 1, dtype=R.dtype, device=R.device)
    bottom[..., 0, D] = 1
    return torch.cat([top, bottom], dim=-2)


class _BestRotation(torch.autograd.Function):
    """Rotation R maximising tr(Rᵀ C), and that maximum, for a batch of D×D matrices C.

    Forward: SVD.  Backward: the derivative of the polar-type factor, whose denominators are sums
    of (signed) singular values σᵢ + σⱼ rather than the differences in a generic SVD backward, so
    it stays finite when singular values repeat (symmetric point sets).
    """

    @staticmethod
    def forward(ctx, C, allow_reflection, noise):
        U, S, Vh = torch.linalg.svd(C)
        V = Vh.mT
        e = torch.ones_like(S)
        d = torch.sign(torch.linalg.det(U) * torch.linalg.det(V))
        # A reflection only when allowed and better by more than the noise; ties go to R proper.
        e[..., -1] = torch.where(S[..., -1] > noise, torch.ones_like(d), d) if allow_reflection else d
        R = (U * e[..., None, :]) @ Vh
        signed = S * e
        ctx.save_for_backward(R, V, signed)
        return R, signed.sum(-1)

    @staticmethod
    def backward(ctx, gR, gtrace):
        R, V, signed = ctx.saved_tensors
        K = signed[..., :, None] + signed[..., None, :]
        G = V.mT @ R.mT @ gR @ V
        tiny = torch.finfo(K.dtype).eps * signed.abs().amax(-1, keepdim=True)[..., None].clamp_min(1e-300)
        H = torch.where(K.abs() > tiny, G / torch.where(K.abs() > tiny, K, torch.ones_like(K)),
                        torch.zeros_like(G))
        H = H - torch.diag_embed(torch.diagonal(H, dim1=-2, dim2=-1))
        gC = R @ V @ (H - H.mT) @ V.mT + gtrace[..., None, None] * R
        return gC, None, None


def _spread_floor(M, S, eps_in: float):
    """Degeneracy floor of a centred second moment: the rounding noise of the input's absolute
    coordinates ((8 eps_in)² M) and of the double computation (64 eps_double S); the kernels'
    ``spread_floor`` in ``csrc/include/geomaug/align_math.h``."""
    return (8.0 * eps_in) ** 2 * M + 64.0 * _EPS[torch.float64] * S


def align_reference(src, dst, weights, mode: int, allow_reflection: bool,
                    squared_weights: bool = False):
    """The PyTorch path and executable definition of the alignment op, in float64.

    ``src``, ``dst``: ``(B, N, D)``; ``weights``: ``(B, N)`` or None.  Returns ``(matrix, R, t, s,
    rmse, valid)`` in the input dtype.  Differentiable (stable gradients with repeated singular values).
    ``squared_weights``: pytorch3d's weighting (centroids by w, covariances by w²).
    """
    dtype = src.dtype
    x, y = src.double(), dst.double()
    B, N, D = x.shape
    w = torch.ones(B, N, dtype=torch.float64, device=x.device) if weights is None else weights.double()
    wm = w * w if squared_weights else w
    cw, mw = w.sum(-1), wm.sum(-1)
    safe_cw = torch.where(cw > 0, cw, torch.ones_like(cw))
    xb = (w[..., None] * x).sum(-2) / safe_cw[..., None]
    yb = (w[..., None] * y).sum(-2) / safe_cw[..., None]
    xc, yc = x - xb[..., None, :], y - yb[..., None, :]
    C = (wm[..., None, None] * yc[..., :, None] * xc[..., None, :]).sum(-3)  # Σ w ỹ x̃ᵀ
    Cxx = (wm[..., None, None] * xc[..., :, None] * xc[..., None, :]).sum(-3)
    vx = torch.diagonal(Cxx, dim1=-2, dim2=-1).sum(-1)
    vy = (wm * (yc * yc).sum(-1)).sum(-1)
    Mx = mw * (xb * xb).sum(-1) + vx  # Σ w|x|² about the origin: scale of input rounding
    My = mw * (yb * yb).sum(-1) + vy
    # Σ w|x − x₀|² about the first point, as the kernels' moments: scale of computation noise
    Sx = (wm * ((x - x[:, :1]) ** 2).sum(-1)).sum(-1) if N else vx
    Sy = (wm * ((y - y[:, :1]) ** 2).sum(-1)).sum(-1) if N else vy
    eps_in = _EPS[dtype]
    floor_x, floor_y = _spread_floor(Mx, Sx, eps_in), _spread_floor(My, Sy, eps_in)
    finite = (torch.isfinite(C).flatten(1).all(1) & torch.isfinite(Cxx).flatten(1).all(1)
              & torch.isfinite(vy) & torch.isfinite(cw) & torch.isfinite(mw))
    valid = finite & (cw > 0) & (mw > 0) & (vx > floor_x)
    eye = torch.eye(D, dtype=torch.float64, device=x.device).expand(B, D, D)
    if mode == MODELS["affine"]:
        # Rank-deficient source (coplanar in 3D, collinear in 2D): smallest eigenvalue of the
        # source covariance at the noise floor.  Those items solve the identity system instead.
        lam = torch.linalg.eigvalsh(torch.where(valid[:, None, None], Cxx, eye).detach())
        valid = valid & (lam[:, 0] > floor_x)
        A, info = torch.linalg.solve_ex(torch.where(valid[:, None, None], Cxx, eye),
                                        torch.where(valid[:, None, None], C, eye).mT)
        A = A.mT
        valid = valid & (info == 0)
        s = torch.ones_like(vx)
    else:
        valid = valid & (vy > floor_y)
        noise = (8.0 * eps_in * (torch.sqrt(My.clamp_min(0) * vx.clamp_min(0))
                                 + torch.sqrt(Mx.clamp_min(0) * vy.clamp_min(0)))
                 + 64.0 * _EPS[torch.float64] * torch.sqrt(Sx.clamp_min(0) * Sy.clamp_min(0)))
        noise = noise.detach()
        if D == 3:  # collinear points leave the rotation about their line free
            S = torch.linalg.svdvals(torch.where(valid[:, None, None], C, eye).detach())
            valid = valid & (S[:, 0] > noise) & (S[:, 1] > noise)
        else:  # rotation is undetermined when C is a pure reflection (proper optimum = 0)
            a = C[:, 0, 0] + C[:, 1, 1]
            b = C[:, 1, 0] - C[:, 0, 1]
            ar = C[:, 0, 0] - C[:, 1, 1]
            br = C[:, 0, 1] + C[:, 1, 0]
            best = torch.maximum(torch.hypot(a, b), torch.hypot(ar, br) - 2 * noise) \
                if allow_reflection else torch.hypot(a, b)
            valid = valid & (best > noise)
        A, trace = _BestRotation.apply(torch.where(valid[:, None, None], C, eye),
                                       bool(allow_reflection), noise)
        safe_vx = torch.where(valid, vx, torch.ones_like(vx))
        s = trace / safe_vx if mode == MODELS["similarity"] else torch.ones_like(vx)
        s = torch.where(valid, s, torch.ones_like(s))
    t = yb - s[:, None] * (A @ xb[..., None])[..., 0]
    # Residuals summed point by point (no cancellation of moments), about the centroids.
    res = s[:, None, None] * (xc @ A.mT) - yc
    rss = (wm * (res * res).sum(-1)).sum(-1)
    safe_mw = torch.where(valid, mw, torch.ones_like(mw))
    safe_rss = torch.where(valid & (rss > 0), rss, torch.ones_like(rss))  # no inf grad at 0
    rmse = torch.where(rss > 0, torch.sqrt(safe_rss / safe_mw), torch.zeros_like(rss))
    R = torch.where(valid[:, None, None], A, eye)
    t = torch.where(valid[:, None], t, torch.zeros_like(t))
    s = torch.where(valid, s, torch.ones_like(s))
    rmse = torch.where(valid, rmse, torch.full_like(rmse, float("nan")))
    R, t, s = R.to(dtype), t.to(dtype), s.to(dtype)
    return _homogeneous(s, R, t), R, t, s, rmse.to(dtype), valid

