// `eed train`: adversarial pre-training (Madry, TRADES, MART, or clean) of a model on a dataset,
// in a resumable run directory.

import { adapterString } from '../engine/device.js';
import { init, runtime, shutdown } from '../engine/engine.js';
import { DATASET_NAMES, loadDatasetByName, type DatasetName } from '../data/byName.js';
import { selectSamples } from '../data/dataset.js';
import { HostRandom } from '../data/hostRandom.js';
import { saveStateDict } from '../io/checkpoint.js';
import { Generator } from '../ops/random.js';
import { buildModel, MODEL_NAMES, type ModelName } from '../training/models.js';
import { RunDir } from '../training/runDir.js';
import { trainAdversarially, TrainingInterrupted, type TrainSettings } from '../training/trainer.js';
import type { TrainingMethod } from '../training/adversarialLoss.js';
import { onInterrupt } from './interrupt.js';
import { optionHelp, resolveOptions, type OptionTable, type Resolved } from './options.js';

export const TRAIN_OPTIONS = {
  dataset: { type: 'enum', values: DATASET_NAMES, default: 'fashion-mnist', help: 'dataset' },
  data: { type: 'string', default: '', help: 'dataset folder (Fashion-MNIST defaults to the Debian package path)' },
  model: { type: 'enum', values: MODEL_NAMES, default: 'smallcnn', help: 'architecture' },
  width: { type: 'number', default: 1, min: 0.01, help: 'channel width multiplier' },
  method: { type: 'enum', values: ['madry', 'trades', 'mart', 'clean'], default: 'madry', help: 'training method' },
  epochs: { type: 'number', default: 5, min: 1, integer: true, help: 'epochs' },
  batchSize: { type: 'number', default: 128, min: 1, integer: true, help: 'mini-batch size' },
  lr: { type: 'number', default: 0.05, min: 0, help: 'initial learning rate' },
  schedule: { type: 'enum', values: ['cosine', 'multistep'], default: 'cosine', help: 'learning-rate schedule' },
  momentum: { type: 'number', default: 0.9, min: 0, max: 1, help: 'SGD momentum' },
  weightDecay: { type: 'number', default: 5e-4, min: 0, help: 'weight decay' },
  eps: { type: 'number', default: 0.1, min: 0, max: 1, help: 'ℓ∞ radius of training and evaluation attacks' },
  stepSize: { type: 'number', default: 0.025, min: 0, help: 'step of the training attack' },
  attackSteps: { type: 'number', default: 7, min: 0, integer: true, help: 'steps of the training attack' },
  tradesBeta: { type: 'number', default: 6, min: 0, help: 'TRADES β' },
  martLambda: { type: 'number', default: 5, min: 0, help: 'MART λ' },
  augment: { type: 'boolean', default: true, help: 'crop/flip augmentation where the dataset calls for it (32×32 colour)' },
  trainSize: { type: 'number', default: 0, min: 0, integer: true, help: 'train on a random subset of this many images (0: all)' },
  evalSize: { type: 'number', default: 1000, min: 0, integer: true, help: 'test images evaluated after each epoch' },
  evalSteps: { type: 'number', default: 20, min: 0, integer: true, help: 'PGD steps of the per-epoch evaluation' },
  evalStepSize: { type: 'number', default: 0.01, min: 0, help: 'PGD step of the per-epoch evaluation' },
  seed: { type: 'number', default: 0, min: 0, max: 2 ** 31 - 1, integer: true, help: 'seed of every random choice' },
  out: { type: 'string', default: 'runs/train', help: 'run directory (rerunning the same command resumes it)' },
  fresh: { type: 'boolean', default: false, help: 'discard an existing run directory instead of resuming' },
  checkpointMinutes: { type: 'number', default: 10, min: 0, help: 'also checkpoint inside an epoch this often (0: every step)' },
} satisfies OptionTable;

type TrainConfig = Resolved<typeof TRAIN_OPTIONS>;

export const TRAIN_PRESETS: Record<string, Partial<TrainConfig>> = {
  // Issue 5's Fashion-MNIST recipe: ε = 0.1, PGD-7 (step 0.025) for training, PGD-20 (0.01) to evaluate.
  'fmnist-smallcnn': {
    dataset: 'fashion-mnist', model: 'smallcnn', method: 'madry', epochs: 5, batchSize: 128, lr: 0.05, schedule: 'cosine',
    weightDecay: 5e-4, eps: 0.1, stepSize: 0.025, attackSteps: 7, evalSteps: 20, evalStepSize: 0.01, evalSize: 2000,
    out: 'runs/fmnist-smallcnn',
  },
  // About a quarter of an hour on a CPU adapter: a 3,000-image subset, PGD-3 training, 500
  // evaluation images.
  quick: {
    dataset: 'fashion-mnist', model: 'smallcnn', method: 'madry', epochs: 2, batchSize: 128, lr: 0.05, eps: 0.1,
    stepSize: 0.04, attackSteps: 3, trainSize: 3000, evalSize: 500, evalSteps: 10, evalStepSize: 0.02, out: 'runs/quick-train',
  },
};

export const TRAIN_HELP = `Usage: eed train [--preset NAME] [--config FILE.json] [options]

Adversarially pre-trains a model (stage 1 of EED) in a run directory holding the resolved config,
a log, per-epoch checkpoints, the final weights (model.safetensors, PyTorch state_dict names) and
report.json. Interrupting it (Ctrl-C) keeps the last finished epoch; rerunning the same command
resumes from there.

Presets: ${Object.keys(TRAIN_PRESETS).join(', ')}

Options:
${optionHelp(TRAIN_OPTIONS)}`;

export async function trainCommand(argv: string[]): Promise<number> {
  const { config, help } = resolveOptions('train', TRAIN_OPTIONS, TRAIN_PRESETS, argv);
  if (help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  await init();
  const adapter = adapterString(runtime().adapterInfo);
  process.stderr.write(`eed train: ${config.method} on ${config.dataset} (${config.model}), adapter ${adapter}\n`);
  let trainSet = await loadDatasetByName(config.dataset as DatasetName, 'train', config.data);
  const testSet = await loadDatasetByName(config.dataset as DatasetName, 'test', config.data);
  if (config.trainSize > 0 && config.trainSize < trainSet.labels.length) {
    const order = new HostRandom(config.seed, 17).shuffle(Int32Array.from({ length: trainSet.labels.length }, (_, i) => i));
    trainSet = selectSamples(trainSet, order.slice(0, config.trainSize), `${trainSet.name} (${config.trainSize} images)`);
  }
  // Opened once the data has loaded: a mistyped --data must not record a config that the
  // corrected command would then be refused for. Neither of the two left out changes the result,
  // so a run may resume with other values.
  const { fresh, checkpointMinutes, ...recorded } = config;
  const run = await RunDir.open(config.out, recorded, { fresh });
  const model = buildModel(config.model as ModelName, {
    width: config.width,
    inChannels: trainSet.shape[0],
    numClasses: trainSet.classes,
    imageSize: trainSet.shape[1],
    generator: new Generator(config.seed).fork(99),
  });
  const settings: TrainSettings = { ...config, method: config.method as TrainingMethod, schedule: config.schedule as 'cosine' | 'multistep' };
  const t0 = performance.now();
  // Ctrl-C stops at the next step; the last finished epoch stays committed.
  const { signal, release } = onInterrupt();
  let result;
  try {
    result = await trainAdversarially(model, trainSet, testSet, settings, run, { signal, checkpointSeconds: checkpointMinutes * 60 });
  } catch (e) {
    if (e instanceof TrainingInterrupted) {
      console.error(`eed train: ${e.message}`);
      shutdown();
      return 130;
    }
    throw e;
  } finally {
    release();
  }
  await saveStateDict(run.file('model.safetensors'), model, { metadata: { method: config.method, dataset: config.dataset } });
  const last = result.history[result.history.length - 1];
  await run.writeJson('report.json', {
    command: `eed train ${argv.join(' ')}`.trim(),
    adapter,
    config: recorded,
    parameters: model.numParameters(),
    history: result.history,
    secondsPerEpoch: result.history.map((h) => h.seconds),
    evalSecondsPerEpoch: result.history.map((h) => h.evalSeconds ?? null),
    final: last,
    wallSeconds: (performance.now() - t0) / 1000,
  });
  console.log(
    `done: ${result.history.length} epochs; ` +
      (last?.cleanAccuracy !== null && last ? `clean ${(last.cleanAccuracy * 100).toFixed(2)}%, PGD-${config.evalSteps} ${((last.pgdAccuracy ?? 0) * 100).toFixed(2)}%; ` : '') +
      `weights in ${run.file('model.safetensors')}, report in ${run.file('report.json')}`,
  );
  model.dispose();
  shutdown();
  return 0;
}
