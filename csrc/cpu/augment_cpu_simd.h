// The AVX2 / AVX-512 row pipeline of the fused augment CPU kernel (csrc/cpu/augment_cpu.cpp),
// written once over a vector type V of N floats.  augment_cpu.cpp includes this file once per
// instruction set, inside a target pragma region and a namespace of its own where V is defined
// (GCC does not inline target-specific helpers into generic templates, so the whole pipeline is
// compiled per target, as Highway does).  No include guard on purpose.  The row functions
// (resample_fast, nearest_fast, finish_row, gray_row) are called once per row from the generic row
// drivers.
//
// Every function computes the float operations of augment_math.h in the same order (no fused
// multiply-adds: the file that includes this one turns contraction off; div255's explicit pair
// computes an exact quotient).

using F = V::F;
using I = V::I;
using M = V::M;
constexpr int N = V::N;
constexpr unsigned kAllLanes = (1u << N) - 1u;

// w0 q00 + w1 q01 + w2 q10 + w3 q11, summed left to right (sample_point's order).
GEOMAUG_ALWAYS_INLINE F weighted_sum(const F* w, F q00, F q01, F q10, F q11) {
  F acc = V::mul(w[0], q00);
  acc = V::add(acc, V::mul(w[1], q01));
  acc = V::add(acc, V::mul(w[2], q10));
  return V::add(acc, V::mul(w[3], q11));
}

// BilinearWeights of (ax, ay).
GEOMAUG_ALWAYS_INLINE void bilinear_weights(F ax, F ay, F* w) {
  const F one = V::set1(1.f);
  const F bx = V::sub(one, ax), by = V::sub(one, ay);
  w[0] = V::mul(by, bx);
  w[1] = V::mul(by, ax);
  w[2] = V::mul(ay, bx);
  w[3] = V::mul(ay, ax);
}

// Index of tap column (row) i of n by the border rule: inside the area clamped; outside, the
// border mode's (border_index): the index itself within [0, n), else -1 (constant: the fill),
// the clamped index (replicate) or its BORDER_REFLECT_101 image (reflect).  |i| <= 2^22 + 1.
GEOMAUG_ALWAYS_INLINE I border_map(I i, int32_t n, M inside, int border) {
  const I clamped = V::min_i(V::max_i(i, V::seti(0)), V::seti(n - 1));
  if (border == kReplicate) return clamped;
  if (border == kConstant) {
    const M in_range = V::mand(V::lt_i(V::seti(-1), i), V::lt_i(i, V::seti(n)));
    return V::select_i(V::mor(inside, in_range), clamped, V::seti(-1));
  }
  if (n == 1) return V::seti(0);
  // reflect101: r = i mod (2n - 2) from a float quotient (floor off by at most one below 2^22;
  // the products are exact integers below 2^24, so one correction each way makes r exact).
  const int32_t period = 2 * n - 2;
  const F fp = V::set1(static_cast<float>(period)), fi = V::to_float(i);
  F r = V::sub(fi, V::mul(fp, V::floor(V::mul(fi, V::set1(1.f / static_cast<float>(period))))));
  r = V::select(V::lt(r, V::zero()), V::add(r, fp), r);
  r = V::select(V::ge(r, fp), V::sub(r, fp), r);
  const I ri = V::trunc(r);
  const I reflected = V::select_i(V::lt_i(ri, V::seti(n)), ri, V::sub_i(V::seti(period), ri));
  return V::select_i(inside, clamped, reflected);
}

// Lanes whose point lies within 2^22 of the origin on both axes (NaN: false), where the SIMD
// border rule is exact (border_map's bound; floats and int32 convert without loss).
GEOMAUG_ALWAYS_INLINE M near_origin(F sx, F sy) {
  const F big = V::set1(4194304.f), minus_big = V::set1(-4194304.f);
  return V::mand(V::mand(V::lt(sx, big), V::lt(minus_big, sx)),
                 V::mand(V::lt(sy, big), V::lt(minus_big, sy)));
}

// Source values gathered lane by lane before they become floats: bytes widened to int32 (exact),
// floats as they are; load_held reads N of them as floats.
template <typename T>
using Held = std::conditional_t<std::is_same_v<T, uint8_t>, int32_t, float>;
GEOMAUG_ALWAYS_INLINE F load_held(const int32_t* p) { return V::to_float(V::load_i(p)); }
GEOMAUG_ALWAYS_INLINE F load_held(const float* p) { return V::load(p); }

// The source points of output row oy, N columns at a time, as source_point computes them
// (affine maps): sx = m0 x + (m1 y + m2), sy = m3 x + (m4 y + m5).
struct RowPoints {
  F m0, m3, rx, ry;
  GEOMAUG_ALWAYS_INLINE RowPoints(const InverseMap<float>& im, int64_t oy) {
    const float fy = static_cast<float>(oy);
    m0 = V::set1(im.m[0]);
    m3 = V::set1(im.m[3]);
    rx = V::set1(im.m[1] * fy + im.m[2]);
    ry = V::set1(im.m[4] * fy + im.m[5]);
  }
  GEOMAUG_ALWAYS_INLINE void at(int32_t ox, F& sx, F& sy) const {
    const F x = V::columns(ox);
    sx = V::add(V::mul(m0, x), rx);
    sy = V::add(V::mul(m3, x), ry);
  }
};

// Lanes `rest` of the block at column ox through point_values, one by one (the points the SIMD
// rule does not take), into buf (C planes of stride st).
template <int NC, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void scalar_lanes(const Job<T, O>& job, const T* plane, F sx, F sy,
                                        unsigned rest, bool far_fill, float* buf, int64_t st,
                                        int32_t ox) {
  const int C = NC > 0 ? NC : static_cast<int>(job.s.C);
  alignas(64) float xs[N], ys[N];
  V::store(xs, sx);
  V::store(ys, sy);
  for (; rest; rest &= rest - 1) {
    const int j = __builtin_ctz(rest);
    float p[4];
    point_values<NC>(job, plane, xs[j], ys[j], far_fill, p);
    for (int c = 0; c < C; ++c) buf[c * st + ox + j] = p[c];
  }
}

// Lanes `lanes` of a block by sample_point's rule off its interior fast path (points finite and
// within 2^22 of the origin: no clamp_far, exact float <-> int): tap indices and weights in
// SIMD, the taps' bytes loaded one by one, blended into v.
template <int NC, typename T, typename O>
GEOMAUG_ALWAYS_INLINE void border_lanes(const Job<T, O>& job, const T* plane, F sx, F sy, M lanes,
                                        F* v) {
  const AugmentShape& s = job.s;
  const int C = NC > 0 ? NC : static_cast<int>(s.C);
  const int32_t W = static_cast<int32_t>(s.W), H = static_cast<int32_t>(s.H);
  const M inside = V::mand(
      V::mand(V::ge(sx, V::set1(-0.5f)), V::le(sx, V::set1(static_cast<float>(s.W) - 0.5f))),
      V::mand(V::ge(sy, V::set1(-0.5f)), V::le(sy, V::set1(static_cast<float>(s.H) - 0.5f))));
  const F fx0 = V::floor(sx), fy0 = V::floor(sy);
  F w[4];
  bilinear_weights(V::sub(sx, fx0), V::sub(sy, fy0), w);
  const I x0 = V::trunc(fx0), y0 = V::trunc(fy0);
  const I xs[2] = {border_map(x0, W, inside, job.p.border),
                   border_map(V::add_i(x0, V::seti(1)), W, inside, job.p.border)};
  const I ys[2] = {border_map(y0, H, inside, job.p.border),
                   border_map(V::add_i(y0, V::seti(1)), H, inside, job.p.border)};
  const I sh = V::seti(static_cast<int32_t>(s.s_h)), sw = V::seti(static_cast<int32_t>(s.s_w));
  alignas(64) int32_t off[4][N];
  M valid[4];
  for (int t = 0; t < 4; ++t) {
    const I x = xs[t & 1], y = ys[t >> 1];
    valid[t] = V::mand(V::lt_i(V::seti(-1), x), V::lt_i(V::seti(-1), y));
    // fill taps read pixel 0 (discarded): no branch in the load loop
    const I o = V::add_i(V::mul_i(y, sh), V::mul_i(x, sw));
    V::store_i(off[t], V::select_i(valid[t], o, V::seti(0)));
  }
  alignas(64) Held<T> held[4][4][N];  // [tap][channel][lane]
  const int64_t sc = s.s_c;
  for (unsigned b = V::bits(lanes); b; b &= b - 1) {
    const int j = __builtin_ctz(b);
    for (int t = 0; t < 4; ++t) {
      const T* q = plane + off[t][j];
      for (int c = 0; c < C; ++c) held[t][c][j] = q[c * sc];
    }
  }
  for (int c = 0; c < C; ++c) {
    const F f = V::set1(job.p.fill[c]);
    F tap[4];
    for (int t = 0; t < 4; ++t)
      tap[t] = V::select(valid[t], load_held(held[t][c]), f);
    v[c] = V::select(lanes, weighted_sum(w, tap[0], tap[1], tap[2], tap[3]), v[c]);
  }
}

// Row oy of an image in a SimdLayout, bilinear, affine, N pixels at a time into buf (C planes of
// stride st).  Interior pixels (0 <= s < n - 1 on both axes):
//  - kInterleaved3: per pixel one 8-byte load from each source row covers both taps' 3
//    channels -- the top row's from the pixel (its last two bytes lie in the next row, which
//    exists), the bottom row's ending at its last tap byte (nothing past the image is read) --
//    regrouped into per-channel vectors;
//  - kPlanar: per channel, the two taps of row y0 and of row y0 + 1 as one 32-bit lane;
//  - kFloatPlanar: per channel, both taps of row y0 and of row y0 + 1 as one 8-byte load each;
//  - kFloatInterleaved: per row, the 2C floats of both taps as C 8-byte loads (V::pairs);
// Far-outside pixels with a constant border: the fill sum, vectorised; the border band and the
// other border modes: border_lanes; non-finite or huge source points: point_values, one by one.
template <int NC, int LAYOUT, typename T, typename O>
void resample_fast(const Job<T, O>& job, const T* plane, const InverseMap<float>& im, int64_t oy,
                   float* buf, int64_t st) {
  const AugmentShape& s = job.s;
  const int C = NC > 0 ? NC : static_cast<int>(s.C);
  const RowPoints points(im, oy);
  const F zero = V::zero(), minus1 = V::set1(-1.f);
  const F wl = V::set1(static_cast<float>(s.W - 1)), hl = V::set1(static_cast<float>(s.H - 1));
  const F wf = V::set1(static_cast<float>(s.W)), hf = V::set1(static_cast<float>(s.H));
  const bool far_fill = job.p.border == kConstant;
  const int32_t sh = static_cast<int32_t>(s.s_h), sc = static_cast<int32_t>(s.s_c);
  const int32_t sw = static_cast<int32_t>(s.s_w);
  const int32_t ow = static_cast<int32_t>(s.OW);
  int32_t ox = 0;
  for (; ox + N <= ow; ox += N) {
    F sx, sy;
    points.at(ox, sx, sy);
    const M in = V::mand(V::mand(V::ge(sx, zero), V::ge(sy, zero)),
                         V::mand(V::lt(sx, wl), V::lt(sy, hl)));
    const unsigned inb = V::bits(in);
    F v[4] = {zero, zero, zero, zero};
    if (inb) {
      const I x0 = V::trunc(sx), y0 = V::trunc(sy);  // >= 0: floor
      F w[4];
      bilinear_weights(V::sub(sx, V::to_float(x0)), V::sub(sy, V::to_float(y0)), w);
      I off = LAYOUT == kFloatPlanar || LAYOUT == kFloatInterleaved
                  ? V::add_i(V::mul_i(y0, V::seti(sh)), V::mul_i(x0, V::seti(sw)))
                  : V::template offsets<LAYOUT == kInterleaved3 ? 3 : 1>(x0, y0, sh);
      if (inb != kAllLanes) off = V::keep(in, off);  // the other lanes read pixel 0, unused
      if constexpr (LAYOUT == kFloatPlanar) {  // per channel, both taps of each row
        for (int c = 0; c < C; ++c) {
          const float* q = plane + c * sc;
          F t0, t1, b0, b1;
          V::pairs(q, off, t0, t1);
          V::pairs(q + sh, off, b0, b1);
          v[c] = weighted_sum(w, t0, t1, b0, b1);
        }
      } else if constexpr (LAYOUT == kFloatInterleaved) {
        // the 2C floats of pixels x0 and x0 + 1 in each row, two at a time: element e of the
        // row is channel e % C of pixel x0 + e / C
        F e[2][8];
        for (int r = 0; r < 2; ++r)
          for (int k = 0; k < C; ++k)
            V::pairs(plane + r * sh + 2 * k, off, e[r][2 * k], e[r][2 * k + 1]);
        for (int c = 0; c < C; ++c)
          v[c] = weighted_sum(w, e[0][c], e[0][C + c], e[1][c], e[1][C + c]);
      } else if constexpr (LAYOUT == kInterleaved3) {
        I q[4];  // top row bytes: R0 G0 B0 R1 | G1 B1 . . ; bottom: . . R0 G0 | B0 R1 G1 B1
        V::rows8(plane, plane + sh - 2, off, q);
        v[0] = weighted_sum(w, V::byte<0>(q[0]), V::byte<3>(q[0]), V::byte<2>(q[2]),
                            V::byte<1>(q[3]));
        v[1] = weighted_sum(w, V::byte<1>(q[0]), V::byte<0>(q[1]), V::byte<3>(q[2]),
                            V::byte<2>(q[3]));
        v[2] = weighted_sum(w, V::byte<2>(q[0]), V::byte<1>(q[1]), V::byte<0>(q[3]),
                            V::byte<3>(q[3]));
      } else {
        for (int c = 0; c < C; ++c) {
          const I q = V::planar_taps(plane + c * sc, off, sh);
          v[c] = weighted_sum(w, V::byte<0>(q), V::byte<1>(q), V::byte<2>(q), V::byte<3>(q));
        }
      }
    }
    unsigned rest = kAllLanes & ~inb;
    if (rest && far_fill) {  // point_values' far-fill case
      const M far = V::mor(V::mor(V::lt(sx, minus1), V::lt(sy, minus1)),
                           V::mor(V::ge(sx, wf), V::ge(sy, hf)));
      const M finite = V::mand(V::eq(V::sub(sx, sx), zero), V::eq(V::sub(sy, sy), zero));
      const M fill = V::mand(far, finite);
      if (V::bits(fill)) {
        F w[4];
        bilinear_weights(V::sub(sx, V::floor(sx)), V::sub(sy, V::floor(sy)), w);
        for (int c = 0; c < C; ++c) {
          const F f = V::set1(job.p.fill[c]);
          v[c] = V::select(fill, weighted_sum(w, f, f, f, f), v[c]);
        }
        rest &= ~V::bits(fill);
      }
    }
    if (rest) {  // the border band, other border modes: border_lanes for all but huge points
      const M near = near_origin(sx, sy);
      const unsigned nb = V::bits(near) & rest;
      if (nb) {
        border_lanes<NC>(job, plane, sx, sy, V::from_bits(nb), v);
        rest &= ~nb;
      }
    }
    for (int c = 0; c < C; ++c) V::store(buf + c * st + ox, v[c]);
    if (rest) scalar_lanes<NC>(job, plane, sx, sy, rest, far_fill, buf, st, ox);
  }
  resample_span<NC>(job, plane, im, oy, ox, s.OW, buf, st);
}

// Row oy of a uint8 or float32 image, nearest, affine, N pixels at a time into buf (C planes of
// stride st): sample_point's nearest rule for points finite and within 2^22 of the origin -- the
// pixel round_even(s), clamped inside the image's area, the border mode's (border_map) outside
// it, the fill where that reads nothing -- with the values loaded one by one (any C <= 4, any
// non-negative strides); other points through point_values.
template <int NC, typename T, typename O>
void nearest_fast(const Job<T, O>& job, const T* plane, const InverseMap<float>& im, int64_t oy,
                  float* buf, int64_t st) {
  const AugmentShape& s = job.s;
  const int C = NC > 0 ? NC : static_cast<int>(s.C);
  const RowPoints points(im, oy);
  const F lo = V::set1(-0.5f);
  const F xhi = V::set1(static_cast<float>(s.W) - 0.5f);
  const F yhi = V::set1(static_cast<float>(s.H) - 0.5f);
  const I sh = V::seti(static_cast<int32_t>(s.s_h)), sw = V::seti(static_cast<int32_t>(s.s_w));
  const I none = V::seti(-1);
  const int32_t W = static_cast<int32_t>(s.W), H = static_cast<int32_t>(s.H);
  const int64_t sc = s.s_c;
  const int32_t ow = static_cast<int32_t>(s.OW);
  int32_t ox = 0;
  for (; ox + N <= ow; ox += N) {
    F sx, sy;
    points.at(ox, sx, sy);
    const M near = near_origin(sx, sy);
    const M inside = V::mand(V::mand(V::ge(sx, lo), V::le(sx, xhi)),
                             V::mand(V::ge(sy, lo), V::le(sy, yhi)));
    const I xi = border_map(V::round_i(sx), W, inside, job.p.border);
    const I yi = border_map(V::round_i(sy), H, inside, job.p.border);
    const M valid = V::mand(near, V::mand(V::lt_i(none, xi), V::lt_i(none, yi)));
    alignas(64) int32_t off[N];
    V::store_i(off, V::keep(valid, V::add_i(V::mul_i(yi, sh), V::mul_i(xi, sw))));
    alignas(64) Held<T> held[4][N];  // [channel][lane]; lanes without a pixel read pixel 0
    for (int j = 0; j < N; ++j) {
      const T* q = plane + off[j];
      for (int c = 0; c < C; ++c) held[c][j] = q[c * sc];
    }
    for (int c = 0; c < C; ++c)
      V::store(buf + c * st + ox, V::select(valid, load_held(held[c]), V::set1(job.p.fill[c])));
    if (unsigned rest = ~V::bits(near) & kAllLanes)
      scalar_lanes<NC>(job, plane, sx, sy, rest, false, buf, st, ox);
  }
  resample_span<NC>(job, plane, im, oy, ox, s.OW, buf, st);
}

// Grey value of a block (pixel_gray; channels in memory order, bgr: red is channel 2).
GEOMAUG_ALWAYS_INLINE F gray_block(const F* v, int C, bool bgr) {
  if (C != 3) return v[0];
  const F r = bgr ? v[2] : v[0], b = bgr ? v[0] : v[2];
  return V::add(V::add(V::mul(r, V::set1(0.299f)), V::mul(v[1], V::set1(0.587f))),
                V::mul(b, V::set1(0.114f)));
}

// Steps [0, n) of a sample's program on a block of N pixels (color_pixel's arithmetic).
template <int NC>
GEOMAUG_ALWAYS_INLINE void color_block(F* v, int C_rt, const ColorStep* steps, int n, bool bgr,
                                       float bound) {
  const int C = NC > 0 ? NC : C_rt;
  const F vb = V::set1(bound);
  for (int k = 0; k < n; ++k) {
    const ColorStep sp = steps[k];
    if (sp.op == kBrightness) {
      const F a = V::set1(sp.a);
      for (int c = 0; c < C; ++c) v[c] = V::clamp(V::mul(v[c], a), vb);
    } else if (sp.op == kContrast) {
      const F a = V::set1(sp.a), b = V::set1(sp.b);
      for (int c = 0; c < C; ++c) v[c] = V::clamp(V::add(V::mul(v[c], a), b), vb);
    } else if (C != 3) {
      continue;  // saturation, hue, grayscale leave one channel as it is
    } else if (sp.op == kSaturation) {
      const F gr = V::mul(V::set1(sp.b), gray_block(v, 3, bgr)), a = V::set1(sp.a);
      for (int c = 0; c < 3; ++c) v[c] = V::clamp(V::add(V::mul(v[c], a), gr), vb);
    } else if (sp.op == kGrayscale) {
      v[0] = v[1] = v[2] = gray_block(v, 3, bgr);
    } else if (sp.op == kHue) {  // rare in pipelines: per pixel
      alignas(64) float t[3][N];
      for (int c = 0; c < 3; ++c) V::store(t[c], v[c]);
      const int ri = bgr ? 2 : 0, bi = bgr ? 0 : 2;
      for (int j = 0; j < N; ++j) hue_pixel(t[ri][j], t[1][j], t[bi][j], sp.a, bound);
      for (int c = 0; c < 3; ++c) v[c] = V::load(t[c]);
    }
  }
}

// A sample's steps copied where the pixel loops' float stores cannot alias them (else the
// compiler reloads them every block); programs longer than this are read in place.
constexpr int kLocalSteps = 8;
struct LocalSteps {
  ColorStep step[kLocalSteps];
  const ColorStep* use(const ColorStep* steps, int n) {
    if (n > kLocalSteps) return steps;
    for (int k = 0; k < n; ++k) step[k] = steps[k];
    return step;
  }
};

// finish_value per block: MODE 0 no normalisation, 1 (x - mean) * inv (bound 1), 255 with
// x / 255 by div255, else with a division.
template <int NC, int MODE, typename T, typename O>
GEOMAUG_ALWAYS_INLINE int64_t finish_blocks(const Job<T, O>& job, const float* in, int64_t in_st,
                                            O* out, int64_t out_st, const ColorStep* steps,
                                            int n) {
  const AugmentParams p = job.p;  // a copy: see LocalSteps
  const int C = NC > 0 ? NC : static_cast<int>(job.s.C);
  const bool bgr = job.ri == 2;
  const int64_t n_px = job.s.OW;
  const F bound = V::set1(p.bound), inv_bound = V::set1(1.f / p.bound);
  F mean[4], inv[4];
  for (int c = 0; c < C; ++c) {
    mean[c] = V::set1(p.mean[c]);
    inv[c] = V::set1(p.inv_std[c]);
  }
  int64_t i = 0;
  for (; i + N <= n_px; i += N) {
    F v[4];
    for (int c = 0; c < C; ++c) v[c] = V::load(in + c * in_st + i);
    color_block<NC>(v, C, steps, n, bgr, p.bound);
    for (int c = 0; c < C; ++c) {
      F x = v[c];
      if constexpr (MODE != 0) {
        const F q = MODE == 255 ? V::div255(x, bound, inv_bound)
                                : (MODE == 1 ? x : V::div(x, bound));
        x = V::mul(V::sub(q, mean[c]), inv[c]);
      }
      O* o = out + c * out_st + i;
      if constexpr (std::is_same_v<O, float>) {
        V::store(o, x);
      } else if constexpr (std::is_same_v<O, uint8_t>) {
        V::store_u8(o, x);  // uint8 output is never normalised
      } else {
        alignas(64) float t[N];
        V::store(t, x);
        for (int j = 0; j < N; ++j) o[j] = OutStore<O>::from(t[j]);
      }
    }
  }
  return i;
}

// Steps [0, n) and the output of one row: `in` (C planes of stride in_st) -> `out` (planes of
// stride out_st; may be `in`: each block is read before it is written).
template <int NC, typename T, typename O>
void finish_row(const Job<T, O>& job, const float* in, int64_t in_st, O* out, int64_t out_st,
                const ColorStep* steps, int n) {
  const AugmentParams& p = job.p;
  LocalSteps local;
  const ColorStep* st = local.use(steps, n);
  int64_t i;
  if (!p.normalize) i = finish_blocks<NC, 0>(job, in, in_st, out, out_st, st, n);
  else if (p.bound == 1.f) i = finish_blocks<NC, 1>(job, in, in_st, out, out_st, st, n);
  else if (p.bound == 255.f) i = finish_blocks<NC, 255>(job, in, in_st, out, out_st, st, n);
  else i = finish_blocks<NC, 2>(job, in, in_st, out, out_st, st, n);
  const int C = NC > 0 ? NC : static_cast<int>(job.s.C);
  for (; i < job.s.OW; ++i) {
    float v[4];
    for (int c = 0; c < C; ++c) v[c] = in[c * in_st + i];
    color_pixel(v, C, steps, n, job.ri, job.bi, p.bound);
    for (int c = 0; c < C; ++c) out[c * out_st + i] = OutStore<O>::from(finish_value(v[c], p, c));
  }
}

// Steps [0, n) on a row buffer (C planes of stride st), the grey values added to lanes (pixel i
// to lane i % 8, in order, as every variant does); stash (or null): the values are also written
// there (planes of stride stash_st).
template <int NC, typename T, typename O>
void gray_row(const Job<T, O>& job, float* buf, int64_t st, float* stash, int64_t stash_st,
              const ColorStep* steps, int n, double* lanes) {
  const int C = NC > 0 ? NC : static_cast<int>(job.s.C);
  const bool bgr = job.ri == 2;
  const int64_t n_px = job.s.OW;
  const float bound = job.p.bound;
  LocalSteps local;
  const ColorStep* ls = local.use(steps, n);
  V::Acc acc = V::acc_load(lanes);
  int64_t i = 0;
  for (; i + N <= n_px; i += N) {
    F v[4];
    for (int c = 0; c < C; ++c) v[c] = V::load(buf + c * st + i);
    color_block<NC>(v, C, ls, n, bgr, bound);
    if (stash != nullptr)
      for (int c = 0; c < C; ++c) V::store(stash + c * stash_st + i, v[c]);
    V::acc_add(acc, gray_block(v, C, bgr));
  }
  V::acc_store(lanes, acc);
  // The tail: steps into the stash (or the buffer), then the grey sums from there.
  float* row = stash != nullptr ? stash : buf;
  const int64_t rs = stash != nullptr ? stash_st : st;
  for (int64_t j = i; j < n_px; ++j) {
    float v[4];
    for (int c = 0; c < C; ++c) v[c] = buf[c * st + j];
    color_pixel(v, C, steps, n, job.ri, job.bi, job.p.bound);
    for (int c = 0; c < C; ++c) row[c * rs + j] = v[c];
  }
  const int r = C == 3 ? job.ri : 0, g = C == 3 ? 1 : 0, b = C == 3 ? job.bi : 0;
  gray_sum_tail(row + r * rs, row + g * rs, row + b * rs, C, i, n_px, lanes);
}
