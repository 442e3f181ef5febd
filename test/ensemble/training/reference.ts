// Float64 references of the ensemble-training losses, written directly from algorithms.md §7/§9
// (loops over plain arrays, no engine code), for the GPU implementations to be checked against.

import { nd, type NDArray } from '../../reference/ndarray.js';

export function softmaxRow(z: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(z));
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** probs[i][n] = softmax of member i's logits row n. */
export function memberProbs(logits: NDArray[]): number[][][] {
  return logits.map((z) => {
    const [n, c] = z.shape;
    return Array.from({ length: n }, (_, r) => softmaxRow(z.data.slice(r * c, (r + 1) * c)));
  });
}

/** Eq. 15 with iGAT's clip and batch normalisation; regType 0 sums the per-member maxima. */
export function robustnessRef(logits: NDArray[], labels: number[], regType: 0 | 1): number {
  const p = memberProbs(logits);
  const [n, c] = logits[0].shape;
  let total = 0;
  for (let r = 0; r < n; r++) {
    const y = labels[r];
    const avg = Array.from({ length: c }, (_, k) => p.reduce((s, pi) => s + pi[r][k], 0) / p.length);
    const other = Math.max(...avg.filter((_, k) => k !== y));
    if (!(avg[y] < other)) continue;
    const worst = p.map((pi) => Math.max(...pi[r].filter((_, k) => k !== y)));
    const pen = (q: number) => -Math.log(1 - Math.min(Math.max(q, 0), 0.99));
    total += regType === 1 ? pen(Math.max(...worst)) : worst.reduce((s, q) => s + pen(q), 0);
  }
  return total / n;
}

/** mean |w| over entries whose mask is 1, all weights pooled. */
export function maskedWeightL1Ref(weights: NDArray[], masks: (NDArray | null)[]): number {
  let s = 0;
  let count = 0;
  weights.forEach((w, i) =>
    w.data.forEach((v, k) => {
      if (masks[i] && masks[i]!.data[k] === 0) return;
      s += Math.abs(v);
      count++;
    }),
  );
  return s / Math.max(count, 1);
}

function entropy(p: number[]): number {
  return -p.reduce((s, v) => s + v * Math.log(v + 1e-20), 0);
}

function logDet(a: number[][]): number {
  const m = a.map((r) => [...r]);
  const n = m.length;
  let ld = 0;
  for (let j = 0; j < n; j++) {
    for (let i = j + 1; i < n; i++) {
      const f = m[i][j] / m[j][j];
      for (let k = j; k < n; k++) m[i][k] -= f * m[j][k];
    }
    ld += Math.log(m[j][j]);
  }
  return ld;
}

/** −α·mean H(h) − β·mean log det(M̃ᵀM̃ + 1e-6 I) (eq. 32, without the CE). */
export function adpRef(logits: NDArray[], labels: number[], alpha: number, beta: number): number {
  const p = memberProbs(logits);
  const [n, c] = logits[0].shape;
  let h = 0;
  let ld = 0;
  for (let r = 0; r < n; r++) {
    const avg = Array.from({ length: c }, (_, k) => p.reduce((s, pi) => s + pi[r][k], 0) / p.length);
    h += entropy(avg);
    const cols = p.map((pi) => {
      const v = pi[r].filter((_, k) => k !== labels[r]);
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      return v.map((x) => x / norm);
    });
    const g = cols.map((a, i) => cols.map((b, j) => a.reduce((s, x, k) => s + x * b[k], 0) + (i === j ? 1e-6 : 0)));
    ld += logDet(g);
  }
  return (-alpha * h) / n - (beta * ld) / n;
}

/** Eq. 35: samples go to the member with the smallest CE; Σ_i mean CE over member i's samples. */
export function soeRef(logits: NDArray[], labels: number[]): number {
  const p = memberProbs(logits);
  const n = logits[0].shape[0];
  const ce = p.map((pi) => pi.map((row, r) => -Math.log(row[labels[r]])));
  const sums = new Array<number>(p.length).fill(0);
  const counts = new Array<number>(p.length).fill(0);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let i = 1; i < p.length; i++) if (ce[i][r] < ce[best][r]) best = i;
    sums[best] += ce[best][r];
    counts[best]++;
  }
  return sums.reduce((s, v, i) => s + v / Math.max(1, counts[i]), 0);
}

export const scalarNd = (v: number): NDArray => nd([], [v]);
