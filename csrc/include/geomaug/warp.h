// The warp op's kernel entry points: raw pointers, sizes and strides, no torch types.
// CPU: csrc/cpu/warp_cpu.cpp; CUDA: csrc/cuda/warp_cuda.cu; binding: csrc/bindings/warp.cpp;
// per-pixel math and the WarpShape struct: warp_math.h.
#pragma once
#include <cstdint>

#include "geomaug/cpu_isa.h"
#include "geomaug/parallel.h"
#include "geomaug/warp_math.h"

namespace geomaug {

// The element types the warp kernels are instantiated for: X(type) for each.
#define GEOMAUG_WARP_TYPES(X) X(uint8_t) X(int32_t) X(int64_t) X(float) X(double)

// dst[b] = src[b] sampled at matrices[b]^-1 (forward 3x3, row-major, double), with the border
// rule of warp_math.h.  params.fill: C values of type T.  Bilinear only for uint8/float/double.
// isa: the row loops' variant (CpuIsa, cpu_isa.h), clamped to cpu_best_isa(); every variant
// computes the same values.
template <typename T>
void warp_cpu(const T* src, T* dst, const WarpShape& shape, const double* matrices,
              const WarpParams<T>& params, int isa, const ParallelFor& parallel_for);

#ifdef GEOMAUG_WITH_CUDA
// Same arguments, device pointers; `stream` is a cudaStream_t; returns a CUDA error code (0 =
// success).  `scratch`: device memory of warp_cuda_scratch_bytes(B) bytes (the inverse maps).
int64_t warp_cuda_scratch_bytes(int64_t B);
template <typename T>
int warp_cuda(const T* src, T* dst, const WarpShape& shape, const double* matrices,
              const WarpParams<T>& params, void* scratch, void* stream);
#endif

}  // namespace geomaug
