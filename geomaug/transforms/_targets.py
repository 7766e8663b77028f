"""Reading the targets of a call (image, mask, keypoints, boxes) into batched tensors, checking
they agree, and giving each back in the type and layout it came in."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .._checks import fail
from ..warping import _from_numpy

_IMAGE_DTYPES = (torch.uint8, torch.float32, torch.float64)
_NUMPY_IMAGE_DTYPES = frozenset(np.dtype(t) for t in (np.uint8, np.float32, np.float64))
_NUMPY_FLOATS = {np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32,
                 np.dtype(np.float64): torch.float64}


@dataclass
class Targets:
    batch: int
    batched: bool
    size: tuple[int, int]  # (H, W) of the input
    device: torch.device
    image: torch.Tensor | None = None  # (B, C, H, W), a view of the input where possible
    mask: torch.Tensor | None = None  # (B, 1, H, W)
    keypoints: torch.Tensor | np.ndarray | None = None  # (B, K, 2) float64 (numpy if given so)
    boxes: torch.Tensor | np.ndarray | None = None  # (B, N, 4) float64 (numpy if given so)
    kind: str = "torch"  # "torch", "numpy" or "pil": the type matrix/visible are given back as
    restore: dict[str, Callable] = field(default_factory=dict)


@functools.cache
def _pil_image_class():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL ships with torchvision/matplotlib
        return None
    return Image.Image


# PIL images: modes read as they are (uint8 L, LA, RGB, RGBA; float32 F, on the [0, 1] scale
# of float images) and modes converted first (given back in the converted mode); integer modes
# wider than 8 bits (I, I;16...) are refused rather than clipped.
_PIL_AS_IS = frozenset({"L", "LA", "RGB", "RGBA", "F"})
_PIL_CONVERT = {"1": "L", "P": "RGB", "PA": "RGBA", "La": "LA", "RGBX": "RGB", "RGBa": "RGBA",
                "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


def _read_image(image):
    """→ ((B, C, H, W) tensor, batched, kind, restore(out, normalized))."""
    pil = None if isinstance(image, (np.ndarray, torch.Tensor)) else _pil_image_class()
    if pil is not None and isinstance(image, pil):
        from PIL import Image

        mode = image.mode
        if mode not in _PIL_AS_IS:
            if mode not in _PIL_CONVERT:
                fail(f"image: PIL mode {mode!r} is not supported (integers wider than 8 bits are "
                     f"not clipped to uint8): pass a float32 numpy array scaled to [0, 1], or "
                     f"convert the image to 'L' or 'RGB'")
            mode = _PIL_CONVERT[mode]
            if image.mode == "P" and "transparency" in image.info:
                mode = "RGBA"
            image = image.convert(mode)
        t, _, _, back = _read_image(np.asarray(image))

        def restore(out, normalized):
            if normalized:
                return out[0]
            return Image.fromarray(back(out, False))  # the mode read: L, LA, RGB, RGBA or F

        return t, False, "pil", restore
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            fail(f"image: a numpy image must be (H, W) or (H, W, C), got shape {image.shape}")
        # any byte order (geomaug.warp's numpy view reads big-endian data in this machine's)
        if image.dtype not in _NUMPY_IMAGE_DTYPES and \
                image.dtype.newbyteorder("=") not in _NUMPY_IMAGE_DTYPES:
            fail(f"image dtype must be uint8, float32 or float64, got {image.dtype}")
        # read-only arrays are copied (an output may be the input itself); geomaug.warp's view
        # copies negative strides (img[..., ::-1], BGR to RGB)
        t, _, back = _from_numpy(image if image.flags.writeable else np.array(image))

        def restore(out, normalized):
            return out[0] if normalized else back(out)

        return t, False, "numpy", restore
    if isinstance(image, torch.Tensor):
        if image.dim() not in (3, 4):
            fail(f"image must be (C, H, W) or (B, C, H, W), got shape {tuple(image.shape)}")
        if image.dtype not in _IMAGE_DTYPES:
            fail(f"image dtype must be uint8, float32 or float64, got {image.dtype}")
        batched = image.dim() == 4
        t = image if batched else image[None]
        cl = (t.shape[1] > 1 and t.is_contiguous(memory_format=torch.channels_last)
              and not t.is_contiguous())

        def restore(out, normalized):
            if cl and not normalized:
                out = out.contiguous(memory_format=torch.channels_last)
            return out if batched else out[0]

        return t, batched, "torch", restore
    raise TypeError(f"image must be a torch.Tensor, numpy.ndarray or PIL image, "
                    f"got {type(image).__name__}")


def _read_mask(mask):
    """→ ((B, 1, H, W) tensor, leading shape, restore(out))."""
    pil = None if isinstance(mask, (np.ndarray, torch.Tensor)) else _pil_image_class()
    if pil is not None and isinstance(mask, pil):
        from PIL import Image

        mode = mask.mode
        palette = mask.getpalette() if mode == "P" else None
        t, lead, back = _read_mask(np.asarray(mask))

        def restore(out):
            if mode != "P":  # the mode its dtype names (L, I;16, I, 1...)
                return Image.fromarray(back(out))
            m = Image.fromarray(back(out), mode="P")
            if palette:
                m.putpalette(palette)
            return m

        return t, lead, restore
    if isinstance(mask, np.ndarray):
        if not (mask.ndim == 2 or (mask.ndim == 3 and mask.shape[2] == 1)):
            fail(f"mask must be (H, W) or (H, W, 1), got shape {mask.shape}")
        t, _, back = _from_numpy(mask if mask.flags.writeable else np.array(mask))
        if mask.dtype.kind in "fc":
            _check_mask_dtype(t)  # raises
        return t, False, back
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, numpy.ndarray or PIL image, "
                        f"got {type(mask).__name__}")
    _check_mask_dtype(mask)
    shape = tuple(mask.shape)
    if mask.dim() == 2:
        return mask[None, None], False, lambda o: o[0, 0]
    if mask.dim() == 3:
        return mask[:, None], True, lambda o: o[:, 0]
    if mask.dim() == 4 and shape[1] == 1:
        return mask, True, lambda o: o
    fail(f"mask must be (H, W), (B, H, W) or (B, 1, H, W), got shape {shape}")


def _check_mask_dtype(t: torch.Tensor):
    if t.dtype.is_floating_point or t.dtype.is_complex:
        fail(f"mask must have an integer (or bool) dtype, got {t.dtype}")


def _points(x, name: str, last: int):
    """→ ((B, K, last) float64, batched (3-D input), restore(out, batched)): a torch tensor for
    torch input, else numpy (what comes back is numpy then: no conversions on the way); given
    back ``(B, K, last)`` when the call is batched (its image, or the points themselves)."""
    if isinstance(x, torch.Tensor):
        is_np, t = False, x
        dtype, shape = t.dtype, tuple(t.shape)
        if dtype == torch.bool or dtype.is_complex:
            raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")
    else:
        try:
            arr = x if type(x) is np.ndarray else np.asarray(x)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a tensor or array, got {type(x).__name__}") from None
        if arr.dtype.kind in "bc":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"{name} must hold numbers, got {type(x).__name__} of {arr.dtype}")
        is_np, shape = True, arr.shape
    if len(shape) not in (2, 3) or shape[-1] != last:
        what = "(K, 2) or (B, K, 2)" if last == 2 else "(N, 4) or (B, N, 4) xyxy"
        fail(f"{name} must be {what}, got shape {shape}")
    dim = len(shape)
    if is_np:
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            fail(f"{name} must be finite, got NaN or inf values")
        np_dtype = arr.dtype if arr.dtype in _NUMPY_FLOATS else np.dtype(np.float64)  # given back
        t = arr.astype(np.float64)  # the one copy: the caller's array is kept

        def restore_np(out, batched):
            out = out.astype(np_dtype, copy=False)
            return out if dim == 3 or batched else out[0]

        return (t[None] if dim == 2 else t), dim == 3, restore_np
    if not bool(torch.isfinite(t).all()):
        fail(f"{name} must be finite, got NaN or inf values")
    dtype = dtype if dtype.is_floating_point else torch.float64

    def restore(out, batched):
        out = out.to(dtype)
        return out if dim == 3 or batched else out[0]

    return t.to(torch.float64)[None] if dim == 2 else t.to(torch.float64), dim == 3, restore


def _expand(points, batch: int):
    if points is None or points.shape[0] == batch:
        return points
    if isinstance(points, np.ndarray):
        return np.broadcast_to(points, (batch, *points.shape[1:]))
    return points.expand(batch, -1, -1)


def read_targets(image=None, mask=None, keypoints=None, boxes=None, size=None) -> Targets:
    """Parse and cross-check a call's targets."""
    found = {}
    restore = {}
    kind = None
    img = msk = kp = bx = None
    if image is not None:
        img, batched, kind, restore["image"] = _read_image(image)
        shape = tuple(img.shape)
        found["image"] = (shape[0], batched, shape[2:])
        if 0 in shape[1:]:
            fail(f"image must not be empty, got shape {tuple(getattr(image, 'shape', img.shape))}")
    if mask is not None:
        msk, batched, restore["mask"] = _read_mask(mask)
        shape = tuple(msk.shape)
        found["mask"] = (shape[0], batched, shape[2:])
        if kind is None:
            kind = "numpy" if isinstance(mask, np.ndarray) else \
                ("torch" if isinstance(mask, torch.Tensor) else "pil")
        if 0 in shape[2:]:
            fail(f"mask must not be empty, got shape {shape}")
    if keypoints is not None:
        kp, batched, restore["keypoints"] = _points(keypoints, "keypoints", 2)
        found["keypoints"] = (kp.shape[0], batched, None)
        kind = kind or ("torch" if isinstance(keypoints, torch.Tensor) else "numpy")
    if boxes is not None:
        bx, batched, restore["boxes"] = _points(boxes, "boxes", 4)
        found["boxes"] = (bx.shape[0], batched, None)
        kind = kind or ("torch" if isinstance(boxes, torch.Tensor) else "numpy")
        if (bx[..., 2] < bx[..., 0]).any() or (bx[..., 3] < bx[..., 1]).any():
            fail("boxes must be xyxy with x2 >= x1 and y2 >= y1, got a box with x2 < x1 or y2 < y1")
    if not found:
        fail("nothing to transform: give at least one of image, mask, keypoints, boxes")
    sizes = {k: v[2] for k, v in found.items() if v[2] is not None}
    if len(set(sizes.values())) > 1:
        fail("image and mask sizes differ: " +
             ", ".join(f"{k} (H, W) = {v}" for k, v in sizes.items()))
    if sizes:
        hw = next(iter(sizes.values()))
        if size is not None and tuple(size) != hw:
            fail(f"size={tuple(size)} disagrees with the image/mask size {hw}")
    elif size is None:
        fail("keypoints/boxes alone need size=(H, W) of the image they belong to")
    else:
        try:
            hw = tuple(int(v) for v in size)
            assert len(hw) == 2 and min(hw) > 0
        except (TypeError, ValueError, AssertionError):
            fail(f"size must be (H, W) with positive entries, got {size!r}")
    # The batch: the image's when there is one (a batched target must match it).
    lead = found.get("image") or found.get("mask") or next(iter(found.values()))
    batch, batched = lead[0], lead[1]
    for k, (b, is_b, _) in found.items():
        if b != batch and (is_b or batched):
            if not is_b and b == 1:
                continue
            fail(f"batch sizes differ: {k} has {b} samples, " +
                 ", ".join(f"{n} {v[0]}" for n, v in found.items() if n != k))
    if batched:  # unbatched keypoints/boxes with a batched image: the same for every sample
        kp = _expand(kp, batch)
        bx = _expand(bx, batch)
    if msk is not None and msk.shape[0] != batch:
        fail(f"batch sizes differ: mask has {msk.shape[0]} samples, image {batch}")
    device = img.device if img is not None else (
        msk.device if msk is not None else torch.device("cpu"))
    return Targets(batch=batch, batched=batched, size=hw, device=device, image=img, mask=msk,
                   keypoints=kp, boxes=bx, kind=kind, restore=restore)
