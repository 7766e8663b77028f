"""``python -m geomaug demo``: align a real face photo to the ArcFace template and crop it.

The photo is scikit-image's astronaut portrait (Eileen Collins, NASA; public domain), shipped in
``geomaug/data``; its five landmarks were placed by hand.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .faces import aligned_crop, template

PHOTO = Path(__file__).resolve().parent / "data" / "astronaut.png"
# (x, y) pixel coordinates in the 512x512 photo: left eye, right eye, nose tip, left and right
# mouth corners ("left" = smaller x), placed by hand on a 4x enlarged view.
LANDMARKS = ((205.5, 101.0), (244.5, 102.5), (225.0, 126.0), (204.0, 141.0), (244.0, 142.0))


def load_photo() -> np.ndarray:
    """The demo photo as an (H, W, 3) uint8 RGB array."""
    from PIL import Image

    return np.array(Image.open(PHOTO).convert("RGB"))


def run() -> tuple[np.ndarray, torch.Tensor, "object"]:
    """(photo, crop (3, 112, 112) uint8, alignment) — the demo without the figure."""
    photo = load_photo()
    image = torch.from_numpy(photo).permute(2, 0, 1)  # (3, H, W) view, no copy
    crop, alignment = aligned_crop(image, torch.tensor(LANDMARKS), "arcface", 112)
    return photo, crop, alignment


def main(out: str = "geomaug-demo.png") -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    photo, crop, a = run()
    lm = np.asarray(LANDMARKS)
    tpl = template("arcface", 112).numpy()
    mapped = a.apply(torch.tensor(LANDMARKS, dtype=torch.float32)).numpy()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    axes[0].imshow(photo)
    axes[0].scatter(lm[:, 0], lm[:, 1], s=18, c="lime")
    axes[0].set_title("photo + hand-placed landmarks")
    axes[1].imshow(np.full((112, 112, 3), 235, np.uint8))
    axes[1].scatter(tpl[:, 0], tpl[:, 1], s=30, c="tab:red")
    axes[1].set_title("ArcFace template (112×112)")
    axes[2].imshow(crop.permute(1, 2, 0).numpy())
    axes[2].scatter(tpl[:, 0], tpl[:, 1], s=30, c="tab:red", marker="+", label="template")
    axes[2].scatter(mapped[:, 0], mapped[:, 1], s=12, c="lime", label="landmarks, mapped")
    axes[2].legend(loc="lower center", fontsize=7)
    axes[2].set_title(f"aligned crop (rmse {float(a.rmse):.2f} px)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {Path(out).resolve()}")
    print(f"alignment: scale {float(a.s):.4f}, rotation {np.degrees(np.arctan2(float(a.R[1, 0]), float(a.R[0, 0]))):.2f}°, "
          f"rmse {float(a.rmse):.3f} px (in the 112×112 crop), valid={bool(a.valid)}")
    return 0
