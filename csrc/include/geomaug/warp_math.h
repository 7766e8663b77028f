// Per-pixel math of the warp op, shared by the CPU and the CUDA kernel (and mirrored exactly by the
// PyTorch path, geomaug.warping.warp_reference).
//
// Convention (docs/conventions.md): pixel (row i, col j) has its centre at (x=j, y=i); an image of
// width W covers [-0.5, W-0.5]; the forward matrix maps source to destination, and destination
// pixel p samples the source at q = M^-1 p.
// Border rule: q inside the closed area [-0.5, W-0.5] x [-0.5, H-0.5] is image content — bilinear
// taps clamp to the edge pixels (a resize equals cv2.resize), nearest rounds half to even and
// clamps.  q outside the area takes the border mode per tap, as cv2.warpAffine does: constant (taps
// outside the image read the fill value; no tap inside: exactly the fill value), replicate (clamped
// index) or reflect (BORDER_REFLECT_101).
// q that is not finite, or behind the camera of a projective map, or from a singular matrix, is
// the fill value in every mode.
#pragma once
#include "common.h"

namespace geomaug {

// Inverse of a 3x3 row-major matrix, in double.  The matrix is scaled by its largest entry first,
// so that huge or tiny (but well-conditioned) matrices do not overflow the determinant.  Returns
// false when it is singular or not finite.
GEOMAUG_HD bool invert3x3(const double* m_in, double* inv) {
  double scale = 0.0;
  for (int i = 0; i < 9; ++i) {
    const double a = m_in[i] < 0 ? -m_in[i] : m_in[i];
    scale = a > scale ? a : scale;
  }
  if (!(scale > 0.0) || !is_finite(scale)) return false;
  double m[9];
  for (int i = 0; i < 9; ++i) m[i] = m_in[i] / scale;
  const double c00 = m[4] * m[8] - m[5] * m[7];
  const double c01 = m[5] * m[6] - m[3] * m[8];
  const double c02 = m[3] * m[7] - m[4] * m[6];
  const double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  if (!(det != 0.0) || !is_finite(det)) return false;
  const double r = 1.0 / (det * scale);  // inverse of (scale * m) = adj(m) / (det * scale)
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
GEOMAUG_HD InverseMap<S> make_inverse_map(const double* forward) {
  InverseMap<S> r;
  double inv[9];
  r.ok = invert3x3(forward, inv);
  r.affine = r.ok && inv[6] == 0.0 && inv[7] == 0.0;
  const double norm = r.affine ? inv[8] : 1.0;  // an affine map in scaled homogeneous form
  for (int i = 0; i < 9; ++i) r.m[i] = r.ok ? static_cast<S>(inv[i] / norm) : S(0);
  return r;
}

// a * x + b rounded after the product and after the sum (no fused multiply-add), as the PyTorch
// path computes it.  Host builds do not enable FMA contraction for these files' baseline code.
template <typename S>
GEOMAUG_HD S mul_add(S a, S x, S b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(S) == 4) return __fadd_rn(__fmul_rn(a, x), b);
  else return __dadd_rn(__dmul_rn(a, x), b);
#else
  return a * x + b;
#endif
}

// Source position of destination pixel centre (x, y): m0 x + (m1 y + m2) (the row part first, as
// the row-wise CPU loop and the PyTorch path compute it).  Returns false when the point samples
// nothing: singular matrix, behind the camera or at infinity (perspective), or not finite.
template <typename S>
GEOMAUG_HD bool source_point(const InverseMap<S>& im, S x, S y, S& sx, S& sy) {
  sx = mul_add(im.m[0], x, mul_add(im.m[1], y, im.m[2]));
  sy = mul_add(im.m[3], x, mul_add(im.m[4], y, im.m[5]));
  if (!im.affine) {
    const S z = mul_add(im.m[6], x, mul_add(im.m[7], y, im.m[8]));
    if (!(z > S(0))) return false;
    sx /= z;
    sy /= z;
  }
  return im.ok && sx - sx == S(0) && sy - sy == S(0);
}

// Coordinates beyond this are clamped to it before they become indices (no int overflow; the
// replicate/reflect index of such a point is meaningless anyway at float precision).
constexpr double kFarCoordinate = 1073741824.0;  // 2^30

template <typename S>
GEOMAUG_HD S clamp_far(S v) {
  const S f = static_cast<S>(kFarCoordinate);
  return v < -f ? -f : (v > f ? f : v);
}

template <typename S>
GEOMAUG_HD bool inside_area(S sx, S sy, int64_t H, int64_t W) {
  return sx >= S(-0.5) && sx <= static_cast<S>(W) - S(0.5) && sy >= S(-0.5) &&
         sy <= static_cast<S>(H) - S(0.5);
}

GEOMAUG_HD int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

// BORDER_REFLECT_101: -1 -> 1, n -> n - 2, periodic beyond; n == 1 -> 0.
GEOMAUG_HD int64_t reflect101(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * n - 2;
  int64_t r = i % period;
  if (r < 0) r += period;
  return r < n ? r : period - r;
}

// Index of tap i (of n) for a point outside the area, or -1 for "reads the fill value".
GEOMAUG_HD int64_t border_index(int64_t i, int64_t n, int border) {
  if (i >= 0 && i < n) return i;
  if (border == kReplicate) return clamp_index(i, n);
  if (border == kReflect) return reflect101(i, n);
  return -1;
}

// Converting an interpolated value back to the element type: uint8 rounds half to even and
// saturates (as torch's round().clamp(0, 255) does), floats pass through.
template <typename T> struct Store {  // integer labels (nearest only, never interpolated)
  template <typename S> GEOMAUG_HD static T from(S v) { return static_cast<T>(v); }
};
template <> struct Store<uint8_t> {
  template <typename S> GEOMAUG_HD static uint8_t from(S v) {
    const float r = round_even(static_cast<float>(v));
    return static_cast<uint8_t>(r < 0.f ? 0.f : (r > 255.f ? 255.f : r));
  }
};
template <> struct Store<float> {
  template <typename S> GEOMAUG_HD static float from(S v) { return static_cast<float>(v); }
};
template <> struct Store<double> {
  template <typename S> GEOMAUG_HD static double from(S v) { return static_cast<double>(v); }
};

// Coordinate and interpolation precision per element type: double for float64, else float.
template <typename T> struct SampleType { using type = float; };
template <> struct SampleType<double> { using type = double; };

// Shapes and strides (in elements) of a warp call; any layout (NCHW, channels-last, HWC views).
struct WarpShape {
  int64_t B, C, H, W, OH, OW;
  int64_t s_b, s_c, s_h, s_w;  // source strides
  int64_t d_b, d_c, d_h, d_w;  // destination strides
};

// The options of a warp call beyond shapes: interpolation, border mode, fill (C values, element type).
template <typename T>
struct WarpParams {
  int interp;  // Interp
  int border;  // Border
  const T* fill;
};

// Bilinear weights of (ax, ay), summed in the order w0 p00 + w1 p01 + w2 p10 + w3 p11.
template <typename S>
struct BilinearWeights {
  S w0, w1, w2, w3;
  GEOMAUG_HD BilinearWeights(S ax, S ay)
      : w0((S(1) - ay) * (S(1) - ax)), w1((S(1) - ay) * ax), w2(ay * (S(1) - ax)), w3(ay * ax) {}
};

// A source point off the interior fast path, by the border rule (clamped inside the area, the
// border mode per tap outside it): its nearest pixel's offset, or -1 for the fill value.
template <typename S>
GEOMAUG_HD int64_t border_nearest(S sx, S sy, bool inside, int64_t H, int64_t W, int64_t sh,
                                  int64_t sw, int border) {
  const int64_t rx = static_cast<int64_t>(round_even(sx));
  const int64_t ry = static_cast<int64_t>(round_even(sy));
  const int64_t x = inside ? clamp_index(rx, W) : border_index(rx, W, border);
  const int64_t y = inside ? clamp_index(ry, H) : border_index(ry, H, border);
  return x >= 0 && y >= 0 ? y * sh + x * sw : -1;
}

// Its four bilinear taps (order 00, 01, 10, 11): element offsets and whether each reads the
// image (false: the fill value).
struct BorderTaps {
  int64_t off[4];
  bool in[4];
  GEOMAUG_HD bool any() const { return in[0] || in[1] || in[2] || in[3]; }
};

GEOMAUG_HD BorderTaps border_taps(int64_t x0, int64_t y0, bool inside, int64_t H, int64_t W,
                                  int64_t sh, int64_t sw, int border) {
  int64_t xs[2], ys[2];
  for (int k = 0; k < 2; ++k) {
    xs[k] = inside ? clamp_index(x0 + k, W) : border_index(x0 + k, W, border);
    ys[k] = inside ? clamp_index(y0 + k, H) : border_index(y0 + k, H, border);
  }
  BorderTaps t;
  for (int i = 0; i < 4; ++i) {
    const int64_t x = xs[i & 1], y = ys[i >> 1];
    t.in[i] = x >= 0 && y >= 0;
    t.off[i] = t.in[i] ? y * sh + x * sw : 0;
  }
  return t;
}

// One destination pixel (all channels) of sample b: the body both kernels run (the CPU kernel
// runs it for the pixels its fast row loops do not cover).  `s` is taken by value so that
// compilers need not reload it after every (possibly aliasing) uint8 store.
template <typename T>
GEOMAUG_HD void warp_pixel(const T* __restrict__ src, T* __restrict__ dst, const WarpShape s,
                      const InverseMap<typename SampleType<T>::type>& im, const WarpParams<T>& p,
                      int64_t b, int64_t oy, int64_t ox) {
  using S = typename SampleType<T>::type;
  const T* plane = src + b * s.s_b;
  T* out = dst + b * s.d_b + oy * s.d_h + ox * s.d_w;
  S sx, sy;
  if (!source_point(im, static_cast<S>(ox), static_cast<S>(oy), sx, sy)) {
    for (int64_t c = 0; c < s.C; ++c) out[c * s.d_c] = p.fill[c];
    return;
  }
  if (p.interp == kBilinear && sx >= S(0) && sy >= S(0) && sx < static_cast<S>(s.W - 1) &&
      sy < static_cast<S>(s.H - 1)) {
    // All four taps inside (most pixels): the same arithmetic as below, without the checks.
    const int64_t x0 = static_cast<int64_t>(sx), y0 = static_cast<int64_t>(sy);  // >= 0: floor
    const BilinearWeights<S> w(sx - static_cast<S>(x0), sy - static_cast<S>(y0));
    const T* p0 = plane + y0 * s.s_h + x0 * s.s_w;
    for (int64_t c = 0; c < s.C; ++c) {
      const T* q = p0 + c * s.s_c;
      S v = w.w0 * static_cast<S>(q[0]);
      v += w.w1 * static_cast<S>(q[s.s_w]);
      v += w.w2 * static_cast<S>(q[s.s_h]);
      v += w.w3 * static_cast<S>(q[s.s_h + s.s_w]);
      out[c * s.d_c] = Store<T>::from(v);
    }
    return;
  }
  const bool inside = inside_area(sx, sy, s.H, s.W);
  sx = clamp_far(sx);
  sy = clamp_far(sy);
  if (p.interp == kNearest) {
    const int64_t o = border_nearest(sx, sy, inside, s.H, s.W, s.s_h, s.s_w, p.border);
    for (int64_t c = 0; c < s.C; ++c) out[c * s.d_c] = o >= 0 ? plane[o + c * s.s_c] : p.fill[c];
    return;
  }
  const int64_t x0 = floor_int(sx), y0 = floor_int(sy);
  const BilinearWeights<S> w(sx - static_cast<S>(x0), sy - static_cast<S>(y0));
  const BorderTaps t = border_taps(x0, y0, inside, s.H, s.W, s.s_h, s.s_w, p.border);
  if (!t.any()) {  // no tap in the image: exactly the fill value
    for (int64_t c = 0; c < s.C; ++c) out[c * s.d_c] = p.fill[c];
    return;
  }
  for (int64_t c = 0; c < s.C; ++c) {
    const T* q = plane + c * s.s_c;
    const S f = static_cast<S>(p.fill[c]);
    S v = w.w0 * (t.in[0] ? static_cast<S>(q[t.off[0]]) : f);
    v += w.w1 * (t.in[1] ? static_cast<S>(q[t.off[1]]) : f);
    v += w.w2 * (t.in[2] ? static_cast<S>(q[t.off[2]]) : f);
    v += w.w3 * (t.in[3] ? static_cast<S>(q[t.off[3]]) : f);
    out[c * s.d_c] = Store<T>::from(v);
  }
}

}  // namespace geomaug
