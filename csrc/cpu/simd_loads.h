// Scattered loads shared by the AVX2 / AVX-512 row loops of the fused augment kernel
// (augment_cpu.cpp) and of the warp kernel (warp_cpu_simd.cpp).
#pragma once
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace geomaug {

// The offsets of a block, read back as scalars: hiding the pointer from the optimiser keeps
// GCC from extracting them lane by lane instead (vpextrd: two uops on the shuffle port each;
// measured 5-12 % slower overall).  The store stays: the array escapes into the asm, so the
// loads through the returned pointer may read it.
inline const int32_t* through_memory(const int32_t* p) {
  asm("" : "+r"(p));
  return p;
}

// The two floats at base + o for each of 8 lanes' element offsets o (a bilinear tap row: pixels
// x0 and x0 + 1 of one channel, or two channels of one pixel), the first of each pair in `first`
// and the second in `second`, in lane order.  Scalar 8-byte loads as broadcasts blended into
// place (load ports, not the shuffle port): lanes 0, 1, 4, 5 go to a, 2, 3, 6, 7 to b, so that
// shufps's even / odd floats come out in lane order.
__attribute__((target("avx2"))) inline __m256i broadcast8(const float* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm256_set1_epi64x(v);
}
__attribute__((target("avx2"))) inline void float_pairs8(const float* base, __m256i off,
                                                        __m256& first, __m256& second) {
  alignas(32) int32_t buf[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(buf), off);
  const int32_t* e = through_memory(buf);
  const __m256i a = _mm256_blend_epi32(
      _mm256_blend_epi32(broadcast8(base + e[0]), broadcast8(base + e[1]), 0x0c),
      _mm256_blend_epi32(broadcast8(base + e[4]), broadcast8(base + e[5]), 0xc0), 0xf0);
  const __m256i b = _mm256_blend_epi32(
      _mm256_blend_epi32(broadcast8(base + e[2]), broadcast8(base + e[3]), 0x0c),
      _mm256_blend_epi32(broadcast8(base + e[6]), broadcast8(base + e[7]), 0xc0), 0xf0);
  const __m256 fa = _mm256_castsi256_ps(a), fb = _mm256_castsi256_ps(b);
  first = _mm256_shuffle_ps(fa, fb, 0x88);
  second = _mm256_shuffle_ps(fa, fb, 0xdd);
}

}  // namespace geomaug
#endif
