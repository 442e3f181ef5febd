// Ensemble training (stage 3 of EED, algorithms.md §7): the selected team trained jointly with
// L_EED on the full training set. A resumable epoch loop around ensembleLoss, following
// trainAdversarially (src/training/trainer.ts): a checkpoint every epoch (members with their
// masks, optimizer state, generator position) committed atomically through RunDir, and with
// hooks.checkpointSeconds inside epochs too (the running term sums with it), a NaN guard that
// names the epoch and step, and TrainingInterrupted when the caller aborts.
//
// Each batch pairs a source batch (x_s, y_s) with a target batch x_t from an independently
// shuffled order of the same set (DVERGE's two loaders). The distillation layer l is drawn
// uniformly once per epoch from a host stream of (seed, epoch), so a resumed run draws the same
// layers. Every member has its own SGD (DVERGE/iGAT, §12), all stepped after one backward pass of
// the joint loss; the masks are fixed inside the kernels, so pruned weights get no gradient.
//
// With hooks.validation ([X], ours), the static team's PGD accuracy on a held-out split is measured
// before the first epoch and after each (one fixed random start, so epochs meet the same attack),
// and the stage ends with the members of the best of those (ties go to the later epoch): on that
// check the kept team never scores below the team it was given. The best state travels in every
// checkpoint, as pruning's does. A check runs to its end: Ctrl-C takes effect at the next step.

import { batchCount, GpuDataset, makeBatch } from '../../data/batches.js';
import { defaultAugmentation, NO_AUGMENTATION } from '../../data/augment.js';
import type { Dataset } from '../../data/dataset.js';
import { HostRandom, streamOf } from '../../data/hostRandom.js';
import { grad } from '../../engine/autograd.js';
import { scope } from '../../engine/scope.js';
import { Tensor } from '../../engine/tensor.js';
import { loadStateDict, saveStateDict } from '../../io/checkpoint.js';
import { readSafetensors, writeSafetensors, type TensorRecord } from '../../io/safetensors.js';
import { tappedModel } from '../../nn/models/featureTap.js';
import type { Module } from '../../nn/module.js';
import { detach } from '../../ops/creation.js';
import { Generator } from '../../ops/random.js';
import { stack } from '../../ops/shape.js';
import { SGD } from '../../optim/sgd.js';
import { StagedLR } from '../../optim/schedule.js';
import { Progress } from '../../cli/progress.js';
import { moduleClassifier } from '../../attacks/classifier.js';
import { accuracyOf, evaluateSuite } from '../../attacks/suite.js';
import { BestEpoch, readBestSoFar, type BestSoFar } from '../../training/bestEpoch.js';
import { processMemoryLine } from '../../training/processMemory.js';
import type { DieCombiner } from '../haltingRule.js';
import { staticTeam } from '../staticEnsemble.js';
import { CheckpointClock, drawEpochOrders, stopIfAborted, type PartialEpoch } from '../../training/partialEpoch.js';
import type { RunDir } from '../../training/runDir.js';
import { momentumRecords, momentumTensor } from '../../training/trainer.js';
import { masksOf } from '../subModel.js';
import { ensembleLoss } from './ensembleLoss.js';
import { checkEnsembleTrainSettings, type Diversity, type EnsembleTrainSettings } from './settings.js';
import { withSparseKernels } from '../../pruning/sparseInference.js';

export interface EnsembleEpochMetrics {
  epoch: number;
  lr: number;
  /** Feature layer of this epoch's distillation. */
  layer: number;
  /** The Div term in force ('dverge' during SoE's first phase). */
  diversity: Diversity;
  /** Means over the epoch's steps of L_EED and of each term (unweighted). */
  loss: number;
  ce: number;
  diversityLoss: number;
  robust: number;
  weightL1: number;
  activationL1: number;
  complexity: number;
  /** L0 density of the post-ReLU activations (mean over members and steps). */
  activationDensity: number;
  /** γ·L_C / L_E at the epoch's first step (§7 sanity check: should lie in 0.1–1 at the start). */
  complexityRatio: number;
  /** The static team's PGD accuracy on the validation split after the epoch (absent without one). */
  validationPgd?: number;
  seconds: number;
}

/** The held-out check of hooks.validation: PGD against the static team (combiner as DIE's). */
export interface EnsembleValidation {
  data: Dataset;
  /** Images evaluated (the first of the split). */
  size: number;
  steps: number;
  stepSize: number;
  combiner: DieCombiner;
}

export interface EnsembleTrainHooks {
  /** Checked before every step. */
  signal?: { aborted: boolean };
  /** After each committed epoch. */
  onEpoch?: (m: EnsembleEpochMetrics) => void;
  /** After each step: steps done and in all of this run's epochs. */
  onStep?: (done: number, total: number) => void;
  /** Receives the per-epoch lines and warnings (default: stderr); run.log gets them as well. */
  log?: (line: string) => void;
  /** Also checkpoint inside an epoch this often, and when interrupted (as TrainHooks.checkpointSeconds). */
  checkpointSeconds?: number;
  /**
   * Held-out data for the best-epoch choice (before training counts as epoch 0). Part of what the
   * run computes: open the run directory with it in the config.
   */
  validation?: EnsembleValidation;
}

/** A mid-epoch checkpoint of ensemble training: the running sums of the epoch's terms. */
interface PartialEnsembleEpoch extends PartialEpoch {
  sums: number[];
  /** γ·L_C / L_E at the epoch's first step (null for NaN in JSON). */
  ratio: number | null;
}

export interface EnsembleTrainResult {
  members: Module[];
  history: EnsembleEpochMetrics[];
  /** The epoch whose members are returned: the best on validation (0: the team as given), else the last. */
  selectedEpoch: number;
  /** The static team's validation PGD accuracy before training (absent without validation). */
  initialValidationPgd?: number;
}

/** The range §7 expects γ·L_C / L_E to lie in at initialisation. */
export const COMPLEXITY_RATIO_RANGE = [0.1, 1] as const;

const TERM_NAMES = ['total', 'ce', 'diversity', 'robust', 'weightL1', 'activationL1', 'complexity', 'activationDensity'] as const;

/** The distillation layer of an epoch: uniform over 1..count, a pure function of (seed, epoch). */
export function distillationLayer(seed: number, epoch: number, count: number): number {
  return 1 + new HostRandom(seed, streamOf(`ensemble-distill-layer-${epoch}`)).below(count);
}

/** The Div term of an epoch: SoE trains with DVERGE for its first soeWarmupEpochs epochs. */
export function diversityAt(s: EnsembleTrainSettings, epoch: number): Diversity {
  return s.diversity === 'soe' && epoch < s.soeWarmupEpochs ? 'dverge' : s.diversity;
}

async function saveOptimizers(path: string, opts: readonly SGD[]): Promise<void> {
  const records: [string, TensorRecord][] = [];
  for (const [i, opt] of opts.entries()) records.push(...(await momentumRecords(opt, `member${i}.`)));
  await writeSafetensors(path, records, { format: 'eed-sgd', lr: String(opts[0].lr) });
}

async function loadOptimizers(path: string, opts: readonly SGD[]): Promise<void> {
  const file = await readSafetensors(path);
  const perMember = opts.map(() => new Map<string, Tensor>());
  try {
    for (const [k, rec] of file.tensors) {
      const m = /^member(\d+)\.(.+)$/.exec(k);
      const i = m ? Number(m[1]) : -1;
      if (!m || !(i < opts.length)) throw new Error(`${path}: unexpected optimizer entry '${k}' for a team of ${opts.length}`);
      perMember[i].set(m[2], momentumTensor(path, k, rec));
    }
    opts.forEach((opt, i) => opt.loadStateDict(perMember[i], `${path} (member ${i})`));
  } finally {
    for (const state of perMember) for (const t of state.values()) t.dispose();
  }
}

function checkTeam(members: readonly Module[]): number {
  if (members.length < 1) throw new Error('trainEnsemble: members must hold at least one model');
  const counts = members.map((m) => tappedModel(m, 'trainEnsemble').featureLayerCount());
  // Members of one team share an architecture; with mixed ones the common range is used.
  return Math.min(...counts);
}

/**
 * Trains the team jointly on `trainSet` in `run`, resuming from its last committed epoch. The
 * members are updated in place (and returned); their masks are the caller's and stay fixed. For a
 * resumed run to match an uninterrupted one, pass members built the same way (the checkpoint
 * overwrites their weights, not their masks).
 */
export async function trainEnsemble(
  members: Module[],
  trainSet: Dataset,
  s: EnsembleTrainSettings,
  run: RunDir,
  hooks: EnsembleTrainHooks = {},
): Promise<EnsembleTrainResult> {
  checkEnsembleTrainSettings(s, 'trainEnsemble');
  const layerCount = checkTeam(members);
  const gen = new Generator(s.seed);
  const opts = members.map((m) => new SGD(m.parameters(), { lr: s.lrValues[0], momentum: s.momentum, weightDecay: s.weightDecay }));
  const params = opts.flatMap((o) => o.params);
  const schedule = new StagedLR(s.lrValues, s.epochs);
  const history: EnsembleEpochMetrics[] = [];
  const say = (line: string) => {
    run.log(line);
    if (hooks.log) hooks.log(line);
    else process.stderr.write(`${line}\n`);
  };
  const val = hooks.validation;
  const best = val ? new BestEpoch('later') : null;
  let initialValidationPgd: number | undefined;
  // Everything training changes, by name (weights and BN state of every member).
  const teamState = () => new Map(members.flatMap((m, i) => [...m.stateDict()].map(([k, t]): [string, Tensor] => [`member${i}.${k}`, t])));
  // Members (with their masks), optimizer state and the best epoch's members; `step` marks a
  // checkpoint inside the epoch after `epoch`.
  const saveCheckpoint = (epoch: number, extra: Record<string, unknown>, step?: number) => {
    const saved = best?.current ?? null;
    return run.commit(
      epoch,
      [...members.map((_, i) => `member${i}`), 'optimizer', ...(saved ? ['best'] : [])],
      async (paths) => {
        const metadata = { epoch: String(epoch), stage: 'ensemble', ...(step === undefined ? {} : { step: String(step) }) };
        for (const [i, member] of members.entries()) await saveStateDict(paths[`member${i}`], member, { masks: masksOf(member), metadata });
        await saveOptimizers(paths.optimizer, opts);
        if (paths.best) await best!.save(paths.best);
      },
      { ...extra, ...(val ? { best: saved, initialValidationPgd: initialValidationPgd ?? null } : {}) },
      step,
    );
  };
  let start = 0;
  let partial: PartialEnsembleEpoch | undefined;
  let train: GpuDataset | null = null;
  const valData: { set: GpuDataset | null } = { set: null };
  // One random start for every epoch's check, so epochs are compared on the same attack draws.
  const validate = async (): Promise<number> => {
    const set = (valData.set ??= GpuDataset.upload(val!.data));
    const team = staticTeam(members.map((m) => moduleClassifier(m)), val!.combiner);
    const pgdOptions = { attacks: ['pgd'] as const, eps: s.eps, count: val!.size, aaCount: 0, batchSize: s.batchSize, seed: s.seed, pgd: { steps: val!.steps, stepSize: val!.stepSize } };
    return accuracyOf(await withSparseKernels(members, () => evaluateSuite(team, set, pgdOptions)), 'pgd')!;
  };
  try {
    if (run.resumed) {
      for (const [i, m] of members.entries()) {
        const file = run.resumed.files[`member${i}`];
        if (!file) throw new Error(`${run.path}: the checkpoint has no member${i} (the team has ${members.length} members)`);
        const loaded = await loadStateDict(run.file(file), m);
        for (const t of loaded.masks.values()) t.dispose();
      }
      await loadOptimizers(run.file(run.resumed.files.optimizer), opts);
      gen.position = run.resumedNumber('generatorPosition');
      history.push(...((run.resumed.extra.history as EnsembleEpochMetrics[]) ?? []));
      start = run.resumed.epoch;
      partial = run.resumed.extra.partial as PartialEnsembleEpoch | undefined;
      if (best) {
        // Epoch 0 is checked before the first checkpoint, so every checkpoint of a validated run has a best.
        const where = run.file('state.json');
        const saved = checkedBest(run.resumed.extra.best, where);
        const initial = run.resumed.extra.initialValidationPgd;
        if (!saved || !run.resumed.files.best || typeof initial !== 'number')
          throw new Error(`${where}: the checkpoint has no best epoch or no initial validation accuracy, though its run validates; pass --fresh to start over`);
        await best.load(run.file(run.resumed.files.best), saved, teamState());
        initialValidationPgd = initial;
      }
      say(`resumed ${run.path} after epoch ${start}${partial ? ` and ${partial.step} steps of epoch ${start + 1}` : ''}`);
    }
    train = GpuDataset.upload(trainSet);
    if (train.size < s.batchSize)
      throw new Error(`trainEnsemble: batchSize ${s.batchSize} exceeds the ${train.size} training images (the last partial batch is dropped)`);
    const aug = s.augment ? defaultAugmentation(train) : NO_AUGMENTATION;
    const stepsPerEpoch = batchCount(train.size, s.batchSize, true);
    if (best && !run.resumed) {
      initialValidationPgd = await validate();
      best.consider(0, initialValidationPgd, teamState);
      say(`before training: the static team's validation PGD ${(initialValidationPgd * 100).toFixed(2)}% on ${Math.min(val!.size, val!.data.labels.length)} held-out images`);
    }
    for (let epoch = start; epoch < s.epochs; epoch++) {
      const lr = schedule.at(epoch);
      for (const o of opts) o.lr = lr;
      const layer = distillationLayer(s.seed, epoch, layerCount);
      const diversity = diversityAt(s, epoch);
      const t0 = performance.now();
      const resumeAt = epoch === start ? partial : undefined;
      const {
        orders: [sourceOrder, targetOrder],
        orderPosition,
      } = await drawEpochOrders(gen, train.size, 2, resumeAt);
      const first = resumeAt?.step ?? 0;
      const progress = new Progress({
        label: `ensemble epoch ${epoch + 1}/${s.epochs}`,
        total: stepsPerEpoch * s.batchSize,
        unit: 'img',
        initial: first * s.batchSize,
      });
      const sums = resumeAt ? Float64Array.from(resumeAt.sums) : new Float64Array(TERM_NAMES.length);
      let ratio = resumeAt ? (resumeAt.ratio ?? NaN) : NaN;
      const priorSeconds = resumeAt?.seconds ?? 0;
      const clock = new CheckpointClock(hooks.checkpointSeconds);
      const commitPartial = async (b: number): Promise<void> => {
        const p: PartialEnsembleEpoch = {
          step: b,
          seconds: priorSeconds + (performance.now() - t0) / 1000,
          orderPosition,
          sums: Array.from(sums),
          ratio: Number.isFinite(ratio) ? ratio : null,
        };
        await saveCheckpoint(epoch, { generatorPosition: gen.position, history, partial: p }, b);
        run.log(`checkpoint at ensemble epoch ${epoch + 1}, step ${b}/${stepsPerEpoch}; ${processMemoryLine()}`);
        clock.reset();
      };
      for (let b = first; b < stepsPerEpoch; b++) {
        await stopIfAborted(hooks.signal, { clock, completedEpochs: epoch, step: b, first, commit: commitPartial });
        const rows = (order: Int32Array) => order.slice(b * s.batchSize, (b + 1) * s.batchSize);
        // The step's attacks (distillation, PGD per member and against the team) and its training
        // pass (the masks are fixed) on the sparse kernels where they pay (withSparseKernels).
        const terms = await withSparseKernels(members, () => scope(() => {
          const source = makeBatch(train!, rows(sourceOrder), aug, gen);
          const target = makeBatch(train!, rows(targetOrder), aug, gen);
          const t = ensembleLoss(members, source.x, source.y, target.x, { settings: s, layer, diversity, generator: gen });
          const grads = grad(t.total, params, { allowUnused: true });
          let k = 0;
          for (const o of opts) {
            o.step(grads.slice(k, k + o.params.length));
            k += o.params.length;
          }
          return stack(TERM_NAMES.map((n) => detach(t[n])), 0);
        }));
        const v = Array.from(await terms.data());
        terms.dispose();
        if (!v.every(Number.isFinite)) {
          const bad = TERM_NAMES.filter((_, i) => !Number.isFinite(v[i]));
          throw new Error(
            `ensemble training loss became non-finite (${bad.map((n) => `${n} ${v[TERM_NAMES.indexOf(n)]}`).join(', ')}) at epoch ${epoch + 1}, step ${b + 1} (lr ${lr}); the last checkpoint is intact`,
          );
        }
        v.forEach((x, i) => (sums[i] += x));
        const term = (name: (typeof TERM_NAMES)[number]) => v[TERM_NAMES.indexOf(name)];
        if (b === 0) ratio = (s.gamma * term('complexity')) / (term('ce') + s.beta * term('diversity'));
        progress.tick(s.batchSize, `loss ${(sums[0] / (b + 1)).toFixed(4)}`);
        hooks.onStep?.((epoch - start) * stepsPerEpoch + b + 1, (s.epochs - start) * stepsPerEpoch);
        if (b + 1 < stepsPerEpoch && clock.due()) await commitPartial(b + 1);
      }
      const mean = (name: (typeof TERM_NAMES)[number]) => sums[TERM_NAMES.indexOf(name)] / stepsPerEpoch;
      const m: EnsembleEpochMetrics = {
        epoch: epoch + 1,
        lr,
        layer,
        diversity,
        loss: mean('total'),
        ce: mean('ce'),
        diversityLoss: mean('diversity'),
        robust: mean('robust'),
        weightL1: mean('weightL1'),
        activationL1: mean('activationL1'),
        complexity: mean('complexity'),
        activationDensity: mean('activationDensity'),
        complexityRatio: ratio,
        seconds: priorSeconds + (performance.now() - t0) / 1000,
      };
      if (best) {
        m.validationPgd = await validate();
        best.consider(epoch + 1, m.validationPgd, teamState);
      }
      history.push(m);
      const line =
        `epoch ${m.epoch}: loss ${m.loss.toFixed(4)} (CE ${m.ce.toFixed(4)}, ${diversity} ${m.diversityLoss.toFixed(4)}, ` +
        `L_R ${m.robust.toFixed(4)}, L_W ${m.weightL1.toFixed(5)}, L_A ${m.activationL1.toFixed(4)}), layer ${layer}, ` +
        `activation density ${(m.activationDensity * 100).toFixed(1)}%, γ·L_C/L_E ${ratio.toFixed(3)}, ` +
        (m.validationPgd === undefined ? '' : `validation PGD ${(m.validationPgd * 100).toFixed(2)}% (best: epoch ${best!.current!.epoch}), `) +
        `${m.seconds.toFixed(1)} s; ${processMemoryLine()}`;
      say(line);
      // §7: at initialisation γ·L_C should be about 0.1–1× L_E; outside that, rescale λ1, λ2 (not γ).
      if (epoch === 0 && s.gamma > 0 && !(ratio >= COMPLEXITY_RATIO_RANGE[0] && ratio <= COMPLEXITY_RATIO_RANGE[1])) {
        const warning =
          `warning: γ·L_C / L_E = ${ratio.toFixed(3)} at the first step, outside ${COMPLEXITY_RATIO_RANGE[0]}–${COMPLEXITY_RATIO_RANGE[1]} ` +
          `(§7 sanity check); consider rescaling lambda1 (${s.lambda1}) and lambda2 (${s.lambda2}) rather than gamma`;
        say(warning);
      }
      await saveCheckpoint(epoch + 1, { generatorPosition: gen.position, history });
      hooks.onEpoch?.(m);
    }
    const selectedEpoch = best ? (best.restore() ?? s.epochs) : s.epochs;
    if (best && selectedEpoch !== s.epochs)
      say(`kept the members of ${selectedEpoch === 0 ? 'epoch 0 (the team before training)' : `epoch ${selectedEpoch}`}, the best on validation`);
    return { members, history, selectedEpoch, ...(initialValidationPgd === undefined ? {} : { initialValidationPgd }) };
  } finally {
    train?.dispose();
    valData.set?.dispose();
    best?.dispose();
    for (const o of opts) o.dispose();
  }
}

/** The best epoch so far as a checkpoint's state.json records it (none in older ones), or an error naming the file. */
function checkedBest(v: unknown, where: string): BestSoFar | null {
  const best = v === undefined ? null : readBestSoFar(v);
  if (best === undefined) throw new Error(`${where}: extra.best must be { epoch, accuracy } or null, found ${JSON.stringify(v)}; pass --fresh to start over`);
  return best;
}
