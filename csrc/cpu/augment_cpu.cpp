// CPU kernel of the fused augment op, one output row at a time: (1) resample all channels into
// float row buffers (source coordinates computed per pixel exactly as the PyTorch path does; an
// interior fast path without border checks, specialised for 1 and 3 channels), (2) run the
// colour program over the row buffers in plain loops the compiler vectorises, (3) normalise and
// store planar.  Rows of all samples run in parallel on the caller's pool.  A sample whose
// contrast mean is measured first runs a reduction pass (resample + earlier steps + grey sum in
// double over fixed 16-row chunks, so the result does not depend on the thread count).
// The row functions are compiled for the baseline, AVX2 and AVX-512 and picked per call.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "geomaug/augment.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEOMAUG_HAVE_X86_VARIANTS 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define GEOMAUG_ALWAYS_INLINE inline __attribute__((always_inline))
#define GEOMAUG_LAMBDA_INLINE __attribute__((always_inline))
#else
#define GEOMAUG_ALWAYS_INLINE inline
#define GEOMAUG_LAMBDA_INLINE
#endif

// The PyTorch path rounds after every product and sum: no fused multiply-adds in any variant
// (AVX-512 brings FMA, and GCC contracts by default outside ISO C).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
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
  bool gather32;                  // every source offset of a sample fits in int32
};

#ifdef GEOMAUG_HAVE_X86_VARIANTS
// Byte `shift / 8` of each 32-bit lane, as floats.
__attribute__((target("avx2"))) inline __m256 byte_lane(__m256i q, __m128i shift) {
  return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srl_epi32(q, shift), _mm256_set1_epi32(0xff)));
}

// Eight interior pixels of a uint8 image with interleaved channels (s_c = 1, s_w = 3) and 32-bit
// offsets: four gathers of one 32-bit word per tap give all three channels.  The words of the
// right-hand taps start one byte early (x0 + 1 >= 1), those of the left-hand taps end inside the
// row (x0 <= W - 2), so no read leaves the image.  The arithmetic is the scalar path's.
__attribute__((target("avx2"))) inline void bilinear8_u8c3(const uint8_t* plane, int32_t sh,
                                                           const float* xs, const float* ys,
                                                           float* r, float* g, float* b) {
  const __m256 sx = _mm256_loadu_ps(xs), sy = _mm256_loadu_ps(ys);
  const __m256i x0 = _mm256_cvttps_epi32(sx), y0 = _mm256_cvttps_epi32(sy);
  const __m256 ax = _mm256_sub_ps(sx, _mm256_cvtepi32_ps(x0));
  const __m256 ay = _mm256_sub_ps(sy, _mm256_cvtepi32_ps(y0));
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 bx = _mm256_sub_ps(one, ax), by = _mm256_sub_ps(one, ay);
  const __m256 w0 = _mm256_mul_ps(by, bx), w1 = _mm256_mul_ps(by, ax);
  const __m256 w2 = _mm256_mul_ps(ay, bx), w3 = _mm256_mul_ps(ay, ax);
  const __m256i o00 = _mm256_add_epi32(_mm256_mullo_epi32(y0, _mm256_set1_epi32(sh)),
                                       _mm256_mullo_epi32(x0, _mm256_set1_epi32(3)));
  const __m256i o10 = _mm256_add_epi32(o00, _mm256_set1_epi32(sh));
  const __m256i two = _mm256_set1_epi32(2);
#ifdef GEOMAUG_GATHER
  const int* base = reinterpret_cast<const int*>(plane);
  const __m256i q00 = _mm256_i32gather_epi32(base, o00, 1);
  const __m256i q01 = _mm256_srli_epi32(_mm256_i32gather_epi32(base, _mm256_add_epi32(o00, two), 1), 8);
  const __m256i q10 = _mm256_i32gather_epi32(base, o10, 1);
  const __m256i q11 = _mm256_srli_epi32(_mm256_i32gather_epi32(base, _mm256_add_epi32(o10, two), 1), 8);
#else
  // Scalar 32-bit loads measured faster than vpgatherdd on this project's CPUs.
  alignas(32) int32_t off[8];
  alignas(32) uint32_t w00[8], w01[8], w10[8], w11[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(off), o00);
  for (int j = 0; j < 8; ++j) {
    const uint8_t* q = plane + off[j];
    std::memcpy(&w00[j], q, 4);
    std::memcpy(&w01[j], q + 2, 4);
    std::memcpy(&w10[j], q + sh, 4);
    std::memcpy(&w11[j], q + sh + 2, 4);
  }
  (void)two;
  (void)o10;
  const __m256i q00 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w00));
  const __m256i q01 = _mm256_srli_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(w01)), 8);
  const __m256i q10 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w10));
  const __m256i q11 = _mm256_srli_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(w11)), 8);
#endif
  float* outs[3] = {r, g, b};
  for (int c = 0; c < 3; ++c) {
    const __m128i shift = _mm_cvtsi32_si128(8 * c);
    __m256 acc = _mm256_mul_ps(w0, byte_lane(q00, shift));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(w1, byte_lane(q01, shift)));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(w2, byte_lane(q10, shift)));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(w3, byte_lane(q11, shift)));
    _mm256_storeu_ps(outs[c], acc);
  }
}

// True when all eight source points are interior (0 <= s < n - 1 on both axes).
__attribute__((target("avx2"))) inline bool interior8(const float* xs, const float* ys, float wl,
                                                      float hl) {
  const __m256 sx = _mm256_loadu_ps(xs), sy = _mm256_loadu_ps(ys), z = _mm256_setzero_ps();
  const __m256 ok = _mm256_and_ps(
      _mm256_and_ps(_mm256_cmp_ps(sx, z, _CMP_GE_OQ), _mm256_cmp_ps(sy, z, _CMP_GE_OQ)),
      _mm256_and_ps(_mm256_cmp_ps(sx, _mm256_set1_ps(wl), _CMP_LT_OQ),
                    _mm256_cmp_ps(sy, _mm256_set1_ps(hl), _CMP_LT_OQ)));
  return _mm256_movemask_ps(ok) == 0xff;
}
#endif

// Resamples row oy of sample b into buf (C planes of job.stride floats).  ISA > baseline: the
// function is inlined into an AVX2 (or AVX-512) variant and may use the AVX2 helpers above.
template <int NC, int ISA, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void resample_row(const Job<T, O>& job, int64_t b, int64_t oy, float* buf,
                                   int64_t st, float* scratch) {
  const AugmentShape& s = job.s;
  const int C = NC > 0 ? NC : static_cast<int>(s.C);
  const int64_t OW = s.OW;
  const T* plane = job.src + b * s.s_b;
  const InverseMap<float>& im = job.maps[b];
  float v[4];
  if (!im.ok || !im.affine) {  // projective or singular: the per-pixel path
    for (int64_t ox = 0; ox < OW; ++ox) {
      sample_pixel(plane, s, job.p, im, ox, oy, v);
      for (int c = 0; c < C; ++c) buf[c * st + ox] = v[c];
    }
    return;
  }
  float* xs = scratch;
  float* ys = scratch + job.stride;
  const float fy = static_cast<float>(oy);
  const float m0 = im.m[0], m3 = im.m[3];
  const float rx = im.m[1] * fy + im.m[2], ry = im.m[4] * fy + im.m[5];
  const int32_t ow32 = static_cast<int32_t>(OW);  // < 2^30; int32 -> float vectorises
  for (int32_t ox = 0; ox < ow32; ++ox) {
    const float fx = static_cast<float>(ox);
    xs[ox] = m0 * fx + rx;
    ys[ox] = m3 * fx + ry;
  }
  const bool bilinear = job.p.interp == kBilinear;
  const float wl = static_cast<float>(s.W - 1), hl = static_cast<float>(s.H - 1);
  const float wf = static_cast<float>(s.W), hf = static_cast<float>(s.H);
  // Finite points this far out read only the fill (their weights equal sample_point's: beyond
  // 2^23 floats are integers, so its clamping at 2^30 changes no weight).
  const bool far_fill = bilinear && job.p.border == kConstant;
  const int64_t sh = s.s_h, sw = s.s_w, sc = s.s_c;
  auto one_pixel = [&](int64_t ox) GEOMAUG_LAMBDA_INLINE {
    const float sx = xs[ox], sy = ys[ox];
    if (bilinear && sx >= 0.f && sy >= 0.f && sx < wl && sy < hl) {
      const int64_t x0 = static_cast<int64_t>(sx), y0 = static_cast<int64_t>(sy);
      const float ax = sx - static_cast<float>(x0), ay = sy - static_cast<float>(y0);
      const float w0 = (1.f - ay) * (1.f - ax), w1 = (1.f - ay) * ax, w2 = ay * (1.f - ax),
                  w3 = ay * ax;
      const T* q = plane + y0 * sh + x0 * sw;
      for (int c = 0; c < C; ++c) {
        const T* r = q + c * sc;
        float acc = w0 * static_cast<float>(r[0]);
        acc += w1 * static_cast<float>(r[sw]);
        acc += w2 * static_cast<float>(r[sh]);
        acc += w3 * static_cast<float>(r[sh + sw]);
        buf[c * st + ox] = acc;
      }
    } else if (far_fill && (sx < -1.f || sy < -1.f || sx >= wf || sy >= hf) &&
               sx - sx == 0.f && sy - sy == 0.f) {
      // Constant border, every tap outside: sample_point's sum over the fill, without its
      // index work (the weights matter: w0 f + w1 f + ... need not round to f).
      const float fx0 = std::floor(sx), fy0 = std::floor(sy);
      const float ax = sx - fx0, ay = sy - fy0;
      const float w0 = (1.f - ay) * (1.f - ax), w1 = (1.f - ay) * ax, w2 = ay * (1.f - ax),
                  w3 = ay * ax;
      for (int c = 0; c < C; ++c) {
        const float f = job.p.fill[c];
        float acc = w0 * f;
        acc += w1 * f;
        acc += w2 * f;
        acc += w3 * f;
        buf[c * st + ox] = acc;
      }
    } else {
      const bool ok = sx - sx == 0.f && sy - sy == 0.f;
      sample_point(plane, s, job.p, ok, sx, sy, v);
      for (int c = 0; c < C; ++c) buf[c * st + ox] = v[c];
    }
  };
  int64_t ox = 0;
#ifdef GEOMAUG_HAVE_X86_VARIANTS
  if constexpr (ISA >= kIsaAvx2 && NC == 3 && std::is_same_v<T, uint8_t>) {
    if (bilinear && job.gather32 && sc == 1 && sw == 3) {
      for (; ox + 8 <= OW; ox += 8) {
        if (interior8(xs + ox, ys + ox, wl, hl))
          bilinear8_u8c3(plane, static_cast<int32_t>(sh), xs + ox, ys + ox, buf + ox,
                         buf + st + ox, buf + 2 * st + ox);
        else
          for (int64_t e = 0; e < 8; ++e) one_pixel(ox + e);
      }
    }
  }
#endif
  for (; ox < OW; ++ox) one_pixel(ox);
}

// Runs steps [0, n) of a sample's program over a row buffer.
template <int NC>
GEOMAUG_ALWAYS_INLINE void color_row(float* buf, int C_rt, int64_t st, int64_t n_px,
                                const ColorStep* steps, int n, int ri, int bi, float bound) {
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
GEOMAUG_ALWAYS_INLINE void store_row(const float* x, O* out, int64_t n_px, const AugmentParams& p,
                                int c) {
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

// Output rows [begin, end) (row = b * OH + oy).  stashed: the row already holds the sample's
// values after its steps [0, first[b]) (float output, see mean_impl); only the rest runs.
template <int NC, int ISA, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void rows_impl(const Job<T, O>& job, int64_t begin, int64_t end, float* buf,
                                bool stashed) {
  const AugmentShape& s = job.s;
  const int C = static_cast<int>(s.C);
  const int64_t plane = s.OH * s.OW;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / s.OH, oy = row % s.OH;
    O* out = job.dst + b * s.C * plane + oy * s.OW;
    if constexpr (std::is_same_v<O, float>) {
      if (stashed) {  // the row holds the values after steps [0, first[b]): finish it in place
        const int first = job.first[b];
        color_row<NC>(out, C, plane, s.OW, job.steps + b * s.S + first,
                      static_cast<int>(s.S) - first, job.ri, job.bi, job.p.bound);
        for (int c = 0; c < C; ++c) store_row(out + c * plane, out + c * plane, s.OW, job.p, c);
        continue;
      }
    }
    resample_row<NC, ISA>(job, b, oy, buf, job.stride, buf + 4 * job.stride);
    color_row<NC>(buf, C, job.stride, s.OW, job.steps + b * s.S, static_cast<int>(s.S), job.ri,
                  job.bi, job.p.bound);
    for (int c = 0; c < C; ++c) store_row(buf + c * job.stride, out + c * plane, s.OW, job.p, c);
  }
}

// Grey sums of chunks [begin, end) (chunk u: sample u / chunks, rows kMeanChunkRows * (u % chunks)
// on): resample, steps [0, first[b]), grey sum in double (fixed lanes: deterministic).  stash
// (float output): the rows are also written to the output, so that rows_impl need not resample
// them again; the output is the only full-size buffer.
template <int NC, int ISA, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void mean_impl(const Job<T, O>& job, int64_t chunks, int64_t begin, int64_t end,
                                float* buf, double* partial, bool stash) {
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
    for (int64_t oy = r0; oy < r1; ++oy) {
      float* row = buf;
      int64_t cs = job.stride;
      if constexpr (std::is_same_v<O, float>) {
        if (stash) {  // straight into the output row
          row = job.dst + b * s.C * s.OH * s.OW + oy * s.OW;
          cs = s.OH * s.OW;
        }
      }
      resample_row<NC, ISA>(job, b, oy, row, cs, buf + 4 * st);
      color_row<NC>(row, C, cs, s.OW, job.steps + b * s.S, k, job.ri, job.bi, job.p.bound);
      if (!measure) continue;
      const float* r = row + (C == 3 ? job.ri : 0) * cs;
      const float* g = row + (C == 3 ? 1 : 0) * cs;
      const float* bl = row + (C == 3 ? job.bi : 0) * cs;
      int64_t i = 0;
      for (; i + 8 <= s.OW; i += 8)
        for (int j = 0; j < 8; ++j)
          lanes[j] += static_cast<double>(C == 3 ? gray_of(r[i + j], g[i + j], bl[i + j])
                                                 : r[i + j]);
      for (; i < s.OW; ++i)
        lanes[i & 7] += static_cast<double>(C == 3 ? gray_of(r[i], g[i], bl[i]) : r[i]);
    }
    partial[u] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                 ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
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
GEOMAUG_ROW_VARIANT(avx2, kIsaAvx2, __attribute__((target("avx2"))))
GEOMAUG_ROW_VARIANT(avx512, kIsaAvx512,
                    __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512dq"))))
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

int augment_cpu_best_isa() {
#ifdef GEOMAUG_HAVE_X86_VARIANTS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return kIsaAvx512;
  if (__builtin_cpu_supports("avx2")) return kIsaAvx2;
#endif
  return kIsaBaseline;
}

template <typename T, typename O>
void augment_cpu(const T* src, O* dst, const AugmentShape& s, const double* matrices,
                 const AugmentParams& params, const ColorProgramArgs& program, int isa,
                 const ParallelFor& parallel_for) {
  if (s.B * s.C * s.OH * s.OW == 0) return;
  isa = std::min(isa, augment_cpu_best_isa());
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
  Job<T, O> job{src, dst, s, params, maps.data(), steps.data(), first.data(),
                params.order == kBGR ? 2 : 0, params.order == kBGR ? 0 : 2,
                (s.OW + 15) / 16 * 16,
                (s.H - 1) * s.s_h + (s.W - 1) * s.s_w + (s.C - 1) * s.s_c < (int64_t(1) << 31) - 64 &&
                    s.s_h > 0 && s.s_w > 0 && s.s_c >= 0};
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
