// Per-pixel math of the warp op, shared by the CPU and the CUDA kernel.
//
// Convention (docs/conventions.md): pixel (row i, col j) has its centre at (x=j, y=i); the forward matrix
// maps source to destination, and destination pixel p samples the source at M^-1 p.  Bilinear taps
// that fall outside the source take the fill value (so edges blend towards it, as cv2's
// BORDER_CONSTANT and grid_sample's zero padding do); nearest picks round-half-even(M^-1 p).
#pragma once
#include "common.h"

namespace geomaug {

// Inverse of a 3x3 row-major matrix, in double.  Returns false when it is singular or not finite.
GA_HD bool invert3x3(const double* m, double* inv) {
  const double c00 = m[4] * m[8] - m[5] * m[7];
  const double c01 = m[5] * m[6] - m[3] * m[8];
  const double c02 = m[3] * m[7] - m[4] * m[6];
  const double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  if (!(det != 0.0) || !is_finite(det)) return false;
  const double r = 1.0 / det;
  inv[0] = c00 * r;
  inv[1] = (m[2] * m[7] - m[1] * m[8]) * r;
  inv[2] = (m[1] * m[5] - m[2] * m[4]) * r;
  inv[3] = c01 * r;
  inv[4] = (m[0] * m[8] - m[2] * m[6]) * r;
  inv[5] = (m[2] * m[3] - m[0] * m[5]) * r;
  inv[6] = c02 * r;
  inv[7] = (m[1] * m[6] - m[0] * m[7]) * r;
  inv[8] = (m[0] * m[4] - m[1] * m[3]) * r;
  for (int i = 0; i < 9; ++i)
    if (!is_finite(inv[i])) return false;
  return true;
}

// Destination -> source map of one sample, in the precision the pixel loop uses.
template <typename S>
struct InverseMap {
  S m[9];
  bool affine;
  bool ok;  // false: singular matrix; every output pixel gets the fill value
};

template <typename S>
GA_HD InverseMap<S> make_inverse_map(const double* forward) {
  InverseMap<S> r;
  double inv[9];
  r.ok = invert3x3(forward, inv);
  r.affine = r.ok && inv[6] == 0.0 && inv[7] == 0.0;
  const double norm = r.affine ? inv[8] : 1.0;  // an affine map in scaled homogeneous form
  for (int i = 0; i < 9; ++i) r.m[i] = r.ok ? static_cast<S>(inv[i] / norm) : S(0);
  return r;
}

// Source position of destination pixel centre (x, y).  Returns false when the point maps to
// infinity or behind the camera (perspective), i.e. it samples nothing.
template <typename S>
GA_HD bool source_point(const InverseMap<S>& im, S x, S y, S& sx, S& sy) {
  sx = im.m[0] * x + im.m[1] * y + im.m[2];
  sy = im.m[3] * x + im.m[4] * y + im.m[5];
  if (im.affine) return im.ok;
  const S z = im.m[6] * x + im.m[7] * y + im.m[8];
  if (!(z > S(0))) return false;
  sx /= z;
  sy /= z;
  return im.ok;
}

// The four bilinear taps of a source point: element offsets within a channel plane and weights;
// a tap outside the image has weight routed to the fill value.
template <typename S>
struct Taps {
  int64_t off[4];
  S w[4];
  bool in[4];
  bool any;  // at least one tap inside
};

template <typename S>
GA_HD Taps<S> bilinear_taps(S sx, S sy, int64_t H, int64_t W, int64_t sh, int64_t sw) {
  Taps<S> t;
  t.any = false;
  // Far outside (or NaN): no tap can be inside; avoids float -> int overflow below.
  if (!(sx > S(-1) && sx < S(W) && sy > S(-1) && sy < S(H))) {
    for (int i = 0; i < 4; ++i) { t.off[i] = 0; t.w[i] = S(0); t.in[i] = false; }
    return t;
  }
  const int64_t x0 = floor_int(sx), y0 = floor_int(sy);
  const S ax = sx - static_cast<S>(x0), ay = sy - static_cast<S>(y0);
  const S wx[2] = {S(1) - ax, ax}, wy[2] = {S(1) - ay, ay};
  for (int dy = 0; dy < 2; ++dy)
    for (int dx = 0; dx < 2; ++dx) {
      const int i = dy * 2 + dx;
      const int64_t xx = x0 + dx, yy = y0 + dy;
      t.in[i] = xx >= 0 && xx < W && yy >= 0 && yy < H;
      t.off[i] = t.in[i] ? yy * sh + xx * sw : 0;
      t.w[i] = wy[dy] * wx[dx];
      t.any = t.any || t.in[i];
    }
  return t;
}

// Offset of the nearest source pixel, or -1 when it is outside.
template <typename S>
GA_HD int64_t nearest_offset(S sx, S sy, int64_t H, int64_t W, int64_t sh, int64_t sw) {
  if (!(sx > S(-1) && sx < S(W) && sy > S(-1) && sy < S(H))) return -1;
  const int64_t x = static_cast<int64_t>(round_even(static_cast<float>(sx)));
  const int64_t y = static_cast<int64_t>(round_even(static_cast<float>(sy)));
  if (x < 0 || x >= W || y < 0 || y >= H) return -1;
  return y * sh + x * sw;
}

// Converting an interpolated value back to the element type: uint8 rounds half to even and
// saturates (as torch's round().clamp(0, 255) does), floats pass through.
template <typename T> struct Store {  // integer labels (nearest only, never interpolated)
  template <typename S> GA_HD static T from(S v) { return static_cast<T>(v); }
};
template <> struct Store<uint8_t> {
  template <typename S> GA_HD static uint8_t from(S v) {
    const float r = round_even(static_cast<float>(v));
    return static_cast<uint8_t>(r < 0.f ? 0.f : (r > 255.f ? 255.f : r));
  }
};
template <> struct Store<float> {
  template <typename S> GA_HD static float from(S v) { return static_cast<float>(v); }
};
template <> struct Store<double> {
  template <typename S> GA_HD static double from(S v) { return static_cast<double>(v); }
};

// Interpolation precision per element type: float for uint8/float32, double for float64.
template <typename T> struct SampleType { using type = float; };
template <> struct SampleType<double> { using type = double; };

// Shapes and strides (in elements) of a warp call; any layout (NCHW, channels-last, HWC views).
struct WarpShape {
  int64_t B, C, H, W, OH, OW;
  int64_t s_b, s_c, s_h, s_w;  // source strides
  int64_t d_b, d_c, d_h, d_w;  // destination strides
};

// One destination pixel (all channels) of sample b: the body both kernels run.  `s` is taken by
// value so that compilers need not reload it after every (possibly aliasing) uint8 store.
template <typename T>
GA_HD void warp_pixel(const T* __restrict__ src, T* __restrict__ dst, const WarpShape s,
                      const InverseMap<typename SampleType<T>::type>& im, int interp,
                      const double* fill, int64_t b, int64_t oy, int64_t ox) {
  using S = typename SampleType<T>::type;
  const T* plane = src + b * s.s_b;
  T* out = dst + b * s.d_b + oy * s.d_h + ox * s.d_w;
  S sx, sy;
  const bool hit = source_point(im, static_cast<S>(ox), static_cast<S>(oy), sx, sy);
  if (interp == kBilinear && hit && sx >= S(0) && sy >= S(0) && sx < S(s.W - 1) &&
      sy < S(s.H - 1)) {
    // All four taps inside (most pixels): the same arithmetic as below, without the checks.
    const int64_t x0 = static_cast<int64_t>(sx), y0 = static_cast<int64_t>(sy);  // >= 0: floor
    const S ax = sx - static_cast<S>(x0), ay = sy - static_cast<S>(y0);
    const S w0 = (S(1) - ay) * (S(1) - ax), w1 = (S(1) - ay) * ax, w2 = ay * (S(1) - ax), w3 = ay * ax;
    const T* p0 = plane + y0 * s.s_h + x0 * s.s_w;
    for (int64_t c = 0; c < s.C; ++c) {
      const T* p = p0 + c * s.s_c;
      S v = S(0);
      v += w0 * static_cast<S>(p[0]);
      v += w1 * static_cast<S>(p[s.s_w]);
      v += w2 * static_cast<S>(p[s.s_h]);
      v += w3 * static_cast<S>(p[s.s_h + s.s_w]);
      out[c * s.d_c] = Store<T>::from(v);
    }
    return;
  }
  if (interp == kNearest) {
    const int64_t off = hit ? nearest_offset(sx, sy, s.H, s.W, s.s_h, s.s_w) : -1;
    for (int64_t c = 0; c < s.C; ++c)
      out[c * s.d_c] = off >= 0 ? plane[c * s.s_c + off] : Store<T>::from(fill[c]);
    return;
  }
  Taps<S> t;
  if (hit) {
    t = bilinear_taps(sx, sy, s.H, s.W, s.s_h, s.s_w);
  } else {
    t.any = false;
  }
  if (!t.any) {
    for (int64_t c = 0; c < s.C; ++c) out[c * s.d_c] = Store<T>::from(fill[c]);
    return;
  }
  for (int64_t c = 0; c < s.C; ++c) {
    const T* p = plane + c * s.s_c;
    const S f = static_cast<S>(fill[c]);
    S v = S(0);
    GA_UNROLL
    for (int i = 0; i < 4; ++i) v += t.w[i] * (t.in[i] ? static_cast<S>(p[t.off[i]]) : f);
    out[c * s.d_c] = Store<T>::from(v);
  }
}

}  // namespace geomaug
