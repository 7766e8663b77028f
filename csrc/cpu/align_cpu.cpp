// CPU alignment kernel: sets in parallel; per set one pass over the points (moments in double)
// and the solve of align_math.h, plus a second pass for the rmse of near-exact fits.
#include <type_traits>

#include "geomaug/align.h"

namespace geomaug {
namespace {

#if defined(__GNUC__) || defined(__clang__)
// 2D moments with two-lane double vectors: the generic loop keeps ~17 doubles live and spills on
// x86-64; packed (x, y) lanes need 7 vector accumulators.  Same sums as moments_add<2, false, F>.
typedef double v2d __attribute__((vector_size(16)));

// The hottest case (float32, unweighted, rigid/similarity) two points at a time in four-lane
// vectors, compiled twice: for AVX2 and for the baseline (where GCC splits each four-lane operation
// in two), chosen when the library is loaded.  Sums: x, y, w|x|^2 lanes, y*x lanes, y*swap(x)
// lanes, |y|^2 lanes; the caller folds the lanes.
typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

__attribute__((target_clones("avx2", "default")))
void sums_2d_f32(const float* x, const float* y, int64_t pairs, const double* rx,
                 const double* ry, double* out /* 6 x 4 lanes */) {
  const v4d ref_x = {rx[0], rx[1], rx[0], rx[1]}, ref_y = {ry[0], ry[1], ry[0], ry[1]};
  v4d sx = {}, sy = {}, sxx = {}, syx = {}, syo = {}, syy = {};
  for (int64_t q = 0; q < pairs; ++q) {
    v4f fx, fy;
    __builtin_memcpy(&fx, x + 4 * q, sizeof(fx));
    __builtin_memcpy(&fy, y + 4 * q, sizeof(fy));
    const v4d px = __builtin_convertvector(fx, v4d) - ref_x;
    const v4d py = __builtin_convertvector(fy, v4d) - ref_y;
    const v4d swap = __builtin_shufflevector(px, px, 1, 0, 3, 2);
    sx += px;
    sy += py;
    sxx += px * px;
    syx += py * px;
    syo += py * swap;
    syy += py * py;
  }
  const v4d* acc[6] = {&sx, &sy, &sxx, &syx, &syo, &syy};
  for (int k = 0; k < 6; ++k)
    for (int l = 0; l < 4; ++l) out[4 * k + l] = (*acc[k])[l];
}

template <typename T, bool kWeighted, bool kFullXX>
void moments_2d_packed(const T* x, const T* y, const T* w, int64_t N, const double* rx,
                       const double* ry, double* m) {
  using L = MomentLayout<2, kFullXX>;
  if constexpr (std::is_same_v<T, float> && !kWeighted && !kFullXX) {
    double o[24];
    const int64_t pairs = N / 2;
    sums_2d_f32(x, y, pairs, rx, ry, o);
    double last[2][2] = {{0, 0}, {0, 0}};  // an odd last point
    if (N % 2) {
      for (int i = 0; i < 2; ++i) {
        last[0][i] = static_cast<double>(x[2 * (N - 1) + i]) - rx[i];
        last[1][i] = static_cast<double>(y[2 * (N - 1) + i]) - ry[i];
      }
    }
    const double(&lx)[2] = last[0];
    const double(&ly)[2] = last[1];
    m[L::cw] = static_cast<double>(N);
    m[L::cx] = o[0] + o[2] + lx[0]; m[L::cx + 1] = o[1] + o[3] + lx[1];
    m[L::cy] = o[4] + o[6] + ly[0]; m[L::cy + 1] = o[5] + o[7] + ly[1];
    m[L::mxx] = o[8] + o[9] + o[10] + o[11] + lx[0] * lx[0] + lx[1] * lx[1];
    m[L::myx + 0] = o[12] + o[14] + ly[0] * lx[0];  // y0 x0
    m[L::myx + 3] = o[13] + o[15] + ly[1] * lx[1];  // y1 x1
    m[L::myx + 1] = o[16] + o[18] + ly[0] * lx[1];  // y0 x1
    m[L::myx + 2] = o[17] + o[19] + ly[1] * lx[0];  // y1 x0
    m[L::myy] = o[20] + o[21] + o[22] + o[23] + ly[0] * ly[0] + ly[1] * ly[1];
    return;
  }
  const v2d ref_x = {rx[0], rx[1]}, ref_y = {ry[0], ry[1]};
  v2d sx = {0, 0}, sy = {0, 0}, sxx = {0, 0}, sxo = {0, 0}, syx = {0, 0}, syo = {0, 0}, syy = {0, 0};
  double cw = 0.0;
  for (int64_t p = 0; p < N; ++p) {
    const v2d px = v2d{static_cast<double>(x[2 * p]), static_cast<double>(x[2 * p + 1])} - ref_x;
    const v2d py = v2d{static_cast<double>(y[2 * p]), static_cast<double>(y[2 * p + 1])} - ref_y;
    const double wp = kWeighted ? static_cast<double>(w[p]) : 1.0;
    const v2d wx = kWeighted ? px * wp : px, wy = kWeighted ? py * wp : py;
    const v2d swap = __builtin_shufflevector(px, px, 1, 0);
    if (kWeighted) cw += wp;  // unweighted: the count, set below
    sx += wx;
    sy += wy;
    sxx += wx * px;                     // (w x0 x0, w x1 x1)
    if (kFullXX) sxo += wx * swap;      // (w x0 x1, w x1 x0): affine only
    syx += wy * px;    // (w y0 x0, w y1 x1)
    syo += wy * swap;  // (w y0 x1, w y1 x0)
    syy += wy * py;
  }
  m[L::cw] = kWeighted ? cw : static_cast<double>(N);
  m[L::cx] = sx[0]; m[L::cx + 1] = sx[1];
  m[L::cy] = sy[0]; m[L::cy + 1] = sy[1];
  if constexpr (kFullXX) {
    m[L::xx(0, 0)] = sxx[0]; m[L::xx(0, 1)] = sxo[0]; m[L::xx(1, 1)] = sxx[1];
  } else {
    m[L::mxx] = sxx[0] + sxx[1];
  }
  m[L::myx + 0] = syx[0]; m[L::myx + 1] = syo[0]; m[L::myx + 2] = syo[1]; m[L::myx + 3] = syx[1];
  m[L::myy] = syy[0] + syy[1];
}
#define GEOMAUG_PACKED_2D 1
#endif

template <typename T, int D, bool kWeighted, bool kSquared, bool kFullXX>
void align_range(const T* src, const T* dst, const T* weights, const AlignShape& s,
                 const AlignOutputs<T>& out, int64_t begin, int64_t end) {
  constexpr int K = MomentLayout<D, kFullXX>::size;
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
#ifdef GEOMAUG_PACKED_2D
    if constexpr (D == 2 && !kSquared) {
      moments_2d_packed<T, kWeighted, kFullXX>(x, y, w, s.N, rx, ry, m);
    } else
#endif
    for (int64_t p = 0; p < s.N; ++p) {
      double px[D], py[D];
      for (int i = 0; i < D; ++i) {
        px[i] = static_cast<double>(x[p * D + i]) - rx[i];
        py[i] = static_cast<double>(y[p * D + i]) - ry[i];
      }
      moments_add<D, kSquared, kFullXX>(m, px, py, kWeighted ? static_cast<double>(w[p]) : 1.0);
    }
    moments_finish<D, kSquared, kFullXX>(m);
    // The 3D SVD in the input precision, as the CUDA kernel does (same math, tested here).
    AlignResult<D> r =
        solve_alignment<D, T, kFullXX>(m, rx, ry, s.mode, s.allow_reflection, eps_in);
    if (r.valid && r.recheck)  // near-exact fit: the points are still in cache, sum directly
      r.rmse = rmse_from_rss(direct_rss<D, kSquared, T>(r, x, y, w, rx, ry, 0, s.N, 1), r.mw);
    store_result<D, T>(r, b, out);
  }
}

template <typename T, int D>
void align_dim(const T* src, const T* dst, const T* weights, const AlignShape& s,
               const AlignOutputs<T>& out, int64_t begin, int64_t end) {
  dispatch_align_variant(weights != nullptr, s.squared_weights, s.mode == kAffine,
                         [&](auto weighted, auto squared, auto full) {
                           align_range<T, D, weighted, squared, full>(src, dst, weights, s, out,
                                                                     begin, end);
                         });
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
