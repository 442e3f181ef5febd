// FAB-T, the targeted Fast Adaptive Boundary attack in ℓ∞ (Croce & Hein 2020), as run by
// AutoAttack's standard version (algorithms.md §11.2 [C:fra31/auto-attack fab_base.py, fab_pt.py]):
// 9 targets, 100 iterations, 1 restart, α_max = 0.1, η = 1.05, β = 0.9. For each target t (the
// class ranked 2nd, 3rd, ... by the clean logits) and each still-robust sample:
//   f(x) = z_t(x) − z_y(x); the boundary f = 0 is linearised at x_k: ∇f·x = ∇f·x_k − f(x_k)
//   d1 = ℓ∞ projection of x_k onto it, d2 = of the original x (both within [0, 1])
//   α = min(max(‖d1‖∞ / (‖d1‖∞ + ‖d2‖∞), 0), α_max)
//   x_{k+1} = clamp((x_k + η·d1)(1 − α) + (x + η·d2)·α, 0, 1)
//   if x_{k+1} is misclassified: keep it if closer to x than the best so far, then step back:
//   x_{k+1} ← x + β·(x_{k+1} − x)
// FAB minimises the perturbation: a sample counts as fooled only if the closest misclassified
// point found is within ε. Restarts after the first start from a random point at ℓ∞ distance ε/2
// (the reference's min(best, ε)/2, with best still unset at the start of a run).
//
// Gradients and predictions come from the engine; the projections and the per-sample update run
// on the host in float64 (fabProjection.ts; the reference works in float32): the projection is a
// per-sample sort and search, and FAB needs the gradient on the host every iteration anyway.

import { grad, noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { detach, tensor, variable } from '../ops/creation.js';
import { neg, sub } from '../ops/elementwise.js';
import { Generator } from '../ops/random.js';
import { argmax, sum } from '../ops/reduce.js';
import { DEFAULT_ATTACK_BATCH } from './batching.js';
import type { Classifier } from './classifier.js';
import { projectLinf } from './fabProjection.js';
import { logitAt, topClasses } from './losses.js';
import { untilFooledInBatches, type AttackStage, type BatchedAttackCheckpoint } from './robustRestarts.js';

export interface FabOptions {
  /** ℓ∞ radius a sample must be fooled within, and of random restarts (default 8/255). */
  eps?: number;
  /** Iterations per target and restart (default 100). */
  iterations?: number;
  /** Restarts per target; the first starts at x (default 1). */
  restarts?: number;
  /** Targets: the classes ranked 2nd .. (n+1)th by the clean logits (default 9, capped at C − 1). */
  targetClasses?: number;
  alphaMax?: number;
  /** Overshoot η (default 1.05). */
  eta?: number;
  /** Step back β after a success (default 0.9). */
  beta?: number;
  /** Random restarts (default: a generator seeded 0). */
  generator?: Generator;
  /** Saves and resumes the attack after each restart or target class (AutoAttack on a CPU adapter). */
  checkpoint?: BatchedAttackCheckpoint;
  batchSize?: number;
}

export const FAB_DEFAULTS = { eps: 8 / 255, iterations: 100, restarts: 1, targetClasses: 9, alphaMax: 0.1, eta: 1.05, beta: 0.9 } as const;

type FabSettings = Required<Omit<FabOptions, 'batchSize' | 'restarts' | 'targetClasses' | 'checkpoint'>>;

/** f = z_t − z_y at x and ∇f, read back. */
async function boundaryLinearisation(
  classifier: Classifier,
  x: Tensor,
  labels: Tensor,
  targets: Tensor,
): Promise<{ f: Float32Array; g: Float32Array }> {
  const { f, g } = scope(() => {
    const v = variable(x);
    const z = classifier.logits(v);
    const diff = neg(sub(logitAt(z, labels), logitAt(z, targets)));
    const [gx] = grad(sum(diff), [v]);
    return { f: detach(diff), g: gx };
  });
  const out = { f: (await f.data()) as Float32Array, g: (await g.data()) as Float32Array };
  f.dispose();
  g.dispose();
  return out;
}

async function predictedOnHost(classifier: Classifier, x: Tensor): Promise<Int32Array> {
  const p = scope(() => noGrad(() => argmax(classifier.logits(x), 1)));
  const out = (await p.data()) as Int32Array;
  p.dispose();
  return out;
}

/** max |a_i − b_i| over i in [from, to). */
function linfDistance(a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number): number {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a_i| over i in [from, to). */
function maxAbs(a: ArrayLike<number>, from: number, to: number): number {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * One FAB-T run against the rank-th class: the closest misclassified point found per sample
 * where it is within ε, x elsewhere.
 */
async function fabRun(classifier: Classifier, x: Tensor, labels: Tensor, rank: number, randomStart: boolean, o: FabSettings): Promise<Tensor> {
  const n = x.shape[0];
  const dim = x.size / n;
  const targets = scope(() => noGrad(() => topClasses(classifier.logits(x), rank)[rank - 1]));
  const x0 = Float32Array.from(await x.data());
  const y = (await labels.data()) as Int32Array;
  const adv = Float32Array.from(x0);
  const best = new Float64Array(n).fill(1e10);
  const x1 = Float32Array.from(x0);
  if (randomStart) {
    const u = o.generator.uniform(x.shape, -1, 1);
    const t = (await u.data()) as Float32Array;
    u.dispose();
    for (let s = 0; s < n; s++) {
      const radius = (Math.min(best[s], o.eps) * 0.5) / (maxAbs(t, s * dim, (s + 1) * dim) || 1);
      for (let i = s * dim; i < (s + 1) * dim; i++) x1[i] = Math.min(Math.max(x0[i] + radius * t[i], 0), 1);
    }
  }

  for (let it = 0; it < o.iterations; it++) {
    const current = tensor(x1, x.shape);
    const { f, g } = await boundaryLinearisation(classifier, current, labels, targets);
    current.dispose();
    for (let s = 0; s < n; s++) {
      const lo = s * dim;
      const w = g.subarray(lo, lo + dim);
      const at = x1.subarray(lo, lo + dim);
      const from = x0.subarray(lo, lo + dim);
      let wx = 0;
      for (let i = 0; i < dim; i++) wx += w[i] * at[i];
      const b = -f[s] + wx;
      const d1 = projectLinf(at, w, b);
      const d2 = projectLinf(from, w, b);
      const a1 = Math.max(maxAbs(d1, 0, dim), 1e-8);
      const a2 = Math.max(maxAbs(d2, 0, dim), 1e-8);
      const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), o.alphaMax);
      for (let i = 0; i < dim; i++)
        at[i] = Math.min(Math.max((at[i] + o.eta * d1[i]) * (1 - alpha) + (from[i] + d2[i] * o.eta) * alpha, 0), 1);
    }
    const next = tensor(x1, x.shape);
    const pred = await predictedOnHost(classifier, next);
    next.dispose();
    for (let s = 0; s < n; s++) {
      if (pred[s] === y[s]) continue;
      const lo = s * dim;
      const dist = linfDistance(x1, x0, lo, lo + dim);
      if (dist < best[s]) {
        adv.set(x1.subarray(lo, lo + dim), lo);
        best[s] = dist;
      }
      for (let i = lo; i < lo + dim; i++) x1[i] = x0[i] + (x1[i] - x0[i]) * o.beta;
    }
  }
  targets.dispose();
  // Fooled only within ε (reference: acc_curr = max(acc_curr, res > eps)).
  for (let s = 0; s < n; s++) if (!(best[s] <= o.eps)) adv.set(x0.subarray(s * dim, (s + 1) * dim), s * dim);
  return tensor(adv, x.shape);
}

/** FAB-T: misclassified points within ε found by FAB against each of the top target classes. */
export async function fabTargeted(classifier: Classifier, x: Tensor, labels: Tensor, opts: FabOptions = {}): Promise<Tensor> {
  const o: FabSettings = {
    eps: opts.eps ?? FAB_DEFAULTS.eps,
    iterations: opts.iterations ?? FAB_DEFAULTS.iterations,
    alphaMax: opts.alphaMax ?? FAB_DEFAULTS.alphaMax,
    eta: opts.eta ?? FAB_DEFAULTS.eta,
    beta: opts.beta ?? FAB_DEFAULTS.beta,
    generator: opts.generator ?? new Generator(0),
  };
  const restarts = opts.restarts ?? FAB_DEFAULTS.restarts;
  if (!(o.eps >= 0) || !(Number.isInteger(o.iterations) && o.iterations >= 0) || !(Number.isInteger(restarts) && restarts >= 0))
    throw new Error(`fabTargeted: invalid eps ${o.eps}, iterations ${o.iterations} or restarts ${restarts}`);
  const c = classifier.numClasses;
  if (c < 2) throw new Error(`fabTargeted: needs at least 2 classes, the classifier has ${c}`);
  const targets = Math.min(opts.targetClasses ?? FAB_DEFAULTS.targetClasses, c - 1);
  const stages: AttackStage[] = [];
  for (let rank = 2; rank <= targets + 1; rank++)
    for (let r = 0; r < restarts; r++) stages.push((xs, ys) => fabRun(classifier, xs, ys, rank, r > 0, o));
  return untilFooledInBatches(classifier, x, labels, stages, {
    batchSize: opts.batchSize ?? DEFAULT_ATTACK_BATCH,
    what: 'fabTargeted',
    generator: o.generator,
    checkpoint: opts.checkpoint,
  });
}
