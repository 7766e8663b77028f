// The CPU kernels' instruction-set variants and the one rule that picks a variant per call from
// the environment variable GEOMAUG_CPU_ISA (read on every call, by the bindings):
//   unset, empty or "auto"        -> the op's own default (kWarpAutoIsa, kAugmentAutoIsa below)
//   "baseline", "avx2", "avx512"  -> that variant
// either clamped to the best variant this CPU runs (cpu_best_isa()); case does not matter.  Any
// other value is an error naming the variable, the allowed values and the value found.
#pragma once
#include <cctype>
#include <cstdlib>
#include <string>

namespace geomaug {

// Ordered: a CPU that runs a variant runs every lower one.
enum CpuIsa : int { kIsaBaseline = 0, kIsaAvx2 = 1, kIsaAvx512 = 2 };

// Each op's variant under "auto", before clamping (measured one thread on this project's Xeons,
// Cascade Lake; benchmarks/RESULTS.md): for both ops the AVX-512 row loops are faster than the
// AVX2 ones (augment: 15-25 %).
constexpr int kWarpAutoIsa = kIsaAvx512;
constexpr int kAugmentAutoIsa = kIsaAvx512;

// The best variant this CPU runs (AVX2 needs FMA too, AVX-512 needs F, BW, VL and DQ; x86-64 with
// GCC or clang only: elsewhere every kernel is its baseline).
inline int cpu_best_isa() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  static const int best = [] {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
      return static_cast<int>(kIsaBaseline);
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
      return static_cast<int>(kIsaAvx512);
    return static_cast<int>(kIsaAvx2);
  }();
  return best;
#else
  return kIsaBaseline;
#endif
}

inline const char* cpu_isa_name(int isa) {
  return isa >= kIsaAvx512 ? "avx512" : isa == kIsaAvx2 ? "avx2" : "baseline";
}

// "baseline,avx2,avx512": the variants this CPU runs.
inline const char* cpu_isas() {
  const int best = cpu_best_isa();
  return best >= kIsaAvx512 ? "baseline,avx2,avx512"
         : best == kIsaAvx2  ? "baseline,avx2"
                             : "baseline";
}

// The rule for a value of GEOMAUG_CPU_ISA (nullptr: unset), an op's auto variant and the best
// variant of the CPU: the variant to run, or -1 with *error set for a value not allowed.
inline int resolve_cpu_isa(const char* value, int auto_isa, int best, std::string* error) {
  std::string v = value == nullptr ? "" : value;
  for (char& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  int isa = -1;
  if (v.empty() || v == "auto") isa = auto_isa;
  else if (v == "baseline") isa = kIsaBaseline;
  else if (v == "avx2") isa = kIsaAvx2;
  else if (v == "avx512") isa = kIsaAvx512;
  if (isa < 0) {
    if (error != nullptr)
      *error = "GEOMAUG_CPU_ISA must be auto, baseline, avx2 or avx512 (or unset), got '" +
               std::string(value) + "'";
    return -1;
  }
  return isa < best ? isa : best;
}

// GEOMAUG_CPU_ISA as it is now, resolved for an op whose auto variant is auto_isa.
inline int cpu_isa_from_env(int auto_isa, std::string* error) {
  return resolve_cpu_isa(std::getenv("GEOMAUG_CPU_ISA"), auto_isa, cpu_best_isa(), error);
}

}  // namespace geomaug
