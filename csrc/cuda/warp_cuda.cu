// CUDA warp kernel: one thread per destination pixel (all channels), the per-pixel math of
// warp_math.h.  Each block inverts its sample's matrix once, in double, into shared memory.
#include <cuda_runtime.h>

#include "../kernels.h"

namespace geomaug {
namespace {

constexpr int kTileX = 32, kTileY = 8;

template <typename T>
__global__ void __launch_bounds__(kTileX* kTileY)
    warp_kernel(const T* __restrict__ src, T* __restrict__ dst, WarpShape s,
                const double* __restrict__ matrices, int interp, const double* __restrict__ fill,
                int64_t b0) {
  using S = typename SampleType<T>::type;
  __shared__ InverseMap<S> im;
  const int64_t b = b0 + blockIdx.z;
  if (threadIdx.x == 0 && threadIdx.y == 0) im = make_inverse_map<S>(matrices + 9 * b);
  __syncthreads();
  const int64_t ox = static_cast<int64_t>(blockIdx.x) * kTileX + threadIdx.x;
  const int64_t oy = static_cast<int64_t>(blockIdx.y) * kTileY + threadIdx.y;
  if (ox < s.OW && oy < s.OH) warp_pixel<T>(src, dst, s, im, interp, fill, b, oy, ox);
}

}  // namespace

template <typename T>
int warp_cuda(const T* src, T* dst, const WarpShape& s, const double* matrices, int interp,
              const double* fill, void* stream) {
  if (s.B == 0 || s.OH == 0 || s.OW == 0) return 0;
  const dim3 block(kTileX, kTileY);
  const int64_t gx = (s.OW + kTileX - 1) / kTileX, gy = (s.OH + kTileY - 1) / kTileY;
  if (gy > 65535) return static_cast<int>(cudaErrorInvalidConfiguration);
  for (int64_t b0 = 0; b0 < s.B; b0 += 65535) {  // gridDim.z is limited to 65535
    const int64_t nb = s.B - b0 < 65535 ? s.B - b0 : 65535;
    const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(nb));
    warp_kernel<T><<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(src, dst, s, matrices,
                                                                           interp, fill, b0);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return static_cast<int>(err);
  }
  return 0;
}

#define GEOMAUG_INSTANTIATE(T)                                                                 \
  template int warp_cuda<T>(const T*, T*, const WarpShape&, const double*, int, const double*, \
                            void*);
GEOMAUG_INSTANTIATE(uint8_t)
GEOMAUG_INSTANTIATE(int32_t)
GEOMAUG_INSTANTIATE(int64_t)
GEOMAUG_INSTANTIATE(float)
GEOMAUG_INSTANTIATE(double)
#undef GEOMAUG_INSTANTIATE

}  // namespace geomaug
