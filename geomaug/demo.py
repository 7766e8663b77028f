"""``python -m geomaug demo``: align a real face photo to the ArcFace template and crop it; and a
grid of random joint augmentations of the photo (image, face mask, landmarks in one pass).

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


LANDMARK_NAMES = ("left eye", "right eye", "nose", "left mouth", "right mouth")
LANDMARK_COLORS = ("tab:blue", "tab:red", "gold", "deepskyblue", "orange")  # left: blues
FLIP_PAIRS = [(0, 1), (3, 4)]


def face_mask(shape=(512, 512)) -> np.ndarray:
    """A uint8 mask: 1 on an ellipse around the face (fitted to the landmarks), 0 elsewhere."""
    lm = np.asarray(LANDMARKS)
    eye = float(np.linalg.norm(lm[1] - lm[0]))
    cx, cy = lm[:, 0].mean(), lm[:, 1].mean() - 0.1 * eye
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    inside = ((xs - cx) / (1.15 * eye)) ** 2 + ((ys - cy) / (1.5 * eye)) ** 2 <= 1
    return inside.astype(np.uint8)


def augment_grid(n: int = 11, seed: int = 0):
    """(photo, mask, augmented batch dict, landmarks mapped back): the grid demo without the figure.

    One call augments n copies of the photo (a batch: n parameter draws, one warp of the images and
    one of the masks)."""
    from . import transforms as T

    photo = load_photo()
    mask = face_mask(photo.shape[:2])
    t = T.Compose([
        T.Crop(0, 97, 256, 256),
        T.HorizontalFlip(p=0.5),
        T.RandomAffine(degrees=30, translate=(0.08, 0.08), scale=(0.7, 1.3), shear=10),
        T.RandomResizedCrop(192, scale=(0.5, 1.0)),
        T.ColorJitter(0.4, 0.4, 0.4, 0.05),
        T.RandomGrayscale(0.15),
        T.Normalize(),
    ], flip_pairs=FLIP_PAIRS, border="reflect")
    images = torch.from_numpy(photo).permute(2, 0, 1)[None].expand(n, -1, -1, -1)
    masks = torch.from_numpy(mask)[None].expand(n, -1, -1)
    kp = torch.tensor(LANDMARKS, dtype=torch.float32)
    out = t(image=images, mask=masks, keypoints=kp, seed=seed)
    back = T.inverse_points(out["keypoints"], out["matrix"], FLIP_PAIRS)
    return photo, mask, out, back


def _overlay(ax, image, mask, kp=None, visible=None):
    from matplotlib.colors import ListedColormap

    ax.imshow(image)
    shown = np.ma.masked_where(mask == 0, mask)
    ax.imshow(shown, cmap=ListedColormap(["none", "tab:green"] + ["none"] * 253 + ["tab:purple"]),
              vmin=0, vmax=255, alpha=0.35, interpolation="nearest")
    if kp is not None:
        for k, (x, y) in enumerate(np.asarray(kp)):
            on = visible is None or bool(visible[k])
            ax.scatter([x], [y], s=28, c=LANDMARK_COLORS[k], edgecolors="white" if on else "black",
                       linewidths=0.8, marker="o" if on else "X")
    ax.set_xticks([])
    ax.set_yticks([])


def write_augment_grid(out: str, seed: int = 0) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .transforms import denormalize

    photo, mask, aug, back = augment_grid(11, seed)
    fig, axes = plt.subplots(3, 4, figsize=(13, 10))
    ax = axes.flat[0]
    _overlay(ax, photo[:256, 97:353], mask[:256, 97:353])
    lm = np.asarray(LANDMARKS) - [97, 0]
    for k in range(5):
        ax.scatter(lm[k, 0], lm[k, 1], s=70, facecolors="none", edgecolors=LANDMARK_COLORS[k],
                   linewidths=1.5, label=LANDMARK_NAMES[k])
    b = back.numpy() - [97, 0]
    for k in range(5):
        ax.scatter(b[:, k, 0], b[:, k, 1], s=14, c=LANDMARK_COLORS[k], marker="+", linewidths=0.8)
    ax.legend(loc="lower left", fontsize=7, framealpha=0.8)
    ax.set_title("input (face region), face mask;\n+ = each sample's landmarks mapped back",
                 fontsize=9)
    images = denormalize(aug["image"]).permute(0, 2, 3, 1).numpy()
    for i, ax in enumerate(axes.flat[1:]):
        _overlay(ax, images[i], aug["mask"][i].numpy(), aug["keypoints"][i], aug["visible"][i])
        m = aug["matrix"][i]
        mirrored = bool(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0] < 0)
        ax.set_title(f"sample {i}{' (mirrored: pairs swapped)' if mirrored else ''}", fontsize=9)
    fig.suptitle("geomaug.transforms: one matrix, one warp per sample — image, mask (green; "
                 "purple = ignore_index) and landmarks (left = blues) together", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


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
    grid = str(Path(out).with_name(Path(out).stem + "-augment.png"))
    write_augment_grid(grid)
    print(f"wrote {Path(grid).resolve()} (random joint augmentations of the photo)")
    return 0
