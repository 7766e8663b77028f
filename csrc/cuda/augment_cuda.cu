// CUDA kernel of the fused augment op: one thread per output pixel (all channels), the math of
// augment_math.h, planar coalesced writes.  Launches, on the caller's stream:
//   1. prepare: per sample its inverse map and colour program (float form), grey sum = 0;
//   2. mean: for samples with a measured contrast mean, each block resamples its pixels, runs the
//      steps before that contrast, reduces the grey values in double and adds them with one
//      atomicAdd per block (blocks of other samples return at once);
//   3. finish: per sample, the measured mean into its contrast step;
//   4. main: resample, colour program, normalise, store.
#include <cuda_runtime.h>

#include "geomaug/augment.h"

namespace geomaug {
namespace {

constexpr int kTileX = 32, kTileY = 8, kThreads = kTileX * kTileY;

struct Scratch {
  InverseMap<float>* maps;  // B
  ColorStep* steps;         // B x S
  int* measured;            // B
  double* sums;             // B
};

constexpr int64_t align16(int64_t n) { return (n + 15) / 16 * 16; }

Scratch carve(void* base, int64_t B, int64_t S) {
  char* p = static_cast<char*>(base);
  Scratch s;
  s.maps = reinterpret_cast<InverseMap<float>*>(p);
  p += align16(B * static_cast<int64_t>(sizeof(InverseMap<float>)));
  s.steps = reinterpret_cast<ColorStep*>(p);
  p += align16(B * S * static_cast<int64_t>(sizeof(ColorStep)));
  s.measured = reinterpret_cast<int*>(p);
  p += align16(B * static_cast<int64_t>(sizeof(int)));
  s.sums = reinterpret_cast<double*>(p);
  return s;
}

__device__ __forceinline__ void atomic_add_double(double* address, double value) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 600
  auto* a = reinterpret_cast<unsigned long long*>(address);
  unsigned long long old = *a, assumed;
  do {
    assumed = old;
    old = atomicCAS(a, assumed, __double_as_longlong(value + __longlong_as_double(assumed)));
  } while (assumed != old);
#else
  atomicAdd(address, value);
#endif
}

__global__ void prepare_kernel(const double* __restrict__ matrices, ColorProgramArgs prog,
                               Scratch sc, int64_t B, int64_t S) {
  const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= B) return;
  sc.maps[b] = make_inverse_map<float>(matrices + 9 * b);
  int measured = -1;
  for (int64_t k = 0; k < S; ++k) {
    const int64_t i = b * S + k;
    const ColorStep st = make_color_step(static_cast<int>(prog.ops[i]), prog.factors[i],
                                         prog.means[i]);
    sc.steps[i] = st;
    if (st.measured && measured < 0) measured = static_cast<int>(k);
  }
  sc.measured[b] = measured;
  sc.sums[b] = 0.0;
}

// The resampled and coloured (steps [0, n)) values of pixel (ox, oy) of sample b.
template <typename T>
__device__ __forceinline__ void pixel_values(const T* __restrict__ src, const AugmentShape& s,
                                             const AugmentParams& p, const Scratch& sc, int64_t b,
                                             int64_t ox, int64_t oy, int n, float* v) {
  const InverseMap<float> im = sc.maps[b];
  sample_pixel(src + b * s.s_b, s, p, im, ox, oy, v);
  const int ri = p.order == kBGR ? 2 : 0, bi = p.order == kBGR ? 0 : 2;
  color_pixel(v, static_cast<int>(s.C), sc.steps + b * s.S, n, ri, bi, p.bound);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    mean_kernel(const T* __restrict__ src, AugmentShape s, AugmentParams p, Scratch sc,
                int64_t b0) {
  const int64_t b = b0 + blockIdx.z;
  const int k = sc.measured[b];
  if (k < 0) return;  // the whole block: no __syncthreads skipped by part of it
  const int64_t ox = static_cast<int64_t>(blockIdx.x) * kTileX + threadIdx.x;
  const int64_t oy = static_cast<int64_t>(blockIdx.y) * kTileY + threadIdx.y;
  double g = 0.0;
  if (ox < s.OW && oy < s.OH) {
    float v[4];
    pixel_values(src, s, p, sc, b, ox, oy, k, v);
    const int ri = p.order == kBGR ? 2 : 0, bi = p.order == kBGR ? 0 : 2;
    g = static_cast<double>(pixel_gray(v, static_cast<int>(s.C), ri, bi));
  }
  __shared__ double part[kThreads];
  const int t = threadIdx.y * kTileX + threadIdx.x;
  part[t] = g;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) part[t] += part[t + half];
    __syncthreads();
  }
  if (t == 0) atomic_add_double(sc.sums + b, part[0]);
}

__global__ void finish_means_kernel(Scratch sc, int64_t B, int64_t S, double count) {
  const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= B || sc.measured[b] < 0) return;
  set_measured_mean(sc.steps[b * S + sc.measured[b]], sc.sums[b], count);
}

template <typename T, typename O>
__global__ void __launch_bounds__(kThreads)
    main_kernel(const T* __restrict__ src, O* __restrict__ dst, AugmentShape s, AugmentParams p,
                Scratch sc, int64_t b0) {
  const int64_t b = b0 + blockIdx.z;
  const int64_t ox = static_cast<int64_t>(blockIdx.x) * kTileX + threadIdx.x;
  const int64_t oy = static_cast<int64_t>(blockIdx.y) * kTileY + threadIdx.y;
  if (ox >= s.OW || oy >= s.OH) return;
  float v[4];
  pixel_values(src, s, p, sc, b, ox, oy, static_cast<int>(s.S), v);
  const int64_t plane = s.OH * s.OW;
  O* out = dst + b * s.C * plane + oy * s.OW + ox;
  for (int c = 0; c < static_cast<int>(s.C); ++c)
    out[c * plane] = OutStore<O>::from(finish_value(v[c], p, c));
}

}  // namespace

int64_t augment_cuda_scratch_bytes(int64_t B, int64_t S) {
  return align16(B * static_cast<int64_t>(sizeof(InverseMap<float>))) +
         align16(B * S * static_cast<int64_t>(sizeof(ColorStep))) +
         align16(B * static_cast<int64_t>(sizeof(int))) + B * static_cast<int64_t>(sizeof(double));
}

template <typename T, typename O>
int augment_cuda(const T* src, O* dst, const AugmentShape& s, const double* matrices,
                 const AugmentParams& p, const ColorProgramArgs& prog, void* scratch,
                 void* stream) {
  if (s.B == 0 || s.OH == 0 || s.OW == 0) return 0;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  const Scratch sc = carve(scratch, s.B, s.S);
  const unsigned per_sample_blocks = static_cast<unsigned>((s.B + 127) / 128);
  prepare_kernel<<<per_sample_blocks, 128, 0, st>>>(matrices, prog, sc, s.B, s.S);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return static_cast<int>(err);
  const dim3 block(kTileX, kTileY);
  const int64_t gx = (s.OW + kTileX - 1) / kTileX, gy = (s.OH + kTileY - 1) / kTileY;
  if (gy > 65535) return static_cast<int>(cudaErrorInvalidConfiguration);
  const bool any_contrast = s.S > 0;  // measured means are only known on the device
  for (int pass = any_contrast ? 0 : 1; pass < 2; ++pass) {
    if (pass == 1 && any_contrast) {
      finish_means_kernel<<<per_sample_blocks, 128, 0, st>>>(
          sc, s.B, s.S, static_cast<double>(s.OH) * static_cast<double>(s.OW));
      err = cudaGetLastError();
      if (err != cudaSuccess) return static_cast<int>(err);
    }
    for (int64_t b0 = 0; b0 < s.B; b0 += 65535) {  // gridDim.z is limited to 65535
      const int64_t nb = s.B - b0 < 65535 ? s.B - b0 : 65535;
      const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy),
                      static_cast<unsigned>(nb));
      if (pass == 0) mean_kernel<T><<<grid, block, 0, st>>>(src, s, p, sc, b0);
      else main_kernel<T, O><<<grid, block, 0, st>>>(src, dst, s, p, sc, b0);
      err = cudaGetLastError();
      if (err != cudaSuccess) return static_cast<int>(err);
    }
  }
  return 0;
}

#define GEOMAUG_INSTANTIATE(T, O)                                                          \
  template int augment_cuda<T, O>(const T*, O*, const AugmentShape&, const double*,        \
                                  const AugmentParams&, const ColorProgramArgs&, void*,    \
                                  void*);
GEOMAUG_AUGMENT_TYPES(GEOMAUG_INSTANTIATE)
#undef GEOMAUG_INSTANTIATE

}  // namespace geomaug
