"""Joint transforms: image + mask + keypoints + boxes through one matrix and one resampling pass.

Call any transform (or a :class:`Compose` of them) on keyword targets; every target is optional::

    t = Compose([ColorJitter(0.4, 0.4, 0.4), HorizontalFlip(flip_pairs=[(0, 1)]),
                 RandomAffine(degrees=30, scale=(0.75, 1.25)), CenterCrop(448), Normalize()])
    out = t(image=img, mask=mask, keypoints=kp, boxes=boxes, seed=0)
    out["image"], out["mask"], out["keypoints"], out["boxes"]    # same types/layouts as given
    out["matrix"]    # (3, 3) / (B, 3, 3) float64, source → output pixels
    out["visible"]   # per keypoint: inside the output image
    out["params"]    # the drawn parameters (numpy): t(..., params=out["params"]) replays exactly

Conventions (docs/conventions.md):

* Pixel (row i, col j) has its centre at (x=j, y=i); an image of width W spans [-0.5, W-0.5].
  Keypoints are ``(K, 2)``/``(B, K, 2)`` (x, y); boxes xyxy ``(N, 4)``/``(B, N, 4)`` in the same
  coordinates (a whole-image box is ``(-0.5, -0.5, W-0.5, H-0.5)``).
* Every geometric op is a 3x3 forward matrix (source → destination pixels): horizontal flip
  x' = (W−1) − x; resize W→W' x' = (x+0.5)·W'/W − 0.5; crop at (left, top) x' = x − left;
  rotation/scale/shear about ((W−1)/2, (H−1)/2), positive angles counter-clockwise on screen.
* The geometric ops of a pipeline compose (product in order) into one matrix per sample; the image
  is resampled once (destination p samples the source at M⁻¹p, the map keypoints go through),
  bilinear with ``fill``; the mask once, nearest with ``ignore_index`` (default 255), dtype kept.
  Keypoints keep their count and order; ``visible`` is False outside the output.  Boxes become the
  box of their four mapped corners (not clipped).  Flip pairs swap wherever the composed matrix
  mirrors (det of its 2x2 part < 0), so two flips cancel.
* Borders: a sample point inside the source area is image content (edge taps clamp: a Resize
  equals ``cv2.resize``); outside it the pass's ``border`` mode: ``"constant"`` (default, for all
  ops, as Albumentations 2.x), ``"replicate"`` or ``"reflect"`` (OpenCV's BORDER_REFLECT_101).
  One pass has one mode: ops may declare it (or the Compose does); different declarations in one
  pipeline raise InputError when the Compose is built.  Masks use the same mode, with
  ``ignore_index`` as their constant.
* Colour ops act on the resampled pixels in their listed order; contrast's mean is that of the
  image where the op stands.  uint8 images are processed in float32 on the 0..255 scale and rounded
  (half to even) once at the end, unless Normalize (always last) makes them float CHW.
* Parameters are drawn per sample on the CPU in float64 from ``generator=``/``seed=`` (default:
  torch's global RNG); a batch ``(B, C, H, W)`` gets B draws and one warp.  For data loading, seed
  each sample with :func:`sample_generator` (base seed, epoch, index): results do not depend on
  worker count or rank.
"""
from .color import (IMAGENET_MEAN, IMAGENET_STD, ColorJitter, Normalize, RandomGrayscale,
                    denormalize)
from .core import Compose, OneOf, RandomApply, Transform, pass_settings
from .geometric import (CenterCrop, Crop, HorizontalFlip, Pad, RandomAffine, RandomCrop,
                        RandomResizedCrop, RandomScale, Resize, Rotate, VerticalFlip)
from .data import AugmentedDataset, sample_generator, sample_seed
from .geometry import inverse_boxes, inverse_points, map_boxes, map_points
from .multiscale import MultiScale, warp_back

__all__ = ["AugmentedDataset", "MultiScale", "sample_generator", "sample_seed", "warp_back",
           "CenterCrop", "ColorJitter", "Crop", "Compose", "HorizontalFlip", "IMAGENET_MEAN",
           "IMAGENET_STD", "Normalize", "OneOf", "Pad", "RandomAffine", "RandomApply",
           "RandomCrop", "RandomGrayscale", "RandomResizedCrop", "RandomScale", "Resize", "Rotate",
           "Transform", "VerticalFlip", "denormalize", "inverse_boxes", "inverse_points",
           "map_boxes", "map_points", "pass_settings"]
