// The evaluation suite (algorithms.md §11): clean accuracy and accuracy under FGSM, PGD-K, C&W-ℓ∞,
// DeepFool-ℓ2 and AutoAttack, on the first test images, for any Classifier. `eed eval` runs it on
// one model; the EED pipeline runs it on single sub-models and on (static) ensembles, so nothing
// here may assume a Module.
//
// Each attack draws its random starts from its own Generator(seed): a result then depends only on
// the seed and its own settings, not on which other attacks ran before it in the same call (the
// pipeline runs different subsets of attacks for different rows of Table 1).

import { scopeAsync } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { Generator } from '../ops/random.js';
import { slice } from '../ops/shape.js';
import type { GpuDataset } from '../data/batches.js';
import { autoAttack, type AutoAttackProgress } from './autoAttack.js';
import { correctOnHost, type Classifier } from './classifier.js';
import { deepfool, DEEPFOOL_DEFAULTS } from './deepfool.js';
import { fgsm } from './fgsm.js';
import { cwLinf, pgd, PGD_DEFAULTS } from './pgd.js';

export const SUITE_ATTACKS = ['clean', 'fgsm', 'pgd', 'cw', 'deepfool', 'autoattack'] as const;
export type SuiteAttack = (typeof SUITE_ATTACKS)[number];

export interface SuiteOptions {
  /** Attacks to run, always in SUITE_ATTACKS order (default: all). */
  attacks?: readonly SuiteAttack[];
  /** ℓ∞ radius of FGSM, PGD, C&W and AutoAttack (default 8/255). */
  eps?: number;
  /** First N images for clean, FGSM, PGD, C&W and DeepFool (default 1000; capped at the data size). */
  count?: number;
  /** First N images for AutoAttack (default 500; 0 skips it). */
  aaCount?: number;
  /** Images per attack batch (default 250). */
  batchSize?: number;
  /** Seed of the random starts (default 0). */
  seed?: number;
  /** PGD-K with cross-entropy and a random start (default K = 20, step 2/255). */
  pgd?: { steps?: number; stepSize?: number };
  /** PGD on the C&W margin loss (default: PGD's steps and step size, κ = 50). */
  cw?: { steps?: number; stepSize?: number; kappa?: number };
  /** DeepFool-ℓ2 (default 50 iterations, overshoot 0.02, ℓ2 budget 0.5). */
  deepfool?: { steps?: number; overshoot?: number; eps?: number };
  /** AutoAttack standard version knobs (defaults: FAB-T on, 100 iterations, 9 targets, 5000 queries). */
  autoAttack?: { fab?: boolean; iterations?: number; targetClasses?: number; queries?: number };
}

/** SuiteOptions with every default filled in, as recorded in a report. */
export interface ResolvedSuiteOptions {
  attacks: SuiteAttack[];
  eps: number;
  count: number;
  aaCount: number;
  batchSize: number;
  seed: number;
  pgd: { steps: number; stepSize: number };
  cw: { steps: number; stepSize: number; kappa: number };
  deepfool: { steps: number; overshoot: number; eps: number };
  autoAttack: { fab: boolean; iterations: number; targetClasses: number; queries: number };
}

interface OutcomeFields {
  /** Display name with the settings that matter, e.g. "PGD-20", "DeepFool-L2 (eps 0.5)". */
  label: string;
  /** Fraction of the `count` images classified correctly after the attack. */
  accuracy: number;
  count: number;
  /** Wall-clock seconds of this attack (including read-backs). */
  seconds: number;
  /**
   * Per image, in data order: '1' where the attacked image was judged correct, '0' where not. It
   * lets a report take the per-image worst case over several attacks (an image counts as robust
   * only if it survives all of them); absent in results saved before it existed.
   */
  correct?: string;
}

/** A row of the clean, FGSM, PGD, C&W or DeepFool evaluation. */
export interface BatchAttackOutcome extends OutcomeFields {
  attack: Exclude<SuiteAttack, 'autoattack'>;
  /**
   * Accuracy on the first `aaCount` images alone, when that is fewer than this attack's images:
   * AutoAttack runs on those, and must be compared with PGD on the same images.
   */
  onAutoAttackImages?: { count: number; accuracy: number };
}

/** The AutoAttack row, with the robust accuracy after each of its components. */
export interface AutoAttackOutcome extends OutcomeFields {
  attack: 'autoattack';
  /** E.g. "AA (APGD-CE + APGD-T + FAB-T + Square)". */
  suiteLabel: string;
  cleanAccuracy: number;
  /** Robust accuracy after each component, in order (non-increasing). */
  steps: { attack: string; robustAccuracy: number }[];
}

/** One row of the suite; narrow on `attack` to reach AutoAttack's breakdown. */
export type AttackOutcome = BatchAttackOutcome | AutoAttackOutcome;

export interface SuiteResult {
  /** One row per attack run, in SUITE_ATTACKS order. */
  rows: AttackOutcome[];
  /** The AutoAttack row with its per-component breakdown, or null when it did not run. */
  autoAttack: AutoAttackOutcome | null;
  options: ResolvedSuiteOptions;
}

export type SuiteProgress =
  | { kind: 'batch'; attack: SuiteAttack; label: string; done: number; total: number }
  | { kind: 'attack'; outcome: AttackOutcome }
  /**
   * One of AutoAttack's attacks finished: robust accuracy so far, seconds since AutoAttack began,
   * and the state hooks.autoAttackResume takes to continue from there (tensor borrowed).
   */
  | { kind: 'autoattack-stage'; attack: string; robustAccuracy: number; seconds: number; progress: AutoAttackProgress }
  /** Inside one of AutoAttack's attacks (`attack`), a state to continue from (progress.within set). */
  | { kind: 'autoattack-checkpoint'; attack: string; seconds: number; progress: AutoAttackProgress }
  /** The resumed state inside an attack did not fit it: that attack runs from its beginning. */
  | { kind: 'autoattack-resume-refused'; reason: string };

export interface SuiteHooks {
  /** Awaited when it returns a promise (eed eval saves AutoAttack's progress in it). */
  onProgress?: (event: SuiteProgress) => void | Promise<void>;
  /**
   * Decides which attacked images count as correct, when that is not `classifier`'s own argmax:
   * the EED report attacks the differentiable static team and judges the result with the
   * Dynamic Inference Ensemble (§11 threat model). The tensors belong to the suite: read them,
   * do not keep them. For AutoAttack it judges the per-point worst case (the first adversarial
   * image found, else the clean one); the per-component breakdown stays `classifier`'s.
   */
  judge?: (x: Tensor, labels: Tensor) => Promise<boolean[]>;
  /** AutoAttack continues after the attacks this state (from an 'autoattack-stage' event) finished. */
  autoAttackResume?: AutoAttackProgress;
}

/** Images and labels already on the device: x f32 [N, C, H, W] in [0, 1], y i32 [N]. */
export interface LabelledImages {
  x: Tensor;
  y: Tensor;
}

function positiveInteger(v: number, field: string, allowZero = false): number {
  if (!(Number.isInteger(v) && (allowZero ? v >= 0 : v >= 1)))
    throw new Error(`evaluateSuite: ${field} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${v}`);
  return v;
}

function nonNegative(v: number, field: string): number {
  if (!(Number.isFinite(v) && v >= 0)) throw new Error(`evaluateSuite: ${field} must be a finite number >= 0, got ${v}`);
  return v;
}

/** Fills in the defaults and checks every field. */
export function resolveSuiteOptions(opts: SuiteOptions = {}): ResolvedSuiteOptions {
  const chosen = opts.attacks ?? SUITE_ATTACKS;
  for (const a of chosen)
    if (!(SUITE_ATTACKS as readonly string[]).includes(a))
      throw new Error(`evaluateSuite: attacks: unknown attack '${a}' (expected some of ${SUITE_ATTACKS.join(', ')})`);
  const pgdSteps = positiveInteger(opts.pgd?.steps ?? PGD_DEFAULTS.steps, 'pgd.steps');
  const pgdStep = nonNegative(opts.pgd?.stepSize ?? PGD_DEFAULTS.stepSize, 'pgd.stepSize');
  return {
    attacks: SUITE_ATTACKS.filter((a) => chosen.includes(a)),
    eps: nonNegative(opts.eps ?? PGD_DEFAULTS.eps, 'eps'),
    count: positiveInteger(opts.count ?? 1000, 'count'),
    aaCount: positiveInteger(opts.aaCount ?? 500, 'aaCount', true),
    batchSize: positiveInteger(opts.batchSize ?? 250, 'batchSize'),
    seed: positiveInteger(opts.seed ?? 0, 'seed', true),
    pgd: { steps: pgdSteps, stepSize: pgdStep },
    cw: {
      steps: positiveInteger(opts.cw?.steps ?? pgdSteps, 'cw.steps'),
      stepSize: nonNegative(opts.cw?.stepSize ?? pgdStep, 'cw.stepSize'),
      kappa: nonNegative(opts.cw?.kappa ?? PGD_DEFAULTS.kappa, 'cw.kappa'),
    },
    deepfool: {
      steps: positiveInteger(opts.deepfool?.steps ?? DEEPFOOL_DEFAULTS.steps, 'deepfool.steps', true),
      overshoot: nonNegative(opts.deepfool?.overshoot ?? DEEPFOOL_DEFAULTS.overshoot, 'deepfool.overshoot'),
      eps: nonNegative(opts.deepfool?.eps ?? DEEPFOOL_DEFAULTS.eps, 'deepfool.eps'),
    },
    autoAttack: {
      fab: opts.autoAttack?.fab ?? true,
      iterations: positiveInteger(opts.autoAttack?.iterations ?? 100, 'autoAttack.iterations'),
      targetClasses: positiveInteger(opts.autoAttack?.targetClasses ?? 9, 'autoAttack.targetClasses'),
      queries: positiveInteger(opts.autoAttack?.queries ?? 5000, 'autoAttack.queries'),
    },
  };
}

/** The display name of an attack under the given settings (the `attack` column of eval.json). */
export function attackLabel(attack: SuiteAttack, o: ResolvedSuiteOptions): string {
  switch (attack) {
    case 'clean':
      return 'clean';
    case 'fgsm':
      return 'FGSM';
    case 'pgd':
      return `PGD-${o.pgd.steps}`;
    case 'cw':
      return 'CW-inf';
    case 'deepfool':
      return `DeepFool-L2 (eps ${o.deepfool.eps})`;
    case 'autoattack':
      return 'AutoAttack';
  }
}

/** Rows [first, first + n) of the data as a batch the caller owns (or disposes via a scope). */
function rowsOf(data: GpuDataset | LabelledImages, first: number, n: number): LabelledImages {
  if ('gather' in data) return data.gather(Int32Array.from({ length: n }, (_, i) => first + i));
  if (first === 0 && n === data.x.shape[0]) return { x: data.x, y: data.y };
  return { x: slice(data.x, 0, first, first + n), y: slice(data.y, 0, first, first + n) };
}

function sizeOf(data: GpuDataset | LabelledImages): number {
  if ('gather' in data) return data.size;
  const n = data.x.shape[0];
  if (data.x.ndim !== 4 || data.x.dtype !== 'f32') throw new Error(`evaluateSuite: data.x must be f32 [N, C, H, W], got ${data.x.dtype} [${data.x.shape.join(', ')}]`);
  if (data.y.ndim !== 1 || data.y.shape[0] !== n || data.y.dtype !== 'i32')
    throw new Error(`evaluateSuite: data.y must be i32 [${n}], got ${data.y.dtype} [${data.y.shape.join(', ')}]`);
  return n;
}

type AttackFn = (x: Tensor, y: Tensor) => Promise<Tensor | null>;

/** The per-batch attack of each cheap attack; null: evaluate the clean images. */
function batchAttack(attack: Exclude<SuiteAttack, 'autoattack'>, classifier: Classifier, o: ResolvedSuiteOptions): AttackFn {
  const generator = new Generator(o.seed);
  switch (attack) {
    case 'clean':
      return async () => null;
    case 'fgsm':
      return async (x, y) => fgsm(classifier, x, y, { eps: o.eps });
    case 'pgd':
      return async (x, y) => pgd(classifier, x, y, { eps: o.eps, stepSize: o.pgd.stepSize, steps: o.pgd.steps, generator });
    case 'cw':
      return async (x, y) => cwLinf(classifier, x, y, { eps: o.eps, stepSize: o.cw.stepSize, steps: o.cw.steps, kappa: o.cw.kappa, generator });
    case 'deepfool':
      return async (x, y) => {
        const r = await deepfool(classifier, x, y, { eps: o.deepfool.eps, steps: o.deepfool.steps, overshoot: o.deepfool.overshoot });
        r.distance.dispose();
        return r.xAdv;
      };
  }
}

/**
 * Runs the chosen attacks on `classifier` and reports accuracy, image count and wall-clock seconds
 * per attack. `data` is a GpuDataset (its first rows are used) or tensors the caller keeps owning.
 */
export async function evaluateSuite(
  classifier: Classifier,
  data: GpuDataset | LabelledImages,
  opts: SuiteOptions = {},
  hooks: SuiteHooks = {},
): Promise<SuiteResult> {
  const o = resolveSuiteOptions(opts);
  const size = sizeOf(data);
  const judgeFlags = async (x: Tensor, y: Tensor): Promise<boolean[]> => {
    if (!hooks.judge) return correctOnHost(classifier, x, y, o.batchSize);
    const flags = await hooks.judge(x, y);
    if (flags.length !== x.shape[0]) throw new Error(`evaluateSuite: hooks.judge returned ${flags.length} flags for a batch of ${x.shape[0]} images`);
    return flags;
  };
  /** judgeFlags over a whole set, o.batchSize images at a time (AutoAttack's adversarial set). */
  const judgeAll = async (x: Tensor, y: Tensor): Promise<boolean[]> => {
    const flags: boolean[] = [];
    for (let s = 0; s < x.shape[0]; s += o.batchSize) {
      const e = Math.min(x.shape[0], s + o.batchSize);
      flags.push(...(await scopeAsync(() => judgeFlags(slice(x, 0, s, e), slice(y, 0, s, e)))));
    }
    return flags;
  };
  const rows: AttackOutcome[] = [];
  let aa: AutoAttackOutcome | null = null;
  for (const attack of o.attacks) {
    const label = attackLabel(attack, o);
    const t0 = performance.now();
    if (attack === 'autoattack') {
      if (o.aaCount === 0) continue;
      const n = Math.min(o.aaCount, size);
      const report = await scopeAsync(async () => {
        const { x, y } = rowsOf(data, 0, n);
        const { xAdv, label: suiteLabel, cleanAccuracy, steps, robustAccuracy, robust } = await autoAttack(classifier, x, y, {
          eps: o.eps,
          seed: o.seed,
          batchSize: o.batchSize,
          ...o.autoAttack,
          onStage: async (step) => {
            await hooks.onProgress?.({ kind: 'autoattack-stage', ...step });
          },
          onCheckpoint: async (step) => {
            await hooks.onProgress?.({ kind: 'autoattack-checkpoint', ...step });
          },
          onResumeRefused: (reason) => void hooks.onProgress?.({ kind: 'autoattack-resume-refused', reason }),
          resumeFrom: hooks.autoAttackResume,
        });
        // Unjudged, AutoAttack's own per-image verdicts (classifying its images again could flip an
        // image it left on the decision boundary).
        const flags = hooks.judge ? await judgeAll(xAdv, y) : [...robust];
        xAdv.dispose();
        const judged = hooks.judge ? flags.filter(Boolean).length / n : null;
        return { suiteLabel, cleanAccuracy, steps, robustAccuracy: judged ?? robustAccuracy, correct: verdictBits(flags) };
      });
      await hooks.onProgress?.({ kind: 'batch', attack, label, done: n, total: n });
      aa = {
        attack,
        label,
        accuracy: report.robustAccuracy,
        count: n,
        // The runs it resumed from included (the state records their time).
        seconds: (hooks.autoAttackResume?.seconds ?? 0) + (performance.now() - t0) / 1000,
        suiteLabel: report.suiteLabel,
        cleanAccuracy: report.cleanAccuracy,
        steps: report.steps,
        correct: report.correct,
      };
      rows.push(aa);
      await hooks.onProgress?.({ kind: 'attack', outcome: aa });
      continue;
    }
    const fn = batchAttack(attack, classifier, o);
    const n = Math.min(o.count, size);
    const aaImages = Math.min(o.aaCount, size);
    let right = 0;
    let rightOnAa = 0;
    const correct: boolean[] = [];
    for (let first = 0; first < n; first += o.batchSize) {
      const b = Math.min(o.batchSize, n - first);
      const flags = await scopeAsync(async () => {
        const { x, y } = rowsOf(data, first, b);
        const xAdv = (await fn(x, y)) ?? x;
        return judgeFlags(xAdv, y);
      });
      correct.push(...flags);
      flags.forEach((ok, i) => {
        right += ok ? 1 : 0;
        if (ok && first + i < aaImages) rightOnAa++;
      });
      await hooks.onProgress?.({ kind: 'batch', attack, label, done: first + b, total: n });
    }
    const outcome: BatchAttackOutcome = { attack, label, accuracy: right / n, count: n, seconds: (performance.now() - t0) / 1000, correct: verdictBits(correct) };
    if (aaImages > 0 && aaImages < n) outcome.onAutoAttackImages = { count: aaImages, accuracy: rightOnAa / aaImages };
    rows.push(outcome);
    await hooks.onProgress?.({ kind: 'attack', outcome });
  }
  return { rows, autoAttack: aa, options: o };
}

/** Per-image verdicts as an outcome's `correct` string: '1' right, '0' wrong, in image order. */
export function verdictBits(flags: readonly boolean[]): string {
  return flags.map((ok) => (ok ? '1' : '0')).join('');
}

/** Accuracy under `attack`, or null when the suite did not run it (a report's "—"). */
export function accuracyOf(result: SuiteResult, attack: SuiteAttack): number | null {
  return result.rows.find((r) => r.attack === attack)?.accuracy ?? null;
}

/**
 * Accuracy under `attack` when each image must survive both results' attacks on it (the per-image
 * worst case, as AutoAttack takes over its components); both must have attacked the same images in
 * the same order. Results saved before per-image verdicts existed fall back to the lower of the two
 * accuracies, which can only overstate robustness. `b` null or without the attack: `a`'s accuracy.
 */
export function worstCaseAccuracy(a: SuiteResult, b: SuiteResult | null, attack: SuiteAttack): number | null {
  const ra = a.rows.find((r) => r.attack === attack);
  const rb = b?.rows.find((r) => r.attack === attack);
  if (!ra) return null;
  if (!rb) return ra.accuracy;
  if (ra.correct === undefined || rb.correct === undefined || ra.correct.length !== rb.correct.length) return Math.min(ra.accuracy, rb.accuracy);
  let right = 0;
  for (let i = 0; i < ra.correct.length; i++) if (ra.correct[i] === '1' && rb.correct[i] === '1') right++;
  return right / ra.correct.length;
}
