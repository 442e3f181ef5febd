// AutoAttack, standard version, ℓ∞ (algorithms.md §11.2 [C:fra31/auto-attack autoattack.py]):
// APGD-CE, APGD-T (9 targets), FAB-T (9 targets) and Square (5,000 queries) in sequence. Each
// attack runs only on the points still robust after the ones before it, and a point counts as
// robust only if every attack failed on it; its adversarial image is the first one that fooled
// the classifier (per-point worst case). Robust accuracy is reported after each attack.
// On a CPU adapter the suite runs for hours: its state can be kept after each attack and, inside
// APGD-T, FAB-T and the others, after each target class, restart and batch (onCheckpoint), and a
// resumed run returns what the uninterrupted one would.

import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { clone } from '../ops/creation.js';
import { abs, sub } from '../ops/elementwise.js';
import { Generator } from '../ops/random.js';
import { max } from '../ops/reduce.js';
import { apgd, apgdTargeted } from './apgd.js';
import { DEFAULT_ATTACK_BATCH } from './batching.js';
import { correctOnHost, type Classifier } from './classifier.js';
import { fabTargeted } from './fab.js';
import { ResumeStateError, untilFooled, type BatchedAttackCheckpoint, type BatchedAttackState } from './robustRestarts.js';
import { squareAttack } from './square.js';

export interface AutoAttackComponent {
  readonly name: string;
  /**
   * Adversarial candidates for the given (still robust) points, within the ε-box and [0, 1].
   * `checkpoint`, where given, is for saving and resuming inside the attack; an attack may ignore it.
   */
  run(classifier: Classifier, x: Tensor, labels: Tensor, checkpoint?: BatchedAttackCheckpoint): Tensor | Promise<Tensor>;
}

export interface StandardAttackOptions {
  /** ℓ∞ radius (default 8/255). */
  eps?: number;
  /** Seed of every component's random numbers (default 0, as the reference). */
  seed?: number;
  batchSize?: number;
  /** Include FAB-T (default true). Without it the suite is "AA (APGD-CE + APGD-T + Square)". */
  fab?: boolean;
  /** Iterations of APGD-CE, APGD-T and FAB-T (default 100). */
  iterations?: number;
  /** Target classes of APGD-T and FAB-T (default 9). */
  targetClasses?: number;
  /** Square's query budget (default 5000). */
  queries?: number;
}

/** The standard version's attacks, in order. */
export function standardAttacks(opts: StandardAttackOptions = {}): AutoAttackComponent[] {
  const eps = opts.eps ?? 8 / 255;
  const seed = opts.seed ?? 0;
  const common = () => ({ eps, batchSize: opts.batchSize ?? DEFAULT_ATTACK_BATCH, generator: new Generator(seed) });
  const iterations = opts.iterations ?? 100;
  const targetClasses = opts.targetClasses ?? 9;
  const attacks: AutoAttackComponent[] = [
    { name: 'APGD-CE', run: (c, x, y, checkpoint) => apgd(c, x, y, { ...common(), iterations, restarts: 1, loss: 'ce', checkpoint }) },
    { name: 'APGD-T', run: (c, x, y, checkpoint) => apgdTargeted(c, x, y, { ...common(), iterations, restarts: 1, targetClasses, checkpoint }) },
  ];
  if (opts.fab ?? true)
    attacks.push({ name: 'FAB-T', run: (c, x, y, checkpoint) => fabTargeted(c, x, y, { ...common(), iterations, restarts: 1, targetClasses, checkpoint }) });
  attacks.push({ name: 'Square', run: (c, x, y, checkpoint) => squareAttack(c, x, y, { ...common(), queries: opts.queries ?? 5000, restarts: 1, checkpoint }) });
  return attacks;
}

export interface AutoAttackOptions extends StandardAttackOptions {
  /** The attacks to run in order (default standardAttacks(opts)). */
  attacks?: readonly AutoAttackComponent[];
  /**
   * Called as each attack finishes (on a CPU adapter the whole suite runs for an hour), with what
   * `resumeFrom` needs to continue from there (its tensor borrowed: save it before returning).
   */
  // `seconds` in both: since AutoAttack began, including the runs it resumed from.
  onStage?: (step: { attack: string; robustAccuracy: number; seconds: number; progress: AutoAttackProgress }) => void | Promise<void>;
  /**
   * Called inside an attack, after each of its target classes, restarts and batches but the last,
   * with the state (`within` set; tensors borrowed) from which `resumeFrom` continues there.
   */
  onCheckpoint?: (step: { attack: string; seconds: number; progress: AutoAttackProgress }) => void | Promise<void>;
  /** Continue where a previous run stopped (as onStage or onCheckpoint reported it). */
  resumeFrom?: AutoAttackProgress;
  /**
   * Hears why resumeFrom's state inside an attack was not used (it names another attack or does
   * not fit this one): that attack then runs from its beginning, after the finished ones.
   */
  onResumeRefused?: (reason: string) => void;
}

/** AutoAttack's state after some of its attacks. */
export interface AutoAttackProgress {
  cleanAccuracy: number;
  /** Robust accuracy after each finished attack (their count is where a resumed run starts). */
  steps: { attack: string; robustAccuracy: number }[];
  robust: readonly boolean[];
  xAdv: Tensor;
  /** Seconds AutoAttack had run when this state was kept, over every run that resumed it (absent in states from before 28 November). */
  seconds?: number;
  /** How far the next attack (the one after `steps`) got, when it stopped inside. */
  within?: AttackWithinState;
}

/** The state inside one of AutoAttack's attacks, named by it. */
export interface AttackWithinState extends BatchedAttackState {
  /** The attack's name (states saved on 27 November before it was recorded have none: the attack after `steps`). */
  attack?: string;
}

export interface AutoAttackReport {
  /** E.g. "AA (APGD-CE + APGD-T + FAB-T + Square)". */
  label: string;
  cleanAccuracy: number;
  /** Robust accuracy after each attack, in order (non-increasing). */
  steps: { attack: string; robustAccuracy: number }[];
  robustAccuracy: number;
  /** Per point: classified correctly at x and by no attack's output. */
  robust: boolean[];
  /** The first adversarial image found per point; x where none was. */
  xAdv: Tensor;
}

/** Tolerance of the final ε check (the reference's check_max_pert uses the same). */
const PERTURBATION_SLACK = 1e-5;

export async function autoAttack(classifier: Classifier, x: Tensor, labels: Tensor, opts: AutoAttackOptions = {}): Promise<AutoAttackReport> {
  const eps = opts.eps ?? 8 / 255;
  const attacks = opts.attacks ?? standardAttacks(opts);
  const n = x.shape[0];
  const accuracy = (flags: readonly boolean[]) => (n ? flags.filter(Boolean).length / n : 0);
  const t0 = performance.now();
  const from = opts.resumeFrom;
  // Seconds since AutoAttack began, across the runs that resumed it.
  const elapsed = () => (from?.seconds ?? 0) + (performance.now() - t0) / 1000;
  if (from && from.steps.some((st, k) => st.attack !== attacks[k]?.name))
    throw new Error(`autoAttack: resumeFrom ran ${from.steps.map((st) => st.attack).join(', ')}, not the first attacks of ${attacks.map((a) => a.name).join(', ')}`);
  // The correctness checks run in the attacks' batches too: the whole evaluation set (1000 images
  // in the paper's setting) in one forward pass can exceed what a device binds.
  const batchSize = opts.batchSize ?? DEFAULT_ATTACK_BATCH;
  const cleanFlags = from ? undefined : await correctOnHost(classifier, x, labels, batchSize);
  const cleanAccuracy = from ? from.cleanAccuracy : accuracy(cleanFlags ?? []);
  const steps: AutoAttackReport['steps'] = from ? [...from.steps] : [];
  // What the attack under way started from (its checkpoints carry it).
  let before = { robust: [...(from ? from.robust : (cleanFlags ?? []))], xAdv: clone(from ? from.xAdv : x) };
  let within = from?.within;
  const next = from && attacks[from.steps.length];
  if (within && within.attack !== undefined && within.attack !== next?.name) {
    opts.onResumeRefused?.(`the state inside an attack is ${within.attack}'s, and the attack after ${from!.steps.map((st) => st.attack).join(', ')} is ${next?.name ?? 'none'}`);
    within = undefined;
  }
  const checkpoint = (k: number, resume: boolean): BatchedAttackCheckpoint | undefined => {
    const resumeFrom = resume && from && k === from.steps.length ? within : undefined;
    const onCheckpoint = opts.onCheckpoint;
    if (!onCheckpoint && !resumeFrom) return undefined;
    return {
      resumeFrom,
      save: async (state) => {
        const seconds = elapsed();
        const progress = { cleanAccuracy, steps: [...steps], robust: before.robust, xAdv: before.xAdv, within: { ...state, attack: attacks[k].name }, seconds };
        await onCheckpoint?.({ attack: attacks[k].name, seconds, progress });
      },
    };
  };
  const { xAdv, robust } = await untilFooled(
    classifier,
    x,
    labels,
    attacks.map((a, k) => async (xs: Tensor, ys: Tensor) => {
      try {
        return await a.run(classifier, xs, ys, checkpoint(k, true));
      } catch (e) {
        // Thrown before the attack did any work: drop the state and run the attack from its beginning.
        if (!(e instanceof ResumeStateError) || !within || k !== from?.steps.length) throw e;
        opts.onResumeRefused?.(`${e.message}; ${a.name} starts from its beginning`);
        return a.run(classifier, xs, ys, checkpoint(k, false));
      }
    }),
    {
      validate: async (k, candidates, clean) => {
        const worst = await largestPerturbation(candidates, clean);
        if (worst > eps + PERTURBATION_SLACK)
          throw new Error(`autoAttack: ${attacks[k].name} returned a perturbation with ‖δ‖∞ = ${worst}, beyond ε = ${eps}`);
      },
      afterStage: async (k, flags, xAdvSoFar) => {
        const step = { attack: attacks[k].name, robustAccuracy: accuracy(flags) };
        steps.push(step);
        before.xAdv.dispose();
        before = { robust: [...flags], xAdv: clone(xAdvSoFar) };
        const seconds = elapsed();
        await opts.onStage?.({ ...step, seconds, progress: { cleanAccuracy, steps: [...steps], robust: flags, xAdv: xAdvSoFar, seconds } });
      },
      resumeFrom: { stage: from ? from.steps.length : 0, robust: before.robust, xAdv: before.xAdv },
      batchSize,
    },
  ).finally(() => before.xAdv.dispose());
  return {
    label: `AA (${attacks.map((a) => a.name).join(' + ')})`,
    cleanAccuracy,
    steps,
    robustAccuracy: accuracy(robust),
    robust,
    xAdv,
  };
}

/** max |a − b| over all elements. */
async function largestPerturbation(a: Tensor, b: Tensor): Promise<number> {
  const m = scope(() => max(abs(sub(a, b))));
  const v = await m.item();
  m.dispose();
  return v;
}
