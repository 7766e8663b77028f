// Shared definitions for the plain kernels: no torch headers here or in anything that includes this.
#pragma once
#include <cstdint>
#include <cmath>

#if defined(__CUDACC__)
#define GEOMAUG_HD __host__ __device__ __forceinline__
#define GEOMAUG_UNROLL _Pragma("unroll")
#else
#define GEOMAUG_HD inline
#define GEOMAUG_UNROLL  // host compilers unroll these small fixed loops on their own at -O3
#endif

// Host row loops that must inline into their per-ISA callers (a target attribute differs).
#if defined(__GNUC__) || defined(__clang__)
#define GEOMAUG_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define GEOMAUG_ALWAYS_INLINE inline
#endif

namespace geomaug {

// Enums shared with Python (geomaug/_ops.py holds the name tables; a test checks they agree).
enum Interp : int { kBilinear = 0, kNearest = 1 };

// What a sample point outside the image's area [-0.5, W-0.5] x [-0.5, H-0.5] reads, per bilinear
// tap (or nearest pixel), as OpenCV's border modes: the fill value, the clamped index
// (BORDER_REPLICATE) or the mirrored index without repeating the edge (BORDER_REFLECT_101).
enum Border : int { kConstant = 0, kReplicate = 1, kReflect = 2 };

// Alignment models: rotation + translation, plus uniform scale, or a general linear map.
enum AlignMode : int { kRigid = 0, kSimilarity = 1, kAffine = 2 };

template <typename T> struct Epsilon;
template <> struct Epsilon<float> { static constexpr double value = 1.1920928955078125e-07; };
template <> struct Epsilon<double> { static constexpr double value = 2.220446049250313e-16; };

GEOMAUG_HD bool is_finite(double v) { return v - v == 0.0; }  // false for NaN and +-inf
GEOMAUG_HD bool is_nan(double v) { return v != v; }

// Round half to even, as torch.round / grid_sample's nearest mode do.  On the host without
// SSE4.1 std::nearbyint is a library call per value; adding and subtracting 2^23 with v's sign
// rounds in the FPU's default (to-nearest-even) mode instead: the sum lies in [2^23, 2^24) in
// magnitude, where floats are the integers.  |v| >= 2^23 is an integer already (floats between
// 2^22 and 2^23 still have halves: those round too); the sign of v is kept (-0.3 -> -0).
GEOMAUG_HD float round_even(float v) {
#if defined(__CUDA_ARCH__)
  return rintf(v);
#else
  constexpr float kTwo23 = 8388608.0f;
  if (!(std::fabs(v) < kTwo23)) return v;
  const float magic = std::copysign(kTwo23, v);
  volatile float shifted = v + magic;  // volatile: keep the compiler from folding the pair
  return std::copysign(shifted - magic, v);
#endif
}

// Round half to even in double precision (nearest sampling of float64 images), as above with 2^52.
GEOMAUG_HD double round_even(double v) {
#if defined(__CUDA_ARCH__)
  return rint(v);
#else
  constexpr double kTwo52 = 4503599627370496.0;
  if (!(std::fabs(v) < kTwo52)) return v;
  const double magic = std::copysign(kTwo52, v);
  volatile double shifted = v + magic;
  return std::copysign(shifted - magic, v);
#endif
}

// floor(v) as an integer, for |v| well inside the int64 range (callers check bounds first).
template <typename S>
GEOMAUG_HD int64_t floor_int(S v) {
#if defined(__CUDA_ARCH__)
  return static_cast<int64_t>(floor(v));
#else
  const int64_t t = static_cast<int64_t>(v);  // truncates towards zero
  return t - (static_cast<S>(t) > v ? 1 : 0);
#endif
}

}  // namespace geomaug
