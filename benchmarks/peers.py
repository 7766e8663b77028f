"""The peers geomaug is measured against, each called the way its users call it."""
from __future__ import annotations

import functools
import importlib
import warnings

import numpy as np
import torch
import torch.nn.functional as F

AMBIGUOUS_ROT_SINGULAR_THR = 1e-15  # pytorch3d.ops.points_alignment's constant


@functools.lru_cache(maxsize=None)
def optional(name: str):
    """The module ``name``, or None (printed once) when it cannot be imported here."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken binary dependency
        print(f"  [skip] {name} is not importable here ({type(exc).__name__}: {exc}); "
              f"its measurements are skipped", flush=True)
        return None


# --- W2: alignment ------------------------------------------------------------------------------

def pytorch3d_similarity(X: torch.Tensor, Y: torch.Tensor, eps: float = 1e-8):
    """pytorch3d.ops.corresponding_points_alignment(X, Y, estimate_scale=True) on (B, N, D)
    tensors without weights, transcribed (torch.linalg.svd for the deprecated torch.svd).

    Returns (R, T, s) in pytorch3d's row-vector convention: Y ≈ s X R + T.
    """
    b, n, dim = X.shape
    num_points = torch.full((b,), n, device=X.device, dtype=torch.int64)
    num_points_Y = torch.full((b,), Y.shape[1], device=Y.device, dtype=torch.int64)
    if X.shape != Y.shape or (num_points != num_points_Y).any():
        raise ValueError("point sets must have the same number of batches, points and dimensions")
    Xmu = X.mean(dim=-2, keepdim=True)  # oputil.wmean(X, weight=None)
    Ymu = Y.mean(dim=-2, keepdim=True)
    Xc, Yc = X - Xmu, Y - Ymu
    total_weight = torch.clamp(num_points, 1)
    if (num_points < (dim + 1)).any():
        warnings.warn("The size of one of the point clouds is <= dim+1.")
    XYcov = torch.bmm(Xc.transpose(2, 1), Yc) / total_weight[:, None, None]
    U, S, Vh = torch.linalg.svd(XYcov)
    V = Vh.mT
    if (S.abs() <= AMBIGUOUS_ROT_SINGULAR_THR).any() and not (num_points < (dim + 1)).any():
        warnings.warn("Excessively low rank of cross-correlation between aligned point clouds.")
    E = torch.eye(dim, dtype=XYcov.dtype, device=XYcov.device)[None].repeat(b, 1, 1)
    E[:, -1, -1] = torch.det(torch.bmm(U, V.transpose(2, 1)))  # reflection fix
    R = torch.bmm(torch.bmm(U, E), V.transpose(2, 1))
    trace_ES = (torch.diagonal(E, dim1=1, dim2=2) * S).sum(1)
    Xcov = (Xc * Xc).sum((1, 2)) / total_weight
    s = trace_ES / torch.clamp(Xcov, eps)
    T = Ymu[:, 0, :] - s[:, None] * torch.bmm(Xmu, R)[:, 0, :]
    return R, T, s


def roma_similarity(x: torch.Tensor, y: torch.Tensor):
    """roma.rigid_points_registration with scaling: (R, t, s), y ≈ s R x + t."""
    return optional("roma").rigid_points_registration(x, y, compute_scaling=True)


def skimage_loop(src: np.ndarray, dst: np.ndarray) -> list:
    """skimage SimilarityTransform.from_estimate, one call per set (the (D+1)² matrices)."""
    ST = optional("skimage.transform").SimilarityTransform
    return [ST.from_estimate(s, d).params for s, d in zip(src, dst)]


def cv2_loop(src: np.ndarray, dst: np.ndarray) -> list:
    """cv2.estimateAffinePartial2D with its defaults (RANSAC + LM refinement), one call per set."""
    cv2 = optional("cv2")
    return [cv2.estimateAffinePartial2D(s, d)[0] for s, d in zip(src, dst)]


# --- warp ---------------------------------------------------------------------------------------

def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round_().clamp_(0, 255).to(torch.uint8)


def kornia_warp(image: torch.Tensor, matrix: torch.Tensor, size) -> torch.Tensor:
    """kornia warp_affine on uint8 → float32 → uint8 (forward matrices, pixel-centre coords)."""
    KT = optional("kornia.geometry.transform")
    out = KT.warp_affine(image.float(), matrix[:, :2], tuple(size), mode="bilinear",
                         padding_mode="zeros", align_corners=True)
    return _to_uint8(out)


def normalised_theta(matrix: torch.Tensor, in_hw, out_hw) -> torch.Tensor:
    """Forward pixel matrices → affine_grid's theta (output → input, [-1, 1], align_corners)."""
    def to_norm(h, w):  # pixel-centre coords → [-1, 1]
        return matrix.new_tensor([[2 / (w - 1), 0, -1], [0, 2 / (h - 1), -1], [0, 0, 1]])
    inv = torch.linalg.inv(matrix)
    return (to_norm(*in_hw) @ inv @ torch.linalg.inv(to_norm(*out_hw)))[:, :2]


def torch_grid_warp(image: torch.Tensor, matrix: torch.Tensor, size) -> torch.Tensor:
    """Plain PyTorch: F.affine_grid + F.grid_sample (align_corners=True), uint8 → float → uint8."""
    B, C, H, W = image.shape
    theta = normalised_theta(matrix, (H, W), tuple(size))
    grid = F.affine_grid(theta, [B, C, *size], align_corners=True)
    out = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="zeros",
                        align_corners=True)
    return _to_uint8(out)
