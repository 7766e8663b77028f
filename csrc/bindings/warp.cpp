// The warp op's binding: schema, argument checks, CPU and CUDA registrations.
// Kernels: csrc/cpu/warp_cpu.cpp, csrc/cuda/warp_cuda.cu; Python: geomaug/warping.py.
#include <string>

#include "common.h"
#include "geomaug/warp.h"

namespace geomaug {
namespace {

// Largest output side the op accepts (geomaug/_checks.py says the same).
constexpr int64_t kMaxWarpSide = int64_t(1) << 30;

WarpShape warp_shape(const at::Tensor& src, const at::Tensor& out) {
  WarpShape s;
  s.B = src.size(0); s.C = src.size(1); s.H = src.size(2); s.W = src.size(3);
  s.OH = out.size(2); s.OW = out.size(3);
  s.s_b = src.stride(0); s.s_c = src.stride(1); s.s_h = src.stride(2); s.s_w = src.stride(3);
  s.d_b = out.stride(0); s.d_c = out.stride(1); s.d_h = out.stride(2); s.d_w = out.stride(3);
  return s;
}

// Calls f(T{}) with T the C++ type of a warp element dtype.
template <typename F>
void dispatch_warp_dtype(at::ScalarType dt, F&& f) {
  switch (dt) {
    case at::kByte: f(uint8_t{}); break;
    case at::kInt: f(int32_t{}); break;
    case at::kLong: f(int64_t{}); break;
    case at::kFloat: f(float{}); break;
    case at::kDouble: f(double{}); break;
    default: TORCH_CHECK(false, "geomaug::warp: unsupported dtype ", dt);
  }
}

// Checks warp's arguments and allocates the output in the source's memory format
// (channels-last in, channels-last out).
at::Tensor prepare_warp(const at::Tensor& src, const at::Tensor& matrix, int64_t out_h,
                        int64_t out_w, int64_t interpolation, const at::Tensor& fill,
                        int64_t border) {
  TORCH_CHECK(src.dim() == 4, "geomaug::warp: src must be (B, C, H, W), got shape ", shape_str(src));
  const auto dt = src.scalar_type();
  TORCH_CHECK(interpolation == kBilinear || interpolation == kNearest,
              "geomaug::warp: interpolation must be 0 (bilinear) or 1 (nearest), got ", interpolation);
  TORCH_CHECK(border == kConstant || border == kReplicate || border == kReflect,
              "geomaug::warp: border must be 0 (constant), 1 (replicate) or 2 (reflect), got ", border);
  const bool interpolating = interpolation == kBilinear;
  TORCH_CHECK(dt == at::kByte || dt == at::kFloat || dt == at::kDouble ||
                  (!interpolating && (dt == at::kInt || dt == at::kLong)),
              "geomaug::warp: src dtype must be uint8, float32 or float64",
              interpolating ? "" : " (or int32/int64 with nearest)", ", got ", dt);
  TORCH_CHECK(matrix.dim() == 3 && matrix.size(0) == src.size(0) && matrix.size(1) == 3 &&
                  matrix.size(2) == 3,
              "geomaug::warp: matrix must be (B, 3, 3) with B = ", src.size(0), ", got shape ",
              shape_str(matrix));
  TORCH_CHECK(matrix.scalar_type() == at::kDouble && matrix.is_contiguous(),
              "geomaug::warp: matrix must be a contiguous float64 tensor, got ", matrix.scalar_type(),
              matrix.is_contiguous() ? "" : " (non-contiguous)");
  TORCH_CHECK(fill.dim() == 1 && fill.size(0) == src.size(1) &&
                  (fill.scalar_type() == dt || fill.scalar_type() == at::kDouble),
              "geomaug::warp: fill must be a tensor of shape (C,) = (", src.size(1),
              ",) of src's dtype (", dt, ") or float64, got ", fill.scalar_type(), " ",
              shape_str(fill));
  TORCH_CHECK(matrix.device() == src.device() && fill.device() == src.device(),
              "geomaug::warp: src, matrix and fill must be on one device, got ", src.device(), ", ",
              matrix.device(), ", ", fill.device());
  TORCH_CHECK(out_h >= 0 && out_w >= 0 && out_h < kMaxWarpSide && out_w < kMaxWarpSide,
              "geomaug::warp: output size must be non-negative and below 2**30 per side, got (",
              out_h, ", ", out_w, ")");
  return at::empty({src.size(0), src.size(1), out_h, out_w},
                   src.options().memory_format(output_format(src)));
}

// The fill values in src's element type, contiguous: a float64 fill of an integer image is
// rounded (half to even) and saturated to the type's range, as cv2 converts its borderValue.
at::Tensor warp_fill(const at::Tensor& src, const at::Tensor& fill) {
  const auto dt = src.scalar_type();
  if (fill.scalar_type() == dt) return fill.contiguous();
  if (dt == at::kFloat || dt == at::kDouble) return fill.to(dt).contiguous();
  double lo = 0.0, hi = 255.0;
  if (dt == at::kInt) { lo = -2147483648.0; hi = 2147483647.0; }
  if (dt == at::kLong) { lo = -9223372036854775808.0; hi = 9223372036854774784.0; }
  return fill.round().clamp(lo, hi).to(dt).contiguous();
}

// GEOMAUG_CPU_ISA (read per call) by the rule of cpu_isa.h; "auto" is kWarpAutoIsa.
int requested_isa() {
  std::string error;
  const int isa = cpu_isa_from_env(kWarpAutoIsa, &error);
  TORCH_CHECK(isa >= 0, "geomaug::warp: ", error);
  return isa;
}

at::Tensor warp_cpu_impl(const at::Tensor& src, const at::Tensor& matrix, int64_t out_h,
                         int64_t out_w, int64_t interpolation, const at::Tensor& fill,
                         int64_t border) {
  at::Tensor out = prepare_warp(src, matrix, out_h, out_w, interpolation, fill, border);
  const at::Tensor fill_t = warp_fill(src, fill);
  if (out.numel() == 0) return out;
  const WarpShape shape = warp_shape(src, out);
  const int isa = requested_isa();
  dispatch_warp_dtype(src.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    const WarpParams<T> params{static_cast<int>(interpolation), static_cast<int>(border),
                               fill_t.data_ptr<T>()};
    warp_cpu<T>(src.data_ptr<T>(), out.data_ptr<T>(), shape, matrix.data_ptr<double>(), params,
                isa, torch_parallel_for());
  });
  return out;
}

#ifdef GEOMAUG_WITH_CUDA
at::Tensor warp_cuda_impl(const at::Tensor& src, const at::Tensor& matrix, int64_t out_h,
                          int64_t out_w, int64_t interpolation, const at::Tensor& fill,
                          int64_t border) {
  const c10::cuda::CUDAGuard guard(src.device());
  at::Tensor out = prepare_warp(src, matrix, out_h, out_w, interpolation, fill, border);
  const at::Tensor fill_t = warp_fill(src, fill);
  if (out.numel() == 0) return out;
  const WarpShape shape = warp_shape(src, out);
  at::Tensor scratch = at::empty({warp_cuda_scratch_bytes(shape.B)}, src.options().dtype(at::kByte));
  dispatch_warp_dtype(src.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    const WarpParams<T> params{static_cast<int>(interpolation), static_cast<int>(border),
                               fill_t.data_ptr<T>()};
    check_launch(warp_cuda<T>(src.data_ptr<T>(), out.data_ptr<T>(), shape,
                              matrix.data_ptr<double>(), params, scratch.data_ptr(),
                              current_stream()),
                 "warp");
  });
  return out;
}
#endif

}  // namespace
}  // namespace geomaug

TORCH_LIBRARY_FRAGMENT(geomaug, m) {
  m.def("warp(Tensor src, Tensor matrix, int out_h, int out_w, int interpolation, Tensor fill, "
        "int border=0) -> Tensor");
}

TORCH_LIBRARY_IMPL(geomaug, CPU, m) { m.impl("warp", &geomaug::warp_cpu_impl); }

#ifdef GEOMAUG_WITH_CUDA
TORCH_LIBRARY_IMPL(geomaug, CUDA, m) { m.impl("warp", &geomaug::warp_cuda_impl); }
#endif
