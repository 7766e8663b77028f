// CPU warp kernel: rows of all samples in parallel.  Per row of an affine map the destination
// columns split into a span whose source points are interior (all bilinear taps inside, or for
// nearest inside the image's area) and the rest; the span runs fast loops without border checks,
// the rest runs warp_pixel of warp_math.h.  The fast loops compute exactly what warp_pixel computes
// (same coordinate formula m0 x + (m1 y + m2), weights and summation order, no FMA contraction),
// so results do not depend on which loop or which instruction set ran a pixel.
#include <algorithm>

#include "geomaug/warp.h"
#include "warp_cpu_rows.h"

namespace geomaug {
namespace {

// The analytic column range where lo <= m x + c <= hi, intersected into [xb, xe): an estimate
// with at least one column of slack each side, refined by exact checks afterwards.  inv_m = 1 / m
// (computed once per sample: a multiply per row instead of a division).
inline void intersect_span(double m, double inv_m, double c, double lo, double hi, int64_t& xb,
                           int64_t& xe) {
  if (m == 0.0) {
    if (!(c >= lo && c <= hi)) xe = xb;
    return;
  }
  double a = (lo - c) * inv_m, z = (hi - c) * inv_m;
  if (a > z) { const double t = a; a = z; z = t; }
  // Clamped into [xb - 2, xe + 2] (NaN: the whole range), then floor(a) - 1 and floor(z) + 2 by
  // truncating non-negative values.
  const double base = static_cast<double>(xb - 2), top = static_cast<double>(xe + 2);
  a = a > base ? (a < top ? a : top) : base;
  z = z < top ? (z > base ? z : base) : top;
  const int64_t fb = static_cast<int64_t>(a - base) + (xb - 3);
  const int64_t fe = static_cast<int64_t>(z - base) + xb;
  if (fb > xb) xb = fb < xe ? fb : xe;  // stays within the given range: xb <= xe
  if (fe < xe) xe = fe > xb ? fe : xb;
}

// 1 / m, or 0 for m == 0 (intersect_span does not use it then).
inline double reciprocal(double m) { return m == 0.0 ? 0.0 : 1.0 / m; }

// [xb, xe): the columns of this row whose source point passes `interior` (monotone along a row of
// an affine map, so the set is one interval: estimate it, then move both ends onto passing columns).
template <typename S, typename Pred>
void row_span(const RowMap<S>& r, double inv_m0, double inv_m3, int64_t OW, double lo_x,
              double hi_x, double lo_y, double hi_y, Pred interior, int64_t& xb, int64_t& xe) {
  xb = 0;
  xe = OW;
  intersect_span(r.m0, inv_m0, r.bx, lo_x, hi_x, xb, xe);
  intersect_span(r.m3, inv_m3, r.by, lo_y, hi_y, xb, xe);
  if (xb < 0) xb = 0;
  if (xe > OW) xe = OW;
  while (xb < xe && !interior(r.sx(xb), r.sy(xb))) ++xb;
  while (xe > xb && !interior(r.sx(xe - 1), r.sy(xe - 1))) --xe;
}

template <typename T>
void fill_columns(T* out_row, const WarpShape& s, const T* fill, int64_t begin, int64_t end) {
  if (begin >= end) return;
  if (s.d_w == 1) {  // planar rows (masks, NCHW): one std::fill (memset for bytes) per channel
    for (int64_t c = 0; c < s.C; ++c)
      std::fill(out_row + c * s.d_c + begin, out_row + c * s.d_c + end, fill[c]);
    return;
  }
  if (s.C == 1) {
    for (int64_t ox = begin; ox < end; ++ox) out_row[ox * s.d_w] = fill[0];
    return;
  }
  for (int64_t ox = begin; ox < end; ++ox)
    for (int64_t c = 0; c < s.C; ++c) out_row[ox * s.d_w + c * s.d_c] = fill[c];
}

}  // namespace

template <typename T>
void warp_cpu(const T* src, T* dst, const WarpShape& s, const double* matrices,
              const WarpParams<T>& params, int isa, const ParallelFor& parallel_for) {
  using S = typename SampleType<T>::type;
  const int64_t rows = s.B * s.OH;
  const RowKernels<T> kernels =
      row_kernels<T>(isa < cpu_best_isa() ? isa : cpu_best_isa(), s, params);
  // ~16k output pixels per task keeps the threads busy without tiny tasks.
  const int64_t grain = s.OW > 0 ? (16384 + s.OW - 1) / s.OW : 1;
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    int64_t cached_b = -1;
    InverseMap<S> im{};
    double inv_m0 = 0.0, inv_m3 = 0.0;
    const bool bilinear = params.interp == kBilinear;
    const bool constant = params.border == kConstant;
    int64_t b = begin / s.OH, oy = begin % s.OH - 1;
    for (int64_t row = begin; row < end; ++row) {
      if (++oy == s.OH) oy = 0, ++b;
      if (b != cached_b) {
        im = make_inverse_map<S>(matrices + 9 * b);
        inv_m0 = reciprocal(static_cast<double>(im.m[0]));
        inv_m3 = reciprocal(static_cast<double>(im.m[3]));
        cached_b = b;
      }
      // Columns [0, tb) and [te, OW): no tap in the image (constant border): the fill value.
      // [xb, xe): interior, the fast loop.  The rest: warp_pixel.
      int64_t tb = 0, te = s.OW, xb = 0, xe = 0;
      RowMap<S> r{};
      if (im.ok && im.affine) {
        r = RowMap<S>::of(im, oy);
        const double W = static_cast<double>(s.W), H = static_cast<double>(s.H);
        const S Ws = static_cast<S>(s.W), Hs = static_cast<S>(s.H);
        if (bilinear) {
          row_span(r, inv_m0, inv_m3, s.OW, 0.0, W - 1.0, 0.0, H - 1.0,
                   [&](S sx, S sy) {
                     return sx >= S(0) && sy >= S(0) && sx < Ws - S(1) && sy < Hs - S(1);
                   },
                   xb, xe);
          if (constant) {
            row_span(r, inv_m0, inv_m3, s.OW, -1.0, W, -1.0, H,
                     [&](S sx, S sy) { return sx >= S(-1) && sx < Ws && sy >= S(-1) && sy < Hs; },
                     tb, te);
          }
        } else {
          row_span(r, inv_m0, inv_m3, s.OW, -0.5, W - 0.5, -0.5, H - 0.5,
                   [&](S sx, S sy) { return inside_area(sx, sy, s.H, s.W); }, xb, xe);
          if (constant) tb = xb, te = xe;  // outside the area the rounded index is outside too
        }
        if (xb >= xe) xb = xe = tb;
      }
      T* out_row = dst + b * s.d_b + oy * s.d_h;
      fill_columns(out_row, s, params.fill, 0, tb);
      for (int64_t ox = tb; ox < xb; ++ox) warp_pixel<T>(src, dst, s, im, params, b, oy, ox);
      if (xe > xb) kernels.span(src + b * s.s_b, out_row, s, r, xb, xe);
      for (int64_t ox = xe; ox < te; ++ox) warp_pixel<T>(src, dst, s, im, params, b, oy, ox);
      fill_columns(out_row, s, params.fill, te, s.OW);
    }
  });
}

#define GEOMAUG_INSTANTIATE(T)                                                                 \
  template void warp_cpu<T>(const T*, T*, const WarpShape&, const double*, const WarpParams<T>&, \
                            int, const ParallelFor&);
GEOMAUG_WARP_TYPES(GEOMAUG_INSTANTIATE)
#undef GEOMAUG_INSTANTIATE

}  // namespace geomaug
