// DeepFool-ℓ2 (Moosavi-Dezfooli et al. 2016) with an ℓ2 budget, algorithms.md §11.4
// [C: torchattacks / foolbox defaults: 50 steps, overshoot 0.02]. Per sample, r_tot = 0; up to 50
// times:
//   x = clamp(x0 + 1.02·r_tot, 0, 1); stop if argmax z(x) ≠ y
//   for every class k ≠ y: w_k = ∇z_k − ∇z_y, f_k = z_k − z_y
//   k* = argmin |f_k| / ‖w_k‖₂;  r_tot += (|f_k*| + 1e-4)·w_k* / ‖w_k*‖₂²
// then δ = clamp(x0 + 1.02·r_tot, 0, 1) − x0 is projected onto the ℓ2 ball of radius ε₂ (0.5 by
// default, §10.11). Stopped samples keep their r_tot and leave the batch; the loop ends early once
// all have stopped.
// For each class k, one backward pass with the cotangent onehot(k) − onehot(y) gives w_k for every
// sample at once, so a step costs C input-gradient passes over one forward pass (a sample whose
// label is k gets a zero cotangent in pass k and is masked out of it).

import { grad, noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { cast, full, tensor, variable, zeros } from '../ops/creation.js';
import { abs, add, affine, clamp, div, gt, lt, maximum, mul, ne, sqrt, sub, where } from '../ops/elementwise.js';
import { indexAdd, indexSelect, oneHot } from '../ops/gather.js';
import { sum } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';
import { DEFAULT_ATTACK_BATCH, inBatchesAsync } from './batching.js';
import { correctlyClassified, type Classifier } from './classifier.js';

export interface DeepFoolOptions {
  /** Iterations (default 50). */
  steps?: number;
  /** Overshoot (default 0.02: the iterate is x0 + 1.02·r_tot). */
  overshoot?: number;
  /** ℓ2 budget ε₂ the final perturbation is projected onto (default 0.5; the literal seed reading is 8/255). */
  eps?: number;
  batchSize?: number;
}

export interface DeepFoolResult {
  /** x0 + δ with ‖δ‖₂ ≤ ε₂: the sample is robust iff the model is still right here. */
  xAdv: Tensor;
  /** ‖δ‖₂ of the DeepFool perturbation before the projection (f32 [N]; 0 for stopped-at-start samples). */
  distance: Tensor;
}

export const DEEPFOOL_DEFAULTS = { steps: 50, overshoot: 0.02, eps: 0.5 } as const;

function l2PerSample(t: Tensor): Tensor {
  return sqrt(sum(mul(t, t), t.shape.slice(1).map((_, i) => i + 1)));
}

export async function deepfool(classifier: Classifier, x: Tensor, labels: Tensor, opts: DeepFoolOptions = {}): Promise<DeepFoolResult> {
  const steps = opts.steps ?? DEEPFOOL_DEFAULTS.steps;
  const overshoot = opts.overshoot ?? DEEPFOOL_DEFAULTS.overshoot;
  const eps = opts.eps ?? DEEPFOOL_DEFAULTS.eps;
  if (!(Number.isInteger(steps) && steps >= 0) || !(overshoot >= 0) || !(eps >= 0))
    throw new Error(`deepfool: invalid steps ${steps}, overshoot ${overshoot} or eps ${eps}`);
  const c = classifier.numClasses;

  return inBatchesAsync(x, labels, opts.batchSize ?? DEFAULT_ATTACK_BATCH, 'deepfool', async (x0, y) => {
    const n = x0.shape[0];
    const perSample = (t: Tensor, rows: number) => reshape(t, [rows, ...x0.shape.slice(1).map(() => 1)]);
    const iterate = (origin: Tensor, r: Tensor) => clamp(add(origin, mul(r, 1 + overshoot)), 0, 1);
    let rTot = zeros(x0.shape);
    // The samples still running, in batch order. Stopped samples leave the batch: most stop within
    // a few steps, while a few (those the [0, 1] clamp keeps from crossing) run all of them, and
    // each step costs C + 1 passes over whatever is still in the batch.
    let running = Int32Array.from({ length: n }, (_, i) => i);

    for (let it = 0; it < steps && running.length > 0; it++) {
      const m = running.length;
      const everyone = m === n;
      const r = rTot;
      const { next, stillActive } = scope(() => {
        const index = everyone ? null : tensor(running, [m], 'i32');
        const pick = (t: Tensor) => (index ? indexSelect(t, 0, index) : t);
        const origin = pick(x0);
        const ys = pick(y);
        const labelOneHot = oneHot(ys, c);
        const labelF = cast(ys, 'f32');
        const v = variable(iterate(origin, pick(r)));
        const z = classifier.logits(v);
        const stillActive = correctlyClassified(z, ys);
        let bestDist = full([m], Infinity);
        let bestW = zeros(origin.shape);
        let bestF = zeros([m]);
        for (let k = 0; k < c; k++) {
          const cotangent = sub(oneHot(full([m], k, 'i32'), c), labelOneHot);
          const [w] = grad(z, [v], { gradOutput: cotangent });
          const cand = noGrad(() => {
            const f = sum(mul(z, cotangent), 1);
            const norm = l2PerSample(w);
            const usable = mul(ne(labelF, k), gt(norm, 0));
            const dist = where(usable, div(abs(f), where(usable, norm, 1)), Infinity);
            const better = lt(dist, bestDist);
            return {
              dist: where(better, dist, bestDist),
              w: where(perSample(better, m), w, bestW),
              f: where(better, f, bestF),
            };
          });
          // Free what this candidate superseded: a step holds two image-sized gradients, not C.
          for (const t of [bestDist, bestW, bestF, w, cotangent]) t.dispose();
          bestDist = cand.dist;
          bestW = cand.w;
          bestF = cand.f;
        }
        return noGrad(() => {
          // (|f| + 1e-4)·w/‖w‖²; zero where no class had a usable gradient.
          const found = lt(bestDist, Infinity);
          const norm2 = sum(mul(bestW, bestW), x0.shape.slice(1).map((_, i) => i + 1));
          const scale = where(found, div(affine(abs(bestF), 1, 1e-4), where(found, norm2, 1)), 0);
          const step = mul(bestW, perSample(mul(scale, stillActive), m));
          return { next: add(r, index ? indexAdd(step, 0, index, x0.shape) : step), stillActive };
        });
      });
      r.dispose();
      rTot = next;
      const active = await stillActive.data();
      stillActive.dispose();
      running = running.filter((_, j) => active[j] !== 0);
    }

    return scope(() =>
      noGrad(() => {
        const delta = sub(iterate(x0, rTot), x0);
        const distance = l2PerSample(delta);
        // δ·min(1, ε₂/‖δ‖₂), written without dividing by a zero norm.
        const shrink = eps > 0 ? div(full([n], eps), maximum(distance, eps)) : zeros([n]);
        const xAdv = clamp(add(x0, mul(delta, perSample(shrink, n))), 0, 1);
        return { xAdv, distance };
      }),
    );
  });
}
