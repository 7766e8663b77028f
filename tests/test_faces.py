"""Templates, template alignment and aligned crops, against the usual scikit-image + OpenCV recipe."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage.transform import SimilarityTransform

import geomaug
from geomaug import demo
from conftest import DEVICES, device_or_skip

ROOT = Path(__file__).resolve().parents[1]


def test_arcface_template_values_and_scaling():
    t = geomaug.template("arcface")
    assert t.shape == (5, 2)
    torch.testing.assert_close(t[0], torch.tensor([38.2946, 51.6963]))
    torch.testing.assert_close(geomaug.template("arcface", 224), 2 * t)
    zoomed = geomaug.template("arcface", 112, scale=0.5)
    torch.testing.assert_close(zoomed, (t - 55.5) * 0.5 + 55.5)


def insightface_norm_crop(photo: np.ndarray, landmarks: np.ndarray, size: int):
    """insightface's ``face_align.norm_crop`` written out: its template sizing rule, then scikit-image
    Umeyama and ``cv2.warpAffine``."""
    if size % 112 == 0:
        ratio, diff_x = size / 112.0, 0.0
    else:
        assert size % 128 == 0
        ratio, diff_x = size / 128.0, 8.0 * size / 128.0
    dst = np.array(geomaug.faces.ARCFACE_112, dtype=np.float32) * ratio
    dst[:, 0] += diff_x
    tform = SimilarityTransform.from_estimate(landmarks, dst)
    return tform.params, cv2.warpAffine(photo, tform.params[:2], (size, size), borderValue=0.0)


@pytest.mark.parametrize("size", [112, 128, 224, 256])
def test_arcface_sizes_follow_insightface(rng, size):
    photo = demo.load_photo()
    lm = np.asarray(demo.LANDMARKS, dtype=np.float64) + rng.normal(0, 3, (5, 2))
    matrix, expected = insightface_norm_crop(photo, lm, size)
    image = torch.from_numpy(photo).permute(2, 0, 1)
    crop, a = geomaug.aligned_crop(image, torch.from_numpy(lm), "arcface", size)
    np.testing.assert_allclose(a.matrix.numpy(), matrix, atol=1e-6 * size, rtol=1e-6)
    inside = interior_mask(a.matrix.numpy(), photo.shape[:2], size)
    diff = np.abs(crop.permute(1, 2, 0).numpy().astype(int) - expected.astype(int))
    assert inside.mean() > 0.9 and diff[inside].max() <= 1, diff[inside].max()


def test_arcface_template_sizing_rule():
    t = geomaug.template("arcface", dtype=torch.float64)
    shift = torch.tensor([1.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(geomaug.template("arcface", 128, dtype=torch.float64), t + 8 * shift)
    torch.testing.assert_close(geomaug.template("arcface", 256, dtype=torch.float64), 2 * t + 16 * shift)
    torch.testing.assert_close(geomaug.template("arcface", 448, dtype=torch.float64), 4 * t)  # 112 first
    torch.testing.assert_close(geomaug.template("arcface", 100, dtype=torch.float64), t * 100 / 112)
    hw = geomaug.template("arcface", (112, 128), dtype=torch.float64)  # per axis; shift only in x
    torch.testing.assert_close(hw, t + 8 * shift)


def test_dlib68_template_fills_the_crop():
    t = geomaug.template("dlib68", (100, 80))
    assert t.shape == (68, 2)
    torch.testing.assert_close(t.amin(0), torch.zeros(2))
    torch.testing.assert_close(t.amax(0), torch.tensor([80.0, 100.0]))
    assert t[36, 0] < t[45, 0]  # outer eye corners: image-left first


def test_align_to_template_recovers_a_similarity(rng):
    tpl = geomaug.template("dlib68", 128, dtype=torch.float64)
    angle = rng.uniform(-0.5, 0.5)
    R = torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    faces = (tpl - 64) @ R.T * 1.7 + torch.tensor([300.0, 200.0])
    a = geomaug.align_to_template(faces, "dlib68", 128)
    torch.testing.assert_close(a.apply(faces), tpl, atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(a.s, torch.tensor(1 / 1.7, dtype=torch.float64))


def recipe_crop(photo: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The usual face-recognition preprocessing (insightface's norm_crop)."""
    tform = SimilarityTransform.from_estimate(landmarks, geomaug.template("arcface", size).numpy())
    return cv2.warpAffine(photo, tform.params[:2], (size, size), borderValue=0.0)


def interior_mask(matrix: np.ndarray, src_hw, size=112) -> np.ndarray:
    inv = np.linalg.inv(matrix)
    ys, xs = np.mgrid[0:size, 0:size]
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return (sx >= 1) & (sx <= src_hw[1] - 2) & (sy >= 1) & (sy <= src_hw[0] - 2)


def test_demo_crop_equals_the_skimage_opencv_recipe():
    photo, crop, a = demo.run()
    expected = recipe_crop(photo, np.asarray(demo.LANDMARKS))
    ours = crop.permute(1, 2, 0).numpy()
    np.testing.assert_allclose(a.matrix.numpy()[:2],
                               SimilarityTransform.from_estimate(
                                   np.asarray(demo.LANDMARKS),
                                   geomaug.template("arcface").numpy()).params[:2], atol=1e-4)
    inside = interior_mask(a.matrix.double().numpy(), photo.shape[:2])
    diff = np.abs(ours.astype(int) - expected.astype(int))[inside]
    assert inside.all() and diff.max() <= 1, diff.max()


@pytest.mark.parametrize("device", DEVICES)
def test_batched_crop_equals_recipe_per_face(rng, device):
    dev = device_or_skip(device)
    photo = demo.load_photo()
    B = 6
    lm = torch.tensor(demo.LANDMARKS) + torch.from_numpy(rng.normal(0, 4, (B, 5, 2))).float()
    images = torch.from_numpy(photo).permute(2, 0, 1).expand(B, 3, 512, 512)
    images = images.to(dev).contiguous(memory_format=torch.channels_last)
    crops, a = geomaug.aligned_crop(images, lm.to(dev), "arcface", 112)
    assert crops.shape == (B, 3, 112, 112) and crops.dtype == torch.uint8 and a.valid.all()
    for b in range(B):
        expected = recipe_crop(photo, lm[b].numpy())
        inside = interior_mask(a.matrix[b].double().cpu().numpy(), photo.shape[:2])
        diff = np.abs(crops[b].permute(1, 2, 0).cpu().numpy().astype(int) - expected.astype(int))
        assert diff[inside].max() <= 1


def test_crop_rejects_mismatched_landmarks():
    with pytest.raises(geomaug.InputError, match=r"landmarks must be \(B, K, 2\) with B = 2"):
        geomaug.aligned_crop(torch.zeros(2, 3, 50, 50), torch.zeros(3, 5, 2))
    with pytest.raises(geomaug.InputError, match="has 5"):
        geomaug.align_to_template(torch.zeros(68, 2), "arcface")
    with pytest.raises(geomaug.InputError, match="template must be one of"):
        geomaug.template("mtcnn")


def test_demo_command_writes_the_figure(tmp_path):
    out = tmp_path / "demo.png"
    r = subprocess.run([sys.executable, "-m", "geomaug", "demo", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, check=True)
    assert out.is_file() and out.stat().st_size > 10_000
    assert f"wrote {out}" in r.stdout and "rmse" in r.stdout
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] > image.shape[0] * 2  # three panels side by side
