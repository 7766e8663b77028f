// The align op's shape struct and kernel entry points: raw pointers and sizes, no torch types.
// CPU: csrc/cpu/align_cpu.cpp; CUDA: csrc/cuda/align_cuda.cu; binding: csrc/bindings/align.cpp;
// per-set math: align_math.h.
#pragma once
#include <cstdint>
#include <type_traits>

#include "geomaug/align_math.h"
#include "geomaug/parallel.h"

namespace geomaug {

// Alignment of B sets of N D-dimensional points (contiguous (B, N, D)); weights (B, N) or null.
struct AlignShape {
  int64_t B, N;
  int D;                 // 2 or 3
  int mode;              // AlignMode
  bool allow_reflection;
  bool squared_weights;  // pytorch3d's weighting: centroids with w, moments with w^2
};

template <typename T>
struct AlignOutputs {
  T* matrix;   // (B, D+1, D+1)
  T* R;        // (B, D, D)
  T* t;        // (B, D)
  T* s;        // (B,)
  T* rmse;     // (B,)
  bool* valid; // (B,)
};

// Calls f(kWeighted, kSquared, kFullXX) with std::bool_constant arguments: the kernel variant
// for these weights and model (squared pytorch3d weights only with weights; the full sum w x x^T
// only for affine, rigid/similarity need its trace).  Both align kernels dispatch through it.
template <typename F>
void dispatch_align_variant(bool weighted, bool squared, bool full, F&& f) {
  auto with_full = [&](auto w, auto sq) {
    if (full) f(w, sq, std::true_type{});
    else f(w, sq, std::false_type{});
  };
  if (!weighted) with_full(std::false_type{}, std::false_type{});
  else if (squared) with_full(std::true_type{}, std::true_type{});
  else with_full(std::true_type{}, std::false_type{});
}

template <typename T>
void align_cpu(const T* src, const T* dst, const T* weights, const AlignShape& shape,
               const AlignOutputs<T>& out, const ParallelFor& parallel_for);

#ifdef GEOMAUG_WITH_CUDA
// Same arguments, device pointers; `stream` is a cudaStream_t; returns a CUDA error code.
template <typename T>
int align_cuda(const T* src, const T* dst, const T* weights, const AlignShape& shape,
               const AlignOutputs<T>& out, void* stream);
#endif

}  // namespace geomaug
