// Build facts and a probe launch (csrc/cuda/info_cuda.cu), for `python -m geomaug info` and the
// fallback on GPUs the build does not cover.  Only in CUDA builds.
#pragma once

namespace geomaug {

const char* cuda_arch_list();       // the arch list the build was asked for, e.g. "7.5-8.0-9.0+PTX"
const char* cuda_arch_list_macro(); // nvcc's __CUDA_ARCH_LIST__ as compiled, e.g. "750,800,900"
int cuda_build_version();           // CUDART_VERSION at build time
// Launches a tiny kernel on `device`; returns the CUDA error code and fills the message buffer;
// *binary_version / *ptx_version: what cudaFuncGetAttributes reports for the probe kernel.
int cuda_probe(int device, char* message, int message_len, int* binary_version, int* ptx_version);
const char* cuda_error_string(int code);

}  // namespace geomaug
