// CPU alignment kernel: sets in parallel; per set one pass over the points (moments in double)
// and the solve of align_math.h.
#include "../kernels.h"

namespace geomaug {
namespace {

template <typename T, int D, bool kWeighted, bool kSquared>
void align_range(const T* src, const T* dst, const T* weights, const AlignShape& s,
                 const AlignOutputs<T>& out, int64_t begin, int64_t end) {
  constexpr int K = MomentLayout<D>::size;
  const double eps_in = Epsilon<T>::value;
  for (int64_t b = begin; b < end; ++b) {
    const T* x = src + b * s.N * D;
    const T* y = dst + b * s.N * D;
    const T* w = kWeighted ? weights + b * s.N : nullptr;
    double m[K] = {};
    double rx[D], ry[D];
    for (int i = 0; i < D; ++i) {
      rx[i] = s.N > 0 ? static_cast<double>(x[i]) : 0.0;
      ry[i] = s.N > 0 ? static_cast<double>(y[i]) : 0.0;
    }
    for (int64_t p = 0; p < s.N; ++p) {
      double px[D], py[D];
      for (int i = 0; i < D; ++i) {
        px[i] = static_cast<double>(x[p * D + i]) - rx[i];
        py[i] = static_cast<double>(y[p * D + i]) - ry[i];
      }
      moments_add<D, kSquared>(m, px, py, kWeighted ? static_cast<double>(w[p]) : 1.0);
    }
    moments_finish<D, kSquared>(m);
    const AlignResult<D> r = solve_alignment<D>(m, rx, ry, s.mode, s.allow_reflection, eps_in);
    for (int i = 0; i < D; ++i) {
      out.t[b * D + i] = static_cast<T>(r.t[i]);
      for (int j = 0; j < D; ++j) out.R[(b * D + i) * D + j] = static_cast<T>(r.R[i][j]);
    }
    out.s[b] = static_cast<T>(r.s);
    out.rmse[b] = static_cast<T>(r.rmse);
    out.valid[b] = r.valid;
  }
}

template <typename T, int D>
void align_dim(const T* src, const T* dst, const T* weights, const AlignShape& s,
               const AlignOutputs<T>& out, int64_t begin, int64_t end) {
  if (weights == nullptr)
    align_range<T, D, false, false>(src, dst, weights, s, out, begin, end);
  else if (s.squared_weights)
    align_range<T, D, true, true>(src, dst, weights, s, out, begin, end);
  else
    align_range<T, D, true, false>(src, dst, weights, s, out, begin, end);
}

}  // namespace

template <typename T>
void align_cpu(const T* src, const T* dst, const T* weights, const AlignShape& s,
               const AlignOutputs<T>& out, const ParallelFor& parallel_for) {
  const int64_t grain = s.N > 0 ? (32768 + s.N - 1) / s.N : 1024;  // ~32k points per task
  parallel_for(s.B, grain, [&](int64_t begin, int64_t end) {
    if (s.D == 2)
      align_dim<T, 2>(src, dst, weights, s, out, begin, end);
    else
      align_dim<T, 3>(src, dst, weights, s, out, begin, end);
  });
}

template void align_cpu<float>(const float*, const float*, const float*, const AlignShape&,
                               const AlignOutputs<float>&, const ParallelFor&);
template void align_cpu<double>(const double*, const double*, const double*, const AlignShape&,
                                const AlignOutputs<double>&, const ParallelFor&);

}  // namespace geomaug
