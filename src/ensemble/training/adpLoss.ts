// ADP's diversity regulariser (eq. 32, algorithms.md §9, [C:zjysteven/DVERGE train/train_adp.py]):
//   −α·H(h(x)) − β·log det(M̃ᵀM̃ + 1e-6·I)
// averaged over the batch; h is the average of the members' softmax, H(p) = −Σ_c p_c·log(p_c +
// 1e-20), and column i of M̃ is h^i without the true class, L2-normalised. Zeroing the true class
// instead of removing it leaves every norm and inner product, hence the Gram matrix, unchanged.
// The N×N log-determinant (N = team size, a handful) is a Cholesky factorisation written with
// elementwise ops on [B] tensors, so it is differentiable like everything else.

import { shapeStr } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, affine, div, log, maximum, mul, neg, sqrt, sub } from '../../ops/elementwise.js';
import { oneHot } from '../../ops/gather.js';
import { softmax } from '../../ops/loss.js';
import { mean, sum } from '../../ops/reduce.js';
import { stack } from '../../ops/shape.js';

export interface AdpOptions {
  /** Weight of the ensemble entropy (2). */
  alpha: number;
  /** Weight of the log-determinant (0.5). */
  beta: number;
}

export const ADP_DEFAULTS: AdpOptions = { alpha: 2, beta: 0.5 };
const LOG_OFFSET = 1e-20;
const DET_OFFSET = 1e-6;

/** Per-sample entropy −Σ_c p_c·log(p_c + 1e-20) of probabilities [N, C]. */
export function entropy(p: Tensor): Tensor {
  return neg(sum(mul(p, log(affine(p, 1, LOG_OFFSET))), 1));
}

/** Per-sample log det(G) of a symmetric positive definite matrix given as entries g[a][b] ([B] each). */
export function logDetCholesky(g: readonly (readonly Tensor[])[]): Tensor {
  const n = g.length;
  const l: Tensor[][] = Array.from({ length: n }, () => []);
  let logDet: Tensor | null = null;
  for (let j = 0; j < n; j++) {
    let d = g[j][j];
    for (let k = 0; k < j; k++) d = sub(d, mul(l[j][k], l[j][k]));
    const ljj = sqrt(d);
    l[j][j] = ljj;
    const term = affine(log(ljj), 2, 0);
    logDet = logDet ? add(logDet, term) : term;
    for (let i = j + 1; i < n; i++) {
      let s = g[i][j];
      for (let k = 0; k < j; k++) s = sub(s, mul(l[i][k], l[j][k]));
      l[i][j] = div(s, ljj);
    }
  }
  if (!logDet) throw new Error('logDetCholesky: empty matrix');
  return logDet;
}

/** −α·mean H(h) − β·mean log det(M̃ᵀM̃ + 1e-6·I) from the members' logits ([N, C] each). */
export function adpRegularizer(logits: readonly Tensor[], labels: Tensor, o: AdpOptions = ADP_DEFAULTS): Tensor {
  if (!logits.length) throw new Error('adpRegularizer: needs at least one member');
  const [n, c] = logits[0].shape;
  for (const z of logits)
    if (z.ndim !== 2 || z.shape[0] !== n || z.shape[1] !== c)
      throw new Error(`adpRegularizer: every member's logits must be [${n}, ${c}], got ${shapeStr(z.shape)}`);
  const probs = logits.map((z) => softmax(z, 1));
  const avg = mean(stack(probs, 0), 0);
  const notY = oneHot(labels, c, 0, 1);
  const cols = probs.map((p) => {
    const m = mul(p, notY);
    // The floor only matters if every non-true probability underflowed to 0.
    return div(m, maximum(sqrt(sum(mul(m, m), 1, { keepDims: true })), 1e-30));
  });
  const gram = cols.map((a, i) => cols.map((b, j) => (j > i ? null : affine(sum(mul(a, b), 1), 1, i === j ? DET_OFFSET : 0))));
  const sym = gram.map((row, i) => row.map((v, j) => v ?? gram[j][i]!)) as Tensor[][];
  const logDet = logDetCholesky(sym);
  return sub(affine(mean(entropy(avg)), -o.alpha, 0), affine(mean(logDet), o.beta, 0));
}
