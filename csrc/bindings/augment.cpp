// The fused augment op's binding: schema, argument checks, CPU and CUDA registrations.
// Kernels: csrc/cpu/augment_cpu.cpp, csrc/cuda/augment_cuda.cu; Python: geomaug/fused.py.
#include <algorithm>
#include <string>

#include "common.h"
#include "geomaug/augment.h"

namespace geomaug {
namespace {

constexpr int64_t kMaxSide = int64_t(1) << 30;

struct Prepared {
  at::Tensor out;
  AugmentShape shape;
  AugmentParams params;
};

// Checks the arguments and allocates the (B, C, out_h, out_w) contiguous output.
Prepared prepare_augment(const at::Tensor& image, const at::Tensor& matrix, int64_t out_h,
                         int64_t out_w, int64_t interpolation, int64_t border,
                         at::ArrayRef<double> fill, const at::Tensor& ops,
                         const at::Tensor& factors, const at::Tensor& means,
                         int64_t channel_order, std::optional<at::ArrayRef<double>> mean,
                         std::optional<at::ArrayRef<double>> std,
                         std::optional<at::ScalarType> out_dtype) {
  TORCH_CHECK(image.dim() == 4, "geomaug::augment: image must be (B, C, H, W), got shape ",
              shape_str(image));
  const auto dt = image.scalar_type();
  TORCH_CHECK(dt == at::kByte || dt == at::kFloat,
              "geomaug::augment: image dtype must be uint8 or float32, got ", dt);
  const int64_t B = image.size(0), C = image.size(1);
  TORCH_CHECK(C >= 1 && C <= 4, "geomaug::augment: image must have 1 to 4 channels, got ", C);
  TORCH_CHECK(interpolation == kBilinear || interpolation == kNearest,
              "geomaug::augment: interpolation must be 0 (bilinear) or 1 (nearest), got ",
              interpolation);
  TORCH_CHECK(border == kConstant || border == kReplicate || border == kReflect,
              "geomaug::augment: border must be 0 (constant), 1 (replicate) or 2 (reflect), got ",
              border);
  TORCH_CHECK(channel_order == kRGB || channel_order == kBGR,
              "geomaug::augment: channel_order must be 0 (RGB) or 1 (BGR), got ", channel_order);
  TORCH_CHECK(matrix.dim() == 3 && matrix.size(0) == B && matrix.size(1) == 3 &&
                  matrix.size(2) == 3 && matrix.scalar_type() == at::kDouble &&
                  matrix.is_contiguous(),
              "geomaug::augment: matrix must be a contiguous float64 (B, 3, 3) tensor with B = ", B,
              ", got ", matrix.scalar_type(), " ", shape_str(matrix));
  TORCH_CHECK(static_cast<int64_t>(fill.size()) == C, "geomaug::augment: fill must have C = ", C,
              " values, got ", fill.size());
  TORCH_CHECK(ops.dim() == 2 && ops.size(0) == B && ops.scalar_type() == at::kLong &&
                  ops.is_contiguous(),
              "geomaug::augment: color_ops must be a contiguous int64 (B, S) tensor with B = ", B,
              ", got ", ops.scalar_type(), " ", shape_str(ops));
  const int64_t S = ops.size(1);
  for (const at::Tensor* t : {&factors, &means})
    TORCH_CHECK(t->sizes() == ops.sizes() && t->scalar_type() == at::kDouble &&
                    t->is_contiguous(),
                "geomaug::augment: color_factors and contrast_means must be contiguous float64 "
                "tensors of color_ops' shape ", shape_str(ops), ", got ", t->scalar_type(), " ",
                shape_str(*t));
  for (const at::Tensor* t : {&matrix, &ops, &factors, &means})
    TORCH_CHECK(t->device() == image.device(), "geomaug::augment: matrix and the colour program "
                "must be on the image's device (", image.device(), "), got ", t->device());
  if (ops.device().is_cpu() && ops.numel() > 0) {  // on a GPU the Python wrapper checks these
    const int64_t* o = ops.data_ptr<int64_t>();
    const double* m = means.data_ptr<double>();
    for (int64_t b = 0; b < B; ++b) {
      int n_measured = 0;
      for (int64_t k = 0; k < S; ++k) {
        const int64_t code = o[b * S + k];
        TORCH_CHECK(code >= kColorNone && code <= kGrayscale,
                    "geomaug::augment: color_ops codes must be 0..5, got ", code);
        TORCH_CHECK(code <= kBrightness || C == 1 || C == 3, "geomaug::augment: colour op ",
                    code, " needs 1 or 3 channels, got ", C);
        n_measured += code == kContrast && is_nan(m[b * S + k]);
      }
      TORCH_CHECK(n_measured <= 1, "geomaug::augment: at most one contrast mean per sample can "
                  "be measured in the kernel (NaN in contrast_means), sample ", b, " has ",
                  n_measured);
    }
  }
  TORCH_CHECK(mean.has_value() == std.has_value(),
              "geomaug::augment: give both mean and std, or neither");
  const bool normalize = mean.has_value();
  if (normalize) {
    TORCH_CHECK(static_cast<int64_t>(mean->size()) == C && static_cast<int64_t>(std->size()) == C,
                "geomaug::augment: mean and std must have C = ", C, " values, got ",
                mean->size(), " and ", std->size());
  }
  at::ScalarType odt = out_dtype.value_or(normalize ? at::kFloat : dt);
  if (normalize) {
    TORCH_CHECK(odt == at::kFloat || odt == at::kHalf || odt == at::kBFloat16,
                "geomaug::augment: with normalisation out_dtype must be float32, float16 or "
                "bfloat16, got ", odt);
  } else {
    TORCH_CHECK(odt == dt || odt == at::kFloat, "geomaug::augment: without normalisation "
                "out_dtype must be the image's dtype (", dt, ") or float32, got ", odt);
  }
  TORCH_CHECK(out_h >= 0 && out_w >= 0 && out_h < kMaxSide && out_w < kMaxSide,
              "geomaug::augment: output size must be non-negative and below 2**30 per side, got (",
              out_h, ", ", out_w, ")");
  Prepared r;
  r.out = at::empty({B, C, out_h, out_w}, image.options().dtype(odt));
  AugmentShape& s = r.shape;
  s.B = B; s.C = C; s.H = image.size(2); s.W = image.size(3); s.OH = out_h; s.OW = out_w;
  s.s_b = image.stride(0); s.s_c = image.stride(1); s.s_h = image.stride(2);
  s.s_w = image.stride(3); s.S = S;
  AugmentParams& p = r.params;
  p.interp = static_cast<int>(interpolation);
  p.border = static_cast<int>(border);
  p.order = static_cast<int>(channel_order);
  p.normalize = normalize ? 1 : 0;
  p.bound = dt == at::kByte ? 255.f : 1.f;
  for (int64_t c = 0; c < 4; ++c) {
    p.fill[c] = c < C ? static_cast<float>(fill[c]) : 0.f;
    p.mean[c] = normalize && c < C ? static_cast<float>((*mean)[c]) : 0.f;
    p.inv_std[c] = normalize && c < C ? static_cast<float>(1.0 / (*std)[c]) : 1.f;
  }
  if (s.H == 0 || s.W == 0) {
    TORCH_CHECK(r.out.numel() == 0, "geomaug::augment: the image is empty (", shape_str(image),
                ") but the output is not");
  }
  return r;
}

// Calls f(T{}, O{}) for the (input, output) element types of a call.
template <typename F>
void dispatch_augment(at::ScalarType in, at::ScalarType out, F&& f) {
  auto with_out = [&](auto tag) {
    using T = decltype(tag);
    switch (out) {
      case at::kByte: if constexpr (std::is_same_v<T, uint8_t>) { f(T{}, uint8_t{}); return; } break;
      case at::kFloat: f(T{}, float{}); return;
      case at::kHalf: f(T{}, Half16{}); return;
      case at::kBFloat16: f(T{}, BFloat16Bits{}); return;
      default: break;
    }
    TORCH_CHECK(false, "geomaug::augment: unsupported output dtype ", out);
  };
  if (in == at::kByte) with_out(uint8_t{});
  else with_out(float{});
}

// GEOMAUG_CPU_ISA (read per call) by the rule of cpu_isa.h; "auto" is kAugmentAutoIsa.
int requested_isa() {
  std::string error;
  const int isa = cpu_isa_from_env(kAugmentAutoIsa, &error);
  TORCH_CHECK(isa >= 0, "geomaug::augment: ", error);
  return isa;
}

at::Tensor augment_cpu_impl(const at::Tensor& image, const at::Tensor& matrix, int64_t out_h,
                            int64_t out_w, int64_t interpolation, int64_t border,
                            at::ArrayRef<double> fill, const at::Tensor& ops,
                            const at::Tensor& factors, const at::Tensor& means,
                            int64_t channel_order, std::optional<at::ArrayRef<double>> mean,
                            std::optional<at::ArrayRef<double>> std,
                            std::optional<at::ScalarType> out_dtype) {
  Prepared r = prepare_augment(image, matrix, out_h, out_w, interpolation, border, fill, ops,
                               factors, means, channel_order, mean, std, out_dtype);
  if (r.out.numel() == 0) return r.out;
  const ColorProgramArgs program{ops.data_ptr<int64_t>(), factors.data_ptr<double>(),
                                 means.data_ptr<double>()};
  const int isa = requested_isa();
  dispatch_augment(image.scalar_type(), r.out.scalar_type(), [&](auto in_tag, auto out_tag) {
    using T = decltype(in_tag);
    using O = decltype(out_tag);
    augment_cpu<T, O>(static_cast<const T*>(image.data_ptr()), static_cast<O*>(r.out.data_ptr()),
                      r.shape, matrix.data_ptr<double>(), r.params, program, isa,
                      torch_parallel_for());
  });
  return r.out;
}

#ifdef GEOMAUG_WITH_CUDA
at::Tensor augment_cuda_impl(const at::Tensor& image, const at::Tensor& matrix, int64_t out_h,
                             int64_t out_w, int64_t interpolation, int64_t border,
                             at::ArrayRef<double> fill, const at::Tensor& ops,
                             const at::Tensor& factors, const at::Tensor& means,
                             int64_t channel_order, std::optional<at::ArrayRef<double>> mean,
                             std::optional<at::ArrayRef<double>> std,
                             std::optional<at::ScalarType> out_dtype) {
  const c10::cuda::CUDAGuard guard(image.device());
  Prepared r = prepare_augment(image, matrix, out_h, out_w, interpolation, border, fill, ops,
                               factors, means, channel_order, mean, std, out_dtype);
  if (r.out.numel() == 0) return r.out;
  at::Tensor scratch = at::empty({augment_cuda_scratch_bytes(r.shape.B, r.shape.S)},
                                 image.options().dtype(at::kByte));
  const ColorProgramArgs program{ops.data_ptr<int64_t>(), factors.data_ptr<double>(),
                                 means.data_ptr<double>()};
  dispatch_augment(image.scalar_type(), r.out.scalar_type(), [&](auto in_tag, auto out_tag) {
    using T = decltype(in_tag);
    using O = decltype(out_tag);
    check_launch(augment_cuda<T, O>(static_cast<const T*>(image.data_ptr()),
                                    static_cast<O*>(r.out.data_ptr()), r.shape,
                                    matrix.data_ptr<double>(), r.params, program,
                                    scratch.data_ptr(), current_stream()),
                 "augment");
  });
  return r.out;
}
#endif

}  // namespace
}  // namespace geomaug

TORCH_LIBRARY_FRAGMENT(geomaug, m) {
  m.def("augment(Tensor image, Tensor matrix, int out_h, int out_w, int interpolation, "
        "int border, float[] fill, Tensor color_ops, Tensor color_factors, "
        "Tensor contrast_means, int channel_order, float[]? mean, float[]? std, "
        "ScalarType? out_dtype) -> Tensor");
}

TORCH_LIBRARY_IMPL(geomaug, CPU, m) { m.impl("augment", &geomaug::augment_cpu_impl); }

#ifdef GEOMAUG_WITH_CUDA
TORCH_LIBRARY_IMPL(geomaug, CUDA, m) { m.impl("augment", &geomaug::augment_cuda_impl); }
#endif
