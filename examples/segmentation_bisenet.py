"""The BiSeNet (Cityscapes) training augmentation: colour jitter 0.5/0.5/0.5, horizontal flip,
random scale 0.75…2.0, a random crop padded where the scaled image is smaller (image 0, mask
ignore_index 255), ImageNet normalisation — one warp of the image and one of the mask.

    python examples/segmentation_bisenet.py
"""
import numpy as np
import torch

import geomaug.transforms as T


def make_transform(crop=(512, 1024)):
    return T.Compose([
        T.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5),
        T.HorizontalFlip(p=0.5),
        T.RandomScale((0.75, 2.0)),
        T.RandomCrop(crop),            # pads (fill 0 / ignore_index 255) when the image is smaller
        T.Normalize(),                 # uint8 HWC in -> float32 CHW out
    ], ignore_index=255)


def main(size=(128, 256), crop=(96, 192), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)       # as cv2/PIL give it (RGB here)
    label = rng.integers(0, 19, size, dtype=np.uint8)              # 19 Cityscapes classes
    out = make_transform(crop)(image=image, mask=label, seed=seed)
    x, y = out["image"], out["mask"]
    assert x.shape == (3, *crop) and x.dtype == torch.float32
    assert y.shape == crop and y.dtype == np.uint8
    assert set(np.unique(y)) <= set(range(19)) | {255}
    print(f"image {tuple(x.shape)} {x.dtype}, mask {y.shape} {y.dtype}, "
          f"scale {float(out['params'][2]['scale'][0]):.3f}, "
          f"labels {sorted(set(np.unique(y).tolist()))[:5]}...")
    return out


if __name__ == "__main__":
    main()
