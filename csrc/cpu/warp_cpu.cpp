// CPU warp kernel: rows of all samples in parallel, the per-pixel math of warp_math.h.
#include "geomaug/warp.h"

namespace geomaug {

template <typename T>
void warp_cpu(const T* src, T* dst, const WarpShape& s, const double* matrices,
              const WarpParams<T>& params, const ParallelFor& parallel_for) {
  using S = typename SampleType<T>::type;
  const int64_t rows = s.B * s.OH;
  // ~16k output pixels per task keeps the threads busy without tiny tasks.
  const int64_t grain = s.OW > 0 ? (16384 + s.OW - 1) / s.OW : 1;
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    int64_t cached_b = -1;
    InverseMap<S> im{};
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.OH, oy = row % s.OH;
      if (b != cached_b) {
        im = make_inverse_map<S>(matrices + 9 * b);
        cached_b = b;
      }
      for (int64_t ox = 0; ox < s.OW; ++ox) warp_pixel<T>(src, dst, s, im, params, b, oy, ox);
    }
  });
}

#define GEOMAUG_INSTANTIATE(T)                                                                   \
  template void warp_cpu<T>(const T*, T*, const WarpShape&, const double*, const WarpParams<T>&, \
                            const ParallelFor&);
GEOMAUG_WARP_TYPES(GEOMAUG_INSTANTIATE)
#undef GEOMAUG_INSTANTIATE

}  // namespace geomaug
