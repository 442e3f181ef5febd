// The pruning stage of one EED sub-model (algorithms.md §1 stage 1, §5, §5.4):
//   1. score the dense model on its subset (§4) and normalise per layer (§4.5);
//   2. HARP-prune for E epochs: weights frozen, scores + rates + BN train on the Madry PGD loss
//      plus φ_e·L_p (φ_e = (e+1)·φ, frozen at the first epoch that ends with round(L_p, 4) = 0);
//   3. safety net [X]: if the learned rates still keep more than a_t, shift every rate logit by
//      one common constant (bisection) until Σ n_l·k_l ≤ a_t·Σ n_l;
//   4. adversarially fine-tune the unmasked weights (+ BN) with the masks fixed, then bake
//      w ← w ⊙ M.
// The loop follows src/training/trainer.ts (adversarialLoss, one scope per step, NaN guard).
// With a validation split, the state of the epoch with the best PGD accuracy is kept in each
// stage ([C:harp]; while pruning, only epochs after the target was reached count) and restored at
// the end of the stage. Not here yet: resumable run directories.

import { batchCount, epochOrder, GpuDataset, makeBatch } from '../data/batches.js';
import { defaultAugmentation, NO_AUGMENTATION } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import { grad, noGrad } from '../engine/autograd.js';
import { dispose, scope } from '../engine/scope.js';
import { Tensor } from '../engine/tensor.js';
import { saveStateDict } from '../io/checkpoint.js';
import type { Module } from '../nn/module.js';
import { clone, detach } from '../ops/creation.js';
import { add, mul } from '../ops/elementwise.js';
import { Generator } from '../ops/random.js';
import { SGD } from '../optim/sgd.js';
import { CosineAnnealingLR, StagedLR } from '../optim/schedule.js';
import { adversarialLoss } from '../training/adversarialLoss.js';
import { evaluateRobustness } from '../training/trainer.js';
import { compressionWeight, keepRateOf } from './harp.js';
import { MaskedModel } from './maskedModel.js';
import type { LabelledBatch, NisFrl } from './nis.js';
import { weightKey } from './prunable.js';
import { initialScores, type ImportanceScore } from './scores.js';

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
  /** Fine-tune lr: multi-step {lr, lr/5} switching at half the stage (CIFAR-10 {0.01, 0.002}). */
  finetuneLr: number;
  momentum: number;
  weightDecay: number;
  eps: number;
  stepSize: number;
  attackSteps: number;
  /** Images scored by the data-dependent metrics (NIS's FRL, ASE), the first of the subset. */
  scoreSamples: number;
  nisFrl: NisFrl;
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
  onEpoch?: (m: PruneEpochMetrics) => void;
}

/** The first `count` rows of the subset as fixed batches (scoring needs no shuffling). */
function scoringBatches(data: GpuDataset, count: number, batchSize: number): LabelledBatch[] {
  const n = Math.min(count, data.size);
  const out: LabelledBatch[] = [];
  for (let b0 = 0; b0 < n; b0 += batchSize) {
    const { x, y } = data.gather(Int32Array.from({ length: Math.min(batchSize, n - b0) }, (_, i) => b0 + i));
    out.push({ x, y });
  }
  return out;
}

/** §5 safety net: shift every rate logit by one constant c so that Σ n_l·k_l ≤ a_t·Σ n_l. */
export async function enforceKeepBudget(model: MaskedModel): Promise<number> {
  const logits: number[] = [];
  for (const l of model.layers) logits.push((await l.rateLogit.data())[0]);
  const sizes = model.layers.map((l) => l.prunable.weight.size);
  const budget = model.target * sizes.reduce((a, b) => a + b, 0);
  const expected = (c: number) => logits.reduce((a, r, i) => a + sizes[i] * keepRateOf(r + c, model.kMin), 0);
  if (expected(0) <= budget) return 0;
  let lo = -60;
  let hi = 0;
  for (let it = 0; it < 100; it++) {
    const mid = (lo + hi) / 2;
    if (expected(mid) <= budget) lo = mid;
    else hi = mid;
  }
  model.layers.forEach((l, i) => l.rateLogit.assign(Tensor.fromArray([logits[i] + lo], [1])));
  await model.refreshMasks();
  return lo;
}

/** Copies of tensors, to restore the best epoch's state later. */
class Snapshot {
  private readonly copies: [Tensor, Tensor][];

  constructor(tensors: readonly Tensor[]) {
    this.copies = noGrad(() => tensors.map((t): [Tensor, Tensor] => [t, clone(t).keep()]));
  }

  /** Puts the saved values back and frees the copies. */
  restore(): void {
    for (const [t, copy] of this.copies) t.assign(copy);
  }

  dispose(): void {
    for (const [, copy] of this.copies) copy.dispose();
  }
}

/** Everything a stage changes: the base state (weights, BN), and while pruning the scores and rates. */
function stageState(model: MaskedModel): Tensor[] {
  return [...model.base.stateDict().values(), ...model.layers.flatMap((l) => [l.scores, l.rateLogit])];
}

/** Keeps the best-scoring epoch's state; `consider` returns whether it became the best. */
class BestEpoch {
  private best: { epoch: number; accuracy: number; snapshot: Snapshot } | null = null;

  consider(epoch: number, accuracy: number, state: () => Tensor[]): void {
    if (this.best && accuracy <= this.best.accuracy) return;
    this.best?.snapshot.dispose();
    this.best = { epoch, accuracy, snapshot: new Snapshot(state()) };
  }

  /** Restores the best state (if any) and returns its epoch. */
  restore(): number | null {
    if (!this.best) return null;
    this.best.snapshot.restore();
    const epoch = this.best.epoch;
    this.best = null;
    return epoch;
  }

  dispose(): void {
    this.best?.snapshot.dispose();
    this.best = null;
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
}

/** One epoch of Madry adversarial training steps; returns the mean robust loss. */
async function runEpoch(o: EpochLoop, label: string): Promise<number> {
  const aug = o.s.augment ? defaultAugmentation(o.data) : NO_AUGMENTATION;
  const order = await epochOrder(o.data.size, o.gen);
  const steps = batchCount(order.length, o.s.batchSize, false);
  let lossSum = 0;
  for (let b = 0; b < steps; b++) {
    const rows = order.slice(b * o.s.batchSize, (b + 1) * o.s.batchSize);
    const robust = scope(() => {
      const batch = makeBatch(o.data, rows, aug, o.gen);
      const l = adversarialLoss(o.model, batch.x, batch.y, {
        method: 'madry',
        eps: o.s.eps,
        stepSize: o.s.stepSize,
        steps: o.s.attackSteps,
        generator: o.gen,
      });
      const extra = o.extra();
      const total = extra ? add(l, extra) : l;
      o.opt.step(grad(total, o.opt.params, { allowUnused: true }));
      return detach(l);
    });
    const v = await robust.item();
    robust.dispose();
    if (!Number.isFinite(v)) throw new Error(`${label}: the loss became ${v} at step ${b + 1}`);
    lossSum += v;
    await o.afterStep();
  }
  return lossSum / Math.max(1, steps);
}

/**
 * Prunes `base` (trained weights; modified in place: BN during pruning, weights while fine-tuning)
 * on `subset` and returns it wrapped with its masks, already baked into the weights.
 */
export async function pruneAdversarially(base: Module, subset: Dataset, s: PruneSettings, hooks: PruneHooks = {}): Promise<PruneResult> {
  const gen = new Generator(s.seed);
  const evalGen = new Generator(s.seed).fork(1);
  const data = GpuDataset.upload(subset);
  const val = hooks.validation;
  const valData = val ? GpuDataset.upload(val.data) : null;
  const validate = async (model: MaskedModel): Promise<number | null> =>
    val && valData
      ? (await evaluateRobustness(model, valData, val.size, { eps: s.eps, stepSize: val.stepSize, steps: val.steps, batchSize: s.batchSize, generator: evalGen })).pgd
      : null;
  const best = new BestEpoch();
  const selectedEpochs: PruneResult['selectedEpochs'] = { prune: null, finetune: null };
  const history: PruneEpochMetrics[] = [];
  let model: MaskedModel | null = null;
  try {
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
    const masked = model;

    // HARP pruning.
    const pruneOpt = new SGD(masked.trainableParameters(), { lr: s.pruneLr, momentum: s.momentum, weightDecay: s.weightDecay });
    const pruneSchedule = new CosineAnnealingLR(s.pruneLr, Math.max(1, s.pruneEpochs));
    let frozenPhi: number | null = null;
    try {
      for (let epoch = 0; epoch < s.pruneEpochs; epoch++) {
        const t0 = performance.now();
        pruneOpt.lr = pruneSchedule.at(epoch);
        const phi: number = frozenPhi ?? compressionWeight(s.phi, epoch);
        const loss = await runEpoch(
          { model: masked, data, s, gen, opt: pruneOpt, extra: () => mul(masked.compressionLoss(), phi), afterStep: () => masked.refreshMasks() },
          `pruning epoch ${epoch + 1}`,
        );
        const lp = scope(() => detach(masked.compressionLoss()));
        const lpValue = await lp.item();
        lp.dispose();
        if (frozenPhi === null && Math.round(lpValue * 1e4) === 0) frozenPhi = phi;
        const accuracy = frozenPhi !== null ? await validate(masked) : null;
        if (accuracy !== null) best.consider(epoch + 1, accuracy, () => stageState(masked));
        const m: PruneEpochMetrics = {
          stage: 'prune', epoch: epoch + 1, lr: pruneOpt.lr, loss, compressionLoss: lpValue, phi, kept: masked.keptCount(),
          validationPgd: accuracy, seconds: (performance.now() - t0) / 1000,
        };
        history.push(m);
        hooks.onEpoch?.(m);
      }
    } finally {
      pruneOpt.dispose();
    }
    selectedEpochs.prune = best.restore() ?? (s.pruneEpochs > 0 ? s.pruneEpochs : null);
    await masked.refreshMasks();
    await enforceKeepBudget(masked);
    const finalRates = await masked.keepRateValues();
    const layerKeepRates = new Map(masked.layers.map((l, i) => [l.prunable.name, finalRates[i]]));

    // Fine-tuning with fixed masks.
    masked.setMode('finetune');
    const tuneOpt = new SGD(masked.trainableParameters(), { lr: s.finetuneLr, momentum: s.momentum, weightDecay: s.weightDecay });
    const tuneSchedule = new StagedLR([s.finetuneLr, s.finetuneLr / 5], Math.max(1, s.finetuneEpochs));
    try {
      for (let epoch = 0; epoch < s.finetuneEpochs; epoch++) {
        const t0 = performance.now();
        tuneOpt.lr = tuneSchedule.at(epoch);
        const loss = await runEpoch(
          { model: masked, data, s, gen, opt: tuneOpt, extra: () => null, afterStep: async () => {} },
          `fine-tuning epoch ${epoch + 1}`,
        );
        const accuracy = await validate(masked);
        if (accuracy !== null) best.consider(epoch + 1, accuracy, () => [...masked.base.stateDict().values()]);
        const m: PruneEpochMetrics = {
          stage: 'finetune', epoch: epoch + 1, lr: tuneOpt.lr, loss, compressionLoss: null, phi: null, kept: masked.keptCount(),
          validationPgd: accuracy, seconds: (performance.now() - t0) / 1000,
        };
        history.push(m);
        hooks.onEpoch?.(m);
      }
    } finally {
      tuneOpt.dispose();
    }
    selectedEpochs.finetune = best.restore() ?? (s.finetuneEpochs > 0 ? s.finetuneEpochs : null);
    masked.bakeMasks();
    return { model: masked, layerKeepRates, history, selectedEpochs };
  } catch (e) {
    model?.disposeMasking();
    throw e;
  } finally {
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
