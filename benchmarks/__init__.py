"""geomaug's benchmark harness: ``python -m benchmarks [--quick] [--device cpu|cuda|all]``.

Workloads: W2 (batched similarity alignment, 2D and 3D) and the batched warp, each
timed against its peers in the same process and run.  See benchmarks/README.md.
"""
