// CPU kernel of the fused augment op, one output row at a time: (1) resample all channels into
// planar float row buffers (source coordinates computed per pixel exactly as the PyTorch path
// does), (2) run the colour program, normalise and store.  Rows of all samples run in parallel
// on the caller's pool.  A sample whose contrast mean is measured first runs a reduction pass
// (resample + earlier steps + grey sum in double over fixed 16-row chunks and fixed lanes, so the
// result depends neither on the thread count nor on the instruction set); with a float output
// that pass leaves its rows in the output (the stash), and the second pass finishes them there.
//
// Variants (picked per call): the baseline is plain loops the compiler vectorises for the target
// it is built for (any CPU); AVX2 and AVX-512 run augment_cpu_simd.h's row pipeline on 8 / 16
// pixels at a time in registers -- a vectorised bilinear resample of uint8 (interleaved RGB as
// numpy HWC / channels-last, W1-CPU's input; planar rows of any channel count as CHW tensors or
// (H, W) arrays), a vectorised bilinear resample of float32 (planar or interleaved rows, pairs of
// adjacent floats per tap row), and a vectorised nearest of uint8 and float32 in any layout, with
// the border rule in SIMD too -- then the colour blocks, normalisation and grey sums.  Other
// strides (e.g. a column slice of HWC), interleaved uint8 other than RGB (HWC RGBA) and
// projective maps are resampled pixel by pixel.  Every variant computes the same
// float operations in the same order as augment_math.h and the PyTorch path (no fused
// multiply-adds; the one FMA pair computes an exact division): their outputs are equal.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "geomaug/augment.h"
#include "simd_loads.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEOMAUG_HAVE_X86_VARIANTS 1
#include <immintrin.h>
// The variants' targets (the pragmas below repeat them: they take no macros).
#define GEOMAUG_AVX2_TARGET "avx2,fma"
#define GEOMAUG_AVX512_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"
#endif

// The PyTorch path rounds after every product and sum: no fused multiply-adds in any variant
// (AVX-512 brings FMA, and GCC contracts by default outside ISO C, intrinsics included).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
// GCC 12's own AVX-512 headers trip this (their _mm512_undefined_* idiom), not this file's code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace geomaug {
namespace {

constexpr int64_t kMeanChunkRows = 16;

template <typename T, typename O>
struct Job {
  const T* src;
  O* dst;
  AugmentShape s;
  AugmentParams p;
  const InverseMap<float>* maps;  // B
  const ColorStep* steps;         // B x S
  const int* first;               // B: index of the measured contrast step, or S
  int ri, bi;                     // red / blue channel
  int64_t stride;                 // row buffer stride (floats)
  int layout;  // SimdLayout: the SIMD bilinear resample this source takes (kOther: none)
  bool offsets32;  // element offsets below 2^31, strides >= 0: the SIMD nearest
};

// Sources the SIMD variants resample bilinearly N pixels at a time (32-bit offsets): uint8 with 3
// interleaved channels (numpy HWC, channels-last) or rows of single bytes per channel (CHW, (H, W)
// arrays); float32 in planar rows (CHW, (H, W)) or with interleaved channels (HWC,
// channels-last), C <= 4 (the op's limit), read as pairs of adjacent floats.
enum SimdLayout : int {
  kOther = 0, kInterleaved3 = 1, kPlanar = 2, kFloatPlanar = 3, kFloatInterleaved = 4
};

// ---- scalar per-pixel resampling (baseline rows; edge pixels and tails of the SIMD rows) -----

// The C resampled values of source point (sx, sy): sample_point's result, with its two common
// cases inlined.  far_fill: constant border, bilinear (the caller's hoisted test).
template <int NC, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void point_values(const Job<T, O>& job, const T* plane, float sx, float sy,
                                        bool far_fill, float* v) {
  const AugmentShape& s = job.s;
  const int C = NC > 0 ? NC : static_cast<int>(s.C);
  const float wl = static_cast<float>(s.W - 1), hl = static_cast<float>(s.H - 1);
  if (job.p.interp == kBilinear && sx >= 0.f && sy >= 0.f && sx < wl && sy < hl) {
    bilinear_interior(plane, s, C, sx, sy, v);  // C a constant here: the loop unrolls
    return;
  }
  const bool ok = sx - sx == 0.f && sy - sy == 0.f;
  if (far_fill && ok &&
      (sx < -1.f || sy < -1.f || sx >= static_cast<float>(s.W) || sy >= static_cast<float>(s.H))) {
    // Every tap outside: sample_point's sum over the fill, without its index work (the weights
    // matter: w0 f + w1 f + ... need not round to f; beyond 2^23 floats are integers, so its
    // clamping at 2^30 changes no weight).
    const float fx0 = std::floor(sx), fy0 = std::floor(sy);
    const BilinearWeights<float> w(sx - fx0, sy - fy0);
    for (int c = 0; c < C; ++c) {
      const float f = job.p.fill[c];
      float acc = w.w0 * f;
      acc += w.w1 * f;
      acc += w.w2 * f;
      acc += w.w3 * f;
      v[c] = acc;
    }
    return;
  }
  sample_point(plane, s, job.p, ok, sx, sy, v);
}

// Row oy of sample b, columns [xb, xe), into buf (C planes of stride st), one pixel at a time.
template <int NC, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void resample_span(const Job<T, O>& job, const T* plane,
                                         const InverseMap<float>& im, int64_t oy, int64_t xb,
                                         int64_t xe, float* buf, int64_t st) {
  const int C = NC > 0 ? NC : static_cast<int>(job.s.C);
  float v[4];
  if (!im.ok || !im.affine) {  // projective or singular: the per-pixel path
    for (int64_t ox = xb; ox < xe; ++ox) {
      sample_pixel(plane, job.s, job.p, im, ox, oy, v);
      for (int c = 0; c < C; ++c) buf[c * st + ox] = v[c];
    }
    return;
  }
  const float fy = static_cast<float>(oy);
  const float rx = im.m[1] * fy + im.m[2], ry = im.m[4] * fy + im.m[5];
  const bool far_fill = job.p.interp == kBilinear && job.p.border == kConstant;
  for (int64_t ox = xb; ox < xe; ++ox) {
    const float fx = static_cast<float>(ox);
    point_values<NC>(job, plane, im.m[0] * fx + rx, im.m[3] * fx + ry, far_fill, v);
    for (int c = 0; c < C; ++c) buf[c * st + ox] = v[c];
  }
}

// ---- baseline rows: plain loops over the row buffers -----------------------------------------

// Resamples row oy of sample b into buf: coordinates of the whole row first (a loop the compiler
// vectorises), then the pixels.
template <int NC, typename T, typename O>
void resample_row_plain(const Job<T, O>& job, int64_t b, int64_t oy, float* buf, int64_t st,
                        float* scratch) {
  const AugmentShape& s = job.s;
  const int C = NC > 0 ? NC : static_cast<int>(s.C);
  const T* plane = job.src + b * s.s_b;
  const InverseMap<float>& im = job.maps[b];
  if (!im.ok || !im.affine) return resample_span<NC>(job, plane, im, oy, 0, s.OW, buf, st);
  float* xs = scratch;
  float* ys = scratch + job.stride;
  const float fy = static_cast<float>(oy);
  const float m0 = im.m[0], m3 = im.m[3];
  const float rx = im.m[1] * fy + im.m[2], ry = im.m[4] * fy + im.m[5];
  const int32_t ow32 = static_cast<int32_t>(s.OW);  // < 2^30; int32 -> float vectorises
  for (int32_t ox = 0; ox < ow32; ++ox) {
    const float fx = static_cast<float>(ox);
    xs[ox] = m0 * fx + rx;
    ys[ox] = m3 * fx + ry;
  }
  const bool far_fill = job.p.interp == kBilinear && job.p.border == kConstant;
  float v[4];
  for (int64_t ox = 0; ox < s.OW; ++ox) {
    point_values<NC>(job, plane, xs[ox], ys[ox], far_fill, v);
    for (int c = 0; c < C; ++c) buf[c * st + ox] = v[c];
  }
}

// Runs steps [0, n) of a sample's program over a row buffer.
template <int NC>
void color_row_plain(float* buf, int C_rt, int64_t st, int64_t n_px, const ColorStep* steps,
                     int n, int ri, int bi, float bound) {
  const int C = NC > 0 ? NC : C_rt;
  for (int k = 0; k < n; ++k) {
    const ColorStep sp = steps[k];
    const float a = sp.a, bb = sp.b;
    if (sp.op == kBrightness || sp.op == kContrast) {
      const float add = sp.op == kContrast ? bb : 0.f;
      for (int c = 0; c < C; ++c) {
        float* x = buf + c * st;
        if (sp.op == kBrightness) {
          for (int64_t i = 0; i < n_px; ++i) x[i] = clamp_bound(x[i] * a, bound);
        } else {
          for (int64_t i = 0; i < n_px; ++i) x[i] = clamp_bound(x[i] * a + add, bound);
        }
      }
      continue;
    }
    if (C != 3) continue;  // saturation, hue, grayscale leave one channel as it is
    float* r = buf + ri * st;
    float* g = buf + st;
    float* bl = buf + bi * st;
    if (sp.op == kSaturation) {
      for (int64_t i = 0; i < n_px; ++i) {
        const float gr = bb * gray_of(r[i], g[i], bl[i]);
        r[i] = clamp_bound(r[i] * a + gr, bound);
        g[i] = clamp_bound(g[i] * a + gr, bound);
        bl[i] = clamp_bound(bl[i] * a + gr, bound);
      }
    } else if (sp.op == kGrayscale) {
      for (int64_t i = 0; i < n_px; ++i) r[i] = g[i] = bl[i] = gray_of(r[i], g[i], bl[i]);
    } else if (sp.op == kHue) {
      for (int64_t i = 0; i < n_px; ++i) hue_pixel(r[i], g[i], bl[i], a, bound);
    }
  }
}

template <typename O>
void store_row_plain(const float* x, O* out, int64_t n_px, const AugmentParams& p, int c) {
  if (p.normalize) {
    const float mean = p.mean[c], inv = p.inv_std[c], bound = p.bound;
    for (int64_t i = 0; i < n_px; ++i) out[i] = OutStore<O>::from((x[i] / bound - mean) * inv);
  } else if constexpr (std::is_same_v<O, uint8_t>) {
    constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds half-even
    for (int64_t i = 0; i < n_px; ++i) {
      const float v = x[i] < 0.f ? 0.f : (x[i] > 255.f ? 255.f : x[i]);
      out[i] = static_cast<uint8_t>((v + kMagic) - kMagic);
    }
  } else {
    for (int64_t i = 0; i < n_px; ++i) out[i] = OutStore<O>::from(x[i]);
  }
}

// Adds the grey values of a row to the eight double lanes (pixel i to lane i % 8, in order): the
// same sums in every variant.
GEOMAUG_ALWAYS_INLINE void gray_sum_tail(const float* r, const float* g, const float* bl, int C,
                                         int64_t i, int64_t n_px, double* lanes) {
  for (; i < n_px; ++i)
    lanes[i & 7] += static_cast<double>(C == 3 ? gray_of(r[i], g[i], bl[i]) : r[i]);
}

// ---- AVX2 and AVX-512 rows: augment_cpu_simd.h over 8 / 16 floats -----------------------------
#ifdef GEOMAUG_HAVE_X86_VARIANTS
// pshufb control of 32-bit lane i (of a 128-bit lane): its byte k into the low byte, zeros above.
constexpr int shuffle_index(int i, int k) { return static_cast<int>(0xffffff00u | (4 * i + k)); }

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace avx2 {
// The operations the pipeline needs, on 8 floats.
struct V {
  static constexpr int N = 8;
  using F = __m256;
  using I = __m256i;
  using M = __m256;  // lane masks: all-ones lanes
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F zero() { return _mm256_setzero_ps(); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  // x / y correctly rounded, without a division, given r = RN(1 / y): Markstein's correction
  // q + r (x - q y) with the residual exact in a fused multiply-add.  Checked against division
  // for every float x with y = 255: equal but for x = -0 and +-inf, where q = x r is already
  // exact (and kept).  Only for y = 255 (finish_row).
  static F div255(F x, F y, F r) {
    const F q = _mm256_mul_ps(x, r);
    const F e = _mm256_fnmadd_ps(q, y, x);
    const F special = _mm256_or_ps(_mm256_cmp_ps(e, e, _CMP_UNORD_Q),
                                   _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
    return _mm256_blendv_ps(_mm256_fmadd_ps(e, r, q), q, special);
  }
  // clamp_bound: maxps / minps return their second operand when either is NaN, so NaN passes
  // and -0 stays -0, as in the scalar form.
  static F clamp(F v, F bound) {
    return _mm256_min_ps(bound, _mm256_max_ps(_mm256_setzero_ps(), v));
  }
  static F floor(F v) { return _mm256_floor_ps(v); }
  static F columns(int32_t x) {  // float(x + j): the int -> float conversion of the scalar code
    return _mm256_cvtepi32_ps(
        _mm256_add_epi32(_mm256_set1_epi32(x), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  }
  static I trunc(F v) { return _mm256_cvttps_epi32(v); }
  static I round_i(F v) { return _mm256_cvtps_epi32(v); }  // the MXCSR mode, as round_even
  static F to_float(I v) { return _mm256_cvtepi32_ps(v); }
  static M ge(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static M lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M eq(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static M le(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static M mand(M a, M b) { return _mm256_and_ps(a, b); }
  static M mor(M a, M b) { return _mm256_or_ps(a, b); }
  // 32-bit integer lanes (tap indices)
  static I seti(int32_t v) { return _mm256_set1_epi32(v); }
  static I add_i(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I mul_i(I a, I b) { return _mm256_mullo_epi32(a, b); }
  static I min_i(I a, I b) { return _mm256_min_epi32(a, b); }
  static I max_i(I a, I b) { return _mm256_max_epi32(a, b); }
  static M lt_i(I a, I b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(b, a)); }
  static I select_i(M m, I a, I b) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(b), _mm256_castsi256_ps(a), m));
  }
  static I load_i(const int32_t* p) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  }
  static void store_i(int32_t* p, I v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
  static unsigned bits(M m) { return static_cast<unsigned>(_mm256_movemask_ps(m)); }
  static M from_bits(unsigned b) {
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i has = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(b)), lane);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(has, lane));
  }
  static F select(M m, F a, F b) { return _mm256_blendv_ps(b, a, m); }  // m ? a : b
  static I keep(M m, I v) { return _mm256_and_si256(v, _mm256_castps_si256(m)); }
  // y0 * sh + SW * x0 (SW = 1 or 3) in 32 bits (Job::layout checks the range).
  template <int SW>
  static I offsets(I x0, I y0, int32_t sh) {
    const I x = SW == 3 ? _mm256_add_epi32(x0, _mm256_add_epi32(x0, x0)) : x0;
    return _mm256_add_epi32(_mm256_mullo_epi32(y0, _mm256_set1_epi32(sh)), x);
  }
  // Bytes [x0, x0 + 1] of row y0 and of row y0 + 1 of a plane of single-byte pixels, as one
  // 32-bit lane per pixel (off = y0 * sh + x0): 16-bit scalar loads (vpgatherdd measured slower
  // here), nothing past the taps read.
  static I planar_taps(const uint8_t* base, I off, int32_t sh) {
    alignas(32) int32_t offsets[8];
    alignas(32) uint32_t w[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(offsets), off);
    const int32_t* e = through_memory(offsets);
    for (int j = 0; j < 8; ++j) {
      uint16_t t, b;
      std::memcpy(&t, base + e[j], 2);
      std::memcpy(&b, base + e[j] + sh, 2);
      w[j] = t | static_cast<uint32_t>(b) << 16;
    }
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
  }
  // The 8 bytes at top + off and at bottom + off of each lane, in lane order: bytes 0-3 (lo)
  // and 4-7 (hi) of each.  Scalar loads (vpgatherqq measured slower on this project's Xeons)
  // as broadcasts blended into place, which keeps them off the shuffle port: pixels 0, 1, 4, 5
  // go to a, 2, 3, 6, 7 to b, so that shufps's even / odd dwords come out in pixel order.
  static void rows8(const uint8_t* top, const uint8_t* bottom, I off, I* q) {
    alignas(32) int32_t buf[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(buf), off);
    const int32_t* e = through_memory(buf);
    const uint8_t* rows[2] = {top, bottom};
    for (int r = 0; r < 2; ++r) {
      const uint8_t* p = rows[r];
      auto at = [&](int j) {
        int64_t v;
        std::memcpy(&v, p + e[j], 8);
        return v;
      };
      const __m256i a = _mm256_blend_epi32(
          _mm256_blend_epi32(_mm256_set1_epi64x(at(0)), _mm256_set1_epi64x(at(1)), 0x0c),
          _mm256_blend_epi32(_mm256_set1_epi64x(at(4)), _mm256_set1_epi64x(at(5)), 0xc0), 0xf0);
      const __m256i b = _mm256_blend_epi32(
          _mm256_blend_epi32(_mm256_set1_epi64x(at(2)), _mm256_set1_epi64x(at(3)), 0x0c),
          _mm256_blend_epi32(_mm256_set1_epi64x(at(6)), _mm256_set1_epi64x(at(7)), 0xc0), 0xf0);
      const __m256 fa = _mm256_castsi256_ps(a), fb = _mm256_castsi256_ps(b);
      q[2 * r] = _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0x88));
      q[2 * r + 1] = _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0xdd));
    }
  }
  static void pairs(const float* base, I off, F& first, F& second) {
    float_pairs8(base, off, first, second);
  }
  // Byte K of each 32-bit lane, as float: bytes 0 and 3 by a mask or a shift, 1 and 2 by a
  // byte shuffle (one instruction instead of two; measured faster).
  template <int K>
  static F byte(I v) {
    if constexpr (K == 0) return _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0xff)));
    if constexpr (K == 3) return _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 24));
    const __m256i pick = _mm256_setr_epi32(shuffle_index(0, K), shuffle_index(1, K),
                                           shuffle_index(2, K), shuffle_index(3, K),
                                           shuffle_index(0, K), shuffle_index(1, K),
                                           shuffle_index(2, K), shuffle_index(3, K));
    return _mm256_cvtepi32_ps(_mm256_shuffle_epi8(v, pick));
  }
  // Grey sums in eight double lanes (pixel j of a block of 8 to lane j).
  struct Acc {
    __m256d a, b;
  };
  static Acc acc_load(const double* l) { return {_mm256_loadu_pd(l), _mm256_loadu_pd(l + 4)}; }
  static void acc_store(double* l, Acc s) {
    _mm256_storeu_pd(l, s.a);
    _mm256_storeu_pd(l + 4, s.b);
  }
  static void acc_add(Acc& s, F g) {
    s.a = _mm256_add_pd(s.a, _mm256_cvtps_pd(_mm256_castps256_ps128(g)));
    s.b = _mm256_add_pd(s.b, _mm256_cvtps_pd(_mm256_extractf128_ps(g, 1)));
  }
  // Saturated to 0..255, rounded half to even (the default rounding mode).
  static void store_u8(uint8_t* p, F v) {
    const __m256i q = _mm256_cvtps_epi32(
        _mm256_min_ps(_mm256_set1_ps(255.f), _mm256_max_ps(_mm256_setzero_ps(), v)));
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(w, w));
  }
};
#include "augment_cpu_simd.h"
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(                                              \
    __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")
#endif
namespace avx512 {
// The 8 bytes at plane + a and at plane + b (element offsets).
template <typename T>
inline __m128i pair8(const T* plane, int32_t a, int32_t b) {
  int64_t u, v;
  std::memcpy(&u, plane + a, 8);
  std::memcpy(&v, plane + b, 8);
  return _mm_insert_epi64(_mm_cvtsi64_si128(u), v, 1);
}
// The same on 16 floats.
struct V {
  static constexpr int N = 16;
  using F = __m512;
  using I = __m512i;
  using M = __mmask16;
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F zero() { return _mm512_setzero_ps(); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F div255(F x, F y, F r) {  // as avx2::V's; fpclass 0x1c: -0, +inf, -inf
    const F q = _mm512_mul_ps(x, r);
    const F e = _mm512_fnmadd_ps(q, y, x);
    return _mm512_mask_blend_ps(_mm512_fpclass_ps_mask(x, 0x1c), _mm512_fmadd_ps(e, r, q), q);
  }
  static F clamp(F v, F bound) {
    return _mm512_min_ps(bound, _mm512_max_ps(_mm512_setzero_ps(), v));
  }
  static F floor(F v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static F columns(int32_t x) {
    return _mm512_cvtepi32_ps(_mm512_add_epi32(
        _mm512_set1_epi32(x),
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)));
  }
  static I trunc(F v) { return _mm512_cvttps_epi32(v); }
  static I round_i(F v) { return _mm512_cvtps_epi32(v); }
  static F to_float(I v) { return _mm512_cvtepi32_ps(v); }
  static M ge(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M eq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M le(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static M mand(M a, M b) { return static_cast<M>(a & b); }
  static M mor(M a, M b) { return static_cast<M>(a | b); }
  static I seti(int32_t v) { return _mm512_set1_epi32(v); }
  static I add_i(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I mul_i(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I min_i(I a, I b) { return _mm512_min_epi32(a, b); }
  static I max_i(I a, I b) { return _mm512_max_epi32(a, b); }
  static M lt_i(I a, I b) { return _mm512_cmplt_epi32_mask(a, b); }
  static I select_i(M m, I a, I b) { return _mm512_mask_blend_epi32(m, b, a); }
  static I load_i(const int32_t* p) { return _mm512_load_si512(p); }
  static void store_i(int32_t* p, I v) { _mm512_store_si512(p, v); }
  static unsigned bits(M m) { return m; }
  static M from_bits(unsigned b) { return static_cast<M>(b); }
  static F select(M m, F a, F b) { return _mm512_mask_blend_ps(m, b, a); }
  static I keep(M m, I v) { return _mm512_maskz_mov_epi32(m, v); }
  template <int SW>
  static I offsets(I x0, I y0, int32_t sh) {
    const I x = SW == 3 ? _mm512_add_epi32(x0, _mm512_add_epi32(x0, x0)) : x0;
    return _mm512_add_epi32(_mm512_mullo_epi32(y0, _mm512_set1_epi32(sh)), x);
  }
  // As avx2::V's, with two 16-lane vpgatherdd (faster than scalar loads here): 4 bytes from x0 in
  // row y0 and 4 bytes ending at x0 + 1 in row y0 + 1, their outer 16-bit halves kept.  Reads 2
  // bytes past the taps on each side, inside the image since row y0 + 1 exists and s_h >= 2
  // (augment_cpu checks).
  static I planar_taps(const uint8_t* base, I off, int32_t sh) {
    const I t = _mm512_i32gather_epi32(off, base, 1);
    const I b = _mm512_i32gather_epi32(_mm512_add_epi32(off, _mm512_set1_epi32(sh - 2)), base, 1);
    return _mm512_mask_blend_epi16(0xaaaaaaaa, t, b);
  }
  static void rows8(const uint8_t* top, const uint8_t* bottom, I off, I* q) {
    alignas(64) int32_t buf[16];
    _mm512_store_si512(buf, off);
    const int32_t* e = through_memory(buf);
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const uint8_t* rows[2] = {top, bottom};
    for (int r = 0; r < 2; ++r) {
      const uint8_t* p = rows[r];
      __m512i h[2];
      for (int k = 0; k < 2; ++k) {
        const int32_t* o = e + 8 * k;
        h[k] = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_set_m128i(pair8(p, o[2], o[3]), pair8(p, o[0], o[1]))),
            _mm256_set_m128i(pair8(p, o[6], o[7]), pair8(p, o[4], o[5])), 1);
      }
      q[2 * r] = _mm512_permutex2var_epi32(h[0], even, h[1]);
      q[2 * r + 1] = _mm512_permutex2var_epi32(h[0], odd, h[1]);
    }
  }
  static void pairs(const float* base, I off, F& first, F& second) {  // as rows8
    alignas(64) int32_t buf[16];
    _mm512_store_si512(buf, off);
    const int32_t* e = through_memory(buf);
    __m512i h[2];
    for (int k = 0; k < 2; ++k) {
      const int32_t* o = e + 8 * k;
      h[k] = _mm512_inserti64x4(
          _mm512_castsi256_si512(
              _mm256_set_m128i(pair8(base, o[2], o[3]), pair8(base, o[0], o[1]))),
          _mm256_set_m128i(pair8(base, o[6], o[7]), pair8(base, o[4], o[5])), 1);
    }
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    first = _mm512_castsi512_ps(_mm512_permutex2var_epi32(h[0], even, h[1]));
    second = _mm512_castsi512_ps(
        _mm512_permutex2var_epi32(h[0], _mm512_add_epi32(even, _mm512_set1_epi32(1)), h[1]));
  }
  template <int K>
  static F byte(I v) {
    if constexpr (K == 0) return _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0xff)));
    if constexpr (K == 3) return _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 24));
    const __m512i pick = _mm512_set4_epi32(shuffle_index(3, K), shuffle_index(2, K),
                                           shuffle_index(1, K), shuffle_index(0, K));
    return _mm512_cvtepi32_ps(_mm512_shuffle_epi8(v, pick));
  }
  struct Acc {
    __m512d a;
  };
  static Acc acc_load(const double* l) { return {_mm512_loadu_pd(l)}; }
  static void acc_store(double* l, Acc s) { _mm512_storeu_pd(l, s.a); }
  static void acc_add(Acc& s, F g) {  // pixels 0-7, then 8-15: the order of blocks of 8
    s.a = _mm512_add_pd(s.a, _mm512_cvtps_pd(_mm512_castps512_ps256(g)));
    s.a = _mm512_add_pd(s.a, _mm512_cvtps_pd(_mm512_extractf32x8_ps(g, 1)));
  }
  static void store_u8(uint8_t* p, F v) {
    const __m512i q = _mm512_cvtps_epi32(
        _mm512_min_ps(_mm512_set1_ps(255.f), _mm512_max_ps(_mm512_setzero_ps(), v)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtusepi32_epi8(q));
  }
};
#include "augment_cpu_simd.h"
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // GEOMAUG_HAVE_X86_VARIANTS

// ---- row drivers --------------------------------------------------------------------------------

// Resamples row oy of sample b into buf (C planes of stride st).
template <int NC, int ISA, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void resample_row(const Job<T, O>& job, int64_t b, int64_t oy, float* buf,
                                        int64_t st, float* scratch) {
#ifdef GEOMAUG_HAVE_X86_VARIANTS
  if constexpr (ISA != kIsaBaseline) {
    const InverseMap<float>& im = job.maps[b];
    if (job.offsets32 && job.p.interp == kNearest && im.ok && im.affine) {
      const T* plane = job.src + b * job.s.s_b;
      if constexpr (ISA == kIsaAvx2)
        return avx2::nearest_fast<NC>(job, plane, im, oy, buf, st);
      else
        return avx512::nearest_fast<NC>(job, plane, im, oy, buf, st);
    }
  }
  if constexpr (ISA != kIsaBaseline && std::is_same_v<T, uint8_t>) {
    const InverseMap<float>& im = job.maps[b];
    if (job.layout != kOther && job.p.interp == kBilinear && im.ok && im.affine) {
      const uint8_t* plane = job.src + b * job.s.s_b;
      if constexpr (NC == 3) {
        if (job.layout == kInterleaved3) {
          if constexpr (ISA == kIsaAvx2)
            return avx2::resample_fast<3, kInterleaved3>(job, plane, im, oy, buf, st);
          else
            return avx512::resample_fast<3, kInterleaved3>(job, plane, im, oy, buf, st);
        }
      }
      if constexpr (ISA == kIsaAvx2)
        return avx2::resample_fast<NC, kPlanar>(job, plane, im, oy, buf, st);
      else
        return avx512::resample_fast<NC, kPlanar>(job, plane, im, oy, buf, st);
    }
  }
  if constexpr (ISA != kIsaBaseline && std::is_same_v<T, float>) {
    const InverseMap<float>& im = job.maps[b];
    if (job.p.interp == kBilinear && im.ok && im.affine) {
      const float* plane = job.src + b * job.s.s_b;
      // Planar rows take the 8-lane loop in the AVX-512 variant too: measured on the project's
      // Xeon (a CHW float32 tensor, W1's matrices and programme), 0.77x the time of the 16-lane
      // one; interleaved rows take the 16-lane loop (0.93x the time of the 8-lane one).
      if (job.layout == kFloatPlanar)
        return avx2::resample_fast<NC, kFloatPlanar>(job, plane, im, oy, buf, st);
      if (job.layout == kFloatInterleaved) {
        if constexpr (ISA == kIsaAvx2)
          return avx2::resample_fast<NC, kFloatInterleaved>(job, plane, im, oy, buf, st);
        else
          return avx512::resample_fast<NC, kFloatInterleaved>(job, plane, im, oy, buf, st);
      }
    }
  }
#endif
  resample_row_plain<NC>(job, b, oy, buf, st, scratch);
}

// Output rows [begin, end) (row = b * OH + oy).  stashed: the row already holds the sample's
// values after its steps [0, first[b]) (float output, see mean_impl); only the rest runs.
template <int NC, int ISA, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void rows_impl(const Job<T, O>& job, int64_t begin, int64_t end, float* buf,
                                     bool stashed) {
  const AugmentShape& s = job.s;
  const int C = static_cast<int>(s.C);
  const int S = static_cast<int>(s.S);
  const int64_t plane = s.OH * s.OW;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / s.OH, oy = row % s.OH;
    O* out = job.dst + b * s.C * plane + oy * s.OW;
    const ColorStep* steps = job.steps + b * s.S;
    float* in = buf;
    int64_t in_st = job.stride;
    int k = 0;
    bool resample = true;
    if constexpr (std::is_same_v<O, float>) {
      if (stashed) {  // the row holds the values after steps [0, first[b]): finish it in place
        in = out;
        in_st = plane;
        k = job.first[b];
        resample = false;
      }
    }
    if (resample) resample_row<NC, ISA>(job, b, oy, buf, job.stride, buf + 4 * job.stride);
#ifdef GEOMAUG_HAVE_X86_VARIANTS
    if constexpr (ISA != kIsaBaseline) {
      if constexpr (ISA == kIsaAvx2)
        avx2::finish_row<NC>(job, in, in_st, out, plane, steps + k, S - k);
      else
        avx512::finish_row<NC>(job, in, in_st, out, plane, steps + k, S - k);
      continue;
    }
#endif
    color_row_plain<NC>(in, C, in_st, s.OW, steps + k, S - k, job.ri, job.bi, job.p.bound);
    for (int c = 0; c < C; ++c) store_row_plain(in + c * in_st, out + c * plane, s.OW, job.p, c);
  }
}

// Grey sums of chunks [begin, end) (chunk u: sample u / chunks, rows kMeanChunkRows * (u % chunks)
// on): resample, steps [0, first[b]), grey sum in double (fixed lanes: deterministic).  stash
// (float output): the rows are also written to the output, so that rows_impl need not resample
// them again; the output is the only full-size buffer.
template <int NC, int ISA, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void mean_impl(const Job<T, O>& job, int64_t chunks, int64_t begin,
                                     int64_t end, float* buf, double* partial, bool stash) {
  const AugmentShape& s = job.s;
  const int C = static_cast<int>(s.C);
  const int64_t st = job.stride;
  for (int64_t u = begin; u < end; ++u) {
    const int64_t b = u / chunks;
    const int k = job.first[b];
    const bool measure = k < static_cast<int>(s.S);
    partial[u] = 0.0;
    if (!measure && !stash) continue;
    const int64_t r0 = (u % chunks) * kMeanChunkRows, r1 = std::min(s.OH, r0 + kMeanChunkRows);
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const ColorStep* steps = job.steps + b * s.S;
    for (int64_t oy = r0; oy < r1; ++oy) {
      float* out = nullptr;
      const int64_t plane = s.OH * s.OW;
      if constexpr (std::is_same_v<O, float>) {
        if (stash) out = job.dst + b * s.C * plane + oy * s.OW;
      }
      resample_row<NC, ISA>(job, b, oy, buf, st, buf + 4 * st);
#ifdef GEOMAUG_HAVE_X86_VARIANTS
      if constexpr (ISA != kIsaBaseline) {
        // Samples without a measured mean (k == S) are stashed with every step: harmless, and
        // their rows_impl pass then only normalises.
        if constexpr (ISA == kIsaAvx2)
          avx2::gray_row<NC>(job, buf, st, out, plane, steps, k, lanes);
        else
          avx512::gray_row<NC>(job, buf, st, out, plane, steps, k, lanes);
        continue;
      }
#endif
      color_row_plain<NC>(buf, C, st, s.OW, steps, k, job.ri, job.bi, job.p.bound);
      if (out != nullptr)
        for (int c = 0; c < C; ++c)
          std::memcpy(out + c * plane, buf + c * st, s.OW * sizeof(float));
      if (!measure) continue;
      const float* r = buf + (C == 3 ? job.ri : 0) * st;
      const float* g = buf + (C == 3 ? 1 : 0) * st;
      const float* bl = buf + (C == 3 ? job.bi : 0) * st;
      int64_t i = 0;
      for (; i + 8 <= s.OW; i += 8)
        for (int j = 0; j < 8; ++j)
          lanes[j] += static_cast<double>(C == 3 ? gray_of(r[i + j], g[i + j], bl[i + j])
                                                 : r[i + j]);
      gray_sum_tail(r, g, bl, C, i, s.OW, lanes);
    }
    partial[u] = measure ? ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                               ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
                         : 0.0;
  }
}

// Per-ISA copies of the row loops, chosen per call (csrc/bindings/augment.cpp reads
// GEOMAUG_CPU_ISA), so that tests check every variant this CPU runs.
#define GEOMAUG_ROW_VARIANT(NAME, ISA, ATTR)                                                   \
  template <int NC, typename T, typename O>                                                   \
  ATTR void rows_##NAME(const Job<T, O>& job, int64_t begin, int64_t end, float* buf,         \
                        bool stashed) {                                                       \
    rows_impl<NC, ISA>(job, begin, end, buf, stashed);                                        \
  }                                                                                           \
  template <int NC, typename T, typename O>                                                   \
  ATTR void mean_##NAME(const Job<T, O>& job, int64_t chunks, int64_t begin, int64_t end,     \
                        float* buf, double* partial, bool stash) {                            \
    mean_impl<NC, ISA>(job, chunks, begin, end, buf, partial, stash);                         \
  }

GEOMAUG_ROW_VARIANT(baseline, kIsaBaseline, )
#ifdef GEOMAUG_HAVE_X86_VARIANTS
GEOMAUG_ROW_VARIANT(avx2, kIsaAvx2, __attribute__((target(GEOMAUG_AVX2_TARGET))))
GEOMAUG_ROW_VARIANT(avx512, kIsaAvx512, __attribute__((target(GEOMAUG_AVX512_TARGET))))
#endif
#undef GEOMAUG_ROW_VARIANT

template <int NC, typename T, typename O>
void run_rows(const Job<T, O>& job, int isa, int64_t begin, int64_t end, float* buf,
              bool stashed) {
#ifdef GEOMAUG_HAVE_X86_VARIANTS
  if (isa == kIsaAvx512) return rows_avx512<NC>(job, begin, end, buf, stashed);
  if (isa == kIsaAvx2) return rows_avx2<NC>(job, begin, end, buf, stashed);
#endif
  rows_baseline<NC>(job, begin, end, buf, stashed);
}

template <int NC, typename T, typename O>
void run_mean(const Job<T, O>& job, int isa, int64_t chunks, int64_t begin, int64_t end,
              float* buf, double* partial, bool stash) {
#ifdef GEOMAUG_HAVE_X86_VARIANTS
  if (isa == kIsaAvx512) return mean_avx512<NC>(job, chunks, begin, end, buf, partial, stash);
  if (isa == kIsaAvx2) return mean_avx2<NC>(job, chunks, begin, end, buf, partial, stash);
#endif
  mean_baseline<NC>(job, chunks, begin, end, buf, partial, stash);
}

template <int NC, typename T, typename O>
void run_all(Job<T, O>& job, std::vector<ColorStep>& steps, bool any_measured, int isa,
             const ParallelFor& parallel_for) {
  const AugmentShape& s = job.s;
  const int64_t floats = 6 * job.stride;
  // A float output holds the values at the measured step until the second pass reads them back.
  const bool stash = any_measured && std::is_same_v<O, float>;
  if (any_measured) {
    const int64_t chunks = (s.OH + kMeanChunkRows - 1) / kMeanChunkRows;
    std::vector<double> partial(static_cast<size_t>(s.B * chunks));
    parallel_for(s.B * chunks, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> buf(static_cast<size_t>(floats));
      run_mean<NC>(job, isa, chunks, begin, end, buf.data(), partial.data(), stash);
    });
    const double count = static_cast<double>(s.OH) * static_cast<double>(s.OW);
    for (int64_t b = 0; b < s.B; ++b) {
      if (job.first[b] >= s.S) continue;
      double sum = 0.0;
      for (int64_t j = 0; j < chunks; ++j) sum += partial[b * chunks + j];
      set_measured_mean(steps[b * s.S + job.first[b]], sum, count);
    }
  }
  // ~16k output pixels per task keeps the threads busy without tiny tasks.
  const int64_t grain = (16384 + s.OW - 1) / s.OW;
  parallel_for(s.B * s.OH, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> buf(static_cast<size_t>(floats));
    run_rows<NC>(job, isa, begin, end, buf.data(), stash);
  });
}

}  // namespace

template <typename T, typename O>
void augment_cpu(const T* src, O* dst, const AugmentShape& s, const double* matrices,
                 const AugmentParams& params, const ColorProgramArgs& program, int isa,
                 const ParallelFor& parallel_for) {
  if (s.B * s.C * s.OH * s.OW == 0) return;
  isa = std::min(isa, cpu_best_isa());
  std::vector<InverseMap<float>> maps(static_cast<size_t>(s.B));
  std::vector<ColorStep> steps(static_cast<size_t>(s.B * s.S));
  std::vector<int> first(static_cast<size_t>(s.B), static_cast<int>(s.S));
  bool any_measured = false;
  for (int64_t b = 0; b < s.B; ++b) {
    maps[b] = make_inverse_map<float>(matrices + 9 * b);
    for (int64_t k = 0; k < s.S; ++k) {
      const int64_t i = b * s.S + k;
      steps[i] = make_color_step(static_cast<int>(program.ops[i]), program.factors[i],
                                 program.means[i]);
      if (steps[i].measured && first[b] == s.S) {
        first[b] = static_cast<int>(k);
        any_measured = true;
      }
    }
  }
  // 32-bit offsets for the SIMD resample; the 8-byte row loads of interleaved RGB need 3 columns
  // and 8-byte rows (as the warp's interleaved path: the top load reads two bytes into the next
  // row).
  const int64_t extent = (s.H - 1) * s.s_h + (s.W - 1) * s.s_w + (s.C - 1) * s.s_c + 8;
  int layout = kOther;
  const bool offsets32 = extent < (int64_t(1) << 31) - 64 && s.s_h >= 0 && s.s_w >= 0 &&
                         s.s_c >= 0;
  // float32: pairs of adjacent floats per tap row (resample_row); other strides per pixel.
  if (std::is_same_v<T, float> && offsets32 && s.C <= 4) {
    if (s.s_w == 1) layout = kFloatPlanar;  // CHW, (H, W)
    else if (s.s_c == 1 && s.s_w == s.C) layout = kFloatInterleaved;  // HWC, channels-last
  }
  if (std::is_same_v<T, uint8_t> && offsets32) {
    if (s.C == 3 && s.s_c == 1 && s.s_w == 3 && s.W >= 3 && s.s_h >= 8) layout = kInterleaved3;
    else if (s.s_w == 1 && s.s_h >= 2) layout = kPlanar;
  }
  Job<T, O> job{src, dst, s, params, maps.data(), steps.data(), first.data(),
                params.order == kBGR ? 2 : 0, params.order == kBGR ? 0 : 2,
                (s.OW + 15) / 16 * 16, layout, offsets32};
  if (s.C == 3) run_all<3>(job, steps, any_measured, isa, parallel_for);
  else if (s.C == 1) run_all<1>(job, steps, any_measured, isa, parallel_for);
  else run_all<0>(job, steps, any_measured, isa, parallel_for);
}

#define GEOMAUG_INSTANTIATE(T, O)                                                           \
  template void augment_cpu<T, O>(const T*, O*, const AugmentShape&, const double*,         \
                                  const AugmentParams&, const ColorProgramArgs&, int,       \
                                  const ParallelFor&);
GEOMAUG_AUGMENT_TYPES(GEOMAUG_INSTANTIATE)
#undef GEOMAUG_INSTANTIATE

}  // namespace geomaug
