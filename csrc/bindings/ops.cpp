// The binding layer: op schemas, the CPU implementations, and the Python module with build facts.
// The CUDA implementations are registered in ops_cuda.cpp (compiled only in CUDA builds).
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "ops_common.h"

namespace geomaug {
namespace {

ParallelFor torch_parallel_for() {
  return [](int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
    at::parallel_for(0, n, grain, body);
  };
}

at::Tensor warp_cpu_impl(const at::Tensor& src, const at::Tensor& matrix, int64_t out_h,
                         int64_t out_w, int64_t interpolation, const at::Tensor& fill,
                         int64_t border) {
  at::Tensor out = prepare_warp(src, matrix, out_h, out_w, interpolation, fill, border);
  if (out.numel() == 0) return out;
  const WarpShape shape = shape_of(src, out);
  const at::Tensor fill_t = warp_fill(src, fill);
  dispatch_warp_dtype(src.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    const WarpParams<T> params{static_cast<int>(interpolation), static_cast<int>(border),
                               fill_t.data_ptr<T>()};
    warp_cpu<T>(src.data_ptr<T>(), out.data_ptr<T>(), shape, matrix.data_ptr<double>(), params,
                torch_parallel_for());
  });
  return out;
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

py::dict build_info() {
  py::dict d;
  d["torch_version"] = TORCH_VERSION;
#ifdef GEOMAUG_WITH_CUDA
  d["cuda"] = true;
  d["cuda_version"] = cuda_build_version();
  d["arch_list"] = std::string(cuda_arch_list());
  d["cuda_arch_list_macro"] = std::string(cuda_arch_list_macro());
#else
  d["cuda"] = false;
#endif
  return d;
}

py::tuple cuda_probe_py(int device) {
#ifdef GEOMAUG_WITH_CUDA
  char message[256];
  int binary_version = 0, ptx_version = 0;
  const int code = cuda_probe(device, message, sizeof(message), &binary_version, &ptx_version);
  return py::make_tuple(code, std::string(message), binary_version, ptx_version);
#else
  return py::make_tuple(-1, std::string("geomaug was built without CUDA"), 0, 0);
#endif
}

}  // namespace
}  // namespace geomaug

TORCH_LIBRARY(geomaug, m) {
  m.def("warp(Tensor src, Tensor matrix, int out_h, int out_w, int interpolation, Tensor fill, "
        "int border=0) -> Tensor");
  m.def("align(Tensor src, Tensor dst, Tensor? weights, int mode, bool allow_reflection, "
        "bool squared_weights) -> (Tensor matrix, Tensor R, Tensor t, Tensor s, Tensor rmse, "
        "Tensor valid)");
}

TORCH_LIBRARY_IMPL(geomaug, CPU, m) {
  m.impl("warp", &geomaug::warp_cpu_impl);
  m.impl("align", &geomaug::align_cpu_impl);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "geomaug's compiled kernels; the ops are registered as torch.ops.geomaug.*";
  m.def("build_info", &geomaug::build_info, "How this extension was built.");
  m.def("warp_cpu_isas", &geomaug::warp_cpu_isas,
        "The CPU warp's instruction-set variants on this machine (GEOMAUG_CPU_ISA picks one).");
  m.def("cuda_probe", &geomaug::cuda_probe_py, py::arg("device"),
        "Launch a probe kernel on a CUDA device: (error code, message, binaryVersion, ptxVersion).");
}
