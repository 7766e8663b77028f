// CUDA warp kernel: one thread per destination pixel (all channels), the per-pixel math (border
// rule and modes included) of warp_math.h.  A first tiny kernel inverts every sample's matrix once, in double.
#include <cuda_runtime.h>

#include "geomaug/warp.h"

namespace geomaug {
namespace {

constexpr int kTileX = 32, kTileY = 8;

// The inverse (destination -> source) map of every sample, once, before the pixel kernel.
template <typename S>
__global__ void inverse_maps_kernel(const double* __restrict__ matrices, InverseMap<S>* maps,
                                    int64_t B) {
  const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b < B) maps[b] = make_inverse_map<S>(matrices + 9 * b);
}

template <typename T>
__global__ void __launch_bounds__(kTileX* kTileY)
    warp_kernel(const T* __restrict__ src, T* __restrict__ dst, WarpShape s,
                const InverseMap<typename SampleType<T>::type>* __restrict__ maps,
                const WarpParams<T> p, int64_t b0) {
  const int64_t b = b0 + blockIdx.z;
  const InverseMap<typename SampleType<T>::type> im = maps[b];
  const int64_t ox = static_cast<int64_t>(blockIdx.x) * kTileX + threadIdx.x;
  const int64_t oy = static_cast<int64_t>(blockIdx.y) * kTileY + threadIdx.y;
  if (ox < s.OW && oy < s.OH) warp_pixel<T>(src, dst, s, im, p, b, oy, ox);
}

}  // namespace

int64_t warp_cuda_scratch_bytes(int64_t B) { return B * static_cast<int64_t>(sizeof(InverseMap<double>)); }

template <typename T>
int warp_cuda(const T* src, T* dst, const WarpShape& s, const double* matrices,
              const WarpParams<T>& p, void* scratch, void* stream) {
  using S = typename SampleType<T>::type;
  if (s.B == 0 || s.OH == 0 || s.OW == 0) return 0;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  auto* maps = static_cast<InverseMap<S>*>(scratch);
  inverse_maps_kernel<S><<<static_cast<unsigned>((s.B + 127) / 128), 128, 0, st>>>(matrices, maps, s.B);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return static_cast<int>(err);
  const dim3 block(kTileX, kTileY);
  const int64_t gx = (s.OW + kTileX - 1) / kTileX, gy = (s.OH + kTileY - 1) / kTileY;
  if (gy > 65535) return static_cast<int>(cudaErrorInvalidConfiguration);
  for (int64_t b0 = 0; b0 < s.B; b0 += 65535) {  // gridDim.z is limited to 65535
    const int64_t nb = s.B - b0 < 65535 ? s.B - b0 : 65535;
    const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(nb));
    warp_kernel<T><<<grid, block, 0, st>>>(src, dst, s, maps, p, b0);
    err = cudaGetLastError();
    if (err != cudaSuccess) return static_cast<int>(err);
  }
  return 0;
}

#define GEOMAUG_INSTANTIATE(T)                                                                 \
  template int warp_cuda<T>(const T*, T*, const WarpShape&, const double*, const WarpParams<T>&, \
                            void*, void*);
GEOMAUG_WARP_TYPES(GEOMAUG_INSTANTIATE)
#undef GEOMAUG_INSTANTIATE

}  // namespace geomaug
