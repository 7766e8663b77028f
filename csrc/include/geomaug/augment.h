// The fused augment op's kernel entry points: raw pointers, sizes and strides, no torch types.
// CPU: csrc/cpu/augment_cpu.cpp; CUDA: csrc/cuda/augment_cuda.cu; binding:
// csrc/bindings/augment.cpp; per-pixel math: augment_math.h.
#pragma once
#include <cstdint>

#include "geomaug/augment_math.h"
#include "geomaug/cpu_isa.h"
#include "geomaug/parallel.h"

namespace geomaug {

// Input element types (T) and output element types (O) the kernels are instantiated for.
#define GEOMAUG_AUGMENT_TYPES(X)                                                         \
  X(uint8_t, uint8_t) X(uint8_t, float) X(uint8_t, Half16) X(uint8_t, BFloat16Bits)     \
  X(float, float) X(float, Half16) X(float, BFloat16Bits)

// The colour program of a call: B x S steps, row-major.  ops: ColorOp codes; factors: the factor
// (hue: the shift in turns); means: contrast's grey mean, NaN = measure it in the kernel (at
// most one such step per sample; the binding checks).
struct ColorProgramArgs {
  const int64_t* ops;
  const double* factors;
  const double* means;
};

// The CPU kernel is compiled for the variants of cpu_isa.h (CpuIsa); the binding picks one per
// call by its rule, with kAugmentAutoIsa under "auto".

// dst (B, C, OH, OW) contiguous = normalise(colour(warp(src by matrices))).  `isa` is clamped to
// cpu_best_isa().
template <typename T, typename O>
void augment_cpu(const T* src, O* dst, const AugmentShape& shape, const double* matrices,
                 const AugmentParams& params, const ColorProgramArgs& program, int isa,
                 const ParallelFor& parallel_for);

#ifdef GEOMAUG_WITH_CUDA
// Same arguments, device pointers (program on the device too); `stream` is a cudaStream_t;
// returns a CUDA error code (0 = success).  `scratch`: device memory of
// augment_cuda_scratch_bytes(B, S) bytes.
int64_t augment_cuda_scratch_bytes(int64_t B, int64_t S);
template <typename T, typename O>
int augment_cuda(const T* src, O* dst, const AugmentShape& shape, const double* matrices,
                 const AugmentParams& params, const ColorProgramArgs& program, void* scratch,
                 void* stream);
#endif

}  // namespace geomaug
