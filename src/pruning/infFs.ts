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
//   4. S = (I − rA)⁻¹ − I and s_i = Σ_j S_ij, computed as z − 1 with (I − rA)·z = 1.

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
  for (let i = 0; i < d; i++)
    for (let j = i; j < d; j++) {
      const ri = rankCols[i];
      const rj = rankCols[j];
      let dot = 0;
      for (let t = 0; t < n; t++) dot += ri.values[t] * rj.values[t];
      const spearman = dot / (ri.norm * rj.norm);
      const v = alpha * Math.max(std[i], std[j]) + (1 - alpha) * (1 - Math.abs(spearman));
      a[i * d + j] = a[j * d + i] = Number.isFinite(v) ? v : 0;
    }
  return a;
}

/** Spectral radius of a symmetric non-negative matrix by power iteration. */
export function spectralRadius(a: Float64Array, d: number, iterations = 500): number {
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
    rho = norm;
    v = w.map((x) => x / norm);
  }
  return rho;
}

/** Solves m·z = b by Gaussian elimination with partial pivoting (m is d×d row-major, copied). */
export function solveLinear(m: Float64Array, b: Float64Array, d: number): Float64Array {
  const a = m.slice();
  const z = b.slice();
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(a[r * d + col]) > Math.abs(a[pivot * d + col])) pivot = r;
    if (a[pivot * d + col] === 0) throw new Error('solveLinear: singular matrix');
    if (pivot !== col) {
      for (let c = 0; c < d; c++) [a[col * d + c], a[pivot * d + c]] = [a[pivot * d + c], a[col * d + c]];
      [z[col], z[pivot]] = [z[pivot], z[col]];
    }
    for (let r = col + 1; r < d; r++) {
      const f = a[r * d + col] / a[col * d + col];
      if (f === 0) continue;
      for (let c = col; c < d; c++) a[r * d + c] -= f * a[col * d + c];
      z[r] -= f * z[col];
    }
  }
  for (let r = d - 1; r >= 0; r--) {
    let s = z[r];
    for (let c = r + 1; c < d; c++) s -= a[r * d + c] * z[c];
    z[r] = s / a[r * d + r];
  }
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
  return solveLinear(m, new Float64Array(d).fill(1), d).map((z) => z - 1);
}
