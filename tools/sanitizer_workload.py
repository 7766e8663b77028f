"""A short run of every CUDA kernel (each dtype/layout/branch) for compute-sanitizer."""
import warnings

import torch

import geomaug

assert geomaug._backend.use_extension("warp", torch.device("cuda")), "kernels must run on this GPU"
dev = torch.device("cuda")
g = torch.Generator(device="cpu").manual_seed(0)
M = torch.eye(3, dtype=torch.float64).repeat(3, 1, 1)
M[:, :2, :2] += 0.2 * torch.randn(3, 2, 2, generator=g, dtype=torch.float64)
M[:, :2, 2] = 3 * torch.randn(3, 2, generator=g, dtype=torch.float64)
M[2, 2, :2] = 1e-3  # one projective sample
for dtype in (torch.uint8, torch.float32, torch.float64, torch.int64):
    img = (torch.rand(3, 3, 33, 47, generator=g) * 200).to(dtype).to(dev)
    interp = "nearest" if dtype == torch.int64 else "bilinear"
    geomaug.warp(img, M.to(dev), (29, 51), interpolation=interp, fill=7)
    geomaug.warp(img.contiguous(memory_format=torch.channels_last), M.to(dev), (29, 51),
                 interpolation="nearest", fill=7)
for border in ("constant", "replicate", "reflect"):  # the border modes of the warp op
    img = (torch.rand(3, 3, 33, 47, generator=g) * 255).to(torch.uint8).to(dev)
    geomaug.warp(img, M.to(dev), (29, 51), border=border, fill=7)
# The fused augment op: every colour step, a measured contrast mean, normalised and uint8 outputs.
ops = torch.tensor([[1, 2, 3, 4], [3, 2, 1, 5], [0, 0, 2, 1]])
factors = torch.tensor([[1.2, 0.7, 1.3, 0.1], [0.5, 1.4, 0.9, 1.0], [1.0, 1.0, 0.6, 1.1]],
                       dtype=torch.float64)
for layout in (torch.contiguous_format, torch.channels_last):
    img = (torch.rand(3, 3, 33, 47, generator=g) * 255).to(torch.uint8).to(dev)
    img = img.contiguous(memory_format=layout)
    geomaug.fused.augment(img, M.to(dev), (29, 51), border="reflect", color_ops=ops,
                          color_factors=factors, mean=geomaug.color.IMAGENET_MEAN,
                          std=geomaug.color.IMAGENET_STD)
    geomaug.fused.augment(img, M.to(dev), (29, 51), color_ops=ops, color_factors=factors)
for D in (2, 3):
    for N in (1, 5, 68, 1000):
        src = torch.randn(300, N, D, generator=g).to(dev)
        dst = (src * 2 + 1).contiguous()
        w = torch.rand(300, N, generator=g).to(dev)
        for model in ("rigid", "similarity", "affine"):
            geomaug.estimate(src, dst, model)
            geomaug.estimate(src, dst, model, weights=w, allow_reflection=True)
        with warnings.catch_warnings():  # N = 1 sets are degenerate on purpose
            warnings.simplefilter("ignore", UserWarning)
            geomaug.corresponding_points_alignment(src.double(), dst.double(), w.double(), True)
torch.cuda.synchronize()
print("sanitizer workload done")
