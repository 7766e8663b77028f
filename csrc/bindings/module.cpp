// The Python module geomaug._C: build facts, the CUDA probe, and the C++ enum values (checked
// against geomaug/_ops.py by a test).  Loading it registers every op (torch.ops.geomaug.*),
// each from its own binding file.
#include <torch/extension.h>
#include <torch/version.h>

#include "common.h"
#include "geomaug/augment_math.h"
#include "geomaug/common.h"
#include "geomaug/cpu_isa.h"
#include "geomaug/warp.h"

namespace geomaug {
namespace {

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

py::dict enums() {
  py::dict interpolation, border, align_model, color_op, channel_order, d;
  interpolation["bilinear"] = static_cast<int>(kBilinear);
  interpolation["nearest"] = static_cast<int>(kNearest);
  border["constant"] = static_cast<int>(kConstant);
  border["replicate"] = static_cast<int>(kReplicate);
  border["reflect"] = static_cast<int>(kReflect);
  align_model["rigid"] = static_cast<int>(kRigid);
  align_model["similarity"] = static_cast<int>(kSimilarity);
  align_model["affine"] = static_cast<int>(kAffine);
  color_op["none"] = static_cast<int>(kColorNone);
  color_op["brightness"] = static_cast<int>(kBrightness);
  color_op["contrast"] = static_cast<int>(kContrast);
  color_op["saturation"] = static_cast<int>(kSaturation);
  color_op["hue"] = static_cast<int>(kHue);
  color_op["grayscale"] = static_cast<int>(kGrayscale);
  channel_order["RGB"] = static_cast<int>(kRGB);
  channel_order["BGR"] = static_cast<int>(kBGR);
  d["interpolation"] = interpolation;
  d["border"] = border;
  d["align_model"] = align_model;
  d["color_op"] = color_op;
  d["channel_order"] = channel_order;
  return d;
}

// The CPU variant `op` runs for a GEOMAUG_CPU_ISA value (None: the environment's now) on a CPU
// whose best variant is `best` (None: this CPU's), by the rule of cpu_isa.h.
std::string cpu_isa_py(const std::string& op, std::optional<std::string> value,
                       std::optional<std::string> best) {
  int auto_isa = -1;
  if (op == "warp") auto_isa = kWarpAutoIsa;
  if (op == "augment") auto_isa = kAugmentAutoIsa;
  if (auto_isa < 0) throw py::value_error("op must be 'warp' or 'augment', got '" + op + "'");
  int best_isa = cpu_best_isa();
  if (best) {
    best_isa = *best == "baseline" ? kIsaBaseline : *best == "avx2" ? kIsaAvx2
               : *best == "avx512" ? kIsaAvx512 : -1;
    if (best_isa < 0)
      throw py::value_error("best must be 'baseline', 'avx2' or 'avx512', got '" + *best + "'");
  }
  std::string error;
  const char* v = value ? value->c_str() : std::getenv("GEOMAUG_CPU_ISA");
  const int isa = resolve_cpu_isa(v, auto_isa, best_isa, &error);
  if (isa < 0) throw py::value_error(error);
  return cpu_isa_name(isa);
}

}  // namespace
}  // namespace geomaug

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "geomaug's compiled kernels; the ops are registered as torch.ops.geomaug.*";
  m.def("build_info", &geomaug::build_info, "How this extension was built.");
  m.def("cuda_probe", &geomaug::cuda_probe_py, py::arg("device"),
        "Launch a probe kernel on a CUDA device: (error code, message, binaryVersion, ptxVersion).");
  m.def("enums", &geomaug::enums, "The C++ enum values behind the ops' int arguments.");
  m.def("cpu_isas", &geomaug::cpu_isas,
        "The CPU kernels' instruction-set variants this machine runs, e.g. 'baseline,avx2,avx512'.");
  m.def("cpu_isa", &geomaug::cpu_isa_py, py::arg("op"), py::arg("value") = py::none(),
        py::arg("best") = py::none(),
        "The CPU variant op ('warp' or 'augment') runs for GEOMAUG_CPU_ISA=value (None: the "
        "environment's) on a CPU whose best variant is best (None: this one's).");
}
