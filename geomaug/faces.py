"""Face landmark templates, alignment to them, and batched aligned crops.

Templates are in output pixel coordinates (pixel centres at integers, docs/conventions.md), like
the ``cv2.warpAffine`` recipes they come from:

* ``"arcface"``: the 5-point ArcFace/insightface template for 112×112 crops (left eye, right eye,
  nose tip, left and right mouth corners; "left" = smaller x in the image), sized for other crops
  by insightface's rule (``face_align.estimate_norm``; see :func:`template`).
* ``"dlib68"``: the 68-point dlib/iBUG layout, OpenFace's mean face (``align_dlib.py``) min-max
  normalised to the crop as OpenFace does (``size * MINMAX_TEMPLATE``).
"""
from __future__ import annotations

from typing import Sequence

import torch

from . import alignment as _align
from ._checks import as_size, fail
from .warping import warp

ARCFACE_112 = (
    (38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655),
    (70.7299, 92.2041),
)

# OpenFace's TEMPLATE (dlib 68-point order), before min-max normalisation.
_OPENFACE_68 = (
    (0.0792396913815, 0.339223741112), (0.0829219487236, 0.456955367943),
    (0.0967927109165, 0.575648016728), (0.122141515615, 0.691921601066),
    (0.168687863544, 0.800341263616), (0.239789390707, 0.895732504778),
    (0.325662452515, 0.977068762493), (0.422318282013, 1.04329000149),
    (0.531777802068, 1.06080371126), (0.641296298053, 1.03981924107),
    (0.738105872266, 0.972268833998), (0.824444363295, 0.889624082279),
    (0.894792677532, 0.792494155836), (0.939395486253, 0.681546643421),
    (0.96111933829, 0.562238253072), (0.970579841181, 0.441758925744),
    (0.971193274221, 0.322118743967), (0.163846223133, 0.249151738053),
    (0.21780354657, 0.204255863861), (0.291299351124, 0.192367318323),
    (0.367460241458, 0.203582210627), (0.4392945113, 0.233135599851),
    (0.586445962425, 0.228141644834), (0.660152671635, 0.195923841854),
    (0.737466449096, 0.182360984545), (0.813236546239, 0.192828009114),
    (0.8707571886, 0.235293377042), (0.51534533827, 0.31863546193),
    (0.516221448289, 0.396200446263), (0.517118861835, 0.473797687758),
    (0.51816430343, 0.553157797772), (0.433701156035, 0.604054457668),
    (0.475501237769, 0.62076344024), (0.520712933176, 0.634268222208),
    (0.565874114041, 0.618796581487), (0.607054002672, 0.60157671656),
    (0.252418718401, 0.331052263829), (0.298663015648, 0.302646354002),
    (0.355749724218, 0.303020650651), (0.403718978315, 0.33867711083),
    (0.352507175597, 0.349987615384), (0.296791759886, 0.350478978225),
    (0.631326076346, 0.334136672344), (0.679073381078, 0.29645404267),
    (0.73597236153, 0.294721285802), (0.782865376271, 0.321305281656),
    (0.740312274764, 0.341849376713), (0.68499850091, 0.343734332172),
    (0.353167761422, 0.746189164237), (0.414587777921, 0.719053835073),
    (0.477677654595, 0.706835892494), (0.522732900812, 0.717092275768),
    (0.569832064287, 0.705414478982), (0.635195811927, 0.71565572516),
    (0.69951672331, 0.739419187253), (0.639447159575, 0.805236879972),
    (0.576410514055, 0.835436670169), (0.525398405766, 0.841706377792),
    (0.47641545769, 0.837505914975), (0.41379548902, 0.810045601727),
    (0.380084785646, 0.749979603086), (0.477955996282, 0.74513234612),
    (0.523389793327, 0.748924302636), (0.571057789237, 0.74332894691),
    (0.672409137852, 0.744177032192), (0.572539621444, 0.776609286626),
    (0.5240106503, 0.783370783245), (0.477561227414, 0.778476346951),)

TEMPLATES = ("arcface", "dlib68")


def _arcface_axis(n: int) -> tuple[float, float]:
    """(ratio, shift) of the 112 ArcFace template along an axis of n pixels (insightface's rule)."""
    if n % 112 == 0:
        return n / 112, 0.0
    if n % 128 == 0:
        return n / 128, 8.0 * n / 128
    return n / 112, 0.0


def template(name: str = "arcface", size: int | Sequence[int] = 112, *, scale: float = 1.0,
             dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``(K, 2)`` template points ``(x, y)`` for an output crop of ``size`` (int or ``(height, width)``).

    ``"arcface"`` follows insightface (``face_align.estimate_norm``): a side that is a multiple of
    112 scales the 112 template by side/112; otherwise a multiple of 128 scales it by side/128 and,
    along x, shifts it by 8·side/128 (128 → the 112 template + 8 px in x, 256 → ×2 + 16 px); any
    other side scales by side/112 (insightface rejects such sizes).  Height and width follow the
    rule separately (the shift only along x, as insightface).  ``"dlib68"`` spans the whole crop.
    ``scale`` then zooms the template about the crop centre: below 1 leaves more margin.

    Convention: output pixel coordinates, pixel centres at integers (docs/conventions.md).

    Example:
        >>> template("arcface", 128)[0]         # the 112 template shifted by 8 px in x
        tensor([46.2946, 51.6963])
    """
    h, w = as_size(size, allow_int=True, allow_zero=False)
    if not scale > 0:
        fail(f"scale must be positive, got {scale}")
    if name == "arcface":
        (rx, sx), (ry, _) = _arcface_axis(w), _arcface_axis(h)
        pts = (torch.tensor(ARCFACE_112, dtype=torch.float64) * torch.tensor([rx, ry], dtype=torch.float64)
               + torch.tensor([sx, 0.0], dtype=torch.float64))
    elif name == "dlib68":
        raw = torch.tensor(_OPENFACE_68, dtype=torch.float64)
        lo, hi = raw.amin(0), raw.amax(0)
        pts = (raw - lo) / (hi - lo) * torch.tensor([w, h], dtype=torch.float64)
    else:
        fail(f"template must be one of {TEMPLATES}, got {name!r}")
    centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=torch.float64)
    pts = centre + (pts - centre) * scale
    return pts.to(dtype=dtype, device=device)


def align_to_template(landmarks: torch.Tensor, template_name: str = "arcface",
                      size: int | Sequence[int] = 112, *, scale: float = 1.0,
                      model: str = "similarity", weights=None) -> _align.Alignment:
    """Transform taking each ``(..., K, 2)`` landmark set onto the template for a ``size`` crop.

    ``.matrix`` is the forward image → crop matrix that :func:`aligned_crop` warps with.  The
    template for ``size`` follows :func:`template` (insightface's sizing rule for ``"arcface"``).

    Convention: pixel coordinates, pixel centres at integers; matrix maps image → crop.

    Example:
        >>> lm = template("arcface") * 2 + 10           # a face twice the template size
        >>> a = align_to_template(lm)
        >>> bool(a.s.allclose(torch.tensor(0.5)))
        True
    """
    if not isinstance(landmarks, torch.Tensor) or landmarks.dim() < 2 or landmarks.shape[-1] != 2:
        fail(f"landmarks must be a (..., K, 2) tensor, got {getattr(landmarks, 'shape', type(landmarks))}")
    dtype = landmarks.dtype if landmarks.dtype in (torch.float32, torch.float64) else torch.float32
    tpl = template(template_name, size, scale=scale, dtype=dtype, device=landmarks.device)
    if landmarks.shape[-2] != tpl.shape[0]:
        fail(f"landmarks have {landmarks.shape[-2]} points but the {template_name!r} template has "
             f"{tpl.shape[0]}")
    lm = landmarks.to(dtype)
    return _align.estimate(lm, tpl.expand_as(lm), model, weights=weights)


def aligned_crop(images, landmarks: torch.Tensor, template_name: str = "arcface",
                 size: int | Sequence[int] = 112, *, scale: float = 1.0,
                 model: str = "similarity", fill: float | Sequence[float] = 0.0,
                 interpolation: str = "bilinear"):
    """Crop every face of a batch onto the template in one warp launch.

    ``size`` sizes the template as :func:`template` does: for ``"arcface"`` insightface's rule, so
    ``size=128`` or ``256`` gives insightface's ``norm_crop`` at that size.

    Convention: pixel coordinates, pixel centres at integers; ``alignment.matrix`` maps image → crop.

    Args:
        images: ``(B, C, H, W)`` (or ``(C, H, W)``) uint8/float tensor, any memory format.
        landmarks: ``(B, K, 2)`` (or ``(K, 2)``) landmarks in image pixel coordinates.

    Returns:
        ``(crops, alignment)``: crops ``(B, C, h, w)`` and the :class:`~geomaug.alignment.Alignment`
        whose ``.matrix`` maps image pixels to crop pixels (its ``valid`` flags degenerate faces,
        whose crop is then the identity warp).

    Example:
        >>> imgs = torch.randint(0, 255, (4, 3, 256, 256), dtype=torch.uint8)
        >>> lm = template("arcface").expand(4, 5, 2) * 2 + 10
        >>> crops, a = aligned_crop(imgs, lm)
        >>> crops.shape
        torch.Size([4, 3, 112, 112])
    """
    if not isinstance(images, torch.Tensor) or images.dim() not in (3, 4):
        fail(f"images must be a (B, C, H, W) or (C, H, W) tensor, got "
             f"{getattr(images, 'shape', type(images).__name__)}")
    batch = images.shape[:-3]
    if not isinstance(landmarks, torch.Tensor) or landmarks.shape[:-2] != batch \
            or landmarks.dim() != len(batch) + 2:
        fail(f"landmarks must be {'(B, K, 2) with B = ' + str(batch[0]) if batch else '(K, 2)'} "
             f"for images of shape {tuple(images.shape)}, got {tuple(getattr(landmarks, 'shape', ()))}")
    h, w = as_size(size, allow_int=True, allow_zero=False)
    a = align_to_template(landmarks.to(images.device), template_name, (h, w), scale=scale,
                          model=model)
    crops = warp(images, a.matrix, (h, w), interpolation=interpolation, fill=fill)
    return crops, a
