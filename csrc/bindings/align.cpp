// The align op's binding: schema, argument checks, CPU and CUDA registrations.
// Kernels: csrc/cpu/align_cpu.cpp, csrc/cuda/align_cuda.cu; Python: geomaug/alignment.py.
#include "common.h"
#include "geomaug/align.h"

namespace geomaug {
namespace {

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

AlignTensors prepare_align(const at::Tensor& src, const at::Tensor& dst,
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

AlignTuple align_cpu_impl(
    const at::Tensor& src, const at::Tensor& dst, const std::optional<at::Tensor>& weights,
    int64_t mode, bool allow_reflection, bool squared_weights) {
  AlignTensors r = prepare_align(src, dst, weights, mode, allow_reflection, squared_weights);
  if (r.shape.B == 0) return r.as_tuple();
  dispatch_float_dtype(src.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    align_cpu<T>(src.data_ptr<T>(), dst.data_ptr<T>(), optional_ptr<T>(weights), r.shape,
                 r.outputs<T>(), torch_parallel_for());
  });
  return r.as_tuple();
}

#ifdef GEOMAUG_WITH_CUDA
AlignTuple align_cuda_impl(
    const at::Tensor& src, const at::Tensor& dst, const std::optional<at::Tensor>& weights,
    int64_t mode, bool allow_reflection, bool squared_weights) {
  const c10::cuda::CUDAGuard guard(src.device());
  AlignTensors r = prepare_align(src, dst, weights, mode, allow_reflection, squared_weights);
  if (r.shape.B == 0) return r.as_tuple();
  dispatch_float_dtype(src.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    check_launch(align_cuda<T>(src.data_ptr<T>(), dst.data_ptr<T>(), optional_ptr<T>(weights),
                               r.shape, r.outputs<T>(), current_stream()),
                 "align");
  });
  return r.as_tuple();
}
#endif

}  // namespace
}  // namespace geomaug

TORCH_LIBRARY_FRAGMENT(geomaug, m) {
  m.def("align(Tensor src, Tensor dst, Tensor? weights, int mode, bool allow_reflection, "
        "bool squared_weights) -> (Tensor matrix, Tensor R, Tensor t, Tensor s, Tensor rmse, "
        "Tensor valid)");
}

TORCH_LIBRARY_IMPL(geomaug, CPU, m) { m.impl("align", &geomaug::align_cpu_impl); }

#ifdef GEOMAUG_WITH_CUDA
TORCH_LIBRARY_IMPL(geomaug, CUDA, m) { m.impl("align", &geomaug::align_cuda_impl); }
#endif
