// Argument checks and output allocation shared by the CPU and CUDA op implementations.
// Every failed check names the argument, what was expected and what came.
#pragma once
#include <torch/extension.h>

#include <sstream>
#include <string>

#include "../kernels.h"

namespace geomaug {

// Largest output side the op accepts (the Python wrapper says the same).
constexpr int64_t kMaxWarpSide = int64_t(1) << 30;

inline std::string shape_str(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

inline WarpShape shape_of(const at::Tensor& src, const at::Tensor& out) {
  WarpShape s;
  s.B = src.size(0); s.C = src.size(1); s.H = src.size(2); s.W = src.size(3);
  s.OH = out.size(2); s.OW = out.size(3);
  s.s_b = src.stride(0); s.s_c = src.stride(1); s.s_h = src.stride(2); s.s_w = src.stride(3);
  s.d_b = out.stride(0); s.d_c = out.stride(1); s.d_h = out.stride(2); s.d_w = out.stride(3);
  return s;
}

// Checks warp's arguments and allocates the output in the source's memory format
// (channels-last in, channels-last out).
inline at::Tensor prepare_warp(const at::Tensor& src, const at::Tensor& matrix, int64_t out_h,
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
  const auto format = src.suggest_memory_format();
  return at::empty({src.size(0), src.size(1), out_h, out_w},
                   src.options().memory_format(format));
}

// The fill values in src's element type, contiguous: a float64 fill of an integer image is
// rounded (half to even) and saturated to the type's range, as cv2 converts its borderValue.
inline at::Tensor warp_fill(const at::Tensor& src, const at::Tensor& fill) {
  const auto dt = src.scalar_type();
  if (fill.scalar_type() == dt) return fill.contiguous();
  if (dt == at::kFloat || dt == at::kDouble) return fill.to(dt).contiguous();
  double lo = 0.0, hi = 255.0;
  if (dt == at::kInt) { lo = -2147483648.0; hi = 2147483647.0; }
  if (dt == at::kLong) { lo = -9223372036854775808.0; hi = 9223372036854774784.0; }
  return fill.round().clamp(lo, hi).to(dt).contiguous();
}

using AlignTuple = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

struct AlignTensors {
  at::Tensor matrix, R, t, s, rmse, valid;
  AlignShape shape;
  AlignTuple as_tuple() const { return {matrix, R, t, s, rmse, valid}; }
  template <typename T>
  AlignOutputs<T> outputs() const {
    return {matrix.data_ptr<T>(), R.data_ptr<T>(), t.data_ptr<T>(), s.data_ptr<T>(),
            rmse.data_ptr<T>(), valid.data_ptr<bool>()};
  }
};

inline AlignTensors prepare_align(const at::Tensor& src, const at::Tensor& dst,
                                  const std::optional<at::Tensor>& weights, int64_t mode,
                                  bool allow_reflection, bool squared_weights) {
  TORCH_CHECK(src.dim() == 3 && (src.size(2) == 2 || src.size(2) == 3),
              "geomaug::align: src must be (B, N, D) with D in {2, 3}, got shape ", shape_str(src));
  TORCH_CHECK(dst.sizes() == src.sizes(), "geomaug::align: dst must have src's shape ",
              shape_str(src), ", got ", shape_str(dst));
  TORCH_CHECK(src.scalar_type() == at::kFloat || src.scalar_type() == at::kDouble,
              "geomaug::align: src must be float32 or float64, got ", src.scalar_type());
  TORCH_CHECK(dst.scalar_type() == src.scalar_type(), "geomaug::align: dst dtype must be src's (",
              src.scalar_type(), "), got ", dst.scalar_type());
  TORCH_CHECK(src.is_contiguous() && dst.is_contiguous(),
              "geomaug::align: src and dst must be contiguous");
  TORCH_CHECK(dst.device() == src.device(), "geomaug::align: dst must be on src's device (",
              src.device(), "), got ", dst.device());
  TORCH_CHECK(mode == kRigid || mode == kSimilarity || mode == kAffine,
              "geomaug::align: mode must be 0 (rigid), 1 (similarity) or 2 (affine), got ", mode);
  if (weights.has_value()) {
    const at::Tensor& w = *weights;
    TORCH_CHECK(w.dim() == 2 && w.size(0) == src.size(0) && w.size(1) == src.size(1),
                "geomaug::align: weights must be (B, N) = (", src.size(0), ", ", src.size(1),
                "), got shape ", shape_str(w));
    TORCH_CHECK(w.scalar_type() == src.scalar_type() && w.is_contiguous() &&
                    w.device() == src.device(),
                "geomaug::align: weights must be contiguous ", src.scalar_type(), " on ",
                src.device(), ", got ", w.scalar_type(), " on ", w.device());
  }
  const int64_t B = src.size(0), N = src.size(1), D = src.size(2);
  AlignTensors r;
  r.matrix = at::empty({B, D + 1, D + 1}, src.options());
  r.R = at::empty({B, D, D}, src.options());
  r.t = at::empty({B, D}, src.options());
  r.s = at::empty({B}, src.options());
  r.rmse = at::empty({B}, src.options());
  r.valid = at::empty({B}, src.options().dtype(at::kBool));
  r.shape = AlignShape{B, N, static_cast<int>(D), static_cast<int>(mode), allow_reflection,
                       squared_weights};
  return r;
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
    default: TORCH_CHECK(false, "geomaug: unsupported dtype ", dt);
  }
}

template <typename F>
void dispatch_float_dtype(at::ScalarType dt, F&& f) {
  if (dt == at::kFloat) f(float{});
  else if (dt == at::kDouble) f(double{});
  else TORCH_CHECK(false, "geomaug: unsupported dtype ", dt);
}

template <typename T>
const T* optional_ptr(const std::optional<at::Tensor>& t) {
  return t.has_value() ? t->data_ptr<T>() : nullptr;
}

}  // namespace geomaug
