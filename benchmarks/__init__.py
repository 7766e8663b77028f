"""geomaug's benchmark harness: ``python -m benchmarks [--quick] [--device cpu|cuda|all]``.

Workloads: W1 (joint image + mask + keypoint augmentation, per sample on one CPU thread and
batched on the GPU), W2 (batched similarity alignment, 2D and 3D) and the batched warp, each
timed against its peers in the same process and run.  See benchmarks/README.md.
"""
