// CUDA alignment kernel.
//
// A block of 128 threads owns 128 sets.  Reduction phase: groups of kGroup lanes share a set, read
// its points coalesced (lane i takes points i, i+kGroup, ...), accumulate moments in double and
// sum them with warp shuffles; each group's leader parks its set's moments in shared memory.
// Solve phase: every thread solves one set (the 3D SVD runs on all lanes, not one per group).
// Second pass, only in blocks with near-exact fits: those sets' residuals summed point by point.
#include <cuda_runtime.h>

#include "geomaug/align.h"

namespace geomaug {
namespace {

constexpr int kThreads = 128;  // sets per block, too
constexpr int kGroup = 4;      // lanes per set in the reduction phase

template <typename T, int D>
__device__ __forceinline__ void load_point(const T* __restrict__ p, T* out) {
  if constexpr (D == 2 && sizeof(T) == 4) {
    const float2 v = __ldg(reinterpret_cast<const float2*>(p));
    out[0] = v.x;
    out[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < D; ++i) out[i] = __ldg(p + i);
  }
}

__host__ __device__ constexpr int gcd16(int n) { return n % 16 == 0 ? 16 : n % 8 == 0 ? 8 : n % 4 == 0 ? 4 : n % 2 == 0 ? 2 : 1; }

__device__ __forceinline__ bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

// n consecutive elements (n * sizeof(T) a multiple of 16, p 16-byte aligned) in 16-byte loads.
template <typename T, int n>
__device__ __forceinline__ void load_chunk(const T* __restrict__ p, T* out) {
  static_assert(n * sizeof(T) % 16 == 0, "whole 16-byte words only");
  if constexpr (sizeof(T) == 4) {
#pragma unroll
    for (int w = 0; w < n / 4; ++w) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(p) + w);
      out[4 * w] = v.x; out[4 * w + 1] = v.y; out[4 * w + 2] = v.z; out[4 * w + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int w = 0; w < n / 2; ++w) {
      const double2 v = __ldg(reinterpret_cast<const double2*>(p) + w);
      out[2 * w] = v.x; out[2 * w + 1] = v.y;
    }
  }
}

template <typename T, int D, bool kWeighted, bool kSquared, bool kFullXX>
__global__ void __launch_bounds__(kThreads, 4)
    align_kernel(const T* __restrict__ src, const T* __restrict__ dst,
                 const T* __restrict__ weights, AlignShape s, AlignOutputs<T> out) {
  constexpr int K = MomentLayout<D, kFullXX>::size;
  constexpr int kRow = K + 2 * D;  // moments, then the reference points
  __shared__ double parked[kThreads][kRow];
  __shared__ bool flagged[kThreads];  // set needs the rmse second pass
  static_assert(D * D + D + 2 <= K, "a parked row holds the fit for the second pass");
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kThreads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / kGroup, member = lane % kGroup;
  constexpr int kSetsPerRound = 32 / kGroup;
  // Points per 16-byte-aligned chunk (float 3D: 4 points = three 16-byte words).  A set's points
  // are read that way when every set starts on a 16-byte boundary and N is a multiple of it.
  constexpr int kChunk = 16 / gcd16(D * static_cast<int>(sizeof(T)));
  const bool vectorized = s.N % kChunk == 0 && aligned16(src) && aligned16(dst);

  for (int round = 0; round < 32 / kSetsPerRound; ++round) {
    const int local = warp * 32 + round * kSetsPerRound + group;
    const int64_t b = first + local;
    double m[K];
#pragma unroll
    for (int k = 0; k < K; ++k) m[k] = 0.0;
    double rx[D] = {}, ry[D] = {};
    if (b < s.B && s.N > 0) {
      const T* x = src + b * s.N * D;
      const T* y = dst + b * s.N * D;
      T x0[D], y0[D];
      load_point<T, D>(x, x0);
      load_point<T, D>(y, y0);
#pragma unroll
      for (int i = 0; i < D; ++i) {
        rx[i] = static_cast<double>(x0[i]);
        ry[i] = static_cast<double>(y0[i]);
      }
      // The shift in the input precision (its rounding is below the input's own), then the
      // exact products and sums in double.
      auto add = [&](const T* qx, const T* qy, int64_t p) {
        double px[D], py[D];
#pragma unroll
        for (int i = 0; i < D; ++i) {
          px[i] = static_cast<double>(qx[i] - x0[i]);
          py[i] = static_cast<double>(qy[i] - y0[i]);
        }
        const double w = kWeighted ? static_cast<double>(__ldg(weights + b * s.N + p)) : 1.0;
        moments_add<D, kSquared, kFullXX>(m, px, py, w);
      };
      if (vectorized) {  // kChunk points per lane and step, in 16-byte loads
        const int64_t chunks = s.N / kChunk;
#pragma unroll 2
        for (int64_t c = member; c < chunks; c += kGroup) {
          T qx[kChunk * D], qy[kChunk * D];
          load_chunk<T, kChunk * D>(x + c * kChunk * D, qx);
          load_chunk<T, kChunk * D>(y + c * kChunk * D, qy);
#pragma unroll
          for (int q = 0; q < kChunk; ++q) add(qx + q * D, qy + q * D, c * kChunk + q);
        }
      } else {
#pragma unroll 4
        for (int64_t p = member; p < s.N; p += kGroup) {
          T qx[D], qy[D];
          load_point<T, D>(x + p * D, qx);
          load_point<T, D>(y + p * D, qy);
          add(qx, qy, p);
        }
      }
    }
    using L = MomentLayout<D, kFullXX>;
    // Without squared weights the moment-weight slots stay zero until moments_finish: skip them.
    auto used = [](int k) { return kSquared || k < L::mw || k >= L::mxx; };
#pragma unroll
    for (int offset = kGroup / 2; offset > 0; offset /= 2)
#pragma unroll
      for (int k = 0; k < K; ++k)
        if (used(k)) m[k] += __shfl_xor_sync(0xffffffffu, m[k], offset);
    if (member == 0) {
#pragma unroll
      for (int k = 0; k < K; ++k) parked[local][k] = m[k];
#pragma unroll
      for (int i = 0; i < D; ++i) {
        parked[local][K + i] = rx[i];
        parked[local][K + D + i] = ry[i];
      }
    }
  }
  __syncthreads();

  const int64_t b = first + threadIdx.x;
  bool recheck = false;
  if (b < s.B) {
    double m[K];
#pragma unroll
    for (int k = 0; k < K; ++k) m[k] = parked[threadIdx.x][k];
    moments_finish<D, kSquared, kFullXX>(m);
    // The 3D SVD in the input precision: float32's is as accurate as float32 data, and much
    // cheaper than double on GPUs.
    const AlignResult<D> r = solve_alignment<D, T, kFullXX>(m, &parked[threadIdx.x][K],
                                                   &parked[threadIdx.x][K + D], s.mode,
                                                   s.allow_reflection, Epsilon<T>::value);
    store_result<D, T>(r, b, out);
    recheck = r.valid && r.recheck;
    if (recheck) {  // park the fit (over this thread's own moments) for the second pass
#pragma unroll
      for (int i = 0; i < D; ++i) {
#pragma unroll
        for (int j = 0; j < D; ++j) parked[threadIdx.x][i * D + j] = r.R[i][j];
        parked[threadIdx.x][D * D + i] = r.off[i];
      }
      parked[threadIdx.x][D * D + D] = r.s;
      parked[threadIdx.x][D * D + D + 1] = r.mw;
    }
  }
  flagged[threadIdx.x] = recheck;
  // Near-exact fits (all of them for double input): their rmse from the residuals summed point by
  // point, read again in the reduction phase's layout.  Blocks without any skip it, so float data
  // with a real residual is read once.
  if (!__syncthreads_or(recheck)) return;
  for (int round = 0; round < 32 / kSetsPerRound; ++round) {
    const int local = warp * 32 + round * kSetsPerRound + group;
    const int64_t bb = first + local;
    const bool mine = bb < s.B && flagged[local];
    AlignResult<D> r;
    double rss = 0.0;
    if (mine) {
#pragma unroll
      for (int i = 0; i < D; ++i) {
#pragma unroll
        for (int j = 0; j < D; ++j) r.R[i][j] = parked[local][i * D + j];
        r.off[i] = parked[local][D * D + i];
      }
      r.s = parked[local][D * D + D];
      rss = direct_rss<D, kSquared, T>(r, src + bb * s.N * D, dst + bb * s.N * D,
                                       kWeighted ? weights + bb * s.N : nullptr,
                                       &parked[local][K], &parked[local][K + D], member, s.N,
                                       kGroup);
    }
#pragma unroll
    for (int offset = kGroup / 2; offset > 0; offset /= 2)
      rss += __shfl_xor_sync(0xffffffffu, rss, offset);
    if (mine && member == 0)
      out.rmse[bb] = static_cast<T>(rmse_from_rss(rss, parked[local][D * D + D + 1]));
  }
}

template <typename T, int D>
cudaError_t launch_dim(const T* src, const T* dst, const T* weights, const AlignShape& s,
                       const AlignOutputs<T>& out, cudaStream_t stream) {
  const int64_t blocks = (s.B + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  const dim3 grid(static_cast<unsigned>(blocks));
  dispatch_align_variant(weights != nullptr, s.squared_weights, s.mode == kAffine,
                         [&](auto weighted, auto squared, auto full) {
                           align_kernel<T, D, weighted, squared, full>
                               <<<grid, kThreads, 0, stream>>>(src, dst, weights, s, out);
                         });
  return cudaGetLastError();
}

}  // namespace

template <typename T>
int align_cuda(const T* src, const T* dst, const T* weights, const AlignShape& s,
               const AlignOutputs<T>& out, void* stream) {
  if (s.B == 0) return 0;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  const cudaError_t err = s.D == 2 ? launch_dim<T, 2>(src, dst, weights, s, out, st)
                                   : launch_dim<T, 3>(src, dst, weights, s, out, st);
  return static_cast<int>(err);
}

template int align_cuda<float>(const float*, const float*, const float*, const AlignShape&,
                               const AlignOutputs<float>&, void*);
template int align_cuda<double>(const double*, const double*, const double*, const AlignShape&,
                                const AlignOutputs<double>&, void*);

}  // namespace geomaug
