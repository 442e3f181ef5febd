// Inf-FS feature importance (Roffo et al., ICCV 2015) of the final response layer, as algorithms.md
// §4.1 specifies it [C:NISP; PyIFS InfFS.py]. All on the host in float64: the matrix is
// d×d with d = the FRL width (512 for ResNet-18 and VGG-16; SmallCNN's classifier reads its
// flattened 128×7×7 map, d = 6272: a few minutes of host time on 5,000 samples).
//   1. min-max scale each feature over the samples; std_i = its (population) standard deviation;
//   2. a_ij = α·max(std_i, std_j) + (1 − α)·(1 − |Spearman_ij|), α = 0.5; a pair with a constant
//      feature gets a_ij = 0 [X, ours]. PyIFS sets the NaN correlation to 0 before 1 − |·|, which
//      gives a never-firing ReLU unit the largest affinity to every other feature and so a high
//      importance; a constant response carries no information, so here it has none;
//   3. r = 0.9/ρ(A) (ρ by power iteration: A is symmetric and non-negative);
//   4. S = (I − rA)⁻¹ − I and s_i = Σ_j S_ij, computed as z − 1 with (I − rA)·z = 1 (by conjugate
//      gradients: I − rA is symmetric positive definite).

/** Average ranks (1-based, ties share their mean rank) of one column. */
function ranks(values: Float64Array): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const out = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const mean = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) out[order[t]] = mean;
    i = j + 1;
  }
  return out;
}

/** Column j of a row-major n×d matrix. */
function column(x: Float64Array, n: number, d: number, j: number): Float64Array {
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) c[i] = x[i * d + j];
  return c;
}

function minMaxScaled(c: Float64Array): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of c) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const span = hi - lo;
  return c.map((v) => (span > 0 ? (v - lo) / span : 0));
}

function centred(c: Float64Array): { values: Float64Array; norm: number } {
  const mean = c.reduce((a, b) => a + b, 0) / c.length;
  const values = c.map((v) => v - mean);
  return { values, norm: Math.sqrt(values.reduce((a, v) => a + v * v, 0)) };
}

/** The Inf-FS affinity matrix A (d×d, row-major) of samples x (n×d, row-major). */
export function infFsAffinity(x: Float64Array, n: number, d: number, alpha = 0.5): Float64Array {
  const std = new Float64Array(d);
  const rankCols: { values: Float64Array; norm: number }[] = [];
  for (let j = 0; j < d; j++) {
    const scaled = minMaxScaled(column(x, n, d, j));
    const c = centred(scaled);
    std[j] = c.norm / Math.sqrt(n);
    rankCols.push(centred(ranks(scaled)));
  }
  const a = new Float64Array(d * d);
  const entry = (i: number, j: number, dot: number) => {
    const spearman = dot / (rankCols[i].norm * rankCols[j].norm);
    const v = alpha * Math.max(std[i], std[j]) + (1 - alpha) * (1 - Math.abs(spearman));
    a[i * d + j] = a[j * d + i] = Number.isFinite(v) ? v : 0;
  };
  // The rank correlations are d²/2 dot products of length n (6272²/2 × 5000 for SmallCNN): four
  // columns j share each pass over column i, which reads i a quarter as often.
  for (let i = 0; i < d; i++) {
    const ri = rankCols[i].values;
    let j = i;
    for (; j + 3 < d; j += 4) {
      const [r0, r1, r2, r3] = [rankCols[j].values, rankCols[j + 1].values, rankCols[j + 2].values, rankCols[j + 3].values];
      let d0 = 0;
      let d1 = 0;
      let d2 = 0;
      let d3 = 0;
      for (let t = 0; t < n; t++) {
        const v = ri[t];
        d0 += v * r0[t];
        d1 += v * r1[t];
        d2 += v * r2[t];
        d3 += v * r3[t];
      }
      entry(i, j, d0);
      entry(i, j + 1, d1);
      entry(i, j + 2, d2);
      entry(i, j + 3, d3);
    }
    for (; j < d; j++) {
      const rj = rankCols[j].values;
      let dot = 0;
      for (let t = 0; t < n; t++) dot += ri[t] * rj[t];
      entry(i, j, dot);
    }
  }
  return a;
}

/**
 * Spectral radius of a symmetric non-negative matrix by power iteration, stopped once the estimate
 * moves less than `tolerance` (relative) from one iteration to the next.
 */
export function spectralRadius(a: Float64Array, d: number, iterations = 500, tolerance = 1e-12): number {
  let v = new Float64Array(d).fill(1 / Math.sqrt(d));
  let rho = 0;
  for (let it = 0; it < iterations; it++) {
    const w = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += a[i * d + j] * v[j];
      w[i] = s;
    }
    const norm = Math.sqrt(w.reduce((acc, x) => acc + x * x, 0));
    if (norm === 0) return 0;
    const previous = rho;
    rho = norm;
    v = w.map((x) => x / norm);
    if (Math.abs(rho - previous) <= tolerance * rho) break;
  }
  return rho;
}

/**
 * Solves m·z = b for a symmetric positive definite m (d×d row-major) by conjugate gradients, to a
 * residual below `tolerance`·|b|. I − rA with r = 0.9/ρ(A) has its eigenvalues in [0.1, 1.9], so
 * CG converges in a few dozen matrix-vector products, where elimination costs d³/3 (8·10¹⁰ for
 * SmallCNN's d = 6272: most of NIS's scoring time).
 */
export function solveSymmetricPositive(m: Float64Array, b: Float64Array, d: number, tolerance = 1e-13): Float64Array {
  const z = new Float64Array(d);
  const r = b.slice();
  const p = b.slice();
  const q = new Float64Array(d);
  const bNorm = Math.sqrt(b.reduce((acc, v) => acc + v * v, 0));
  let rr = bNorm * bNorm;
  const limit = Math.max(2 * d, 50);
  let it = 0;
  for (; it < limit && Math.sqrt(rr) > tolerance * bNorm; it++) {
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += m[i * d + j] * p[j];
      q[i] = s;
    }
    let pq = 0;
    for (let i = 0; i < d; i++) pq += p[i] * q[i];
    if (!(pq > 0)) throw new Error('solveSymmetricPositive: the matrix is not positive definite');
    const step = rr / pq;
    let next = 0;
    for (let i = 0; i < d; i++) {
      z[i] += step * p[i];
      r[i] -= step * q[i];
      next += r[i] * r[i];
    }
    const beta = next / rr;
    rr = next;
    for (let i = 0; i < d; i++) p[i] = r[i] + beta * p[i];
  }
  if (it === limit && Math.sqrt(rr) > tolerance * bNorm)
    throw new Error(`solveSymmetricPositive: no convergence in ${limit} iterations (residual ${Math.sqrt(rr) / bNorm} of |b|)`);
  return z;
}

/** Inf-FS importance s_i = Σ_j [(I − rA)⁻¹ − I]_ij of each of the d features of x (n×d). */
export function infFsImportance(x: Float64Array, n: number, d: number, alpha = 0.5): Float64Array {
  const a = infFsAffinity(x, n, d, alpha);
  const rho = spectralRadius(a, d);
  // No affinity at all (e.g. every feature constant): no feature is preferred.
  if (!(rho > 0)) return new Float64Array(d).fill(1);
  const r = 0.9 / rho;
  const m = a.map((v, idx) => (Math.floor(idx / d) === idx % d ? 1 : 0) - r * v);
  return solveSymmetricPositive(m, new Float64Array(d).fill(1), d).map((z) => z - 1);
}
