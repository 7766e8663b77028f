// The plain kernels' entry points: raw pointers, sizes and strides; no torch types.
// CPU versions live in cpu/, CUDA versions in cuda/; the binding layer (bindings/) calls them.
#pragma once
#include <cstdint>
#include <type_traits>

#include "geomaug/align_math.h"
#include "geomaug/parallel.h"
#include "geomaug/warp_math.h"

namespace geomaug {

// The element types the warp kernels are instantiated for: X(type) for each.
#define GEOMAUG_WARP_TYPES(X) X(uint8_t) X(int32_t) X(int64_t) X(float) X(double)

// Warp: dst[b] = src[b] sampled at matrices[b]^-1 (forward 3x3, row-major, double), with the
// border rule of warp_math.h.  params.fill: C values of type T.  T in {uint8_t, int32_t, int64_t,
// float, double}; bilinear only for uint8/float/double.
template <typename T>
void warp_cpu(const T* src, T* dst, const WarpShape& shape, const double* matrices,
              const WarpParams<T>& params, const ParallelFor& parallel_for);

// The CPU warp's instruction-set variants this machine runs, e.g. "baseline,avx2,avx512"; the
// environment variable GEOMAUG_CPU_ISA=baseline|avx2|avx512 (read per call) forces one of them.
const char* warp_cpu_isas();

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
// CUDA versions: same arguments, device pointers; `stream` is a cudaStream_t.  Return a CUDA error
// code (0 = success) so that the binding layer can raise with the launch error's text.
// `scratch`: device memory of warp_cuda_scratch_bytes(B) bytes (the per-sample inverse maps).
int64_t warp_cuda_scratch_bytes(int64_t B);
template <typename T>
int warp_cuda(const T* src, T* dst, const WarpShape& shape, const double* matrices,
              const WarpParams<T>& params, void* scratch, void* stream);

template <typename T>
int align_cuda(const T* src, const T* dst, const T* weights, const AlignShape& shape,
               const AlignOutputs<T>& out, void* stream);

// Build facts and a probe launch, for `python -m geomaug info` and the arch-coverage fallback.
const char* cuda_arch_list();       // the arch list the build was asked for, e.g. "7.5;8.0;9.0+PTX"
const char* cuda_arch_list_macro(); // nvcc's __CUDA_ARCH_LIST__ as compiled, e.g. "750,800,900"
int cuda_build_version();           // CUDART_VERSION at build time
// Launches a tiny kernel on `device`; returns the CUDA error code and fills the message buffer;
// *binary_version / *ptx_version: what cudaFuncGetAttributes reports for the probe kernel.
int cuda_probe(int device, char* message, int message_len, int* binary_version, int* ptx_version);
const char* cuda_error_string(int code);
#endif

}  // namespace geomaug
