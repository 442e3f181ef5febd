// The pruning stage of one EED sub-model (algorithms.md §1 stage 1, §5, §5.4):
//   1. score the dense model on its subset (§4) and normalise per layer (§4.5);
//   2. HARP-prune for E epochs: weights frozen, scores + rates + BN train on the Madry PGD loss
//      plus φ_e·L_p (φ_e = (e+1)·φ, frozen at the first epoch that ends with round(L_p, 4) = 0);
//   3. safety net [X]: if the learned rates still keep more than a_t, shift every rate logit by
//      one common constant, or scale every keep rate by one factor (KeepBudgetRule; bisection)
//      until Σ n_l·k_l ≤ a_t·Σ n_l;
//   4. adversarially fine-tune the unmasked weights (+ BN) with the masks fixed, then bake
//      w ← w ⊙ M.
// The loop follows src/training/trainer.ts (adversarialLoss, one scope per step, NaN guard).
// With a validation split, the state of the epoch with the best PGD accuracy is kept in each
// stage ([C:harp]; while pruning, only epochs after the target was reached count) and restored at
// the end of the stage.
//
// With a run directory (hooks.run) every epoch is committed, numbered globally (pruning 1..P,
// fine-tuning P+1..P+F): the base state with the masks in use, the scores and rate logits, the
// current stage's optimizer, the best-epoch snapshot, generator positions, the frozen φ and the
// history. Epoch P is committed after the steps between the stages (best-epoch restore, masks,
// safety net, 'finetune' mode), so a checkpoint is always inside a stage and a resumed run is
// bit-identical to an uninterrupted one. Resuming skips the initial scoring: the checkpoint holds
// everything it produced. With hooks.checkpointSeconds the same state is also committed inside an
// epoch (with the step and the running loss; src/training/partialEpoch.ts), and on interruption.

import { batchCount, GpuDataset, makeBatch } from '../data/batches.js';
import { defaultAugmentation, NO_AUGMENTATION } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import { grad } from '../engine/autograd.js';
import { dispose, scope } from '../engine/scope.js';
import { Tensor } from '../engine/tensor.js';
import { loadStateDict, saveStateDict } from '../io/checkpoint.js';
import { readSafetensors, tensorRecord, toFloat32, writeSafetensors, type TensorRecord } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import { detach } from '../ops/creation.js';
import { add, mul } from '../ops/elementwise.js';
import { Generator } from '../ops/random.js';
import { SGD } from '../optim/sgd.js';
import { CosineAnnealingLR, StagedLR } from '../optim/schedule.js';
import { adversarialLoss, type TrainingMethod } from '../training/adversarialLoss.js';
import { BestEpoch, readBestSoFar, type BestSoFar } from '../training/bestEpoch.js';
import { CheckpointClock, drawEpochOrders, stopIfAborted, type PartialEpoch } from '../training/partialEpoch.js';
import type { RunDir, RunState } from '../training/runDir.js';
import { evaluateRobustness, loadOptimizer, saveOptimizer } from '../training/trainer.js';
import { compressionWeight, keepRateOf, prunedCount, rateLogitOf } from './harp.js';
import { withSparseKernels } from './sparseInference.js';
import { MaskedModel, type MaskMode } from './maskedModel.js';
import type { LabelledBatch, NisFrl } from './nis.js';
import { prunableLayers, weightKey } from './prunable.js';
import { initialScores, type ImportanceScore } from './scores.js';

export type RobustMethod = Exclude<TrainingMethod, 'clean'>;

export interface PruneSettings {
  score: ImportanceScore;
  /** a_t, the kept fraction of the prunable weights (1 − c_r; 0.05 in EED). */
  keepFraction: number;
  /** α_min of k_min = α_min·a_t (0.1). */
  alphaMin: number;
  /** φ of eq. (6) (0.01 small-scale). */
  phi: number;
  pruneEpochs: number;
  finetuneEpochs: number;
  batchSize: number;
  /** Pruning-stage lr (0.1, cosine) for scores and rates. */
  pruneLr: number;
  /** Fine-tune lr: the first of the multi-step rates (CIFAR-10 {0.01, 0.002}, SVHN {0.1, 0.02, 0.004}). */
  finetuneLr: number;
  /** Equal stages of the fine-tuning schedule, each at a fifth of the one before (2 for CIFAR-10, 3 for SVHN). */
  finetuneLrStages: number;
  momentum: number;
  weightDecay: number;
  eps: number;
  stepSize: number;
  attackSteps: number;
  /**
   * The robust loss L_r of eq. (5) in both stages: Madry CE on PGD examples (§5.3 and §5.4, the
   * default), or the TRADES (β = 6) or MART (λ = 5) loss of §2, which eq. (5) allows as variants.
   */
  method?: RobustMethod;
  /** Images scored by the data-dependent metrics (NIS's FRL, ASE), the first of the subset. */
  scoreSamples: number;
  nisFrl: NisFrl;
  /** The safety net's rule when HARP ends above the budget (absent: 'shift', the spec's). */
  keepBudget?: KeepBudgetRule;
  augment: boolean;
  seed: number;
}

export interface PruneEpochMetrics {
  stage: 'prune' | 'finetune';
  epoch: number;
  lr: number;
  /** Mean robust loss over the epoch (without the compression term). */
  loss: number;
  /** L_p at the end of the epoch (pruning only). */
  compressionLoss: number | null;
  /** φ_e used in the epoch (pruning only). */
  phi: number | null;
  /** Kept weights per the masks at the end of the epoch. */
  kept: number;
  /** PGD accuracy on the validation split (null without one, or before the target is reached). */
  validationPgd: number | null;
  seconds: number;
}

export interface PruneResult {
  model: MaskedModel;
  /** Final keep-rate k_l of every layer, by layer name. */
  layerKeepRates: Map<string, number>;
  history: PruneEpochMetrics[];
  /** The epochs (1-based) whose state was kept in each stage (the last epoch without validation). */
  selectedEpochs: { prune: number | null; finetune: number | null };
}

export interface ValidationSettings {
  data: Dataset;
  /** Images evaluated (the first of the split). */
  size: number;
  /** PGD steps of the criterion (10, §12) and their step size. */
  steps: number;
  stepSize: number;
}

export interface PruneHooks {
  /** Held-out data for the best-epoch choice (§5, §12). */
  validation?: ValidationSettings;
  /** Called after each epoch (after its commit, with a run directory). */
  onEpoch?: (m: PruneEpochMetrics) => void;
  /**
   * Commits every epoch there and resumes from its last commit; open it with the PruneSettings as
   * config (with the validation settings, if they may change) so a different job is refused.
   */
  run?: RunDir;
  /** Checked before every step (Ctrl-C sets it); stopping throws TrainingInterrupted. */
  signal?: { aborted: boolean };
  /** With `run`: also checkpoint inside an epoch this often, and when interrupted (as TrainHooks.checkpointSeconds). */
  checkpointSeconds?: number;
  /** After each step: the global epoch (1-based, both stages counted) and the step in it. */
  onStep?: (epoch: number, step: number) => void;
}

/** A checkpoint inside an epoch (of either stage). */
interface PartialPruneEpoch extends PartialEpoch {
  lossSum: number;
}

/** The first `count` rows of the subset as fixed batches (scoring needs no shuffling). */
/**
 * `count` images spread evenly over the subset (all of it when it is smaller). Not its first
 * images: a capped pool subset is C0's images followed by Cs's (src/pipeline/poolStage.ts), so the
 * first ones would all come from the chunk every sub-model of a score shares, and those sub-models
 * would start from identical scores.
 */
export function scoringIndices(size: number, count: number): Int32Array {
  const n = Math.min(count, size);
  return Int32Array.from({ length: n }, (_, i) => Math.floor((i * size) / n));
}

function scoringBatches(data: GpuDataset, count: number, batchSize: number): LabelledBatch[] {
  const indices = scoringIndices(data.size, count);
  const out: LabelledBatch[] = [];
  for (let b0 = 0; b0 < indices.length; b0 += batchSize) out.push(data.gather(indices.subarray(b0, b0 + batchSize)));
  return out;
}

/**
 * How the §5 safety net takes the rates back to the budget when HARP ends above it:
 * - 'shift', the spec's [X] rule: one common constant added to every rate logit. Where HARP has
 *   saturated a layer (k near 1) the logit must move far before that layer gives anything up, and
 *   the layers HARP left thin (k ≈ e^r) lose a factor e^c meanwhile: with 2 HARP epochs at 95%
 *   sparsity, ASE's conv2 went from 94% to 37% and conv3 from 4.3% to 0.6% (3 weights per output
 *   channel), and the sub-model collapsed (held-out PGD 31%).
 * - 'scale' ([X], ours): every keep rate times one common factor f (not below k_min), so every
 *   layer gives up the same fraction of the weights it kept. It is close to 'shift' where every
 *   rate is well above k_min and well below 1, and differs most where HARP saturated a layer
 *   (there 'scale' cuts it like the others).
 */
export type KeepBudgetRule = 'shift' | 'scale';
export const KEEP_BUDGET_RULES: readonly KeepBudgetRule[] = ['shift', 'scale'];

/**
 * §5 safety net: if the masks keep more than a_t·Σ n_l weights, move the rate logits (all by one
 * rule, see KeepBudgetRule) until Σ n_l·k_l ≤ a_t·Σ n_l. Returns the common amount: the logit
 * shift c (0 when nothing had to move) for 'shift', the factor f (1 then) for 'scale'.
 */
export async function enforceKeepBudget(model: MaskedModel, rule: KeepBudgetRule = 'shift'): Promise<number> {
  const logits: number[] = [];
  for (const l of model.layers) logits.push((await l.rateLogit.data())[0]);
  const sizes = model.layers.map((l) => l.prunable.weight.size);
  const rates = logits.map((r) => keepRateOf(r, model.kMin));
  // The logits after moving them by amount a (a shift, or a factor).
  const moved = (a: number): number[] =>
    rule === 'shift' ? logits.map((r) => r + a) : rates.map((k) => rateLogitOf(Math.max(model.kMin, a * k), model.kMin));
  const untouched = rule === 'shift' ? 0 : 1;
  // The weights the masks keep, counted as the masks round them (n − floor((1 − k)·n) per layer):
  // the rates' continuous Σ n·k can sit under the budget while the rounded masks keep up to one
  // weight per layer more, enough to push a team of sub-models at c_r = 1 − (1 − s_r)/4 over
  // its budget.
  const budget = Math.floor(model.target * sizes.reduce((a, b) => a + b, 0) + 1e-9);
  const kept = (a: number) => moved(a).reduce((sum, r, i) => sum + sizes[i] - prunedCount(sizes[i], keepRateOf(r, model.kMin)), 0);
  if (kept(untouched) <= budget && model.keptCount() <= budget) return untouched;
  // Bisection for the mildest move that fits: lo fits, hi does not.
  let [lo, hi] = rule === 'shift' ? [-60, 0] : [0, 1];
  if (kept(lo) > budget)
    throw new Error(`keep budget: even every layer at k_min = ${model.kMin} keeps ${kept(lo)} weights, over the budget of ${budget} (lower alphaMin)`);
  for (let it = 0; it < 100; it++) {
    const mid = (lo + hi) / 2;
    if (kept(mid) <= budget) lo = mid;
    else hi = mid;
  }
  // The masks come from the GPU's f32 rates: step further in the rare case that rounding there
  // keeps one weight more than the host's count.
  for (let step = 0; ; step++) {
    const amount = rule === 'shift' ? lo - step * 1e-4 : lo * (1 - step * 1e-5);
    const next = moved(amount);
    model.layers.forEach((l, i) => l.rateLogit.assign(Tensor.fromArray([next[i]], [1])));
    await model.refreshMasks();
    if (model.keptCount() <= budget) return amount;
    if (step === 100) throw new Error(`keep budget: the masks keep ${model.keptCount()} weights after the safety net, over the budget of ${budget}`);
  }
}

/**
 * Everything a stage changes, by name: the base state (weights, BN), and while pruning the scores
 * and rates.
 */
function stageState(model: MaskedModel): Map<string, Tensor> {
  const state = new Map(model.base.stateDict());
  if (model.mode === 'prune')
    for (const l of model.layers) {
      state.set(`${l.prunable.name}.scores`, l.scores);
      state.set(`${l.prunable.name}.rate`, l.rateLogit);
    }
  return state;
}

/** state.json's `extra` of a pruning run directory. */
interface PruneCheckpoint {
  /** 'finetune' from epoch P on: the steps between the stages come before epoch P's commit. */
  stage: MaskMode;
  generatorPosition: number;
  evalGeneratorPosition: number;
  frozenPhi: number | null;
  best: BestSoFar | null;
  selectedPruneEpoch: number | null;
  history: PruneEpochMetrics[];
  /** Present when the checkpoint was taken inside the epoch after `epoch`. */
  partial?: PartialPruneEpoch;
}

/** Checks a resumed run's `extra` (errors name state.json and the field). */
function readCheckpoint(run: RunDir, state: RunState, s: PruneSettings): PruneCheckpoint {
  const where = run.file('state.json');
  const x = state.extra;
  const total = s.pruneEpochs + s.finetuneEpochs;
  const partial = x.partial as Partial<PartialPruneEpoch> | undefined;
  // A checkpoint inside the first epoch has no finished epoch yet.
  const first = partial === undefined ? 1 : 0;
  if (!Number.isSafeInteger(state.epoch) || state.epoch < first || state.epoch > total)
    throw new Error(`${where}: epoch is ${JSON.stringify(state.epoch)}, expected ${first}..${total} (pruning ${s.pruneEpochs} + fine-tuning ${s.finetuneEpochs})`);
  const fail = (field: string, expected: string): never => {
    throw new Error(`${where}: extra.${field} is ${JSON.stringify(x[field])}, expected ${expected}`);
  };
  const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  const stage: MaskMode = state.epoch < s.pruneEpochs ? 'prune' : 'finetune';
  if (x.stage !== stage) fail('stage', `'${stage}' after epoch ${state.epoch} of ${s.pruneEpochs} pruning epochs`);
  if (!isCount(x.generatorPosition)) fail('generatorPosition', 'a counter');
  if (!isCount(x.evalGeneratorPosition)) fail('evalGeneratorPosition', 'a counter');
  if (x.frozenPhi !== null && !isNumber(x.frozenPhi)) fail('frozenPhi', 'a number or null');
  const best = readBestSoFar(x.best);
  if (best === undefined) fail('best', '{ epoch, accuracy } or null');
  if (x.selectedPruneEpoch !== null && !isCount(x.selectedPruneEpoch)) fail('selectedPruneEpoch', 'an epoch or null');
  if (!Array.isArray(x.history) || x.history.length !== state.epoch) fail('history', `${state.epoch} epoch records`);
  if (
    partial !== undefined &&
    (typeof partial !== 'object' || !isCount(partial.step) || !isNumber(partial.lossSum) || !isNumber(partial.seconds) || !isCount(partial.orderPosition))
  )
    fail('partial', '{ step, lossSum, seconds, orderPosition }');
  return {
    stage,
    generatorPosition: x.generatorPosition as number,
    evalGeneratorPosition: x.evalGeneratorPosition as number,
    frozenPhi: x.frozenPhi as number | null,
    best: best ?? null,
    selectedPruneEpoch: x.selectedPruneEpoch as number | null,
    history: x.history as PruneEpochMetrics[],
    partial: partial as PartialPruneEpoch | undefined,
  };
}

/** The checkpoint file `name` of a resumed run. */
/** The fine-tuning stages' rates: finetuneLr, then a fifth of it at each further stage (algorithms.md §1). */
export function fineTuneRates(s: Pick<PruneSettings, 'finetuneLr' | 'finetuneLrStages'>): number[] {
  if (!Number.isInteger(s.finetuneLrStages) || s.finetuneLrStages < 1)
    throw new Error(`prune settings: finetuneLrStages must be a positive integer, got ${s.finetuneLrStages}`);
  return Array.from({ length: s.finetuneLrStages }, (_, k) => s.finetuneLr / 5 ** k);
}

function checkpointFile(run: RunDir, state: RunState, name: string): string {
  const f = state.files[name];
  if (!f) throw new Error(`${run.file('state.json')}: files.${name} is missing`);
  return run.file(f);
}

/** Scores and rate logits by `<layer>.scores` / `<layer>.rate` (the masks go with the weights). */
async function saveMasking(path: string, model: MaskedModel): Promise<void> {
  const records: [string, TensorRecord][] = [];
  for (const l of model.layers) {
    records.push([`${l.prunable.name}.scores`, tensorRecord(await l.scores.data(), l.scores.shape)]);
    records.push([`${l.prunable.name}.rate`, tensorRecord(await l.rateLogit.data(), l.rateLogit.shape)]);
  }
  await writeSafetensors(path, records, { format: 'eed-masking', mode: model.mode });
}

/** The MaskedModel of a checkpoint: `base` gets its weights and BN state, the wrapper the rest. */
async function restoreMaskedModel(base: Module, modelPath: string, maskingPath: string, stage: MaskMode, s: PruneSettings): Promise<MaskedModel> {
  const loaded = await loadStateDict(modelPath, base);
  try {
    const content = await readSafetensors(maskingPath);
    const layers = prunableLayers(base);
    const values = (key: string, size: number): Float32Array => {
      const rec = content.tensors.get(key);
      if (!rec) throw new Error(`${maskingPath}: missing '${key}'`);
      const v = toFloat32(rec, `${maskingPath}: '${key}'`);
      if (v.length !== size) throw new Error(`${maskingPath}: '${key}' has ${v.length} values, expected ${size}`);
      return v;
    };
    const scoreValues = layers.map((l) => values(`${l.name}.scores`, l.weight.size));
    const rates = layers.map((l) => values(`${l.name}.rate`, 1)[0]);
    const scores = new Map(layers.map((l, i) => [l.name, Tensor.fromArray(scoreValues[i], l.weight.shape)]));
    let model: MaskedModel;
    try {
      model = await MaskedModel.create(base, scores, { target: s.keepFraction, alphaMin: s.alphaMin });
    } finally {
      dispose([...scores.values()]);
    }
    try {
      model.layers.forEach((l, i) => l.rateLogit.assign(Tensor.fromArray([rates[i]], [1])));
      await model.restoreMasks(loaded.masks, modelPath);
    } catch (e) {
      model.disposeMasking();
      throw e;
    }
    if (stage === 'finetune') model.setMode('finetune');
    return model;
  } finally {
    dispose([...loaded.masks.values()]);
  }
}

interface EpochLoop {
  model: MaskedModel;
  data: GpuDataset;
  s: PruneSettings;
  gen: Generator;
  opt: SGD;
  /** Extra loss term of a step (φ_e·L_p while pruning), or null. */
  extra: () => Tensor | null;
  /** Runs after every optimizer step. */
  afterStep: () => Promise<void>;
  signal?: { aborted: boolean };
  /** Epochs done (committed, with a run directory) before this one, for TrainingInterrupted. */
  completed: number;
  /** Where a checkpoint inside this epoch left off, when resuming from one. */
  resumeAt?: PartialPruneEpoch;
  /** Commits a checkpoint inside this epoch (absent without a run directory). */
  checkpoint?: (p: PartialPruneEpoch) => Promise<void>;
  clock: CheckpointClock;
  onStep?: (epoch: number, step: number) => void;
}

/** One epoch of Madry adversarial training steps; returns the mean robust loss. */
async function runEpoch(o: EpochLoop, label: string): Promise<number> {
  const t0 = performance.now();
  const aug = o.s.augment ? defaultAugmentation(o.data) : NO_AUGMENTATION;
  const {
    orders: [order],
    orderPosition,
  } = await drawEpochOrders(o.gen, o.data.size, 1, o.resumeAt);
  const steps = batchCount(order.length, o.s.batchSize, false);
  const first = o.resumeAt?.step ?? 0;
  let lossSum = o.resumeAt?.lossSum ?? 0;
  const checkpoint = async (b: number): Promise<boolean> => {
    if (!o.checkpoint) return false;
    await o.checkpoint({ step: b, lossSum, seconds: (o.resumeAt?.seconds ?? 0) + (performance.now() - t0) / 1000, orderPosition });
    o.clock.reset();
    return true;
  };
  for (let b = first; b < steps; b++) {
    await stopIfAborted(o.signal, { clock: o.clock, completedEpochs: o.completed, step: b, first, commit: checkpoint });
    const rows = order.slice(b * o.s.batchSize, (b + 1) * o.s.batchSize);
    // The training attack and the training pass on the sparse kernels where they pay
    // (withSparseKernels; HARP's mask gradient still takes the dense GEMM's weight gradient).
    const robust = await withSparseKernels([o.model], () => scope(() => {
      const batch = makeBatch(o.data, rows, aug, o.gen);
      const l = adversarialLoss(o.model, batch.x, batch.y, {
        method: o.s.method ?? 'madry',
        eps: o.s.eps,
        stepSize: o.s.stepSize,
        steps: o.s.attackSteps,
        generator: o.gen,
      });
      const extra = o.extra();
      const total = extra ? add(l, extra) : l;
      o.opt.step(grad(total, o.opt.params, { allowUnused: true }));
      return detach(l);
    }));
    const v = await robust.item();
    robust.dispose();
    if (!Number.isFinite(v)) throw new Error(`${label}: the loss became ${v} at step ${b + 1}`);
    lossSum += v;
    await o.afterStep();
    o.onStep?.(o.completed + 1, b + 1);
    if (b + 1 < steps && o.clock.due()) await checkpoint(b + 1);
  }
  return lossSum / Math.max(1, steps);
}

/**
 * Prunes `base` (trained weights; modified in place: BN during pruning, weights while fine-tuning)
 * on `subset` and returns it wrapped with its masks, already baked into the weights. With
 * `hooks.run`, resumes from its last commit (`base`'s weights are then replaced by the checkpoint's).
 */
export async function pruneAdversarially(base: Module, subset: Dataset, s: PruneSettings, hooks: PruneHooks = {}): Promise<PruneResult> {
  const { run, signal } = hooks;
  const resumed = run?.resumed ? { run, state: run.resumed, checkpoint: readCheckpoint(run, run.resumed, s) } : null;
  const gen = new Generator(s.seed);
  const evalGen = new Generator(s.seed).fork(1);
  const data = GpuDataset.upload(subset);
  const val = hooks.validation;
  const valData = val ? GpuDataset.upload(val.data) : null;
  const validate = async (model: MaskedModel): Promise<number | null> =>
    val && valData
      ? (await withSparseKernels([model], () => evaluateRobustness(model, valData, val.size, { eps: s.eps, stepSize: val.stepSize, steps: val.steps, batchSize: s.batchSize, generator: evalGen }))).pgd
      : null;
  const P = s.pruneEpochs;
  const F = s.finetuneEpochs;
  const best = new BestEpoch();
  const selectedEpochs: PruneResult['selectedEpochs'] = { prune: null, finetune: null };
  const history: PruneEpochMetrics[] = [];
  let frozenPhi: number | null = null;
  let start = 0;
  let partial: PartialPruneEpoch | undefined;
  const clock = new CheckpointClock(run ? hooks.checkpointSeconds : undefined);
  let model: MaskedModel | null = null;
  let opt: SGD | null = null;
  try {
    if (resumed) {
      const { run: r, state, checkpoint: c } = resumed;
      model = await restoreMaskedModel(base, checkpointFile(r, state, 'model'), checkpointFile(r, state, 'masking'), c.stage, s);
      gen.position = c.generatorPosition;
      evalGen.position = c.evalGeneratorPosition;
      frozenPhi = c.frozenPhi;
      selectedEpochs.prune = c.selectedPruneEpoch;
      history.push(...c.history);
      start = state.epoch;
      partial = c.partial;
      r.log(`resumed after epoch ${start} of ${P + F}${partial ? ` and ${partial.step} steps` : ''} (${c.stage} stage)`);
    } else {
      const scoring = scoringBatches(data, s.scoreSamples, s.batchSize);
      let scores: Map<string, Tensor>;
      try {
        scores = await initialScores(s.score, base, scoring, { nis: { frl: s.nisFrl }, ase: { generator: gen.fork(7), eps: s.eps, stepSize: s.stepSize } });
      } finally {
        dispose(scoring);
      }
      try {
        model = await MaskedModel.create(base, scores, { target: s.keepFraction, alphaMin: s.alphaMin });
      } finally {
        dispose([...scores.values()]);
      }
      run?.log(`initial ${s.score} scores on ${Math.min(s.scoreSamples, data.size)} images`);
    }
    const masked = model;
    const sgd = (lr: number) => new SGD(masked.trainableParameters(), { lr, momentum: s.momentum, weightDecay: s.weightDecay });
    opt = sgd(masked.mode === 'prune' ? s.pruneLr : s.finetuneLr);
    if (resumed) {
      const { run: r, state, checkpoint: c } = resumed;
      await loadOptimizer(checkpointFile(r, state, 'optimizer'), opt);
      if (c.best) await best.load(checkpointFile(r, state, 'best'), c.best, stageState(masked));
    }

    /**
     * Commits the state after global epoch `epoch`, or `partial.step` steps into the next one (a
     * no-op without a run directory).
     */
    const saveState = async (epoch: number, current: SGD, partialAt?: PartialPruneEpoch): Promise<void> => {
      if (!run) return;
      const saved = best.current;
      await run.commit(
        epoch,
        ['model', 'masking', 'optimizer', ...(saved ? ['best'] : [])],
        async (paths) => {
          const masks = masked.masks();
          try {
            const metadata = { epoch: String(epoch), stage: masked.mode, ...(partialAt ? { step: String(partialAt.step) } : {}) };
            await saveStateDict(paths.model, masked.base, { masks, metadata });
          } finally {
            dispose([...masks.values()]);
          }
          await saveMasking(paths.masking, masked);
          await saveOptimizer(paths.optimizer, current);
          if (paths.best) await best.save(paths.best);
        },
        {
          stage: masked.mode,
          generatorPosition: gen.position,
          evalGeneratorPosition: evalGen.position,
          frozenPhi,
          best: saved,
          selectedPruneEpoch: selectedEpochs.prune,
          history,
          ...(partialAt ? { partial: partialAt } : {}),
        } satisfies PruneCheckpoint,
        partialAt?.step,
      );
      clock.reset();
    };
    /** Commits global epoch `epoch` and logs it. */
    const commit = async (epoch: number, m: PruneEpochMetrics, current: SGD): Promise<void> => {
      if (!run) return;
      await saveState(epoch, current);
      run.log(
        `${m.stage} epoch ${m.epoch} (${epoch}/${P + F}): loss ${m.loss}` +
          (m.compressionLoss !== null ? `, L_p ${m.compressionLoss} (φ ${m.phi})` : '') +
          (m.validationPgd !== null ? `, validation PGD ${m.validationPgd}` : '') +
          `, kept ${m.kept}, ${m.seconds.toFixed(1)} s`,
      );
    };
    /** The mid-epoch checkpoint hook of the epoch after `completed` global epochs. */
    const checkpointInside = (completed: number) =>
      run
        ? async (p: PartialPruneEpoch) => {
            await saveState(completed, opt!, p);
            run.log(`checkpoint after epoch ${completed} of ${P + F} and ${p.step} steps`);
          }
        : undefined;

    /** The steps between the stages; returns the fine-tuning optimizer. */
    const finishPruning = async (pruneOpt: SGD): Promise<SGD> => {
      selectedEpochs.prune = best.restore() ?? (P > 0 ? P : null);
      await masked.refreshMasks();
      await enforceKeepBudget(masked, s.keepBudget ?? 'shift');
      masked.setMode('finetune');
      pruneOpt.dispose();
      return sgd(s.finetuneLr);
    };

    // HARP pruning.
    const pruneSchedule = new CosineAnnealingLR(s.pruneLr, Math.max(1, P));
    for (let epoch = start; epoch < P; epoch++) {
      const t0 = performance.now();
      opt.lr = pruneSchedule.at(epoch);
      const phi: number = frozenPhi ?? compressionWeight(s.phi, epoch);
      const resumeAt = epoch === start ? partial : undefined;
      const loss = await runEpoch(
        {
          model: masked, data, s, gen, opt, extra: () => mul(masked.compressionLoss(), phi), afterStep: () => masked.refreshMasks(),
          signal, completed: epoch, resumeAt, checkpoint: checkpointInside(epoch), clock, onStep: hooks.onStep,
        },
        `pruning epoch ${epoch + 1}`,
      );
      const lp = scope(() => detach(masked.compressionLoss()));
      const lpValue = await lp.item();
      lp.dispose();
      if (frozenPhi === null && Math.round(lpValue * 1e4) === 0) frozenPhi = phi;
      const accuracy = frozenPhi !== null ? await validate(masked) : null;
      if (accuracy !== null) best.consider(epoch + 1, accuracy, () => stageState(masked));
      const m: PruneEpochMetrics = {
        stage: 'prune', epoch: epoch + 1, lr: opt.lr, loss, compressionLoss: lpValue, phi, kept: masked.keptCount(),
        validationPgd: accuracy, seconds: (resumeAt?.seconds ?? 0) + (performance.now() - t0) / 1000,
      };
      history.push(m);
      if (epoch + 1 === P) opt = await finishPruning(opt);
      await commit(epoch + 1, m, opt);
      hooks.onEpoch?.(m);
    }
    if (masked.mode === 'prune') opt = await finishPruning(opt); // no pruning epochs
    const finalRates = await masked.keepRateValues();
    const layerKeepRates = new Map(masked.layers.map((l, i) => [l.prunable.name, finalRates[i]]));

    // Fine-tuning with fixed masks.
    const tuneSchedule = new StagedLR(fineTuneRates(s), Math.max(1, F));
    for (let epoch = Math.max(0, start - P); epoch < F; epoch++) {
      const t0 = performance.now();
      opt.lr = tuneSchedule.at(epoch);
      const resumeAt = P + epoch === start ? partial : undefined;
      const loss = await runEpoch(
        {
          model: masked, data, s, gen, opt, extra: () => null, afterStep: async () => {}, signal, completed: P + epoch, resumeAt,
          checkpoint: checkpointInside(P + epoch), clock, onStep: hooks.onStep,
        },
        `fine-tuning epoch ${epoch + 1}`,
      );
      const accuracy = await validate(masked);
      if (accuracy !== null) best.consider(epoch + 1, accuracy, () => stageState(masked));
      const m: PruneEpochMetrics = {
        stage: 'finetune', epoch: epoch + 1, lr: opt.lr, loss, compressionLoss: null, phi: null, kept: masked.keptCount(),
        validationPgd: accuracy, seconds: (resumeAt?.seconds ?? 0) + (performance.now() - t0) / 1000,
      };
      history.push(m);
      await commit(P + epoch + 1, m, opt);
      hooks.onEpoch?.(m);
    }
    selectedEpochs.finetune = best.restore() ?? (F > 0 ? F : null);
    masked.bakeMasks();
    return { model: masked, layerKeepRates, history, selectedEpochs };
  } catch (e) {
    model?.disposeMasking();
    throw e;
  } finally {
    opt?.dispose();
    best.dispose();
    data.dispose();
    valData?.dispose();
  }
}

/**
 * Saves the pruned sub-model: the base model's state dict (pruned weights are zero), the masks as
 * `<layer>.weight.mask`, and the layer keep-rates, score and target in the metadata.
 */
export async function savePrunedModel(path: string, result: PruneResult, metadata: Record<string, string> = {}): Promise<void> {
  const masks = result.model.masks();
  try {
    const rates = Object.fromEntries([...result.layerKeepRates].map(([name, k]) => [name, k]));
    await saveStateDict(path, result.model.base, {
      masks,
      metadata: {
        ...metadata,
        keepFraction: String(result.model.target),
        kept: String(result.model.keptCount()),
        layerKeepRates: JSON.stringify(rates),
        maskedWeights: JSON.stringify(result.model.layers.map((l) => weightKey(l.prunable))),
      },
    });
  } finally {
    dispose([...masks.values()]);
  }
}
