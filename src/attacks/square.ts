// Square Attack, ℓ∞, score-based (Andriushchenko et al. 2020), as in AutoAttack's standard version
// (algorithms.md §11.2 [C:fra31/auto-attack square.py]): 5,000 queries, p_init = 0.8, 1 restart,
// margin loss, no schedule rescaling.
//   init     x_best = clamp(x + ε·s, 0, 1), s = ±1 per (sample, channel, column): vertical stripes
//   query i  p = p(i) (the halving schedule below); side = max(1, round(√(p·H·W))), at most H, W;
//            one window position and one ±1 per channel, shared by the batch; the proposal sets
//            the window to ±2ε around x_best, projected onto the ε-box and [0, 1]
//   accept   where the margin z_y − max_{i≠y} z_i decreases, or the proposal is misclassified.
// Samples already fooled are frozen (masks instead of the reference's re-indexing, which gives
// the same result: samples never interact). The loop stops early once every sample is fooled,
// checked every `checkEvery` queries. With a checkpoint it saves its state every `saveEvery`
// queries (AutoAttack's Square on a CPU adapter runs for an hour or more).

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { clamp, add, affine, gt, le, lt, maximum, mul, where } from '../ops/elementwise.js';
import { Generator } from '../ops/random.js';
import { reshape } from '../ops/shape.js';
import { clone } from '../ops/creation.js';
import { squareProposalKernel } from '../../kernels/squareProposal.js';
import { DEFAULT_ATTACK_BATCH } from './batching.js';
import type { Classifier } from './classifier.js';
import { marginLoss } from './losses.js';
import { ResumeStateError, untilFooledInBatches, type AttackStage, type BatchedAttackCheckpoint, type StageCheckpoint } from './robustRestarts.js';

export interface SquareOptions {
  /** ℓ∞ radius (default 8/255). */
  eps?: number;
  /** Queries per restart (default 5000). */
  queries?: number;
  /** Initial fraction of pixels a window covers (default 0.8). */
  pInit?: number;
  /** Restarts, each on the samples still robust (default 1). */
  restarts?: number;
  /** Stretch the p schedule to `queries` as if it were 10,000 (default false, as AutoAttack). */
  rescaleSchedule?: boolean;
  /** Queries between checks whether every sample is fooled already (default 20). */
  checkEvery?: number;
  /** Random windows and signs (default: a generator seeded 0, so evaluations repeat). */
  generator?: Generator;
  /** With a checkpoint: queries between saves inside a restart (default 250). */
  saveEvery?: number;
  /** Saves and resumes the attack after each restart and batch (AutoAttack on a CPU adapter). */
  checkpoint?: BatchedAttackCheckpoint;
  batchSize?: number;
}

export const SQUARE_DEFAULTS = { eps: 8 / 255, queries: 5000, pInit: 0.8, restarts: 1, rescaleSchedule: false, checkEvery: 20, saveEvery: 250 } as const;

/** The fraction p of the image a window covers at query `iteration` (0-based) [C:square.py p_selection]. */
export function squareFraction(iteration: number, pInit: number, queries = 10000, rescale = false): number {
  const it = rescale ? Math.trunc((iteration / queries) * 10000) : iteration;
  const bounds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let halvings = bounds.findIndex((b) => it <= b);
  if (halvings === -1) halvings = bounds.length;
  // 10 < it ≤ 50 → p/2, ..., 6000 < it ≤ 8000 → p/256, it > 8000 → p/512.
  return pInit / 2 ** halvings;
}

/** The window side for fraction p of an H×W image. */
export function squareSide(p: number, h: number, w: number): number {
  return Math.min(Math.max(Math.round(Math.sqrt(p * h * w)), 1), h, w);
}

interface QueryPlan {
  /** Uniform numbers in [0, 1): two per query (row, column). */
  position: Float32Array;
  /** 0/1 per (query, channel). */
  signs: Float32Array;
}

/** Every query's random numbers, drawn on the GPU in one go and read back once. */
async function drawPlan(gen: Generator, queries: number, channels: number): Promise<QueryPlan> {
  const pos = gen.uniform([Math.max(1, queries), 2]);
  const sg = gen.bernoulli([Math.max(1, queries), channels], 0.5);
  const plan = { position: (await pos.data()) as Float32Array, signs: (await sg.data()) as Float32Array };
  pos.dispose();
  sg.dispose();
  return plan;
}

async function squareRun(
  classifier: Classifier,
  x: Tensor,
  labels: Tensor,
  o: Required<Omit<SquareOptions, 'batchSize' | 'restarts' | 'checkpoint'>>,
  inside?: StageCheckpoint,
): Promise<Tensor> {
  const [n, c, h, w] = x.shape;
  const perSample = (t: Tensor) => reshape(t, [n, 1, 1, 1]);
  const margin = (xx: Tensor) => noGrad(() => marginLoss(classifier.logits(xx), labels));
  const from = inside?.resumeFrom;
  let xBest: Tensor;
  let marginMin: Tensor;
  let lossMin: Tensor;
  if (from) {
    const t = from.tensors;
    if (from.step > o.queries || !t.xBest || !t.marginMin || !t.lossMin || t.xBest.shape.join() !== x.shape.join() || t.marginMin.shape.join() !== `${n}` || t.lossMin.shape.join() !== `${n}`)
      throw new ResumeStateError(`squareAttack: cannot resume after ${from.step} of ${o.queries} queries from tensors ${Object.keys(t).join(', ')}: expected xBest [${x.shape.join(', ')}], marginMin and lossMin [${n}]`);
    // The plan is drawn again from where it was (the same numbers); the state is the saved one.
    o.generator.position = from.generatorPosition;
    [xBest, marginMin, lossMin] = [clone(t.xBest), clone(t.marginMin), clone(t.lossMin)];
  } else {
    xBest = scope(() => {
      const stripes = affine(o.generator.bernoulli([n, c, 1, w], 0.5), 2, -1);
      return clamp(add(x, mul(stripes, o.eps)), 0, 1);
    });
    marginMin = scope(() => margin(xBest));
    lossMin = marginMin;
  }
  const planAt = o.generator.position;
  const plan = await drawPlan(o.generator, o.queries, c);

  for (let i = from?.step ?? 0; i < o.queries; i++) {
    if (inside && i > (from?.step ?? 0) && i % o.saveEvery === 0)
      await inside.save({ step: i, generatorPosition: planAt, tensors: { xBest, marginMin, lossMin } });
    const side = squareSide(squareFraction(i, o.pInit, o.queries, o.rescaleSchedule), h, w);
    const win = {
      row: Math.floor(plan.position[2 * i] * (h - side)),
      col: Math.floor(plan.position[2 * i + 1] * (w - side)),
      size: side,
      signs: Array.from(plan.signs.subarray(i * c, (i + 1) * c), (b) => (b ? 1 : -1)),
    };
    const prev = { xBest, marginMin, lossMin };
    const next = scope(() => {
      const xNew = squareProposalKernel(prev.xBest, x, o.eps, win);
      const m = margin(xNew);
      const active = gt(prev.marginMin, 0);
      const improved = mul(lt(m, prev.lossMin), active);
      const accept = mul(maximum(improved, le(m, 0)), active);
      return {
        xBest: where(perSample(accept), xNew, prev.xBest),
        marginMin: where(accept, m, prev.marginMin),
        lossMin: where(improved, m, prev.lossMin),
      };
    });
    for (const t of new Set([prev.xBest, prev.marginMin, prev.lossMin])) t.dispose();
    ({ xBest, marginMin, lossMin } = next);
    if ((i + 1) % o.checkEvery === 0 && (await marginMin.data()).every((v) => v <= 0)) break;
  }
  for (const t of new Set([marginMin, lossMin])) t.dispose();
  return xBest;
}

export async function squareAttack(classifier: Classifier, x: Tensor, labels: Tensor, opts: SquareOptions = {}): Promise<Tensor> {
  const o = {
    eps: opts.eps ?? SQUARE_DEFAULTS.eps,
    queries: opts.queries ?? SQUARE_DEFAULTS.queries,
    pInit: opts.pInit ?? SQUARE_DEFAULTS.pInit,
    rescaleSchedule: opts.rescaleSchedule ?? SQUARE_DEFAULTS.rescaleSchedule,
    checkEvery: opts.checkEvery ?? SQUARE_DEFAULTS.checkEvery,
    saveEvery: opts.saveEvery ?? SQUARE_DEFAULTS.saveEvery,
    generator: opts.generator ?? new Generator(0),
  };
  const restarts = opts.restarts ?? SQUARE_DEFAULTS.restarts;
  if (!(o.eps >= 0) || !(Number.isInteger(o.queries) && o.queries >= 0) || !(o.pInit > 0 && o.pInit <= 1) || !(o.checkEvery >= 1) || !(Number.isInteger(o.saveEvery) && o.saveEvery >= 1))
    throw new Error(`squareAttack: invalid eps ${o.eps}, queries ${o.queries}, pInit ${o.pInit}, checkEvery ${o.checkEvery} or saveEvery ${o.saveEvery}`);

  const stages: AttackStage[] = new Array<AttackStage>(restarts).fill((xs, ys, inside) => squareRun(classifier, xs, ys, o, inside));
  return untilFooledInBatches(classifier, x, labels, stages, {
    batchSize: opts.batchSize ?? DEFAULT_ATTACK_BATCH,
    what: 'squareAttack',
    generator: o.generator,
    checkpoint: opts.checkpoint,
  });
}
