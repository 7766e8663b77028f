"""A whole batch augmented on the GPU in one call: per-sample flip/affine/crop/colour parameters
(drawn on the CPU from the seed, so CPU and GPU agree), one warp launch for the images and one for
the masks.  Falls back to the CPU without a GPU.

    python examples/gpu_batch.py
"""
import torch

import geomaug.transforms as T


def main(batch=8, size=96, out_size=80, seed=0):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g)
    images = images.to(device)
    masks = torch.randint(0, 5, (batch, size, size), dtype=torch.uint8, generator=g).to(device)
    keypoints = (torch.rand(batch, 68, 2, generator=g) * (size - 1)).to(device)
    t = T.Compose([
        T.HorizontalFlip(p=0.5),
        T.RandomAffine(degrees=30, translate=(0.1, 0.1), scale=(0.75, 1.75)),
        T.CenterCrop(out_size),
        T.ColorJitter(0.4, 0.4, 0.4),
        T.Normalize(),
    ])
    out = t(image=images, mask=masks, keypoints=keypoints, seed=seed)
    assert out["image"].device.type == device
    assert out["image"].shape == (batch, 3, out_size, out_size)
    assert out["matrix"].shape == (batch, 3, 3) and out["visible"].shape == (batch, 68)
    print(f"{device}: images {tuple(out['image'].shape)}, masks {tuple(out['mask'].shape)}, "
          f"{int(out['visible'].sum())} of {batch * 68} keypoints visible")
    return out


if __name__ == "__main__":
    main()
