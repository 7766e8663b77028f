// Build facts recorded in the extension, and a probe launch that tells whether this build's
// kernels can run on a given device.
#include <cuda_runtime.h>

#include <cstdio>

#include "geomaug/cuda_info.h"

#define GEOMAUG_STR2(...) #__VA_ARGS__
#define GEOMAUG_STR(...) GEOMAUG_STR2(__VA_ARGS__)

namespace geomaug {
namespace {
__global__ void probe_kernel(int* out) { *out = 42; }
}  // namespace

// setup.py passes the requested list with '-' for ';' (a ';' would end the compile command).
const char* cuda_arch_list() {
#ifdef GEOMAUG_ARCH_LIST
  return GEOMAUG_STR(GEOMAUG_ARCH_LIST);
#else
  return "";
#endif
}

const char* cuda_arch_list_macro() {
#ifdef __CUDA_ARCH_LIST__
  return GEOMAUG_STR(__CUDA_ARCH_LIST__);
#else
  return "";
#endif
}

int cuda_build_version() { return CUDART_VERSION; }

const char* cuda_error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

int cuda_probe(int device, char* message, int message_len, int* binary_version, int* ptx_version) {
  *binary_version = 0;
  *ptx_version = 0;
  int previous = 0;
  cudaGetDevice(&previous);
  cudaError_t err = cudaSetDevice(device);
  int* buf = nullptr;
  int host = 0;
  if (err == cudaSuccess) {
    cudaFuncAttributes attr;
    err = cudaFuncGetAttributes(&attr, probe_kernel);
    if (err == cudaSuccess) {
      *binary_version = attr.binaryVersion;
      *ptx_version = attr.ptxVersion;
    }
  }
  if (err == cudaSuccess) err = cudaMalloc(&buf, sizeof(int));
  if (err == cudaSuccess) {
    probe_kernel<<<1, 1>>>(buf);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) err = cudaMemcpy(&host, buf, sizeof(int), cudaMemcpyDeviceToHost);
  if (err == cudaSuccess && host != 42) err = cudaErrorUnknown;
  if (buf) cudaFree(buf);
  cudaGetLastError();  // a failed probe must not poison later calls
  cudaSetDevice(previous);
  std::snprintf(message, message_len, "%s", err == cudaSuccess ? "ok" : cudaGetErrorString(err));
  return static_cast<int>(err);
}

}  // namespace geomaug
