// How the CPU kernels run in parallel without knowing about torch: the binding layer hands them a
// ParallelFor backed by at::parallel_for (so torch.set_num_threads and DataLoader workers' single
// thread are honoured).
#pragma once
#include <cstdint>
#include <functional>

namespace geomaug {

// run(n, grain, body) calls body(begin, end) over disjoint chunks covering [0, n).
using ParallelFor =
    std::function<void(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body)>;

inline ParallelFor serial_for() {
  return [](int64_t n, int64_t, const std::function<void(int64_t, int64_t)>& body) {
    if (n > 0) body(0, n);
  };
}

}  // namespace geomaug
