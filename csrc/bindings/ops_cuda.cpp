// CUDA implementations of the ops: device guard, stream, early return on empty input, and the
// launch error raised with its text.  The kernels themselves are in ../cuda/.
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include "ops_common.h"

namespace geomaug {
namespace {

void check_launch(int code, const char* op) {
  TORCH_CHECK(code == 0, "geomaug::", op, ": CUDA kernel launch failed: ", cuda_error_string(code));
}

at::Tensor warp_cuda_impl(const at::Tensor& src, const at::Tensor& matrix, int64_t out_h,
                          int64_t out_w, int64_t interpolation, const at::Tensor& fill,
                          int64_t border) {
  const c10::cuda::CUDAGuard guard(src.device());
  at::Tensor out = prepare_warp(src, matrix, out_h, out_w, interpolation, fill, border);
  if (out.numel() == 0) return out;
  const WarpShape shape = shape_of(src, out);
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  at::Tensor scratch = at::empty({warp_cuda_scratch_bytes(shape.B)}, src.options().dtype(at::kByte));
  const at::Tensor fill_t = warp_fill(src, fill);
  dispatch_warp_dtype(src.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    const WarpParams<T> params{static_cast<int>(interpolation), static_cast<int>(border),
                               fill_t.data_ptr<T>()};
    check_launch(warp_cuda<T>(src.data_ptr<T>(), out.data_ptr<T>(), shape,
                              matrix.data_ptr<double>(), params, scratch.data_ptr(), stream),
                 "warp");
  });
  return out;
}

AlignTuple align_cuda_impl(
    const at::Tensor& src, const at::Tensor& dst, const std::optional<at::Tensor>& weights,
    int64_t mode, bool allow_reflection, bool squared_weights) {
  const c10::cuda::CUDAGuard guard(src.device());
  AlignTensors r = prepare_align(src, dst, weights, mode, allow_reflection, squared_weights);
  if (r.shape.B == 0) return r.as_tuple();
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  dispatch_float_dtype(src.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    check_launch(align_cuda<T>(src.data_ptr<T>(), dst.data_ptr<T>(), optional_ptr<T>(weights),
                               r.shape, r.outputs<T>(), stream),
                 "align");
  });
  return r.as_tuple();
}

}  // namespace
}  // namespace geomaug

TORCH_LIBRARY_IMPL(geomaug, CUDA, m) {
  m.impl("warp", &geomaug::warp_cuda_impl);
  m.impl("align", &geomaug::align_cuda_impl);
}
