"""Landmark training augmentation: random affine (rotation, scale, shift), horizontal flip that
swaps left/right landmarks, and a crop — keypoints through the same matrix as the pixels, never
dropped (``visible`` says which left the crop); predictions map back with the matrix.

    python examples/landmarks.py
"""
import numpy as np
import torch

import geomaug.transforms as T
from geomaug.demo import LANDMARKS, load_photo

# 5-point face: left eye, right eye, nose, left mouth corner, right mouth corner.
FLIP_PAIRS = [(0, 1), (3, 4)]


def make_transform(face_box=(20, 125, 200, 200), size=128):
    top, left, h, w = face_box                                          # e.g. from a face detector
    return T.Compose([
        T.Crop(top, left, h, w),
        T.HorizontalFlip(p=0.5),
        T.RandomAffine(degrees=20, translate=(0.05, 0.05), scale=(0.8, 1.2)),
        T.Resize(size),
        T.ColorJitter(0.3, 0.3, 0.3),
        T.Normalize(),
    ], flip_pairs=FLIP_PAIRS)


def main(seed=0, batch=4):
    photo = torch.from_numpy(load_photo()).permute(2, 0, 1)              # (3, 512, 512) uint8
    images = photo[None].expand(batch, -1, -1, -1)     # a batch: B draws, one warp
    kp = torch.tensor(LANDMARKS, dtype=torch.float32)                    # (5, 2), shared
    out = make_transform()(image=images, keypoints=kp, seed=seed)
    assert out["image"].shape == (batch, 3, 128, 128) and out["keypoints"].shape == (batch, 5, 2)
    # a model's predictions on the augmented images, mapped back to the photo:
    back = T.inverse_points(out["keypoints"], out["matrix"], FLIP_PAIRS)
    err = float((back - kp).abs().max())
    assert err < 1e-3
    print(f"visible: {out['visible'].tolist()}; mapped back to the photo within {err:.2e} px")
    return out


if __name__ == "__main__":
    main()
