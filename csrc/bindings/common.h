// What every op's binding file shares: the only torch-facing helpers (shape text, dtype switches,
// torch's thread pool for the CPU kernels, CUDA launch checks).  Each op's schema, checks and
// CPU/CUDA registrations live in its own file here (warp.cpp, align.cpp); the Python module
// (build facts, probe, enum tables) is module.cpp.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <functional>
#include <optional>
#include <sstream>
#include <string>

#include "geomaug/parallel.h"
#ifdef GEOMAUG_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "geomaug/cuda_info.h"
#endif

namespace geomaug {

inline std::string shape_str(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// The CPU kernels run on torch's pool, so torch.set_num_threads and DataLoader workers apply.
inline ParallelFor torch_parallel_for() {
  return [](int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
    at::parallel_for(0, n, grain, body);
  };
}

// Calls f(T{}) with T the C++ type of a float32/float64 dtype.
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

// The memory format an op's output takes after its input: channels-last stays channels-last.
// (The same rule as the fake registrations in geomaug/_ops.py.)
inline at::MemoryFormat output_format(const at::Tensor& t) {
  if (t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast))
    return at::MemoryFormat::ChannelsLast;
  return at::MemoryFormat::Contiguous;
}

#ifdef GEOMAUG_WITH_CUDA
inline void check_launch(int code, const char* op) {
  TORCH_CHECK(code == 0, "geomaug::", op, ": CUDA kernel launch failed: ", cuda_error_string(code));
}

inline void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }
#endif

}  // namespace geomaug
