// Adversarial pre-training (stage 1 of EED): a resumable epoch loop around adversarialLoss, with a
// checkpoint every epoch (model + optimizer state + generator position, committed atomically) and,
// with hooks.checkpointSeconds, inside epochs (src/training/partialEpoch.ts),
// progress on stderr, a per-epoch evaluation (clean and PGD accuracy on a fixed test subset) and
// a NaN guard that stops with the epoch and step instead of training on garbage.

import { moduleClassifier, predict } from '../attacks/classifier.js';
import { pgd } from '../attacks/pgd.js';
import { batchCount, GpuDataset, makeBatch } from '../data/batches.js';
import { defaultAugmentation, NO_AUGMENTATION } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import { grad, noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import { Tensor } from '../engine/tensor.js';
import { expectFinite, loadStateDict, saveStateDict } from '../io/checkpoint.js';
import { readSafetensors, tensorRecord, toFloat32, writeSafetensors, type TensorRecord } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import { detach } from '../ops/creation.js';
import { eq } from '../ops/elementwise.js';
import { Generator } from '../ops/random.js';
import { sum } from '../ops/reduce.js';
import { cast } from '../ops/creation.js';
import { SGD } from '../optim/sgd.js';
import { CosineAnnealingLR, MultiStepLR, type LrSchedule } from '../optim/schedule.js';
import { Progress } from '../cli/progress.js';
import { adversarialLoss, type TrainingMethod } from './adversarialLoss.js';
import { CheckpointClock, drawEpochOrders, stopIfAborted, type PartialEpoch } from './partialEpoch.js';

export { TrainingInterrupted } from './partialEpoch.js';
import type { RunDir } from './runDir.js';

export interface TrainSettings {
  method: TrainingMethod;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: 'cosine' | 'multistep';
  eps: number;
  stepSize: number;
  attackSteps: number;
  tradesBeta: number;
  martLambda: number;
  augment: boolean;
  seed: number;
  /** Test images used for the per-epoch evaluation (0 = none). */
  evalSize: number;
  evalSteps: number;
  evalStepSize: number;
}

export interface EpochMetrics {
  epoch: number;
  lr: number;
  loss: number;
  /** Training time of the epoch (its steps). */
  seconds: number;
  /** Time of the per-epoch evaluation (absent in runs checkpointed before it was recorded). */
  evalSeconds?: number;
  cleanAccuracy: number | null;
  pgdAccuracy: number | null;
}

export interface TrainHooks {
  /** Checked before every step (Ctrl-C sets it). */
  signal?: { aborted: boolean };
  /** Called after each committed epoch. */
  onEpoch?: (m: EpochMetrics) => void;
  /**
   * Also commit a checkpoint inside an epoch once this many seconds have passed since the last
   * one (0: after every step), and when interrupted mid-epoch; an epoch of PGD training on a CPU
   * adapter takes about an hour. Unset: epoch boundaries only.
   */
  checkpointSeconds?: number;
  /** Called after each step (the tests interrupt mid-epoch with it). */
  onStep?: (epoch: number, step: number) => void;
}

/** A mid-epoch checkpoint of adversarial training. */
interface PartialTrainEpoch extends PartialEpoch {
  lossSum: number;
}

export interface TrainResult {
  model: Module;
  history: EpochMetrics[];
}

function scheduleOf(s: TrainSettings): LrSchedule {
  return s.schedule === 'cosine' ? new CosineAnnealingLR(s.lr, s.epochs) : new MultiStepLR(s.lr, [Math.floor(s.epochs / 2), Math.floor((3 * s.epochs) / 4)]);
}

/** Correct predictions (host number) of `model` on x, for clean or adversarial inputs. */
async function correct(model: Module, x: Tensor, y: Tensor): Promise<number> {
  const hits = noGrad(() => scope(() => sum(eq(cast(predict(moduleClassifier(model), x), 'f32'), cast(y, 'f32')))));
  const n = await hits.item();
  hits.dispose();
  return n;
}

export interface Evaluation {
  clean: number;
  pgd: number;
  count: number;
}

/** Clean and PGD accuracy on the first `count` samples of `data`. */
export async function evaluateRobustness(
  model: Module,
  data: GpuDataset,
  count: number,
  o: { eps: number; stepSize: number; steps: number; batchSize: number; generator: Generator },
): Promise<Evaluation> {
  const n = Math.min(count, data.size);
  let clean = 0;
  let robust = 0;
  for (let b0 = 0; b0 < n; b0 += o.batchSize) {
    const rows = Int32Array.from({ length: Math.min(o.batchSize, n - b0) }, (_, i) => b0 + i);
    const { x, y } = data.gather(rows);
    clean += await correct(model, x, y);
    const xAdv = pgd(moduleClassifier(model), x, y, { eps: o.eps, stepSize: o.stepSize, steps: o.steps, generator: o.generator });
    robust += await correct(model, xAdv, y);
    for (const t of [x, y, xAdv]) t.dispose();
  }
  return { clean: clean / n, pgd: robust / n, count: n };
}

/** SGD momentum buffers to a safetensors file (the pruning stage's run directory uses it too). */
export async function saveOptimizer(path: string, opt: SGD): Promise<void> {
  await writeSafetensors(path, await momentumRecords(opt), { format: 'eed-sgd', lr: String(opt.lr) });
}

/** The optimizer's momentum buffers as file records named `prefix` + key (finite values only). */
export async function momentumRecords(opt: SGD, prefix = ''): Promise<[string, TensorRecord][]> {
  const records: [string, TensorRecord][] = [];
  for (const [k, t] of opt.stateDict()) {
    const values = (await t.data()) as Float32Array;
    expectFinite(values, `saveOptimizer: '${prefix}${k}'`);
    records.push([prefix + k, tensorRecord(values, t.shape)]);
  }
  return records;
}

/** A momentum buffer read from optimizer file `path` (finite values only). */
export function momentumTensor(path: string, key: string, rec: TensorRecord): Tensor {
  const values = toFloat32(rec, `${path}: ${key}`);
  expectFinite(values, `${path}: '${key}'`);
  return Tensor.fromArray(values, rec.shape);
}

export async function loadOptimizer(path: string, opt: SGD): Promise<void> {
  const file = await readSafetensors(path);
  const state = new Map<string, Tensor>();
  try {
    for (const [k, rec] of file.tensors) state.set(k, momentumTensor(path, k, rec));
    opt.loadStateDict(state, path);
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

/**
 * Trains `model` on `train` (and evaluates on `test`) in `run`, resuming from its last committed
 * epoch. The model's initial weights must come from the same seed for a resumed run to be
 * identical to an uninterrupted one (they are overwritten by the checkpoint anyway).
 */
export async function trainAdversarially(
  model: Module,
  trainSet: Dataset,
  testSet: Dataset | null,
  s: TrainSettings,
  run: RunDir,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const gen = new Generator(s.seed);
  const evalGen = new Generator(s.seed).fork(1);
  const opt = new SGD(model.parameters(), { lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay });
  const schedule = scheduleOf(s);
  const history: EpochMetrics[] = [];
  let start = 0;
  let partial: PartialTrainEpoch | undefined;
  if (run.resumed) {
    await loadStateDict(run.file(run.resumed.files.model), model);
    await loadOptimizer(run.file(run.resumed.files.optimizer), opt);
    gen.position = run.resumedNumber('generatorPosition');
    evalGen.position = run.resumedNumber('evalGeneratorPosition');
    history.push(...((run.resumed.extra.history as EpochMetrics[]) ?? []));
    start = run.resumed.epoch;
    partial = run.resumed.extra.partial as PartialTrainEpoch | undefined;
    const where = partial ? `epoch ${start} and ${partial.step} steps of epoch ${start + 1}` : `epoch ${start}`;
    run.log(`resumed after ${where}`);
    process.stderr.write(`resuming ${run.path} after ${where}\n`);
  }
  const train = GpuDataset.upload(trainSet);
  const test = testSet && s.evalSize > 0 ? GpuDataset.upload(testSet) : null;
  const aug = s.augment ? defaultAugmentation(train) : NO_AUGMENTATION;
  try {
    for (let epoch = start; epoch < s.epochs; epoch++) {
      opt.lr = schedule.at(epoch);
      const t0 = performance.now();
      const resumeAt = epoch === start ? partial : undefined;
      const {
        orders: [order],
        orderPosition,
      } = await drawEpochOrders(gen, train.size, 1, resumeAt);
      const steps = batchCount(order.length, s.batchSize, true);
      const first = resumeAt?.step ?? 0;
      const progress = new Progress({ label: `epoch ${epoch + 1}/${s.epochs}`, total: steps * s.batchSize, unit: 'img', initial: first * s.batchSize });
      let lossSum = resumeAt?.lossSum ?? 0;
      const priorSeconds = resumeAt?.seconds ?? 0;
      const clock = new CheckpointClock(hooks.checkpointSeconds);
      const commitPartial = async (b: number): Promise<void> => {
        const p: PartialTrainEpoch = { step: b, lossSum, seconds: priorSeconds + (performance.now() - t0) / 1000, orderPosition };
        await run.commit(
          epoch,
          ['model', 'optimizer'],
          async (paths) => {
            await saveStateDict(paths.model, model, { metadata: { epoch: String(epoch), step: String(b), method: s.method } });
            await saveOptimizer(paths.optimizer, opt);
          },
          { generatorPosition: gen.position, evalGeneratorPosition: evalGen.position, history, partial: p },
          b,
        );
        run.log(`checkpoint at epoch ${epoch + 1}, step ${b}/${steps}`);
        clock.reset();
      };
      for (let b = first; b < steps; b++) {
        await stopIfAborted(hooks.signal, { clock, completedEpochs: epoch, step: b, first, commit: commitPartial });
        const rows = order.slice(b * s.batchSize, (b + 1) * s.batchSize);
        const loss = scope(() => {
          const batch = makeBatch(train, rows, aug, gen);
          const l = adversarialLoss(model, batch.x, batch.y, {
            method: s.method,
            eps: s.eps,
            stepSize: s.stepSize,
            steps: s.attackSteps,
            tradesBeta: s.tradesBeta,
            martLambda: s.martLambda,
            generator: gen,
          });
          opt.step(grad(l, opt.params));
          return detach(l);
        });
        const v = await loss.item();
        loss.dispose();
        if (!Number.isFinite(v))
          throw new Error(`training loss became ${v} at epoch ${epoch + 1}, step ${b + 1} (lr ${opt.lr}); the last checkpoint is intact`);
        lossSum += v;
        progress.tick(s.batchSize, `loss ${(lossSum / (b + 1)).toFixed(4)}`);
        hooks.onStep?.(epoch + 1, b + 1);
        if (b + 1 < steps && clock.due()) await commitPartial(b + 1);
      }
      const seconds = priorSeconds + (performance.now() - t0) / 1000;
      let ev: Evaluation | null = null;
      const e0 = performance.now();
      if (test)
        ev = await evaluateRobustness(model, test, s.evalSize, {
          eps: s.eps,
          stepSize: s.evalStepSize,
          steps: s.evalSteps,
          batchSize: s.batchSize,
          generator: evalGen,
        });
      const m: EpochMetrics = {
        epoch: epoch + 1,
        lr: opt.lr,
        loss: lossSum / Math.max(1, steps),
        seconds,
        evalSeconds: (performance.now() - e0) / 1000,
        cleanAccuracy: ev?.clean ?? null,
        pgdAccuracy: ev?.pgd ?? null,
      };
      history.push(m);
      const line = `epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, ${seconds.toFixed(1)} s` + (ev ? `, clean ${(ev.clean * 100).toFixed(2)}%, PGD-${s.evalSteps} ${(ev.pgd * 100).toFixed(2)}% on ${ev.count} test images (${m.evalSeconds!.toFixed(1)} s)` : '');
      run.log(line);
      process.stderr.write(`${line}\n`);
      await run.commit(
        epoch + 1,
        ['model', 'optimizer'],
        async (paths) => {
          await saveStateDict(paths.model, model, { metadata: { epoch: String(epoch + 1), method: s.method } });
          await saveOptimizer(paths.optimizer, opt);
        },
        { generatorPosition: gen.position, evalGeneratorPosition: evalGen.position, history },
      );
      hooks.onEpoch?.(m);
    }
  } finally {
    train.dispose();
    test?.dispose();
    opt.dispose();
  }
  return { model, history };
}
