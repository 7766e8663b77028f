// The CPU warp kernel's interior row loops, each compiled for the baseline x86-64 (or any other
// target) and, on x86-64, for AVX2 and AVX-512; the variant is chosen per call (warp_cpu.cpp).
// No fused multiply-adds anywhere in this file: every variant computes, bit for bit, what
// warp_pixel (warp_math.h) and the PyTorch path compute.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
// GCC 12's own AVX-512 headers trip this (their _mm512_undefined_* idiom), not this file's code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <cstring>
#include <type_traits>

#include "simd_loads.h"
#include "warp_cpu_rows.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define GEOMAUG_X86_VARIANTS 1
#include <immintrin.h>
#define GEOMAUG_TARGET_AVX2 __attribute__((target("avx2")))
#define GEOMAUG_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#else
#define GEOMAUG_X86_VARIANTS 0
#endif

namespace geomaug {

namespace {

// round_even() of warp_math.h without its `volatile` (this file is built without -ffast-math,
// so the compiler keeps the add/subtract pair): same results, no store and reload.
GEOMAUG_ALWAYS_INLINE float round_even_fast(float v) {
  constexpr float kTwo23 = 8388608.0f;
  if (!(std::fabs(v) < kTwo23)) return v;
  const float magic = std::copysign(kTwo23, v);
  return std::copysign((v + magic) - magic, v);
}
GEOMAUG_ALWAYS_INLINE double round_even_fast(double v) {
  constexpr double kTwo52 = 4503599627370496.0;
  if (!(std::fabs(v) < kTwo52)) return v;
  const double magic = std::copysign(kTwo52, v);
  return std::copysign((v + magic) - magic, v);
}

// ---- generic bilinear: any element type, strides and channel count --------------------------
template <typename T>
GEOMAUG_ALWAYS_INLINE void bilinear_span_body(const T* plane, T* out, const WarpShape& s,
                                         const RowMap<typename SampleType<T>::type>& r,
                                         int64_t xb, int64_t xe) {
  using S = typename SampleType<T>::type;
  const int64_t sh = s.s_h, sw = s.s_w, sc = s.s_c, dw = s.d_w, dc = s.d_c, C = s.C;
  for (int64_t ox = xb; ox < xe; ++ox) {
    const S sx = r.sx(ox), sy = r.sy(ox);
    const int64_t x0 = static_cast<int64_t>(sx), y0 = static_cast<int64_t>(sy);  // >= 0: floor
    const BilinearWeights<S> w(sx - static_cast<S>(x0), sy - static_cast<S>(y0));
    const T* p0 = plane + y0 * sh + x0 * sw;
    T* o = out + ox * dw;
    for (int64_t c = 0; c < C; ++c) {
      const T* q = p0 + c * sc;
      S v = w.w0 * static_cast<S>(q[0]);
      v += w.w1 * static_cast<S>(q[sw]);
      v += w.w2 * static_cast<S>(q[sh]);
      v += w.w3 * static_cast<S>(q[sh + sw]);
      if constexpr (std::is_same_v<T, uint8_t>) {
        o[c * dc] = static_cast<uint8_t>(round_even_fast(v));  // in [0, 255]: convex weights
      } else {
        o[c * dc] = Store<T>::from(v);
      }
    }
  }
}

// ---- uint8, channels interleaved (HWC / channels-last), C = 3 or 4, in and out --------------
// Four pixels' coordinates and weights at a time in 4-lane vectors; then per pixel the two source
// rows' 2-pixel runs as four 4-byte loads (C = 3: at p and p + 2, so nothing past the last tap is
// read), widened to one 4-lane float vector per tap (lanes = channels), weighted and summed as
// warp_pixel does, rounded half to even (cvtps2dq in the default rounding mode).  SSE2 intrinsics:
// the AVX2 / AVX-512 variants are the same code in VEX / EVEX encoding.
#if GEOMAUG_X86_VARIANTS
GEOMAUG_ALWAYS_INLINE uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

GEOMAUG_ALWAYS_INLINE __m128 widen(uint32_t bytes) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i b = _mm_cvtsi32_si128(static_cast<int>(bytes));
  return _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(b, zero), zero));
}

// One pixel: taps at p (row y0, column x0), weights w; returns the C bytes in a 32-bit word.
// Top row: 8 bytes from p (the bottom row follows, so p + 7 is inside the image); bottom row:
// 8 bytes ending at its last tap byte (C = 3: from p + sh - 2, shifted down 2 bytes).
template <int C>
GEOMAUG_ALWAYS_INLINE uint32_t u8_pixel(const uint8_t* p, int64_t sh, float w0, float w1, float w2,
                                   float w3) {
  const __m128i top = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  const __m128i bot =
      C == 3 ? _mm_srli_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + sh - 2)), 16)
             : _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + sh));
  const __m128i zero = _mm_setzero_si128();
  const __m128i t16 = _mm_unpacklo_epi8(top, zero), b16 = _mm_unpacklo_epi8(bot, zero);
  const __m128 q00 = _mm_cvtepi32_ps(_mm_unpacklo_epi16(t16, zero));
  const __m128 q01 = _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_srli_si128(t16, 2 * C), zero));
  const __m128 q10 = _mm_cvtepi32_ps(_mm_unpacklo_epi16(b16, zero));
  const __m128 q11 = _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_srli_si128(b16, 2 * C), zero));
  __m128 v = _mm_mul_ps(_mm_set1_ps(w0), q00);
  v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(w1), q01));
  v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(w2), q10));
  v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(w3), q11));
  __m128i q = _mm_cvtps_epi32(v);  // values in [0, 255]: convex weights
  q = _mm_packus_epi16(_mm_packs_epi32(q, q), q);
  return static_cast<uint32_t>(_mm_cvtsi128_si32(q));
}

// Stores pixel ox's C bytes: 4 bytes when ox < wide_end (C = 3: one byte into the next pixel,
// which is written after this one), else exactly C.
template <int C>
GEOMAUG_ALWAYS_INLINE void store_u8(uint8_t* out, int64_t ox, int64_t wide_end, uint32_t word) {
  uint8_t* o = out + ox * C;
  if (ox < wide_end) {
    std::memcpy(o, &word, 4);
  } else {
    for (int c = 0; c < C; ++c) o[c] = static_cast<uint8_t>(word >> (8 * c));
  }
}

template <int C>
GEOMAUG_ALWAYS_INLINE void u8_interleaved_span_body(const uint8_t* plane, uint8_t* out,
                                               const WarpShape& s, const RowMap<float>& r,
                                               int64_t xb, int64_t xe) {
  static_assert(C == 3 || C == 4, "3 or 4 interleaved channels");
  const int64_t sh = s.s_h;
  const int64_t wide_end = (C == 3 && xe == s.OW) ? xe - 1 : xe;
  const __m128 m0 = _mm_set1_ps(r.m0), bx = _mm_set1_ps(r.bx), m3 = _mm_set1_ps(r.m3),
               by = _mm_set1_ps(r.by), one = _mm_set1_ps(1.0f), iota = _mm_set_ps(3, 2, 1, 0);
  alignas(16) int32_t x0s[4], y0s[4];
  alignas(16) float w0s[4], w1s[4], w2s[4], w3s[4];
  for (int64_t ox4 = xb; ox4 < xe; ox4 += 4) {
    // Columns ox4 .. ox4 + 3 (past xe: computed, not used).  x is exact in float below 2^24.
    const __m128 x = _mm_add_ps(_mm_set1_ps(static_cast<float>(ox4)), iota);
    const __m128 sx = _mm_add_ps(_mm_mul_ps(m0, x), bx), sy = _mm_add_ps(_mm_mul_ps(m3, x), by);
    const __m128i x0 = _mm_cvttps_epi32(sx), y0 = _mm_cvttps_epi32(sy);  // interior: floor
    const __m128 ax = _mm_sub_ps(sx, _mm_cvtepi32_ps(x0)), ay = _mm_sub_ps(sy, _mm_cvtepi32_ps(y0));
    const __m128 bx_ = _mm_sub_ps(one, ax), by_ = _mm_sub_ps(one, ay);
    _mm_store_si128(reinterpret_cast<__m128i*>(x0s), x0);
    _mm_store_si128(reinterpret_cast<__m128i*>(y0s), y0);
    _mm_store_ps(w0s, _mm_mul_ps(by_, bx_));
    _mm_store_ps(w1s, _mm_mul_ps(by_, ax));
    _mm_store_ps(w2s, _mm_mul_ps(ay, bx_));
    _mm_store_ps(w3s, _mm_mul_ps(ay, ax));
    const int n = xe - ox4 < 4 ? static_cast<int>(xe - ox4) : 4;
    for (int j = 0; j < n; ++j) {
      const uint8_t* p = plane + static_cast<int64_t>(y0s[j]) * sh + static_cast<int64_t>(x0s[j]) * C;
      store_u8<C>(out, ox4 + j, wide_end, u8_pixel<C>(p, sh, w0s[j], w1s[j], w2s[j], w3s[j]));
    }
  }
}

// The same with 256-bit vectors (AVX2 and up): eight pixels' coordinates and weights at a time,
// then two pixels per vector (one per 128-bit half).  Offsets in 32 bits: only for sources whose
// extent is below 2^31 bytes (pick() checks).
#define GEOMAUG_U8_SPAN_256(NAME, TARGET)                                                               \
  template <int C>                                                                                 \
  TARGET void NAME(const uint8_t* plane, uint8_t* out, const WarpShape& s, const RowMap<float>& r, \
                   int64_t xb, int64_t xe) {                                                       \
    const int64_t sh = s.s_h;                                                                      \
    const int64_t wide_end = (C == 3 && xe == s.OW) ? xe - 1 : xe;                                 \
    const __m256 m0 = _mm256_set1_ps(r.m0), bx = _mm256_set1_ps(r.bx), m3 = _mm256_set1_ps(r.m3), \
                 by = _mm256_set1_ps(r.by), one = _mm256_set1_ps(1.0f),                            \
                 iota = _mm256_set_ps(7, 6, 5, 4, 3, 2, 1, 0);                                     \
    const __m256i shv = _mm256_set1_epi32(static_cast<int32_t>(sh));                               \
    const __m128i pick = C == 3 ? _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 3, 4, 5, 6, 11, 12, 13, 14) \
                                : _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15); \
    alignas(32) int32_t offs[8];                                                                   \
    for (int64_t ox8 = xb; ox8 < xe; ox8 += 8) {                                                   \
      const __m256 x = _mm256_add_ps(_mm256_set1_ps(static_cast<float>(ox8)), iota);               \
      const __m256 sx = _mm256_add_ps(_mm256_mul_ps(m0, x), bx);                                   \
      const __m256 sy = _mm256_add_ps(_mm256_mul_ps(m3, x), by);                                   \
      const __m256i x0 = _mm256_cvttps_epi32(sx), y0 = _mm256_cvttps_epi32(sy);                    \
      const __m256 ax = _mm256_sub_ps(sx, _mm256_cvtepi32_ps(x0));                                 \
      const __m256 ay = _mm256_sub_ps(sy, _mm256_cvtepi32_ps(y0));                                 \
      const __m256 bx_ = _mm256_sub_ps(one, ax), by_ = _mm256_sub_ps(one, ay);                     \
      const __m256 w0 = _mm256_mul_ps(by_, bx_), w1 = _mm256_mul_ps(by_, ax);                      \
      const __m256 w2 = _mm256_mul_ps(ay, bx_), w3 = _mm256_mul_ps(ay, ax);                        \
      const __m256i off = _mm256_add_epi32(_mm256_mullo_epi32(y0, shv),                            \
                                           _mm256_mullo_epi32(x0, _mm256_set1_epi32(C)));          \
      _mm256_store_si256(reinterpret_cast<__m256i*>(offs), off);                                   \
      const int n = xe - ox8 < 8 ? static_cast<int>(xe - ox8) : 8;                                 \
      int j = 0;                                                                                   \
      for (; j + 2 <= n; j += 2) {                                                                 \
        const uint8_t* pa = plane + offs[j];                                                       \
        const uint8_t* pb = plane + offs[j + 1];                                                   \
        const __m128i top = _mm_unpacklo_epi64(                                                    \
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pa)),                                 \
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pb)));                                \
        __m128i bot;                                                                               \
        if (C == 3) {                                                                              \
          bot = _mm_srli_epi64(                                                                    \
              _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pa + sh - 2)),   \
                                 _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pb + sh - 2))),  \
              16);                                                                                 \
        } else {                                                                                   \
          bot = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pa + sh)),     \
                                   _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pb + sh)));    \
        }                                                                                          \
        const __m128i t = _mm_shuffle_epi8(top, pick), b = _mm_shuffle_epi8(bot, pick);            \
        const __m256 q00 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(t));                            \
        const __m256 q01 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(t, t)));     \
        const __m256 q10 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));                            \
        const __m256 q11 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(b, b)));     \
        const __m256i lanes = _mm256_setr_epi32(j, j, j, j, j + 1, j + 1, j + 1, j + 1);           \
        __m256 v = _mm256_mul_ps(_mm256_permutevar8x32_ps(w0, lanes), q00);                        \
        v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_permutevar8x32_ps(w1, lanes), q01));             \
        v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_permutevar8x32_ps(w2, lanes), q10));             \
        v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_permutevar8x32_ps(w3, lanes), q11));             \
        __m256i q = _mm256_cvtps_epi32(v);                                                         \
        q = _mm256_packus_epi16(_mm256_packs_epi32(q, q), q);                                      \
        store_u8<C>(out, ox8 + j, wide_end,                                                        \
                    static_cast<uint32_t>(_mm_cvtsi128_si32(_mm256_castsi256_si128(q))));          \
        store_u8<C>(out, ox8 + j + 1, wide_end,                                                    \
                    static_cast<uint32_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(q, 1))));     \
      }                                                                                            \
      if (j < n) {                                                                                 \
        alignas(32) float ws[4][8];                                                                \
        _mm256_store_ps(ws[0], w0);                                                                \
        _mm256_store_ps(ws[1], w1);                                                                \
        _mm256_store_ps(ws[2], w2);                                                                \
        _mm256_store_ps(ws[3], w3);                                                                \
        store_u8<C>(out, ox8 + j, wide_end,                                                        \
                    u8_pixel<C>(plane + offs[j], sh, ws[0][j], ws[1][j], ws[2][j], ws[3][j]));     \
      }                                                                                            \
    }                                                                                              \
  }

// AVX-512: sixteen pixels' coordinates and weights at a time, four pixels per 512-bit vector,
// results narrowed with saturation and stored with a byte mask (exactly 4 C bytes).
template <int C>
GEOMAUG_TARGET_AVX512 void avx512_u8_quad(const uint8_t* plane, uint8_t* out, const WarpShape& s,
                                     const RowMap<float>& r, int64_t xb, int64_t xe) {
  const int64_t sh = s.s_h;
  const int64_t wide_end = (C == 3 && xe == s.OW) ? xe - 1 : xe;
  const __m512 m0 = _mm512_set1_ps(r.m0), bx = _mm512_set1_ps(r.bx), m3 = _mm512_set1_ps(r.m3),
               by = _mm512_set1_ps(r.by), one = _mm512_set1_ps(1.0f),
               iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i shv = _mm512_set1_epi32(static_cast<int32_t>(sh));
  const __m256i pick = C == 3 ? _mm256_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 3, 4, 5, 6, 11, 12, 13, 14,
                                                 0, 1, 2, 3, 8, 9, 10, 11, 3, 4, 5, 6, 11, 12, 13, 14)
                              : _mm256_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15,
                                                 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15);
  const __m128i compact = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  const __mmask16 store_mask = C == 3 ? 0x0fff : 0xffff;
  alignas(64) int32_t offs[16];
  alignas(64) float ws[4][16];
  for (int64_t ox16 = xb; ox16 < xe; ox16 += 16) {
    const __m512 x = _mm512_add_ps(_mm512_set1_ps(static_cast<float>(ox16)), iota);
    const __m512 sx = _mm512_add_ps(_mm512_mul_ps(m0, x), bx);
    const __m512 sy = _mm512_add_ps(_mm512_mul_ps(m3, x), by);
    const __m512i x0 = _mm512_cvttps_epi32(sx), y0 = _mm512_cvttps_epi32(sy);
    const __m512 ax = _mm512_sub_ps(sx, _mm512_cvtepi32_ps(x0));
    const __m512 ay = _mm512_sub_ps(sy, _mm512_cvtepi32_ps(y0));
    const __m512 bx_ = _mm512_sub_ps(one, ax), by_ = _mm512_sub_ps(one, ay);
    const __m512 w0 = _mm512_mul_ps(by_, bx_), w1 = _mm512_mul_ps(by_, ax);
    const __m512 w2 = _mm512_mul_ps(ay, bx_), w3 = _mm512_mul_ps(ay, ax);
    _mm512_store_si512(offs, _mm512_add_epi32(_mm512_mullo_epi32(y0, shv),
                                              _mm512_mullo_epi32(x0, _mm512_set1_epi32(C))));
    const int n = xe - ox16 < 16 ? static_cast<int>(xe - ox16) : 16;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const uint8_t* p[4] = {plane + offs[j], plane + offs[j + 1], plane + offs[j + 2],
                             plane + offs[j + 3]};
      __m128i tops[2], bots[2];
      for (int h = 0; h < 2; ++h) {
        const uint8_t* pa = p[2 * h];
        const uint8_t* pb = p[2 * h + 1];
        tops[h] = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pa)),
                                     _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pb)));
        if (C == 3) {
          bots[h] = _mm_srli_epi64(
              _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pa + sh - 2)),
                                 _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pb + sh - 2))),
              16);
        } else {
          bots[h] = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pa + sh)),
                                       _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pb + sh)));
        }
      }
      // Per 128-bit half: [q00 of 2 pixels (8 bytes) | q01 of 2 pixels]; regroup 64-bit quarters
      // to [q00 of 4 pixels | q01 of 4 pixels].
      const __m256i t = _mm256_permute4x64_epi64(
          _mm256_shuffle_epi8(_mm256_set_m128i(tops[1], tops[0]), pick), 0xd8);
      const __m256i b = _mm256_permute4x64_epi64(
          _mm256_shuffle_epi8(_mm256_set_m128i(bots[1], bots[0]), pick), 0xd8);
      const __m512 q00 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(t)));
      const __m512 q01 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(t, 1)));
      const __m512 q10 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(b)));
      const __m512 q11 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(b, 1)));
      const __m512i lanes = _mm512_setr_epi32(j, j, j, j, j + 1, j + 1, j + 1, j + 1, j + 2, j + 2,
                                              j + 2, j + 2, j + 3, j + 3, j + 3, j + 3);
      __m512 v = _mm512_mul_ps(_mm512_permutexvar_ps(lanes, w0), q00);
      v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_permutexvar_ps(lanes, w1), q01));
      v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_permutexvar_ps(lanes, w2), q10));
      v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_permutexvar_ps(lanes, w3), q11));
      __m128i bytes = _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(v));
      if (C == 3) bytes = _mm_shuffle_epi8(bytes, compact);
      _mm_mask_storeu_epi8(out + (ox16 + j) * C, store_mask, bytes);
    }
    if (j < n) {
      _mm512_store_ps(ws[0], w0);
      _mm512_store_ps(ws[1], w1);
      _mm512_store_ps(ws[2], w2);
      _mm512_store_ps(ws[3], w3);
      for (; j < n; ++j)
        store_u8<C>(out, ox16 + j, wide_end,
                    u8_pixel<C>(plane + offs[j], sh, ws[0][j], ws[1][j], ws[2][j], ws[3][j]));
    }
  }
}

GEOMAUG_U8_SPAN_256(avx2_u8_wide, GEOMAUG_TARGET_AVX2)
#else
template <int C>
GEOMAUG_ALWAYS_INLINE void u8_interleaved_span_body(const uint8_t* plane, uint8_t* out,
                                               const WarpShape& s, const RowMap<float>& r,
                                               int64_t xb, int64_t xe) {
  bilinear_span_body<uint8_t>(plane, out, s, r, xb, xe);
}
#endif

// ---- nearest: any element type, strides and channel count ----------------------------------
// Rounding the clamped coordinate equals clamping the rounded one (monotone, integer bounds).
template <typename T>
GEOMAUG_ALWAYS_INLINE void nearest_span_body(const T* plane, T* out, const WarpShape& s,
                                        const RowMap<typename SampleType<T>::type>& r, int64_t xb,
                                        int64_t xe) {
  using S = typename SampleType<T>::type;
  const S W1 = static_cast<S>(s.W - 1), H1 = static_cast<S>(s.H - 1);
  const int64_t C = s.C, sh = s.s_h, sw = s.s_w, sc = s.s_c, dw = s.d_w, dc = s.d_c;
  for (int64_t ox = xb; ox < xe; ++ox) {
    S sx = r.sx(ox), sy = r.sy(ox);
    sx = sx < S(0) ? S(0) : (sx > W1 ? W1 : sx);
    sy = sy < S(0) ? S(0) : (sy > H1 ? H1 : sy);
    const int64_t x = static_cast<int64_t>(round_even_fast(sx));
    const int64_t y = static_cast<int64_t>(round_even_fast(sy));
    const T* q = plane + y * sh + x * sw;
    T* o = out + ox * dw;
    if (C == 1) {
      o[0] = q[0];
    } else {
      for (int64_t c = 0; c < C; ++c) o[c * dc] = q[c * sc];
    }
  }
}

#if GEOMAUG_X86_VARIANTS
// Nearest with float coordinates (every type but float64) from sources whose extent is below 2^31
// elements (pick() checks).  A row's interior span runs in chunks of kNearestChunk columns: first
// the chunk's source offsets, 4 / 8 / 16 columns at a time, into a small buffer, then the copies
// from those offsets.  Coordinates: x advances by the vector width (exact in float below 2^24;
// wider rows take the scalar loop), sx = m0 x + bx and sy = m3 x + by as warp_pixel computes them,
// clamped above to W - 1 / H - 1
// and rounded half to even by cvtps2dq (the default rounding mode).  No clamp below: an interior
// point has sx >= -0.5, which rounds to 0.  Offsets y sh + x sw: one pmaddwd on (x, y) packed as
// 16-bit pairs where every index and stride fits in 15 bits (`packed`), else 32-bit products.
constexpr int kNearestChunk = 512;

// Whether the offsets can come from pmaddwd: indices and strides below 2^15.
inline bool nearest_packed(const WarpShape& s) {
  return s.W <= 32768 && s.H <= 32768 && s.s_w >= 0 && s.s_w < 32768 && s.s_h >= 0 &&
         s.s_h < 32768;
}

// The copies: n pixels from source offsets offs[0..n) (channel 0).  Planar rows (masks, NCHW)
// channel by channel, bytes gathered eight at a time into one 8-byte store; interleaved rows
// pixel by pixel.
template <typename T>
GEOMAUG_ALWAYS_INLINE void nearest_copy(const T* plane, T* out, const int32_t* offs, int n,
                                        const WarpShape& s) {
  const int64_t C = s.C, sc = s.s_c, dw = s.d_w, dc = s.d_c;
  if (dw == 1) {
    for (int64_t c = 0; c < C; ++c) {
      const T* p = plane + c * sc;
      T* o = out + c * dc;
      const int32_t* q = offs;
      int m = n;
      if constexpr (sizeof(T) == 1) {
        for (; m >= 8; m -= 8, q += 8, o += 8) {
          uint64_t word = 0;
          for (int k = 0; k < 8; ++k)
            word |= static_cast<uint64_t>(static_cast<uint8_t>(p[q[k]])) << (8 * k);
          std::memcpy(o, &word, 8);
        }
      }
      for (int j = 0; j < m; ++j) o[j] = p[q[j]];
    }
  } else if (C == 1) {
    for (int j = 0; j < n; ++j) out[j * dw] = plane[offs[j]];
  } else {
    for (int j = 0; j < n; ++j)
      for (int64_t c = 0; c < C; ++c) out[j * dw + c * dc] = plane[offs[j] + c * sc];
  }
}

// A row's constants for the offsets of one vector width (plain structs: vector types as template
// arguments lose their alignment attributes).
#define GEOMAUG_NEAREST_ROW_STRUCT(NAME, VF, VI)                                                 \
  struct NAME {                                                                                \
    VF m0, bx, m3, by, W1, H1;                                                                 \
    VI shw, shv, swv; /* (s_h << 16 | s_w) for pmaddwd; s_h and s_w for 32-bit products */     \
    int32_t sh, sw;                                                                            \
    bool packed;                                                                               \
  };
GEOMAUG_NEAREST_ROW_STRUCT(NearestRow128, __m128, __m128i)
GEOMAUG_NEAREST_ROW_STRUCT(NearestRow256, __m256, __m256i)
GEOMAUG_NEAREST_ROW_STRUCT(NearestRow512, __m512, __m512i)
#undef GEOMAUG_NEAREST_ROW_STRUCT

#define GEOMAUG_NEAREST_ROW(ROW, SET1F, SET1I)                                                  \
  ROW c{SET1F(r.m0), SET1F(r.bx), SET1F(r.m3), SET1F(r.by),                    \
                       SET1F(static_cast<float>(s.W - 1)), SET1F(static_cast<float>(s.H - 1)),  \
                       SET1I(static_cast<int32_t>((s.s_h << 16) | (s.s_w & 0xffff))),           \
                       SET1I(static_cast<int32_t>(s.s_h)), SET1I(static_cast<int32_t>(s.s_w)),  \
                       static_cast<int32_t>(s.s_h), static_cast<int32_t>(s.s_w), nearest_packed(s)}

// Offsets of the columns in the vector x, stored at o.
GEOMAUG_ALWAYS_INLINE void nearest_offsets(const NearestRow128& c, __m128 x,
                                           int32_t* o) {
  const __m128 sx = _mm_add_ps(_mm_mul_ps(c.m0, x), c.bx);
  const __m128 sy = _mm_add_ps(_mm_mul_ps(c.m3, x), c.by);
  const __m128i xi = _mm_cvtps_epi32(_mm_min_ps(sx, c.W1));
  const __m128i yi = _mm_cvtps_epi32(_mm_min_ps(sy, c.H1));
  if (c.packed) {
    _mm_store_si128(reinterpret_cast<__m128i*>(o),
                    _mm_madd_epi16(_mm_or_si128(xi, _mm_slli_epi32(yi, 16)), c.shw));
    return;
  }
  alignas(16) int32_t xs[4], ys[4];  // SSE2 has no 32-bit vector product
  _mm_store_si128(reinterpret_cast<__m128i*>(xs), xi);
  _mm_store_si128(reinterpret_cast<__m128i*>(ys), yi);
  for (int j = 0; j < 4; ++j) o[j] = ys[j] * c.sh + xs[j] * c.sw;
}

GEOMAUG_TARGET_AVX2 GEOMAUG_ALWAYS_INLINE void nearest_offsets(
    const NearestRow256& c, __m256 x, int32_t* o) {
  const __m256 sx = _mm256_add_ps(_mm256_mul_ps(c.m0, x), c.bx);
  const __m256 sy = _mm256_add_ps(_mm256_mul_ps(c.m3, x), c.by);
  const __m256i xi = _mm256_cvtps_epi32(_mm256_min_ps(sx, c.W1));
  const __m256i yi = _mm256_cvtps_epi32(_mm256_min_ps(sy, c.H1));
  const __m256i off =
      c.packed ? _mm256_madd_epi16(_mm256_or_si256(xi, _mm256_slli_epi32(yi, 16)), c.shw)
               : _mm256_add_epi32(_mm256_mullo_epi32(yi, c.shv), _mm256_mullo_epi32(xi, c.swv));
  _mm256_store_si256(reinterpret_cast<__m256i*>(o), off);
}

GEOMAUG_TARGET_AVX512 GEOMAUG_ALWAYS_INLINE void nearest_offsets(
    const NearestRow512& c, __m512 x, int32_t* o) {
  const __m512 sx = _mm512_add_ps(_mm512_mul_ps(c.m0, x), c.bx);
  const __m512 sy = _mm512_add_ps(_mm512_mul_ps(c.m3, x), c.by);
  const __m512i xi = _mm512_cvtps_epi32(_mm512_min_ps(sx, c.W1));
  const __m512i yi = _mm512_cvtps_epi32(_mm512_min_ps(sy, c.H1));
  const __m512i off =
      c.packed ? _mm512_madd_epi16(_mm512_or_si512(xi, _mm512_slli_epi32(yi, 16)), c.shw)
               : _mm512_add_epi32(_mm512_mullo_epi32(yi, c.shv), _mm512_mullo_epi32(xi, c.swv));
  _mm512_store_si512(o, off);
}

// The span loop of one vector width (c: its NearestRow; iota: the lanes 0, 1, ...).
#define GEOMAUG_NEAREST_CHUNKS(LANES, VF, SET1F, ADDF)                                          \
  if (xe > (int64_t(1) << 24)) return nearest_span_body<T>(plane, out, s, r, xb, xe);          \
  alignas(64) int32_t offs[kNearestChunk];                                                     \
  const VF step = SET1F(static_cast<float>(LANES));                                            \
  VF x = ADDF(SET1F(static_cast<float>(xb)), iota);                                            \
  for (int64_t x0 = xb; x0 < xe; x0 += kNearestChunk) {                                        \
    const int n = xe - x0 < kNearestChunk ? static_cast<int>(xe - x0) : kNearestChunk;         \
    for (int k = 0; k < n; k += LANES, x = ADDF(x, step)) nearest_offsets(c, x, offs + k);     \
    nearest_copy<T>(plane, out + x0 * s.d_w, offs, n, s);                                      \
  }

template <typename T>
void baseline_nearest_wide(const T* plane, T* out, const WarpShape& s, const RowMap<float>& r,
                           int64_t xb, int64_t xe) {
  GEOMAUG_NEAREST_ROW(NearestRow128, _mm_set1_ps, _mm_set1_epi32);
  const __m128 iota = _mm_setr_ps(0, 1, 2, 3);
  GEOMAUG_NEAREST_CHUNKS(4, __m128, _mm_set1_ps, _mm_add_ps)
}

template <typename T>
GEOMAUG_TARGET_AVX2 void avx2_nearest_wide(const T* plane, T* out, const WarpShape& s,
                                           const RowMap<float>& r, int64_t xb, int64_t xe) {
  GEOMAUG_NEAREST_ROW(NearestRow256, _mm256_set1_ps, _mm256_set1_epi32);
  const __m256 iota = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
  GEOMAUG_NEAREST_CHUNKS(8, __m256, _mm256_set1_ps, _mm256_add_ps)
}

template <typename T>
GEOMAUG_TARGET_AVX512 void avx512_nearest_wide(const T* plane, T* out, const WarpShape& s,
                                               const RowMap<float>& r, int64_t xb, int64_t xe) {
  GEOMAUG_NEAREST_ROW(NearestRow512, _mm512_set1_ps, _mm512_set1_epi32);
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  GEOMAUG_NEAREST_CHUNKS(16, __m512, _mm512_set1_ps, _mm512_add_ps)
}
#undef GEOMAUG_NEAREST_ROW
#undef GEOMAUG_NEAREST_CHUNKS
#endif

#if GEOMAUG_X86_VARIANTS
// ---- float32, planar (CHW, (H, W)) or interleaved (HWC, channels-last) alike in and out -------
// 8 columns at a time: x exact in float (rows below 2^24 columns; wider rows take the scalar
// loop), coordinates and weights as RowMap and BilinearWeights compute them, each tap row's two
// pixels read as pairs of adjacent floats (float_pairs8), weighted and summed in warp_pixel's
// order; interleaved blocks stored pixel by pixel.  The AVX-512 variant runs this 8-lane loop too
// (no 16-lane version: the fused kernel's planar float rows measured 0.77x the time with 8 lanes
// than with 16, its interleaved ones 1.07x; not measured for this loop).  Offsets 32-bit (pick()
// checks the extent).
// w0 q00 + w1 q01 + w2 q10 + w3 q11, left to right (warp_pixel's order).
GEOMAUG_TARGET_AVX2 GEOMAUG_ALWAYS_INLINE __m256 weighted8(const __m256* w, __m256 q00, __m256 q01,
                                                          __m256 q10, __m256 q11) {
  __m256 v = _mm256_mul_ps(w[0], q00);
  v = _mm256_add_ps(v, _mm256_mul_ps(w[1], q01));
  v = _mm256_add_ps(v, _mm256_mul_ps(w[2], q10));
  return _mm256_add_ps(v, _mm256_mul_ps(w[3], q11));
}

template <bool PLANAR>
GEOMAUG_TARGET_AVX2 void avx2_f32_span(const float* plane, float* out, const WarpShape& s,
                                       const RowMap<float>& r, int64_t xb, int64_t xe) {
  const int C = static_cast<int>(s.C);
  const int32_t sh = static_cast<int32_t>(s.s_h), sw = static_cast<int32_t>(s.s_w);
  const int64_t sc = s.s_c, dc = s.d_c, dw = s.d_w;
  const __m256 m0 = _mm256_set1_ps(r.m0), bx = _mm256_set1_ps(r.bx), m3 = _mm256_set1_ps(r.m3),
               by = _mm256_set1_ps(r.by), one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps();
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  int64_t ox = xb;
  for (; xe <= (int64_t(1) << 24) && ox + 8 <= xe; ox += 8) {
    const __m256 x = _mm256_cvtepi32_ps(
        _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(ox)), iota));
    const __m256 sx = _mm256_add_ps(_mm256_mul_ps(m0, x), bx);
    const __m256 sy = _mm256_add_ps(_mm256_mul_ps(m3, x), by);
    const __m256i x0 = _mm256_cvttps_epi32(sx), y0 = _mm256_cvttps_epi32(sy);  // >= 0: floor
    const __m256 ax = _mm256_sub_ps(sx, _mm256_cvtepi32_ps(x0));
    const __m256 ay = _mm256_sub_ps(sy, _mm256_cvtepi32_ps(y0));
    const __m256 bxw = _mm256_sub_ps(one, ax), byw = _mm256_sub_ps(one, ay);
    const __m256 w0 = _mm256_mul_ps(byw, bxw), w1 = _mm256_mul_ps(byw, ax);
    const __m256 w2 = _mm256_mul_ps(ay, bxw), w3 = _mm256_mul_ps(ay, ax);
    const __m256i off = _mm256_add_epi32(_mm256_mullo_epi32(y0, _mm256_set1_epi32(sh)),
                                         _mm256_mullo_epi32(x0, _mm256_set1_epi32(sw)));
    const __m256 w[4] = {w0, w1, w2, w3};
    if constexpr (PLANAR) {
      for (int c = 0; c < C; ++c) {
        const float* q = plane + c * sc;
        __m256 t0, t1, b0, b1;
        float_pairs8(q, off, t0, t1);
        float_pairs8(q + sh, off, b0, b1);
        _mm256_storeu_ps(out + c * dc + ox, weighted8(w, t0, t1, b0, b1));
      }
    } else {  // element e of a tap row's 2C floats: channel e % C of pixel x0 + e / C
      __m256 e[2][8];
      for (int row = 0; row < 2; ++row)
        for (int k = 0; k < C; ++k)
          float_pairs8(plane + row * sh + 2 * k, off, e[row][2 * k], e[row][2 * k + 1]);
      __m256 v[4] = {zero, zero, zero, zero};
      for (int c = 0; c < C; ++c) v[c] = weighted8(w, e[0][c], e[0][C + c], e[1][c], e[1][C + c]);
      float* o = out + ox * dw;
      if (C >= 3) {  // 4x4 transposes in each 128-bit lane: pixel j's channels in t[j % 4]
        const __m256 t01 = _mm256_unpacklo_ps(v[0], v[1]), t23 = _mm256_unpacklo_ps(v[2], v[3]);
        const __m256 u01 = _mm256_unpackhi_ps(v[0], v[1]), u23 = _mm256_unpackhi_ps(v[2], v[3]);
        const __m256 t[4] = {_mm256_shuffle_ps(t01, t23, 0x44), _mm256_shuffle_ps(t01, t23, 0xee),
                             _mm256_shuffle_ps(u01, u23, 0x44), _mm256_shuffle_ps(u01, u23, 0xee)};
        // 16-byte stores in pixel order (C = 3: the fourth float is overwritten by the next
        // pixel's; the block's last pixel, at the span's end, stores exactly three)
        for (int j = 0; j < 8; ++j) {
          const __m128 p = j < 4 ? _mm256_castps256_ps128(t[j]) : _mm256_extractf128_ps(t[j - 4], 1);
          if (C == 4 || j < 7 || ox + 8 < xe) {
            _mm_storeu_ps(o + j * dw, p);
          } else {
            _mm_storel_pi(reinterpret_cast<__m64*>(o + j * dw), p);
            _mm_store_ss(o + j * dw + 2, _mm_movehl_ps(p, p));
          }
        }
      } else {
        alignas(32) float b[2][8];
        for (int c = 0; c < C; ++c) _mm256_store_ps(b[c], v[c]);
        for (int j = 0; j < 8; ++j)
          for (int c = 0; c < C; ++c) o[j * dw + c] = b[c][j];
      }
    }
  }
  bilinear_span_body<float>(plane, out, s, r, ox, xe);
}
#endif

// One function per loop and instruction set (attributes cannot depend on template arguments).
#define GEOMAUG_SPAN_FNS(PREFIX, TARGET)                                                             \
  template <typename T>                                                                         \
  TARGET void PREFIX##_bilinear(const T* p, T* o, const WarpShape& s,                           \
                                const RowMap<typename SampleType<T>::type>& r, int64_t xb,      \
                                int64_t xe) {                                                   \
    bilinear_span_body<T>(p, o, s, r, xb, xe);                                                  \
  }                                                                                             \
  template <typename T>                                                                         \
  TARGET void PREFIX##_nearest(const T* p, T* o, const WarpShape& s,                            \
                               const RowMap<typename SampleType<T>::type>& r, int64_t xb,       \
                               int64_t xe) {                                                    \
    nearest_span_body<T>(p, o, s, r, xb, xe);                                                   \
  }                                                                                             \
  template <int C>                                                                              \
  TARGET void PREFIX##_u8_interleaved(const uint8_t* p, uint8_t* o, const WarpShape& s,         \
                                      const RowMap<float>& r, int64_t xb, int64_t xe) {         \
    u8_interleaved_span_body<C>(p, o, s, r, xb, xe);                                            \
  }

#define GEOMAUG_NO_TARGET
GEOMAUG_SPAN_FNS(baseline, GEOMAUG_NO_TARGET)
#if GEOMAUG_X86_VARIANTS
GEOMAUG_SPAN_FNS(avx2, GEOMAUG_TARGET_AVX2)
GEOMAUG_SPAN_FNS(avx512, GEOMAUG_TARGET_AVX512)
#endif

template <typename T, typename Fns>
RowKernels<T> pick(const WarpShape& s, const WarpParams<T>& p, Fns fns) {
  const int64_t extent = (s.H - 1) * s.s_h + (s.W - 1) * s.s_w + (s.C - 1) * s.s_c + 1;
  const bool small = extent < (int64_t(1) << 31) && s.s_h >= 0 && s.s_w >= 0 && s.s_c >= 0;
  if (p.interp == kNearest) {
    return {small && fns.nearest_wide ? fns.nearest_wide : fns.nearest};
  }
  if constexpr (std::is_same_v<T, float>) {
    if (small && fns.f32_planar != nullptr) {
      if (s.s_w == 1 && s.d_w == 1) return {fns.f32_planar};
      if (s.C <= 4 && s.s_c == 1 && s.s_w == s.C && s.d_c == 1 && s.d_w == s.C)
        return {fns.f32_interleaved};
    }
  }
  if constexpr (std::is_same_v<T, uint8_t>) {
    // The 8-byte row loads need 3 columns (C = 3: the top load reads into the next row).
    const bool interleaved = s.s_c == 1 && s.s_w == s.C && s.d_c == 1 && s.d_w == s.C &&
                             s.W >= 3 && s.s_h >= 8;
    const bool wide = small && fns.u8_c3_wide != nullptr;
    if (interleaved && s.C == 3) return {wide ? fns.u8_c3_wide : fns.u8_c3};
    if (interleaved && s.C == 4) return {wide ? fns.u8_c4_wide : fns.u8_c4};
  }
  return {fns.bilinear};
}

template <typename T>
struct Fns {
  using S = typename SampleType<T>::type;
  using Span = void (*)(const T*, T*, const WarpShape&, const RowMap<S>&, int64_t, int64_t);
  Span bilinear, nearest, u8_c3, u8_c4, u8_c3_wide, u8_c4_wide, nearest_wide;
  Span f32_planar = nullptr, f32_interleaved = nullptr;
};

template <typename T>
Fns<T> fns_for(int isa) {
  Fns<T> f{&baseline_bilinear<T>, &baseline_nearest<T>, nullptr, nullptr, nullptr, nullptr, nullptr};
  if constexpr (std::is_same_v<T, uint8_t>) {
    f.u8_c3 = &baseline_u8_interleaved<3>;
    f.u8_c4 = &baseline_u8_interleaved<4>;
  }
#if GEOMAUG_X86_VARIANTS
  if constexpr (std::is_same_v<typename SampleType<T>::type, float>)
    f.nearest_wide = &baseline_nearest_wide<T>;
  if (isa == kIsaAvx2) {
    f = {&avx2_bilinear<T>, &avx2_nearest<T>, nullptr, nullptr, nullptr, nullptr, nullptr};
    if constexpr (std::is_same_v<typename SampleType<T>::type, float>) f.nearest_wide = &avx2_nearest_wide<T>;
    if constexpr (std::is_same_v<T, float>) {
      f.f32_planar = &avx2_f32_span<true>;
      f.f32_interleaved = &avx2_f32_span<false>;
    }
    if constexpr (std::is_same_v<T, uint8_t>) {
      f.u8_c3 = &avx2_u8_interleaved<3>;
      f.u8_c4 = &avx2_u8_interleaved<4>;
      f.u8_c3_wide = &avx2_u8_wide<3>;
      f.u8_c4_wide = &avx2_u8_wide<4>;
    }
  } else if (isa == kIsaAvx512) {
    f = {&avx512_bilinear<T>, &avx512_nearest<T>, nullptr, nullptr, nullptr, nullptr, nullptr};
    if constexpr (std::is_same_v<typename SampleType<T>::type, float>) f.nearest_wide = &avx512_nearest_wide<T>;
    if constexpr (std::is_same_v<T, float>) {
      f.f32_planar = &avx2_f32_span<true>;
      f.f32_interleaved = &avx2_f32_span<false>;
    }
    if constexpr (std::is_same_v<T, uint8_t>) {
      f.u8_c3 = &avx512_u8_interleaved<3>;
      f.u8_c4 = &avx512_u8_interleaved<4>;
      f.u8_c3_wide = &avx512_u8_quad<3>;
      f.u8_c4_wide = &avx512_u8_quad<4>;
    }
  }
#else
  (void)isa;
#endif
  return f;
}

}  // namespace

template <typename T>
RowKernels<T> row_kernels(int isa, const WarpShape& s, const WarpParams<T>& params) {
  return pick<T>(s, params, fns_for<T>(isa));
}

#define GEOMAUG_INSTANTIATE(T) \
  template RowKernels<T> row_kernels<T>(int, const WarpShape&, const WarpParams<T>&);
GEOMAUG_WARP_TYPES(GEOMAUG_INSTANTIATE)
#undef GEOMAUG_INSTANTIATE

}  // namespace geomaug
