// Per-pixel math of the fused augment op (resample -> colour program -> normalise), shared by the
// CPU and the CUDA kernel and mirrored by the PyTorch path, geomaug.fused.augment_reference.
//
// Convention (docs/conventions.md): the warp op's coordinates and border rule (warp_math.h):
// destination pixel p samples the source at M^-1 p; inside the source area taps clamp, outside
// the border mode applies per tap.  Values are float32 throughout: uint8 input on the 0..255
// scale (bound 255), float input on [0, 1] (bound 1), never rounded between steps.
// Colour steps are those of geomaug.color's float chain, each clamping to [0, bound]
// (grayscale excepted, as there): brightness x*f; contrast x*f + (1-f)*mean; saturation
// x*f + (1-f)*gray(x); hue (HSV rotation, branch-free form); grayscale gray(x) in every channel.
#pragma once
#include <cstring>

#include "common.h"
#include "warp_math.h"

namespace geomaug {

// Colour step codes (geomaug/_ops.py COLOR_OP) and channel orders (CHANNEL_ORDER).
enum ColorOp : int {
  kColorNone = 0, kBrightness = 1, kContrast = 2, kSaturation = 3, kHue = 4, kGrayscale = 5
};
enum ChannelOrder : int { kRGB = 0, kBGR = 1 };

// One colour step of one sample, in the float32 form the PyTorch path computes with:
// brightness a = f; contrast a = f, b = (1 - f) * mean; saturation a = f, b = 1 - f;
// hue a = 6 * shift.  `measured`: contrast whose mean the kernel measures (b set later).
struct ColorStep {
  int op;
  int measured;
  float a, b;
};

GEOMAUG_HD ColorStep make_color_step(int op, double factor, double mean) {
  ColorStep s{op, 0, 0.f, 0.f};
  const float f = static_cast<float>(factor);
  if (op == kBrightness) {
    s.a = f;
  } else if (op == kContrast) {
    s.a = f;
    s.measured = is_nan(mean);  // NaN: measured in the pass; +-inf a given mean, as in PyTorch
    s.b = s.measured ? 0.f : (1.f - f) * static_cast<float>(mean);
  } else if (op == kSaturation) {
    s.a = f;
    s.b = 1.f - f;
  } else if (op == kHue) {
    s.a = 6.f * f;
  }
  return s;
}

// The contrast term once its mean is known (double sum over `count` grey values).
GEOMAUG_HD void set_measured_mean(ColorStep& s, double sum, double count) {
  s.b = (1.f - s.a) * static_cast<float>(sum / count);
}

GEOMAUG_HD float clamp_bound(float v, float bound) {  // NaN passes through, as torch.clamp
  return v < 0.f ? 0.f : (v > bound ? bound : v);
}

// gray = 0.299 R + 0.587 G + 0.114 B, summed in that order (float32 weights, as torch).
GEOMAUG_HD float gray_of(float r, float g, float b) { return r * 0.299f + g * 0.587f + b * 0.114f; }

// torch.remainder(x, 6) for float32: fmod, moved into [0, 6).
GEOMAUG_HD float remainder6(float x) {
  float m = fmodf(x, 6.f);
  if (m != 0.f && m < 0.f) m += 6.f;
  return m;
}

GEOMAUG_HD float hue_channel(float v, float c, float h6, float n) {
  const float k = remainder6(h6 + n);
  const float t = k < 4.f - k ? k : 4.f - k;
  return v - c * (t < 0.f ? 0.f : (t > 1.f ? 1.f : t));
}

// Hue rotation of one RGB pixel by a = 6 * shift sixths (geomaug.color._hue).
GEOMAUG_HD void hue_pixel(float& r, float& g, float& b, float a, float bound) {
  const float v = fmaxf(fmaxf(r, g), b);
  const float c = v - fminf(fminf(r, g), b);
  const float safe = c > 0.f ? c : 1.f;
  float h6 = v == r ? (g - b) / safe : (v == g ? (b - r) / safe + 2.f : (r - g) / safe + 4.f);
  h6 = h6 + a;
  const float nr = hue_channel(v, c, h6, 5.f), ng = hue_channel(v, c, h6, 3.f),
              nb = hue_channel(v, c, h6, 1.f);
  r = clamp_bound(nr, bound);
  g = clamp_bound(ng, bound);
  b = clamp_bound(nb, bound);
}

// Applies steps [0, n) to one pixel's C values (memory channel order; ri/bi: the channels holding
// red and blue).  Steps other than brightness and contrast need C in {1, 3} (checked by the
// binding); for C == 1 saturation, hue and grayscale leave the pixel as it is.
GEOMAUG_HD void color_pixel(float* v, int C, const ColorStep* steps, int n, int ri, int bi,
                       float bound) {
  for (int k = 0; k < n; ++k) {
    const ColorStep s = steps[k];
    if (s.op == kBrightness) {
      for (int c = 0; c < C; ++c) v[c] = clamp_bound(v[c] * s.a, bound);
    } else if (s.op == kContrast) {
      for (int c = 0; c < C; ++c) v[c] = clamp_bound(v[c] * s.a + s.b, bound);
    } else if (C == 3 && s.op == kSaturation) {
      const float g = s.b * gray_of(v[ri], v[1], v[bi]);
      for (int c = 0; c < 3; ++c) v[c] = clamp_bound(v[c] * s.a + g, bound);
    } else if (C == 3 && s.op == kHue) {
      hue_pixel(v[ri], v[1], v[bi], s.a, bound);
    } else if (C == 3 && s.op == kGrayscale) {
      const float g = gray_of(v[ri], v[1], v[bi]);
      v[0] = v[1] = v[2] = g;
    }
  }
}

// Grey value of a pixel (contrast's mean is the mean of these).
GEOMAUG_HD float pixel_gray(const float* v, int C, int ri, int bi) {
  return C == 3 ? gray_of(v[ri], v[1], v[bi]) : v[0];
}

GEOMAUG_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

// IEEE half / bfloat16 bits of a float, rounding to nearest even (as torch's .to()).
GEOMAUG_HD uint16_t float_to_bf16_bits(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

GEOMAUG_HD uint16_t float_to_half_bits(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (a < 0x38800000u) {  // below 2^-14: subnormal half (or zero), rounded to nearest even
    if (a < 0x33000000u) return static_cast<uint16_t>(sign);  // <= 2^-25: rounds to zero
    const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e;  // value = m * 2^(e-150); half unit 2^-24 -> m >> (126-e)
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((a - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
  const uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

// Output element types: uint8 (rounded half to even, saturated), float, and the 16-bit floats
// as their bits.
enum OutType : int { kOutUint8 = 0, kOutFloat = 1, kOutHalf = 2, kOutBFloat16 = 3 };

struct Half16 { uint16_t bits; };
struct BFloat16Bits { uint16_t bits; };

template <typename O> struct OutStore;
template <> struct OutStore<uint8_t> {
  GEOMAUG_HD static uint8_t from(float v) { return Store<uint8_t>::from(v); }
};
template <> struct OutStore<float> {
  GEOMAUG_HD static float from(float v) { return v; }
};
template <> struct OutStore<Half16> {
  GEOMAUG_HD static Half16 from(float v) { return Half16{float_to_half_bits(v)}; }
};
template <> struct OutStore<BFloat16Bits> {
  GEOMAUG_HD static BFloat16Bits from(float v) { return BFloat16Bits{float_to_bf16_bits(v)}; }
};

// Shapes of an augment call: the source in any strides, the output NCHW contiguous.
struct AugmentShape {
  int64_t B, C, H, W, OH, OW;
  int64_t s_b, s_c, s_h, s_w;  // source strides (elements)
  int64_t S;                   // colour steps per sample
};

// Everything but shapes and pointers: interpolation, border, fill (C floats), channel order,
// normalisation (C floats each: mean and 1/std in memory channel order; `normalize` 0 = off).
struct AugmentParams {
  int interp, border, order, normalize;
  float bound;
  float fill[4];
  float mean[4];
  float inv_std[4];
};

// The C floats of an interior bilinear point (0 <= sx < W - 1, 0 <= sy < H - 1: four taps inside,
// no border work), summed as warp_pixel sums them.
template <typename T>
GEOMAUG_HD void bilinear_interior(const T* __restrict__ plane, const AugmentShape& s, int C,
                                  float sx, float sy, float* v) {
  const int64_t x0 = static_cast<int64_t>(sx), y0 = static_cast<int64_t>(sy);
  const BilinearWeights<float> w(sx - static_cast<float>(x0), sy - static_cast<float>(y0));
  const T* p0 = plane + y0 * s.s_h + x0 * s.s_w;
  for (int c = 0; c < C; ++c) {
    const T* q = p0 + c * s.s_c;
    float r = w.w0 * static_cast<float>(q[0]);
    r += w.w1 * static_cast<float>(q[s.s_w]);
    r += w.w2 * static_cast<float>(q[s.s_h]);
    r += w.w3 * static_cast<float>(q[s.s_h + s.s_w]);
    v[c] = r;
  }
}

// Samples one source point (sx, sy) of sample plane `plane` into C floats: the warp op's rule
// (warp_pixel) with float values and a float fill.  `ok` false: the fill.
template <typename T>
GEOMAUG_HD void sample_point(const T* __restrict__ plane, const AugmentShape& s, const AugmentParams& p,
                        bool ok, float sx, float sy, float* v) {
  const int C = static_cast<int>(s.C);
  if (!ok) {
    for (int c = 0; c < C; ++c) v[c] = p.fill[c];
    return;
  }
  if (p.interp == kBilinear && sx >= 0.f && sy >= 0.f && sx < static_cast<float>(s.W - 1) &&
      sy < static_cast<float>(s.H - 1)) {
    bilinear_interior(plane, s, C, sx, sy, v);
    return;
  }
  const bool inside = inside_area(sx, sy, s.H, s.W);
  sx = clamp_far(sx);
  sy = clamp_far(sy);
  if (p.interp == kNearest) {
    const int64_t o = border_nearest(sx, sy, inside, s.H, s.W, s.s_h, s.s_w, p.border);
    for (int c = 0; c < C; ++c) v[c] = o >= 0 ? static_cast<float>(plane[o + c * s.s_c]) : p.fill[c];
    return;
  }
  const int64_t x0 = floor_int(sx), y0 = floor_int(sy);
  const BilinearWeights<float> w(sx - static_cast<float>(x0), sy - static_cast<float>(y0));
  const BorderTaps t = border_taps(x0, y0, inside, s.H, s.W, s.s_h, s.s_w, p.border);
  for (int c = 0; c < C; ++c) {
    const T* q = plane + c * s.s_c;
    const float f = p.fill[c];
    float r = w.w0 * (t.in[0] ? static_cast<float>(q[t.off[0]]) : f);
    r += w.w1 * (t.in[1] ? static_cast<float>(q[t.off[1]]) : f);
    r += w.w2 * (t.in[2] ? static_cast<float>(q[t.off[2]]) : f);
    r += w.w3 * (t.in[3] ? static_cast<float>(q[t.off[3]]) : f);
    v[c] = r;
  }
}

// The resampled values of destination pixel (ox, oy) of a sample: source_point + sample_point.
template <typename T>
GEOMAUG_HD void sample_pixel(const T* __restrict__ plane, const AugmentShape& s, const AugmentParams& p,
                        const InverseMap<float>& im, int64_t ox, int64_t oy, float* v) {
  float sx, sy;
  const bool ok = source_point(im, static_cast<float>(ox), static_cast<float>(oy), sx, sy);
  sample_point(plane, s, p, ok, sx, sy, v);
}

// The final value of one channel: normalised ((x / bound - mean) * inv_std) or as it is.
GEOMAUG_HD float finish_value(float x, const AugmentParams& p, int c) {
  return p.normalize ? (x / p.bound - p.mean[c]) * p.inv_std[c] : x;
}

}  // namespace geomaug
