"""W1 pipelines: the same joint augmentation (flip, affine, 448² centre crop, colour jitter,
normalise) written the way each library's users write it.

Every builder returns a callable.  Per-sample (CPU) callables take one numpy HWC uint8 image, an
(H, W) uint8 mask and (K, 2) float32 keypoints and return ``(image, mask, keypoints)`` with the
image a float32 ``(3, 448, 448)`` tensor.  Batched callables take ``(B, 3, H, W)`` uint8 images,
``(B, H, W)`` uint8 masks and ``(B, K, 2)`` keypoints on the device and return the batch.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .peers import normalised_theta, optional

IN_HW, OUT_HW = (512, 512), (448, 448)
DEGREES, SCALE, TRANSLATE, JITTER = 30.0, (0.75, 1.75), 0.1, 0.4
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LUMA = (0.299, 0.587, 0.114)


# --- geomaug ------------------------------------------------------------------------------------

def geomaug_compose():
    import geomaug.transforms as T
    return T.Compose([T.HorizontalFlip(p=0.5),
                      T.RandomAffine(degrees=DEGREES, scale=SCALE, translate=(TRANSLATE, TRANSLATE)),
                      T.CenterCrop(OUT_HW[0]), T.ColorJitter(JITTER, JITTER, JITTER), T.Normalize()])


def geomaug_pipeline():
    """geomaug.transforms.Compose, a fresh seed per call (as a DataLoader seeds each sample)."""
    t, seeds = geomaug_compose(), itertools.count()

    def run(image, mask, keypoints):
        out = t(image=image, mask=mask, keypoints=keypoints, seed=next(seeds))
        return out["image"], out["mask"], out["keypoints"]
    return run


# --- Albumentations (CPU, per sample) -----------------------------------------------------------

def albumentations_pipeline():
    """A.Compose of HorizontalFlip, Affine, CenterCrop, ColorJitter, Normalize, ToTensorV2.
    Affine and ColorJitter get p=1 (their default is 0.5; geomaug applies them to every sample).
    Affine takes ranges: a scalar ``rotate=30`` / ``translate_percent=0.1`` is a *fixed* 30° / 10 %
    in Albumentations 2; ``keep_ratio=True`` draws one isotropic scale, as the other libraries."""
    A = optional("albumentations")
    from albumentations.pytorch import ToTensorV2
    t = A.Compose([A.HorizontalFlip(p=0.5),
                   A.Affine(rotate=(-DEGREES, DEGREES), scale=SCALE,
                            translate_percent=(-TRANSLATE, TRANSLATE), keep_ratio=True, p=1.0),
                   A.CenterCrop(*OUT_HW), A.ColorJitter(JITTER, JITTER, JITTER, 0.0, p=1.0),
                   A.Normalize(), ToTensorV2()],
                  keypoint_params=A.KeypointParams(format="xy", remove_invisible=False))

    def run(image, mask, keypoints):
        out = t(image=image, mask=mask, keypoints=keypoints)
        return out["image"], out["mask"], out["keypoints"]
    return run


# --- torchvision transforms v2 ------------------------------------------------------------------

def torchvision_compose(pil: bool):
    v2 = optional("torchvision.transforms.v2")
    steps = [v2.RandomHorizontalFlip(0.5),
             v2.RandomAffine(degrees=DEGREES, translate=(TRANSLATE, TRANSLATE), scale=SCALE),
             v2.CenterCrop(OUT_HW), v2.ColorJitter(JITTER, JITTER, JITTER)]
    if pil:
        steps.append(v2.PILToTensor())
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    return v2.Compose(steps)


def _tv_targets(mask, keypoints):
    tv = optional("torchvision.tv_tensors")
    kp = tv.KeyPoints(keypoints, canvas_size=tuple(mask.shape[-2:])) \
        if hasattr(tv, "KeyPoints") else keypoints  # KeyPoints: torchvision ≥ 0.23
    return tv.Mask(mask), kp


def torchvision_pipeline(pil: bool):
    """v2.Compose on a PIL image (``Image.fromarray``) or a uint8 CHW tensor (``from_numpy`` +
    ``permute``), with tv_tensors Mask and KeyPoints along."""
    t = torchvision_compose(pil)
    tv = optional("torchvision.tv_tensors")
    if pil:
        from PIL import Image

    def run(image, mask, keypoints):
        img = Image.fromarray(image) if pil else tv.Image(torch.from_numpy(image).permute(2, 0, 1))
        m, kp = _tv_targets(torch.from_numpy(mask), torch.from_numpy(keypoints))
        return t(img, m, kp)
    return run


def torchvision_batch_loop():
    """GPU: v2.Compose per sample in a Python loop over the batch (v2 draws one parameter set per
    call), outputs stacked."""
    t = torchvision_compose(pil=False)
    tv = optional("torchvision.tv_tensors")

    def run(images, masks, keypoints):
        outs = [t(tv.Image(images[i]), *_tv_targets(masks[i], keypoints[i]))
                for i in range(images.shape[0])]
        return tuple(torch.stack([o[j].as_subclass(torch.Tensor) for o in outs]) for j in range(3))
    return run


# --- kornia -------------------------------------------------------------------------------------

def kornia_batch():
    """kornia.augmentation.AugmentationSequential(RandomHorizontalFlip, RandomAffine, CenterCrop,
    ColorJitter, Normalize; data_keys input/mask/keypoints) on float images in [0, 1] and float
    masks (kornia resamples masks as float; uint8→float conversions are timed)."""
    K = optional("kornia.augmentation")
    aug = K.AugmentationSequential(
        K.RandomHorizontalFlip(p=0.5),
        K.RandomAffine(degrees=DEGREES, translate=(TRANSLATE, TRANSLATE), scale=SCALE, p=1.0),
        K.CenterCrop(OUT_HW), K.ColorJitter(JITTER, JITTER, JITTER, 0.0, p=1.0),
        K.Normalize(mean=torch.tensor(MEAN), std=torch.tensor(STD)),
        data_keys=["input", "mask", "keypoints"])

    def run(images, masks, keypoints):
        img, m, kp = aug(images.float() / 255, masks[:, None].float(), keypoints)
        return img, m[:, 0].to(torch.uint8), kp
    return run


def kornia_pipeline():
    """CPU: the batched kornia pipeline on a 1-image batch (numpy → tensor conversion timed)."""
    batch = kornia_batch()

    def run(image, mask, keypoints):
        img, m, kp = batch(torch.from_numpy(image).permute(2, 0, 1)[None],
                           torch.from_numpy(mask)[None], torch.from_numpy(keypoints)[None])
        return img[0], m[0], kp[0]
    return run


# --- plain PyTorch ------------------------------------------------------------------------------

def draw_matrices(B: int, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, 3) float64 forward matrices: flip (p=0.5), then rotation/scale about the input
    centre plus translation, then the 448² centre crop."""
    u = torch.rand(B, 5, generator=generator, dtype=torch.float64)
    (h, w), (oh, ow) = IN_HW, OUT_HW
    flip = u[:, 0] < 0.5
    angle = (u[:, 1] * 2 - 1) * math.radians(DEGREES)
    scale = SCALE[0] + (SCALE[1] - SCALE[0]) * u[:, 2]
    tx, ty = (u[:, 3] * 2 - 1) * TRANSLATE * w, (u[:, 4] * 2 - 1) * TRANSLATE * h
    c, s = scale * torch.cos(angle), scale * torch.sin(angle)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    M = torch.zeros(B, 3, 3, dtype=torch.float64)
    M[:, 0, 0], M[:, 0, 1], M[:, 1, 0], M[:, 1, 1] = c, -s, s, c
    M[:, 0, 2] = cx + tx - (c * cx - s * cy) - (w - ow) / 2
    M[:, 1, 2] = cy + ty - (s * cx + c * cy) - (h - oh) / 2
    M[:, 2, 2] = 1
    F_ = torch.eye(3, dtype=torch.float64).repeat(B, 1, 1)
    F_[flip, 0, 0], F_[flip, 0, 2] = -1.0, w - 1.0
    return M @ F_


def torch_batch(seed: int = 0):
    """Plain PyTorch, batched: per-sample matrices drawn on the CPU, F.affine_grid + F.grid_sample
    (bilinear image, nearest mask, align_corners=True), keypoints through the same matrices,
    brightness/contrast/saturation factors per sample in batched torch, normalise."""
    g = torch.Generator().manual_seed(seed)

    def run(images, masks, keypoints):
        B, dev = images.shape[0], images.device
        M = draw_matrices(B, g)
        f = (1 - JITTER + 2 * JITTER * torch.rand(B, 3, generator=g, dtype=torch.float64)).float()
        M, f = M.to(dev), f.to(dev)
        theta = normalised_theta(M, IN_HW, OUT_HW).float()
        grid = F.affine_grid(theta, [B, 1, *OUT_HW], align_corners=True)
        x = F.grid_sample(images.float(), grid, mode="bilinear", align_corners=True) / 255
        m = F.grid_sample(masks[:, None].float(), grid, mode="nearest", align_corners=True)
        kp = keypoints @ M[:, :2, :2].float().mT + M[:, None, :2, 2].float()
        b, c, s = (f[:, i, None, None, None] for i in range(3))
        luma = torch.tensor(LUMA, device=dev)[None, :, None, None]
        x = (x * b).clamp_(0, 1)
        mean = (x * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        x = (x * c + mean * (1 - c)).clamp_(0, 1)
        gray = (x * luma).sum(1, keepdim=True)
        x = (x * s + gray * (1 - s)).clamp_(0, 1)
        mu = torch.tensor(MEAN, device=dev)[None, :, None, None]
        sd = torch.tensor(STD, device=dev)[None, :, None, None]
        return (x - mu) / sd, m[:, 0].to(torch.uint8), kp
    return run


def torch_pipeline():
    """CPU: the batched plain-PyTorch pipeline on a 1-image batch."""
    batch = torch_batch()

    def run(image, mask, keypoints):
        img, m, kp = batch(torch.from_numpy(image).permute(2, 0, 1)[None],
                           torch.from_numpy(mask)[None], torch.from_numpy(keypoints)[None])
        return img[0], m[0], kp[0]
    return run


def describe(out) -> dict:
    """Shapes/dtypes of a pipeline's (image, mask, keypoints), for the comparable-work check."""
    def one(x):
        if isinstance(x, (list, tuple)) and not isinstance(x, torch.Tensor):
            x = np.asarray(x, dtype=np.float32)
        return {"type": type(x).__name__, "shape": list(x.shape), "dtype": str(x.dtype)}
    image, mask, keypoints = out
    return {"image": one(image), "mask": one(mask), "keypoints": one(keypoints)}
