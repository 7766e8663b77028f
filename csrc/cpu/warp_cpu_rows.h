// The CPU warp kernel's row loops: the interior span of one destination row, per element type,
// layout and instruction set (warp_cpu_simd.cpp); warp_cpu.cpp splits rows and runs the rest.
#pragma once
#include "geomaug/warp.h"

namespace geomaug {

// Source coordinates along one destination row of an affine map, exactly as source_point()
// computes them: sx = m0 x + (m1 y + m2), sy = m3 x + (m4 y + m5).
template <typename S>
struct RowMap {
  S m0, bx, m3, by;
  static RowMap of(const InverseMap<S>& im, int64_t oy) {
    const S y = static_cast<S>(oy);
    return {im.m[0], im.m[1] * y + im.m[2], im.m[3], im.m[4] * y + im.m[5]};
  }
  S sx(int64_t x) const { return m0 * static_cast<S>(x) + bx; }
  S sy(int64_t x) const { return m3 * static_cast<S>(x) + by; }
};

// span(plane, out_row, shape, row, xb, xe): destination columns [xb, xe) of one row, all interior
// (bilinear: four taps inside; nearest: inside the area).  plane: the sample's source; out_row:
// the destination row's first element.
template <typename T>
struct RowKernels {
  using S = typename SampleType<T>::type;
  void (*span)(const T* plane, T* out_row, const WarpShape& s, const RowMap<S>& r, int64_t xb,
               int64_t xe);
};

// The row loops of variant isa (CpuIsa of cpu_isa.h; the caller has clamped it to the CPU).
template <typename T>
RowKernels<T> row_kernels(int isa, const WarpShape& s, const WarpParams<T>& params);

}  // namespace geomaug
