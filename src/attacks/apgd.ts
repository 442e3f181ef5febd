// Auto-PGD in ℓ∞ (Croce & Hein 2020), exactly as algorithms.md §11.2
// [C:fra31/auto-attack autopgd_base.py]:
//   start   x_0 = clamp(x + ε·u/‖u‖∞, 0, 1), u ~ U[−1, 1]^d; step η = 2ε per sample
//   update  z = P(x_k + η·sign(∇)); x_{k+1} = P(x_k + a·(z − x_k) + (1 − a)·(x_k − x_{k−1})),
//           a = 1 at k = 0 and 0.75 after
//   track   x_best (highest loss, with its gradient) and the last misclassified iterate
//   check   at the checkpoints of apgdCheckpoints(): halve η and restart from x_best where
//           (i) the loss rose in at most ρ = 0.75 of the interval's steps, or (ii) η was not
//           halved at the previous checkpoint and the best loss has not improved since.
// Every per-sample decision is a mask on the GPU, so one run reads nothing back; between restarts
// and target classes the still-robust samples are selected on the host (robustRestarts.ts), as the
// reference does.
//
// APGD-CE ascends the cross-entropy; APGD-T ascends the targeted DLR loss once per target class,
// the targets being the classes ranked 2nd, 3rd, ... by the clean logits (9 targets, §11.2).

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { full, zeros } from '../ops/creation.js';
import { abs, add, affine, div, ge, gt, le, maximum, minimum, mul, sub, where } from '../ops/elementwise.js';
import { Generator } from '../ops/random.js';
import { max } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';
import { apgdCheckpoints } from './apgdSchedule.js';
import { DEFAULT_ATTACK_BATCH } from './batching.js';
import { correctlyClassified, type Classifier } from './classifier.js';
import { inputGradient } from './inputGradient.js';
import { crossEntropyLoss, dlrLoss, dlrTargetedLoss, topClasses } from './losses.js';
import { linfProject, linfStep } from './project.js';
import { untilFooledInBatches, type AttackStage, type BatchedAttackCheckpoint } from './robustRestarts.js';

export interface ApgdOptions {
  /** ℓ∞ radius (default 8/255). */
  eps?: number;
  /** N_iter (default 100). */
  iterations?: number;
  /** Restarts from fresh random points, each on the samples still robust (default 1). */
  restarts?: number;
  /** Oscillation threshold ρ (default 0.75). */
  rho?: number;
  /** Random starts (default: a generator seeded 0, so evaluations repeat). */
  generator?: Generator;
  /** Saves and resumes the attack after each restart or target class (AutoAttack on a CPU adapter). */
  checkpoint?: BatchedAttackCheckpoint;
  batchSize?: number;
}

export interface ApgdUntargetedOptions extends ApgdOptions {
  /** 'ce' (APGD-CE, default) or 'dlr' (APGD-DLR). */
  loss?: 'ce' | 'dlr';
}

export interface ApgdTargetedOptions extends ApgdOptions {
  /** Targets per sample: the classes ranked 2nd .. (n+1)th by the clean logits (default 9, capped at C − 1). */
  targetClasses?: number;
}

export const APGD_DEFAULTS = { eps: 8 / 255, iterations: 100, restarts: 1, rho: 0.75, targetClasses: 9 } as const;

type SampleLoss = (logits: Tensor) => Tensor;

/** Weight of the new direction after the first step (1 − it on the previous step) [C]. */
const MOMENTUM_WEIGHT = 0.75;

interface ApgdState {
  xAdv: Tensor;
  xOld: Tensor;
  grad: Tensor;
  xBest: Tensor;
  gradBest: Tensor;
  lossBest: Tensor;
  xBestAdv: Tensor;
  /** 1 while every iterate so far was classified correctly. */
  robust: Tensor;
  stepSize: Tensor;
  lossPrev: Tensor;
  /** Steps of the current interval whose loss exceeded the previous step's. */
  increases: Tensor;
  lossBestLastCheck: Tensor;
  reducedLastCheck: Tensor;
}

/** Frees the tensors of `old` that `next` no longer holds. */
function advance(old: ApgdState, next: ApgdState): ApgdState {
  const kept = new Set(Object.values(next));
  for (const t of Object.values(old)) if (!kept.has(t)) t.dispose();
  return next;
}

/**
 * One APGD run on a batch (no restarts): the last misclassified iterate of each sample (its start
 * point if none) and 0/1 robustness flags.
 */
export function apgdRun(
  classifier: Classifier,
  x: Tensor,
  labels: Tensor,
  loss: SampleLoss,
  opts: {
    eps: number;
    iterations: number;
    rho: number;
    generator: Generator;
    /** Observes the per-sample step sizes right after each checkpoint (for tests and traces). */
    onCheckpoint?: (iteration: number, stepSize: Tensor) => void;
  },
): { xAdv: Tensor; robust: Tensor } {
  const { eps, iterations, rho } = opts;
  const n = x.shape[0];
  const perSample = (t: Tensor) => reshape(t, [n, ...x.shape.slice(1).map(() => 1)]);
  const sampleAxes = x.shape.slice(1).map((_, i) => i + 1);

  let s = scope((): ApgdState => {
    const u = opts.generator.uniform(x.shape, -1, 1);
    const unit = div(u, affine(max(abs(u), sampleAxes, { keepDims: true }), 1, 1e-12));
    // P = clamp here: ε·u/‖u‖∞ already lies in the ε-box.
    const xAdv = linfProject(add(x, mul(unit, eps)), x, eps);
    const first = inputGradient(classifier, xAdv, loss);
    return {
      xAdv,
      xOld: xAdv,
      grad: first.grad,
      xBest: xAdv,
      gradBest: first.grad,
      lossBest: first.loss,
      xBestAdv: xAdv,
      robust: correctlyClassified(first.logits, labels),
      stepSize: full([n], 2 * eps),
      // The first step's rise is judged against the start point's loss, as §11.2 words the test.
      // (The reference compares it with an unwritten, zero-initialised slot of its loss history,
      // which counts a rise whenever the first loss is positive.)
      lossPrev: first.loss,
      increases: zeros([n]),
      lossBestLastCheck: first.loss,
      reducedLastCheck: full([n], 1),
    };
  });

  const checkpoints = new Map(apgdCheckpoints(iterations).map((c) => [c.iteration, c.interval]));
  for (let i = 0; i < iterations; i++) {
    const prev = s;
    const next = scope((): ApgdState => {
      // At k = 0 (a = 1) the combination is still evaluated rather than taken to be z, so the
      // rounding matches the reference.
      const a = i > 0 ? MOMENTUM_WEIGHT : 1;
      const momentum = sub(prev.xAdv, prev.xOld);
      const z = linfStep(prev.xAdv, prev.grad, x, eps, prev.stepSize);
      let xAdv = linfProject(add(add(prev.xAdv, mul(sub(z, prev.xAdv), a)), mul(momentum, 1 - a)), x, eps);
      const ev = inputGradient(classifier, xAdv, loss);
      let grad = ev.grad;
      const correct = correctlyClassified(ev.logits, labels);
      const improved = gt(ev.loss, prev.lossBest);
      const st: ApgdState = {
        ...prev,
        xOld: prev.xAdv,
        robust: minimum(prev.robust, correct),
        xBestAdv: where(perSample(correct), prev.xBestAdv, xAdv),
        increases: add(prev.increases, gt(ev.loss, prev.lossPrev)),
        lossPrev: ev.loss,
        xBest: where(perSample(improved), xAdv, prev.xBest),
        gradBest: where(perSample(improved), grad, prev.gradBest),
        lossBest: where(improved, ev.loss, prev.lossBest),
      };
      const interval = checkpoints.get(i + 1);
      if (interval !== undefined) {
        const oscillating = le(st.increases, interval * rho);
        const stalled = mul(affine(prev.reducedLastCheck, -1, 1), ge(prev.lossBestLastCheck, st.lossBest));
        const reduce = maximum(oscillating, stalled);
        st.reducedLastCheck = reduce;
        st.lossBestLastCheck = st.lossBest;
        st.stepSize = where(reduce, mul(prev.stepSize, 0.5), prev.stepSize);
        xAdv = where(perSample(reduce), st.xBest, xAdv);
        grad = where(perSample(reduce), st.gradBest, grad);
        st.increases = zeros([n]);
      }
      st.xAdv = xAdv;
      st.grad = grad;
      return st;
    });
    s = advance(prev, next);
    if (checkpoints.has(i + 1)) opts.onCheckpoint?.(i + 1, s.stepSize);
  }
  const result = { xAdv: s.xBestAdv, robust: s.robust };
  for (const t of Object.values(s)) if (t !== result.xAdv && t !== result.robust) t.dispose();
  return result;
}

function resolve(opts: ApgdOptions) {
  const o = {
    eps: opts.eps ?? APGD_DEFAULTS.eps,
    iterations: opts.iterations ?? APGD_DEFAULTS.iterations,
    restarts: opts.restarts ?? APGD_DEFAULTS.restarts,
    rho: opts.rho ?? APGD_DEFAULTS.rho,
    generator: opts.generator ?? new Generator(0),
    batchSize: opts.batchSize ?? DEFAULT_ATTACK_BATCH,
  };
  if (!(o.eps >= 0) || !(Number.isInteger(o.iterations) && o.iterations >= 0) || !(Number.isInteger(o.restarts) && o.restarts >= 0))
    throw new Error(`apgd: invalid eps ${o.eps}, iterations ${o.iterations} or restarts ${o.restarts}`);
  return o;
}

/** APGD with the cross-entropy (APGD-CE, the default) or untargeted DLR loss. */
export async function apgd(classifier: Classifier, x: Tensor, labels: Tensor, opts: ApgdUntargetedOptions = {}): Promise<Tensor> {
  const o = resolve(opts);
  const lossName = opts.loss ?? 'ce';
  const run: AttackStage = (xs, ys) =>
    apgdRun(classifier, xs, ys, (z) => (lossName === 'dlr' ? dlrLoss(z, ys) : crossEntropyLoss(z, ys)), o).xAdv;
  const stages = new Array<AttackStage>(o.restarts).fill(run);
  return untilFooledInBatches(classifier, x, labels, stages, { batchSize: o.batchSize, what: 'apgd', generator: o.generator, checkpoint: opts.checkpoint });
}

/** APGD-T: targeted DLR against the classes ranked 2nd .. (targetClasses + 1)th at x. */
export async function apgdTargeted(classifier: Classifier, x: Tensor, labels: Tensor, opts: ApgdTargetedOptions = {}): Promise<Tensor> {
  const o = resolve(opts);
  const c = classifier.numClasses;
  if (c < 4) throw new Error(`apgdTargeted: the targeted DLR loss needs at least 4 classes, the classifier has ${c}`);
  const targets = Math.min(opts.targetClasses ?? APGD_DEFAULTS.targetClasses, c - 1);
  const stages: AttackStage[] = [];
  for (let rank = 2; rank <= targets + 1; rank++)
    for (let r = 0; r < o.restarts; r++)
      stages.push((xs, ys) => {
        // Each still-robust sample's target: its rank-th largest clean logit (reference:
        // argsort(model(x_to_fool))[:, −rank]).
        const t = scope(() => noGrad(() => topClasses(classifier.logits(xs), rank)[rank - 1]));
        return apgdRun(classifier, xs, ys, (z) => dlrTargetedLoss(z, ys, t), o).xAdv;
      });
  return untilFooledInBatches(classifier, x, labels, stages, { batchSize: o.batchSize, what: 'apgdTargeted', generator: o.generator, checkpoint: opts.checkpoint });
}
