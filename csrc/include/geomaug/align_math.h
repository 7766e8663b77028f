// Per-set math of the alignment op (Kabsch / Umeyama), shared by the CPU and the CUDA kernel.
//
// Model: dst_i ~ s R src_i + t (column vectors), minimising sum_i w_i |s R src_i + t - dst_i|^2.
// One pass over the points accumulates weighted moments in double, about a reference point (the
// set's first point) so that large coordinate offsets cost no precision; the solve then works on
// the centred cross-covariance C = sum w (dst - mean_dst)(src - mean_src)^T:
//   2D rigid/similarity: closed form (angle from the two invariants of C, no SVD);
//   3D rigid/similarity: C = U S V^T from a Jacobi eigen-decomposition of C^T C in registers, with
//                        U's last column a cross product, so the reflection fix is a sign;
//   affine:              A = C Cxx^-1 through the eigen-decomposition of Cxx.
// Degenerate sets come back as valid = false with the identity, never as NaN in the transform.
// rmse comes from the moments when that is accurate to the input's rounding; otherwise the result
// asks (AlignResult::recheck) for a second pass that sums the residuals point by point.
#pragma once
#include "common.h"

namespace geomaug {

// Degeneracy floor of a spread (docs/conventions.md, "Alignment").  A centred second moment (a
// variance, or the smallest eigenvalue of the source covariance for affine) counts as non-zero
// only above the rounding noise of
//   the input: its absolute coordinates are rounded to eps_in, M = sum w |x|^2 about the origin;
//   the computation: centred moments are differences of double sums taken about the reference
//   point, S = sum w |x - ref|^2 (>= the largest eigenvalue), so relative to S the floor is a
//   condition-number test at 64 double epsilons.
// The PyTorch path (geomaug/align.py) applies the same rule.
GEOMAUG_HD double spread_floor(double M, double S, double eps_in) {
  const double rel = 8.0 * eps_in;
  return rel * rel * M + 64.0 * Epsilon<double>::value * S;
}

// The moment form of the residual, rss = vy - 2 s tr + s^2 vx, cancels to within ~eps_double of
// `scale` (= Sy + s^2 Sx, the moments it is differenced from).  It is kept when that error is below
// the input's rounding of rss (always false for double input: its rss is always summed directly).
GEOMAUG_HD bool rss_needs_direct_sum(double rss, double scale, double eps_in) {
  return !(rss > 16.0 * (Epsilon<double>::value / eps_in) * scale);
}

// Flat layout of the moments of one set, so that they can be summed across lanes/threads.
//   cw, cx[D], cy[D]             centroid weights w:  sum w, sum w x, sum w y
//   mw, mx[D], my[D],            moment weights (w, or w^2 with pytorch3d's weighting)
//   mxx                          sum w x x^T: the upper triangle (kFullXX, needed by affine) or
//                                only its trace sum w |x|^2 (rigid/similarity: less work)
//   myx[D*D] (row-major, dst index first), myy
template <int D, bool kFullXX>
struct MomentLayout {
  static constexpr int nxx = kFullXX ? D * (D + 1) / 2 : 1;
  static constexpr int cw = 0, cx = 1, cy = 1 + D, mw = 1 + 2 * D, mx = 2 + 2 * D,
                       my = 2 + 3 * D, mxx = 2 + 4 * D, myx = mxx + nxx, myy = myx + D * D,
                       size = myy + 1;
  GEOMAUG_HD static constexpr int xx(int i, int j) {  // index of the (i, j) entry of mxx, any order
    return i <= j ? mxx + i * D - i * (i - 1) / 2 + (j - i) : xx(j, i);
  }
};

// Adds one point (coordinates relative to the reference point) with weight w.  Without squared
// moment weights the moment-weight sums equal the centroid ones and are filled in by
// moments_finish() instead of being accumulated twice.
template <int D, bool kSquaredWeights, bool kFullXX>
GEOMAUG_HD void moments_add(double* m, const double* x, const double* y, double w) {
  using L = MomentLayout<D, kFullXX>;
  const double wm = kSquaredWeights ? w * w : w;
  m[L::cw] += w;
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) {
    m[L::cx + i] += w * x[i];
    m[L::cy + i] += w * y[i];
  }
  if (kSquaredWeights) {
    m[L::mw] += wm;
    GEOMAUG_UNROLL
    for (int i = 0; i < D; ++i) {
      m[L::mx + i] += wm * x[i];
      m[L::my + i] += wm * y[i];
    }
  }
  double yy = 0.0, xx = 0.0;
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) {
    const double wy = wm * y[i], wx = wm * x[i];
    if constexpr (kFullXX) {
      GEOMAUG_UNROLL
      for (int j = i; j < D; ++j) m[L::xx(i, j)] += wx * x[j];
    } else {
      xx += wx * x[i];
    }
    GEOMAUG_UNROLL
    for (int j = 0; j < D; ++j) m[L::myx + i * D + j] += wy * x[j];
    yy += wy * y[i];
  }
  if constexpr (!kFullXX) m[L::mxx] += xx;
  m[L::myy] += yy;
}

template <int D, bool kSquaredWeights, bool kFullXX>
GEOMAUG_HD void moments_finish(double* m) {
  using L = MomentLayout<D, kFullXX>;
  if (!kSquaredWeights) {
    m[L::mw] = m[L::cw];
    GEOMAUG_UNROLL
    for (int i = 0; i < D; ++i) {
      m[L::mx + i] = m[L::cx + i];
      m[L::my + i] = m[L::cy + i];
    }
  }
}

// Symmetric eigen-decomposition by cyclic Jacobi rotations: A = V diag(lam) V^T, lam descending.
// A is overwritten.  Converges to full double precision in a few sweeps for D <= 3.
template <typename S, int D>
GEOMAUG_HD void sym_eig(S (&A)[D][D], S (&V)[D][D], S (&lam)[D]) {
  constexpr S kEps = static_cast<S>(Epsilon<S>::value);
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i)
    GEOMAUG_UNROLL
    for (int j = 0; j < D; ++j) V[i][j] = i == j ? S(1) : S(0);
  for (int sweep = 0; sweep < 24; ++sweep) {
    S off = S(0), diag = S(0);
    for (int p = 0; p < D; ++p) {
      diag += A[p][p] * A[p][p];
      for (int q = p + 1; q < D; ++q) off += A[p][q] * A[p][q];
    }
    if (!(off > kEps * kEps * diag)) break;  // also stops on NaN
    for (int p = 0; p < D - 1; ++p)
      for (int q = p + 1; q < D; ++q) {
        const S apq = A[p][q];
        if (apq == S(0)) continue;
        const S theta = (A[q][q] - A[p][p]) / (S(2) * apq);
        const S at = std::fabs(theta);
        const bool huge = at > S(1) / kEps;  // theta^2 + 1 == theta^2: t = 1 / (2 theta)
        S t = huge ? S(0.5) / theta : S(1) / (at + std::sqrt(theta * theta + S(1)));
        if (theta < S(0) && !huge) t = -t;
        const S c = S(1) / std::sqrt(t * t + S(1)), s = t * c;
        for (int k = 0; k < D; ++k) {
          const S akp = A[k][p], akq = A[k][q];
          A[k][p] = c * akp - s * akq;
          A[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < D; ++k) {
          const S apk = A[p][k], aqk = A[q][k];
          A[p][k] = c * apk - s * aqk;
          A[q][k] = s * apk + c * aqk;
        }
        for (int k = 0; k < D; ++k) {
          const S vkp = V[k][p], vkq = V[k][q];
          V[k][p] = c * vkp - s * vkq;
          V[k][q] = s * vkp + c * vkq;
        }
      }
  }
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) lam[i] = A[i][i];
  for (int i = 0; i < D - 1; ++i)  // selection sort, descending, columns of V follow
    for (int j = i + 1; j < D; ++j)
      if (lam[j] > lam[i]) {
        const S tl = lam[i]; lam[i] = lam[j]; lam[j] = tl;
        for (int k = 0; k < D; ++k) { const S tv = V[k][i]; V[k][i] = V[k][j]; V[k][j] = tv; }
      }
}

template <int D>
struct AlignResult {
  double R[D][D];  // rotation (rigid/similarity) or linear part (affine)
  double t[D];
  double s;
  double rmse;
  bool valid;
  bool recheck;   // rmse must come from direct_rss(): the moment form is below its noise
  double off[D];  // s R x + t - y = s R (x - ref_x) - (y - ref_y) + off
  double mw;      // total moment weight (rmse = sqrt(rss / mw))
};

template <int D>
GEOMAUG_HD void set_identity(AlignResult<D>& r) {
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) {
    r.t[i] = 0.0;
    GEOMAUG_UNROLL
    for (int j = 0; j < D; ++j) r.R[i][j] = i == j ? 1.0 : 0.0;
  }
  r.s = 1.0;
  r.rmse = NAN;
  r.valid = false;
  r.recheck = false;
  r.mw = 0.0;
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) r.off[i] = 0.0;
}

// Rotation maximising tr(R^T C), and that maximum (the sum of C's signed singular values).
// Returns false when the rotation is not determined (C of rank < D-1 up to `noise`).  With
// allow_reflection a reflection is chosen only when it fits better by more than `noise`; a tie
// (coplanar points in 3D, two points in 2D: the mirror image fits as well) goes to the rotation.
GEOMAUG_HD bool best_rotation(const double (&C)[2][2], bool allow_reflection, double noise,
                         double (&R)[2][2], double& trace) {
  const double a = C[0][0] + C[1][1], b = C[1][0] - C[0][1];  // proper rotation
  const double ar = C[0][0] - C[1][1], br = C[0][1] + C[1][0];  // reflection
  const double r = std::sqrt(a * a + b * b), rr = std::sqrt(ar * ar + br * br);
  if (allow_reflection && rr - r > 2.0 * noise) {  // ties (smallest singular value ~ 0): proper
    if (!(rr > noise)) return false;
    const double c = ar / rr, s = br / rr;
    R[0][0] = c; R[0][1] = s; R[1][0] = s; R[1][1] = -c;
    trace = rr;
  } else {
    if (!(r > noise)) return false;
    const double c = a / r, s = b / r;
    R[0][0] = c; R[0][1] = -s; R[1][0] = s; R[1][1] = c;
    trace = r;
  }
  return true;
}

// 3D: the SVD runs in precision S; in float (for float input, much cheaper on GPUs) its rotation
// is then refined by Newton steps in double, so results keep double accuracy either way.
template <typename S>
GEOMAUG_HD void cross3(const S* a, const S* b, S* c) {
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}

// R <- R orthonormalised by one Newton-Schulz step: R (3 I - R^T R) / 2.
GEOMAUG_HD void orthonormalize(double (&R)[3][3]) {
  double Q[3][3], QtQ[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) Q[i][j] = R[i][j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) QtQ[i][j] = Q[0][i] * Q[0][j] + Q[1][i] * Q[1][j] + Q[2][i] * Q[2][j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      R[i][j] = 1.5 * Q[i][j] - 0.5 * (Q[i][0] * QtQ[0][j] + Q[i][1] * QtQ[1][j] + Q[i][2] * QtQ[2][j]);
}

// One Newton step, in double, towards the R maximising tr(R^T C) from a nearby R (the float SVD's):
// with M = R^T C and R <- R exp([w]x), the gain is w.g - w^T H w / 2 with g = vee(M - M^T),
// H = tr(M) I - (M + M^T) / 2 (eigenvalues s_i + s_j > 0 at a determined optimum).  Converges
// quadratically, so float-accurate input comes out double-accurate.
GEOMAUG_HD void refine_rotation(const double (&C)[3][3], double (&R)[3][3]) {
  double M[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) M[i][j] = R[0][i] * C[0][j] + R[1][i] * C[1][j] + R[2][i] * C[2][j];
  const double g[3] = {M[2][1] - M[1][2], M[0][2] - M[2][0], M[1][0] - M[0][1]};
  const double tr = M[0][0] + M[1][1] + M[2][2];
  double H[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) H[i][j] = (i == j ? tr : 0.0) - 0.5 * (M[i][j] + M[j][i]);
  const double a00 = H[1][1] * H[2][2] - H[1][2] * H[2][1], a01 = H[0][2] * H[2][1] - H[0][1] * H[2][2],
               a02 = H[0][1] * H[1][2] - H[0][2] * H[1][1], a11 = H[0][0] * H[2][2] - H[0][2] * H[2][0],
               a12 = H[0][2] * H[1][0] - H[0][0] * H[1][2], a22 = H[0][0] * H[1][1] - H[0][1] * H[1][0];
  const double det = H[0][0] * a00 + H[0][1] * (H[1][2] * H[2][0] - H[1][0] * H[2][2]) + H[0][2] * (H[1][0] * H[2][1] - H[1][1] * H[2][0]);
  if (!(det > 0.0) || !is_finite(det)) return;  // not near a determined maximum: keep R
  // H is symmetric, so its adjugate is too: w = adj(H) g / det.
  const double w[3] = {(a00 * g[0] + a01 * g[1] + a02 * g[2]) / det,
                       (a01 * g[0] + a11 * g[1] + a12 * g[2]) / det,
                       (a02 * g[0] + a12 * g[1] + a22 * g[2]) / det};
  const double W[3][3] = {{0.0, -w[2], w[1]}, {w[2], 0.0, -w[0]}, {-w[1], w[0], 0.0}};
  double E[3][3], Rn[3][3];  // exp(W) to second order (w is tiny)
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      E[i][j] = (i == j ? 1.0 : 0.0) + W[i][j] +
                0.5 * (W[i][0] * W[0][j] + W[i][1] * W[1][j] + W[i][2] * W[2][j]);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) Rn[i][j] = R[i][0] * E[0][j] + R[i][1] * E[1][j] + R[i][2] * E[2][j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) R[i][j] = Rn[i][j];
  orthonormalize(R);
}

// The rotation depends only on the direction of C, so the solve runs on C scaled by a power of two
// (exact) to a largest entry in [0.5, 1): C^T C and the Jacobi sweeps' squares then stay inside
// float's range for tiny or huge coordinates (C ~ coordinates^2, C^T C ~ coordinates^4).  Where
// nothing under- or overflowed unscaled, the result is the unscaled one bit for bit (scaling by 2^k
// commutes with rounding).  `noise`, compared with the singular values, is scaled alike; `trace`
// is that of the unscaled C (the caller's s = trace / vx).
template <typename S>
GEOMAUG_HD bool best_rotation(const double (&Cd)[3][3], bool allow_reflection, double noise,
                         double (&R)[3][3], double& trace) {
  double big = 0.0;  // C is finite here (solve_alignment checks)
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const double a = std::fabs(Cd[i][j]);
      if (a > big) big = a;
    }
  int ex = 0;
  std::frexp(big, &ex);  // big = f 2^ex, f in [0.5, 1); ex = 0 for C = 0
  if (ex < -1021) ex = -1021;  // 2^-ex a finite double (C subnormal, double input: short of 0.5)
  const double unit = std::ldexp(1.0, -ex);
  double Cu[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) Cu[i][j] = Cd[i][j] * unit;
  noise *= unit;
  S C[3][3], K[3][3], V[3][3], lam[3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      C[i][j] = static_cast<S>(Cu[i][j]);
      K[i][j] = static_cast<S>(Cu[0][i] * Cu[0][j] + Cu[1][i] * Cu[1][j] + Cu[2][i] * Cu[2][j]);
    }
  sym_eig<S, 3>(K, V, lam);
  S v[3][3], Cv[3][3], u[3][3];  // v[k], u[k]: k-th right / left singular vectors
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 3; ++i) v[k][i] = V[i][k];
  cross3(v[0], v[1], v[2]);  // a proper V
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 3; ++i) Cv[k][i] = C[i][0] * v[k][0] + C[i][1] * v[k][1] + C[i][2] * v[k][2];
  const S s0 = std::sqrt(Cv[0][0] * Cv[0][0] + Cv[0][1] * Cv[0][1] + Cv[0][2] * Cv[0][2]);
  if (!(s0 > noise)) return false;
  for (int i = 0; i < 3; ++i) u[0][i] = Cv[0][i] / s0;
  const S d = u[0][0] * Cv[1][0] + u[0][1] * Cv[1][1] + u[0][2] * Cv[1][2];
  for (int i = 0; i < 3; ++i) u[1][i] = Cv[1][i] - d * u[0][i];
  const S s1 = std::sqrt(u[1][0] * u[1][0] + u[1][1] * u[1][1] + u[1][2] * u[1][2]);
  if (!(s1 > noise)) return false;  // collinear: the rotation about that line is free
  for (int i = 0; i < 3; ++i) u[1][i] /= s1;
  cross3(u[0], u[1], u[2]);
  const S s2 = u[2][0] * Cv[2][0] + u[2][1] * Cv[2][1] + u[2][2] * Cv[2][2];  // signed
  const S e = (allow_reflection && s2 < -noise) ? S(-1) : S(1);  // ties: proper rotation
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      R[i][j] = static_cast<double>(u[0][i] * v[0][j] + u[1][i] * v[1][j] + e * u[2][i] * v[2][j]);
  if constexpr (sizeof(S) < sizeof(double)) {  // scaled too: its det(H) ~ C^3 in double
    refine_rotation(Cu, R);
    refine_rotation(Cu, R);
  }
  trace = 0.0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) trace += R[i][j] * Cd[i][j];
  return true;
}

// Solve one set from its moments.  ref_x / ref_y: the reference point the moments are taken about.
// eps_in: machine epsilon of the input type, which sets the degeneracy thresholds.  S: precision
// of the 3D SVD (the input type).
template <int D, typename S, bool kFullXX>
GEOMAUG_HD AlignResult<D> solve_alignment(const double* m, const double* ref_x, const double* ref_y,
                                     int mode, bool allow_reflection, double eps_in) {
  using L = MomentLayout<D, kFullXX>;
  AlignResult<D> r;
  set_identity(r);
  const double cw = m[L::cw], mw = m[L::mw];
  if (!(cw > 0.0) || !(mw > 0.0) || !is_finite(cw) || !is_finite(mw)) return r;
  double xb[D], yb[D];  // centroids relative to the reference point
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) {
    xb[i] = m[L::cx + i] / cw;
    yb[i] = m[L::cy + i] / cw;
  }
  double C[D][D], Cxx[D][D];  // centred cross-covariance (dst, src) and src covariance
  double vy = m[L::myy], vx = kFullXX ? 0.0 : m[L::mxx], Mx = 0.0, My = 0.0;
  bool finite = is_finite(vy) && is_finite(vx);
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) {
    vy += -2.0 * yb[i] * m[L::my + i] + mw * yb[i] * yb[i];
    if constexpr (!kFullXX) vx += -2.0 * xb[i] * m[L::mx + i] + mw * xb[i] * xb[i];
    GEOMAUG_UNROLL
    for (int j = 0; j < D; ++j) {
      C[i][j] = m[L::myx + i * D + j] - yb[i] * m[L::mx + j] - m[L::my + i] * xb[j] + mw * yb[i] * xb[j];
      finite = finite && is_finite(C[i][j]);
      if constexpr (kFullXX) {
        Cxx[i][j] = m[L::xx(i, j)] - xb[i] * m[L::mx + j] - m[L::mx + i] * xb[j] + mw * xb[i] * xb[j];
        finite = finite && is_finite(Cxx[i][j]);
      }
    }
    if constexpr (kFullXX) vx += Cxx[i][i];
    const double ax = ref_x[i] + xb[i], ay = ref_y[i] + yb[i];
    Mx += ax * ax;
    My += ay * ay;
  }
  if (!finite) return r;
  Mx = mw * Mx + vx;  // ~ sum w |x|^2 about the origin: the scale of input rounding noise
  My = mw * My + vy;
  double Sx = 0.0;  // sum w |x - ref|^2: the scale of the moments' cancellation noise
  if constexpr (kFullXX) {
    GEOMAUG_UNROLL
    for (int i = 0; i < D; ++i) Sx += m[L::xx(i, i)];
  } else {
    Sx = m[L::mxx];
  }
  const double Sy = m[L::myy];
  const double floor_x = spread_floor(Mx, Sx, eps_in), floor_y = spread_floor(My, Sy, eps_in);
  if (!(vx > floor_x)) return r;  // fewer than two distinct source points

  double A[D][D], trace = 0.0;
  if (mode == kAffine) {
    if constexpr (!kFullXX) {
      return r;  // callers pass the full moments for affine
    } else {
      double K[D][D], V[D][D], lam[D];
      GEOMAUG_UNROLL
      for (int i = 0; i < D; ++i)
        GEOMAUG_UNROLL
        for (int j = 0; j < D; ++j) K[i][j] = Cxx[i][j];
      sym_eig<double, D>(K, V, lam);
      if (!(lam[D - 1] > floor_x)) return r;  // source points span less than D dimensions
      // A = C Cxx^-1 = C V diag(1/lam) V^T
      for (int i = 0; i < D; ++i)
        for (int j = 0; j < D; ++j) {
          double acc = 0.0;
          for (int k = 0; k < D; ++k) {
            double cv = 0.0;
            for (int l = 0; l < D; ++l) cv += C[i][l] * V[l][k];
            acc += cv / lam[k] * V[j][k];
          }
          A[i][j] = acc;
        }
      for (int i = 0; i < D; ++i)
        for (int j = 0; j < D; ++j) trace += A[i][j] * C[i][j];
      r.s = 1.0;
    }
  } else {
    if (!(vy > floor_y)) return r;  // fewer than two distinct destination points
    const double noise = 8.0 * eps_in * (std::sqrt(My * vx) + std::sqrt(Mx * vy)) +
                         64.0 * Epsilon<double>::value * std::sqrt(Sx * Sy);
    bool ok;
    if constexpr (D == 2)
      ok = best_rotation(C, allow_reflection, noise, A, trace);
    else
      ok = best_rotation<S>(C, allow_reflection, noise, A, trace);
    if (!ok) return r;
    r.s = mode == kSimilarity ? trace / vx : 1.0;
  }
  // t = mean_dst - s A mean_src, in absolute coordinates
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) {
    double acc = 0.0;
    GEOMAUG_UNROLL
    for (int j = 0; j < D; ++j) acc += A[i][j] * (ref_x[j] + xb[j]);
    r.t[i] = ref_y[i] + yb[i] - r.s * acc;
    double ab = 0.0;
    GEOMAUG_UNROLL
    for (int j = 0; j < D; ++j) {
      r.R[i][j] = A[i][j];
      ab += A[i][j] * xb[j];
    }
    r.off[i] = yb[i] - r.s * ab;
  }
  // Weighted residual sum of squares from the moments; near-exact fits (and double input) are
  // summed point by point instead (direct_rss), the moment form having cancelled to noise.
  double rss, scale;
  if (mode == kAffine) {
    rss = vy - trace;
    scale = Sy + std::fabs(trace) * (Sx / vx);
  } else {
    rss = vy - 2.0 * r.s * trace + r.s * r.s * vx;
    scale = Sy + r.s * r.s * Sx;
  }
  r.rmse = std::sqrt(rss > 0.0 ? rss / mw : 0.0);
  r.recheck = rss_needs_direct_sum(rss, scale, eps_in);
  r.mw = mw;
  r.valid = true;
  return r;
}

// One point's weighted squared residual |s R (x - ref_x) - (y - ref_y) + off|^2 * w, in double
// (px, py: coordinates relative to the reference points).
template <int D>
GEOMAUG_HD double residual_sq(const AlignResult<D>& r, const double* px, const double* py, double w) {
  double acc = 0.0;
  GEOMAUG_UNROLL
  for (int i = 0; i < D; ++i) {
    double e = 0.0;
    GEOMAUG_UNROLL
    for (int j = 0; j < D; ++j) e += r.R[i][j] * px[j];
    e = r.s * e - py[i] + r.off[i];
    acc += e * e;
  }
  return w * acc;
}

// Second pass for a result with `recheck`: rmse from the residuals summed point by point (points
// p_begin, p_begin + p_step, ... of one set).  kSquared: pytorch3d's weighting (moments by w^2).
template <int D, bool kSquared, typename T>
GEOMAUG_HD double direct_rss(const AlignResult<D>& r, const T* x, const T* y, const T* w,
                        const double* ref_x, const double* ref_y, int64_t p_begin,
                        int64_t p_end, int64_t p_step) {
  double rss = 0.0;
  for (int64_t p = p_begin; p < p_end; p += p_step) {
    double px[D], py[D];
    GEOMAUG_UNROLL
    for (int i = 0; i < D; ++i) {
      px[i] = static_cast<double>(x[p * D + i]) - ref_x[i];
      py[i] = static_cast<double>(y[p * D + i]) - ref_y[i];
    }
    double wp = w ? static_cast<double>(w[p]) : 1.0;
    if (kSquared) wp *= wp;
    rss += residual_sq<D>(r, px, py, wp);
  }
  return rss;
}

GEOMAUG_HD double rmse_from_rss(double rss, double mw) { return std::sqrt(rss > 0.0 ? rss / mw : 0.0); }

// Writes one set's result: matrix (D+1)x(D+1) = [[s R, t], [0, 1]], R, t, s, rmse, valid.
template <int D, typename T, typename Out>
GEOMAUG_HD void store_result(const AlignResult<D>& r, int64_t b, const Out& out) {
  T* M = out.matrix + b * (D + 1) * (D + 1);
  for (int i = 0; i < D; ++i) {
    out.t[b * D + i] = static_cast<T>(r.t[i]);
    M[i * (D + 1) + D] = static_cast<T>(r.t[i]);
    M[D * (D + 1) + i] = T(0);
    for (int j = 0; j < D; ++j) {
      out.R[(b * D + i) * D + j] = static_cast<T>(r.R[i][j]);
      M[i * (D + 1) + j] = static_cast<T>(r.s * r.R[i][j]);
    }
  }
  M[D * (D + 1) + D] = T(1);
  out.s[b] = static_cast<T>(r.s);
  out.rmse[b] = static_cast<T>(r.rmse);
  out.valid[b] = r.valid;
}

}  // namespace geomaug
