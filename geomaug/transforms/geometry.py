"""Matrices of the geometric ops, and mapping keypoints and boxes through them (forward and back).

Convention: pixel (row i, col j) has its centre at (x=j, y=i), an image of width W spans
[-0.5, W-0.5]; matrices are 3x3 forward (source → destination pixels), batched as ``(B, 3, 3)``.
"""
from __future__ import annotations

import numpy as np
import torch

from .._checks import fail

_F64 = torch.float64


_EYE = np.eye(3)[None]


def eye(batch: int) -> np.ndarray:
    return np.repeat(_EYE, batch, 0)


# The builders below take (B,) arrays, tensors or numbers and return (B, 3, 3) float64 numpy: a
# call of a pipeline builds a few tiny matrices, where numpy's per-operation cost is a fraction of
# torch's.

_F64_NP = np.dtype(np.float64)


def _np(v) -> np.ndarray | float:
    """A CPU tensor (viewed, no copy), array or number → float64 numpy array; a Python float (one
    sample's value) as it is."""
    if (type(v) is np.ndarray and v.dtype is _F64_NP) or type(v) is float:  # as it is
        return v
    if isinstance(v, torch.Tensor):
        if v.requires_grad or v.device.type != "cpu":
            v = v.detach().cpu()
        return (v if v.dtype == _F64 else v.to(_F64)).numpy()
    return np.asarray(v, dtype=np.float64)


_LAST_ROW = np.array([[0.0], [0.0], [1.0]])


def _one(vals) -> tuple[list, bool] | None:
    """When every value holds one number (one sample, or scalars): them as Python floats, and
    whether any was an array with a batch dimension; else None.  A call on one sample computes
    its matrix on floats: numpy's cost per operation on 1-element arrays is several times the
    work, and numpy's ufuncs give floats the same results as arrays."""
    if not all(isinstance(v, float) or v.size == 1 for v in vals):  # numpy scalars are floats
        return None
    return ([v if isinstance(v, float) else v.item() for v in vals],
            any(not isinstance(v, float) and v.ndim for v in vals))


def _affine(a, b, c, d, tx, ty) -> np.ndarray:
    """(B,) (or scalar) entries → (B, 3, 3) ``[[a, b, tx], [c, d, ty], [0, 0, 1]]``."""
    vals = (a, b, tx, c, d, ty)
    if all(isinstance(v, float) for v in vals):  # one sample's floats (numpy scalars included)
        return np.array([vals[:3], vals[3:], (0.0, 0.0, 1.0)])
    vals = [v if isinstance(v, float) else _np(v) for v in vals]
    one = _one(vals)
    if one is not None:
        f, batched = one
        m = np.array([f[:3], f[3:], [0.0, 0.0, 1.0]])
        return m[None] if batched else m
    out = np.empty((*np.broadcast(*vals).shape, 3, 3))
    rows = out.reshape(-1, 9).T  # (9, B) view, entry k of every matrix in row k: cheap to fill
    for k, v in enumerate(vals):
        rows[k] = v
    rows[6:] = _LAST_ROW
    return out


# Each builder's formula is written once, as its entries (a, b, c, d, tx, ty) (``_affine``'s
# arguments): the builders return matrices, the one-sample walk (transforms/_single.py) takes
# the entries of one sample as Python floats and composes them with :func:`compose_entries`.

def translation(tx, ty) -> np.ndarray:
    """x' = x + tx, y' = y + ty."""
    return _affine(*translation_entries(tx, ty))


def translation_entries(tx, ty) -> tuple:
    return 1.0, 0.0, 0.0, 1.0, tx, ty


def resize(h, w, new_h, new_w) -> np.ndarray:
    """Resize (h, w) → (new_h, new_w): x' = (x + 0.5)·new_w/w − 0.5 (pixel areas map onto areas)."""
    return _affine(*resize_entries(_np(h), _np(w), _np(new_h), _np(new_w)))


def resize_entries(h, w, new_h, new_w) -> tuple:
    sx = new_w / w
    sy = new_h / h
    return sx, 0.0, 0.0, sy, 0.5 * sx - 0.5, 0.5 * sy - 0.5


def hflip(w) -> np.ndarray:
    """x' = (W − 1) − x."""
    return _affine(*hflip_entries(_np(w)))


def hflip_entries(w) -> tuple:
    return -1.0, 0.0, 0.0, 1.0, w - 1, 0.0


def vflip(h) -> np.ndarray:
    """y' = (H − 1) − y."""
    return _affine(*vflip_entries(_np(h)))


def vflip_entries(h) -> tuple:
    return 1.0, 0.0, 0.0, -1.0, 0.0, h - 1


IDENTITY_ENTRIES = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def from_entries(e: tuple) -> np.ndarray:
    """Entries (a, b, c, d, tx, ty) → the matrix (``(3, 3)`` for floats, ``(B, 3, 3)`` for arrays)."""
    return _affine(*e)


def compose(m2: np.ndarray, m1: np.ndarray) -> np.ndarray:
    """``m2 @ m1`` of ``(B, 3, 3)`` matrices: as :func:`compose_entries` computes it when both
    are affine (the built-in ops' are), else the full product (a custom op's projective row)."""
    if _is_affine(m2) and _is_affine(m1):
        return _affine(*compose_entries(_entries_of(m2), _entries_of(m1)))
    return m2 @ m1


def _is_affine(m: np.ndarray) -> bool:
    return not m[:, 2, :2].any() and bool((m[:, 2, 2] == 1.0).all())


def _entries_of(m: np.ndarray) -> tuple:
    return m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1], m[:, 0, 2], m[:, 1, 2]


def compose_entries(e2: tuple, e1: tuple) -> tuple:
    """The entries of ``m2 @ m1`` for affine matrices given by their entries (arrays or floats):
    explicit sums, not a BLAS product, so that one sample on floats and a batch on arrays get the
    same bits, on every machine."""
    a2, b2, c2, d2, tx2, ty2 = e2
    a1, b1, c1, d1, tx1, ty1 = e1
    return (a2 * a1 + b2 * c1, a2 * b1 + b2 * d1, c2 * a1 + d2 * c1, c2 * b1 + d2 * d1,
            a2 * tx1 + b2 * ty1 + tx2, c2 * tx1 + d2 * ty1 + ty2)


def centered_affine(angle, scale, shear_x, shear_y, tx, ty, h, w) -> np.ndarray:
    """Scale, then shear, then rotate about the image centre ((W−1)/2, (H−1)/2), then translate.

    ``angle`` in degrees, positive = counter-clockwise on screen (y down), as ``cv2`` and
    torchvision's ``rotate``; ``shear_x``/``shear_y`` in degrees (x' = x + tan(shear_x)·y, then
    y' = y + tan(shear_y)·x); ``tx``/``ty`` in pixels.  All ``(B,)``.
    """
    vals = [_np(v) for v in (angle, scale, shear_x, shear_y, tx, ty, h, w)]
    one = _one(vals)
    if one is None:
        return _affine(*centered_affine_entries(*vals))
    m = _affine(*centered_affine_entries(*one[0]))
    return m[None] if one[1] else m


def centered_affine_entries(angle, scale, shear_x, shear_y, tx, ty, h, w) -> tuple:
    t = np.deg2rad(angle)
    cos, sin = np.cos(t), np.sin(t)
    kx = np.tan(np.deg2rad(shear_x))
    ky = np.tan(np.deg2rad(shear_y))
    s = scale
    # R = [[cos, sin], [-sin, cos]] (CCW on screen), Sh = [[1, kx], [ky, 1 + kx·ky]], S = s·I.
    a = s * (cos + sin * ky)
    b = s * (cos * kx + sin * (1 + kx * ky))
    c = s * (-sin + cos * ky)
    d = s * (-sin * kx + cos * (1 + kx * ky))
    cx = (w - 1) / 2
    cy = (h - 1) / 2
    return a, b, c, d, cx - a * cx - b * cy + tx, cy - c * cx - d * cy + ty


def mirrors(matrix):
    """Whether each matrix (tensor or array) reverses orientation (det of its 2x2 part < 0): flip
    pairs swap there."""
    m = matrix.to(_F64) if isinstance(matrix, torch.Tensor) else matrix
    return (m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]) < 0


# ---- public mapping helpers -------------------------------------------------------------------

def _as_tensor(x, name):
    if isinstance(x, torch.Tensor):
        return x, True
    try:
        a = np.asarray(x, dtype=np.float64)
        return torch.from_numpy(a if a.flags.writeable else a.copy()), False  # no torch warning
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a tensor or array, got {type(x).__name__}") from None


def _batched_matrix(matrix, points: torch.Tensor) -> torch.Tensor:
    m, _ = _as_tensor(matrix, "matrix")
    if m.shape[-2:] != (3, 3) or m.dim() not in (2, 3):
        fail(f"matrix must be (3, 3) or (B, 3, 3), got shape {tuple(m.shape)}")
    if m.dim() == 3 and (points.dim() < 3 or points.shape[0] != m.shape[0]):
        fail(f"matrix is {tuple(m.shape)} but the points are {tuple(points.shape)}: a batch of "
             f"B matrices maps points of shape (B, K, 2)")
    m = m.to(device=points.device, dtype=_F64)
    return m if m.dim() == 2 else m.reshape(m.shape[0], *([1] * (points.dim() - 3)), 3, 3)


def map_points(points, matrix):
    """Map ``(..., K, 2)`` (x, y) points through forward ``matrix`` ``(3, 3)`` or ``(B, 3, 3)``.

    Returns the same type (torch/numpy) and float dtype as ``points``.

    Convention: pixel (row i, col j) is at (x=j, y=i); ``matrix`` maps source to destination.

    Example:
        >>> map_points(torch.tensor([[0., 0.]]), hflip(torch.tensor(10.)))
        tensor([[9., 0.]])
    """
    p, is_torch = _as_tensor(points, "points")
    if p.shape[-1:] != (2,):
        fail(f"points must be (..., K, 2), got shape {tuple(p.shape)}")
    m = _batched_matrix(matrix, p)
    q = p.to(_F64)
    xy = q @ m[..., :2, :2].transpose(-1, -2) + m[..., :2, 2].unsqueeze(-2)
    w = q @ m[..., 2:, :2].transpose(-1, -2) + m[..., 2:, 2:].transpose(-1, -2)
    out = (xy / w).to(p.dtype if p.dtype.is_floating_point else _F64)
    return out if is_torch else out.numpy()


def apply_matrix(points, matrix, affine: bool = False):
    """:func:`map_points` without its checks, for the transforms: ``(B, K, 2)`` float64 points,
    ``(B, 3, 3)`` float64 matrices, both numpy or both torch (same device) → ``(B, K, 2)``.
    ``affine``: the caller knows the last rows are (0, 0, 1) (numpy: the same values, fewer
    operations)."""
    if affine and isinstance(points, np.ndarray):
        return points @ matrix[:, :2, :2].transpose(0, 2, 1).copy() + matrix[:, None, :2, 2]
    if isinstance(points, np.ndarray):
        # a contiguous right operand: numpy's product is several times faster on it
        h = points @ matrix[:, :, :2].transpose(0, 2, 1).copy() + matrix[:, None, :, 2]
    else:
        h = torch.baddbmm(matrix[:, None, :, 2], points, matrix[:, :, :2].transpose(1, 2))
    return h[..., :2] / h[..., 2:]  # exact for affine matrices (w = 1)


def map_boxes(boxes, matrix):
    """Map xyxy ``(..., N, 4)`` boxes: the axis-aligned box of the four mapped corners.

    Convention: box edges in pixel coordinates (a whole W×H image is (-0.5, -0.5, W-0.5, H-0.5));
    ``matrix`` (3, 3)/(B, 3, 3) maps source to destination.

    Example:
        >>> map_boxes(torch.tensor([[1., 2., 4., 5.]]), hflip(torch.tensor(10.)))
        tensor([[5., 2., 8., 5.]])
    """
    b, is_torch = _as_tensor(boxes, "boxes")
    if b.shape[-1:] != (4,):
        fail(f"boxes must be (..., N, 4) xyxy, got shape {tuple(b.shape)}")
    x1, y1, x2, y2 = b.unbind(-1)
    corners = torch.stack([torch.stack(c, -1) for c in
                           ((x1, y1), (x2, y1), (x2, y2), (x1, y2))], -2)  # (..., N, 4, 2)
    flat = corners.reshape(*b.shape[:-2], -1, 2)
    mapped = map_points(flat, matrix).reshape(corners.shape)
    out = torch.cat([mapped.amin(-2), mapped.amax(-2)], -1)
    return out if is_torch else out.numpy()


def inverse_points(points, matrix, flip_pairs=None):
    """Map points from the augmented frame back to the source: ``matrix⁻¹``, and where the matrix
    mirrors, the ``flip_pairs`` swap undone so index i is again the source's point i.

    Convention: ``matrix`` is the forward (source → augmented) matrix a transform returned.

    Example:
        >>> out = t(image=img, keypoints=kp)
        >>> back = inverse_points(out["keypoints"], out["matrix"], flip_pairs)  # ≈ kp
    """
    p, is_torch = _as_tensor(points, "points")
    m, _ = _as_tensor(matrix, "matrix")
    m = m.to(_F64)
    out = map_points(p, torch.linalg.inv(m))
    out = torch.as_tensor(out)
    if flip_pairs:
        out = swap_pairs(out, mirrors(m), flip_pairs)
    return out if is_torch else out.numpy()


def inverse_boxes(boxes, matrix):
    """Map xyxy boxes from the augmented frame back to the source (box of the mapped corners).

    Convention: ``matrix`` is the forward (source → augmented) matrix a transform returned.

    Example:
        >>> back = inverse_boxes(out["boxes"], out["matrix"])
    """
    m, _ = _as_tensor(matrix, "matrix")
    return map_boxes(boxes, torch.linalg.inv(m.to(_F64)))


def pair_permutation(flip_pairs, k: int) -> np.ndarray:
    perm = np.arange(k)
    for i, j in flip_pairs:
        if not (0 <= i < k and 0 <= j < k):
            fail(f"flip_pairs holds index pair ({i}, {j}) but there are only {k} keypoints")
        perm[i], perm[j] = j, i
    return perm


def swap_pairs(points, mirrored, flip_pairs):
    """Swap the listed index pairs of ``points`` ``(K, 2)``/``(B, K, 2)`` where ``mirrored``
    (torch tensors, or numpy arrays)."""
    if not flip_pairs:
        return points
    perm = pair_permutation(flip_pairs, points.shape[-2])
    swapped = points[..., perm, :]
    mirrored = mirrored.reshape(*mirrored.shape, *[1] * (points.ndim - mirrored.ndim))
    if isinstance(points, np.ndarray):
        return np.where(mirrored, swapped, points)
    return torch.where(mirrored.to(points.device), swapped, points)
