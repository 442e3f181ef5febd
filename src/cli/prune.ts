// `eed prune`: the pruning stage of one EED sub-model (algorithms.md §1 stage 1, §4, §5): score a
// pre-trained checkpoint with one importance metric on one EED data subset, HARP-prune it, fine-tune
// it with fixed masks, and write the pruned weights with their masks and layer rates, in a
// resumable run directory.

import { existsSync, statSync } from 'node:fs';
import { adapterString } from '../engine/device.js';
import { init, runtime, shutdown } from '../engine/engine.js';
import { DATASET_NAMES, loadDatasetByName, type DatasetName } from '../data/byName.js';
import { selectSamples } from '../data/dataset.js';
import { eedSubsets } from '../data/subsets.js';
import { loadStateDict } from '../io/checkpoint.js';
import { Generator } from '../ops/random.js';
import { KEEP_BUDGET_RULES, pruneAdversarially, savePrunedModel, type KeepBudgetRule, type PruneSettings, type RobustMethod } from '../pruning/prune.js';
import { IMPORTANCE_SCORES, type ImportanceScore } from '../pruning/scores.js';
import type { NisFrl } from '../pruning/nis.js';
import { buildModel, MODEL_NAMES, type ModelName } from '../training/models.js';
import { adoptAddedSettings, recordAsBefore } from '../training/addedSettings.js';
import { RunDir } from '../training/runDir.js';
import { TrainingInterrupted } from '../training/trainer.js';
import { onInterrupt } from './interrupt.js';
import { optionHelp, resolveOptions, type OptionTable, type Resolved } from './options.js';

export const PRUNE_OPTIONS = {
  checkpoint: { type: 'string', default: '', help: 'pre-trained dense model (safetensors from eed train); required' },
  dataset: { type: 'enum', values: DATASET_NAMES, default: 'fashion-mnist', help: 'dataset' },
  data: { type: 'string', default: '', help: 'dataset folder (Fashion-MNIST defaults to the Debian package path)' },
  model: { type: 'enum', values: MODEL_NAMES, default: 'smallcnn', help: 'architecture of the checkpoint' },
  width: { type: 'number', default: 1, min: 0.01, help: 'channel width multiplier of the checkpoint' },
  score: { type: 'enum', values: IMPORTANCE_SCORES, default: 'erm', help: 'importance score of the initial masks' },
  sparsity: { type: 'number', default: 0.95, min: 0, max: 0.999, help: 'compression c_r: fraction of conv/linear weights pruned' },
  subset: { type: 'number', default: 1, min: 1, integer: true, help: "sub-model s of the metric: trains on C0 ∪ Cs (1..chunks−1)" },
  chunks: { type: 'number', default: 4, min: 1, integer: true, help: 'EED subset count d' },
  heldOut: { type: 'number', default: 1000, min: 0, integer: true, help: 'training images held out before chunking (the validation split of the best-epoch choice)' },
  validationSteps: { type: 'number', default: 10, min: 0, integer: true, help: 'PGD steps of the best-epoch criterion on the held-out split' },
  validationStepSize: { type: 'number', default: 0.025, min: 0, help: 'PGD step of the best-epoch criterion' },
  pruneEpochs: { type: 'number', default: 20, min: 0, integer: true, help: 'HARP pruning epochs' },
  finetuneEpochs: { type: 'number', default: 40, min: 0, integer: true, help: 'fine-tuning epochs with fixed masks' },
  batchSize: { type: 'number', default: 128, min: 1, integer: true, help: 'mini-batch size' },
  pruneLr: { type: 'number', default: 0.1, min: 0, help: 'learning rate of scores and rates (cosine)' },
  finetuneLr: { type: 'number', default: 0.01, min: 0, help: 'fine-tuning learning rate (the first stage)' },
  finetuneLrStages: { type: 'number', default: 2, min: 1, max: 5, integer: true, help: 'equal fine-tuning stages, each at lr/5 of the one before (3 for SVHN)' },
  momentum: { type: 'number', default: 0.9, min: 0, max: 1, help: 'SGD momentum' },
  weightDecay: { type: 'number', default: 5e-4, min: 0, help: 'weight decay (scores and rates included)' },
  phi: { type: 'number', default: 0.01, min: 0, help: 'compression-loss weight φ (φ_e = (e+1)·φ)' },
  alphaMin: { type: 'number', default: 0.1, min: 0, max: 1, help: 'k_min = alphaMin·(1 − sparsity)' },
  keepBudgetRule: { type: 'enum', values: KEEP_BUDGET_RULES, default: 'scale', help: 'safety net when HARP ends above the budget: scale every keep rate by one factor ([X], ours) or shift every rate logit (the spec)' },
  eps: { type: 'number', default: 0.1, min: 0, max: 1, help: 'ℓ∞ radius of the training attack' },
  stepSize: { type: 'number', default: 0.025, min: 0, help: 'step of the training attack' },
  attackSteps: { type: 'number', default: 7, min: 0, integer: true, help: 'steps of the training attack' },
  method: { type: 'enum', values: ['madry', 'trades', 'mart'], default: 'madry', help: 'robust loss while pruning and fine-tuning (eq. 5: Madry, or the TRADES/MART variant)' },
  scoreSamples: { type: 'number', default: 5000, min: 1, integer: true, help: 'images scored by NIS (FRL) and ASE' },
  nisFrl: { type: 'enum', values: ['inffs', 'uniform'], default: 'inffs', help: 'NIS final-response-layer importance' },
  augment: { type: 'boolean', default: true, help: 'crop/flip augmentation where the dataset calls for it' },
  seed: { type: 'number', default: 0, min: 0, max: 2 ** 31 - 1, integer: true, help: 'seed of the subsets and every random choice' },
  out: { type: 'string', default: 'runs/prune', help: 'run directory (model.safetensors with masks, report.json); rerunning the same command resumes it' },
  fresh: { type: 'boolean', default: false, help: 'discard an existing run directory instead of resuming' },
  checkpointMinutes: { type: 'number', default: 10, min: 0, help: 'also checkpoint inside an epoch this often (0: every step)' },
} satisfies OptionTable;

type PruneConfig = Resolved<typeof PRUNE_OPTIONS>;

export const PRUNE_PRESETS: Record<string, Partial<PruneConfig>> = {
  // Issue 6's acceptance: a sub-model at 80% from the Fashion-MNIST AT checkpoint of
  // `eed train --preset fmnist-smallcnn`, with the training attack of that preset. Two epochs of
  // HARP and two of fine-tuning on C0 ∪ Ck (about 29,000 images): about 100 minutes per score on
  // a 2-core CPU adapter. Pass --score and --out (tools/acceptance.sh runs all four).
  'fmnist-smallcnn-80': {
    checkpoint: 'runs/fmnist-smallcnn/model.safetensors',
    dataset: 'fashion-mnist',
    model: 'smallcnn',
    sparsity: 0.8,
    chunks: 4,
    subset: 1,
    pruneEpochs: 2,
    finetuneEpochs: 2,
    eps: 0.1,
    stepSize: 0.025,
    attackSteps: 7,
  },
};

export const PRUNE_HELP = `Usage: eed prune --checkpoint FILE [--score nis|erm|ase|bnsf] [--sparsity s] [--subset k] [options]

Prunes one EED sub-model: scores the checkpoint with the chosen metric on the metric's subset
C0 ∪ Ck, learns per-layer masks and rates with HARP under Madry adversarial training, fine-tunes the
kept weights with the masks fixed, and writes model.safetensors (pruned weights, '<param>.mask'
tensors, layer keep-rates in the metadata) and report.json to --out. --out is a run directory with
a checkpoint after every epoch: interrupting it (Ctrl-C) keeps the last finished epoch, and
rerunning the same command resumes from there.

Presets: ${Object.keys(PRUNE_PRESETS).join(', ')}

Options:
${optionHelp(PRUNE_OPTIONS)}`;

/** Settings added after prune folders already existed (training/addedSettings.ts). */
const PRUNE_ADDED_SETTINGS: Partial<Resolved<typeof PRUNE_OPTIONS>> = {
  // Before 28 November the safety net shifted every rate logit (the spec's rule).
  keepBudgetRule: 'shift',
};

export async function pruneCommand(argv: string[]): Promise<number> {
  const { config, help, explicit } = resolveOptions('prune', PRUNE_OPTIONS, PRUNE_PRESETS, argv);
  if (help) {
    console.log(PRUNE_HELP);
    return 0;
  }
  if (!config.checkpoint) throw new Error('--checkpoint is required (a model.safetensors written by eed train)');
  // Before the run directory exists: a mistyped path must not leave a run that the corrected
  // command (same --out, another checkpoint) would then refuse as a different config.
  if (!existsSync(config.checkpoint) || !statSync(config.checkpoint).isFile())
    throw new Error(`--checkpoint ${config.checkpoint}: no such file (expected a model.safetensors written by eed train)`);
  await init();
  const adapter = adapterString(runtime().adapterInfo);
  const score = config.score as ImportanceScore;
  process.stderr.write(`eed prune: ${score} at sparsity ${config.sparsity} on ${config.dataset} (${config.model}), adapter ${adapter}\n`);
  const trainSet = await loadDatasetByName(config.dataset as DatasetName, 'train', config.data);
  const subsets = eedSubsets({ trainSize: trainSet.labels.length, seed: config.seed, chunks: config.chunks, heldOut: config.heldOut });
  const metric = subsets.metrics.find((m) => m.metric === score.toUpperCase());
  if (!metric) throw new Error(`no subsets for metric ${score}`);
  if (config.subset > metric.subModels.length)
    throw new Error(`--subset ${config.subset}: the metric has ${metric.subModels.length} sub-model subset(s) with --chunks ${config.chunks}`);
  const indices = metric.subModels[config.subset - 1];
  const subset = selectSamples(trainSet, indices, `${trainSet.name} (${score} subset ${config.subset}, ${indices.length} images)`);

  const model = buildModel(config.model as ModelName, {
    width: config.width,
    inChannels: trainSet.shape[0],
    numClasses: trainSet.classes,
    imageSize: trainSet.shape[1],
    generator: new Generator(config.seed).fork(99),
  });
  // The run directory is opened once every check has passed and the checkpoint has loaded (see
  // --checkpoint above). Neither of the two left out changes the result, so a run may resume with
  // other values.
  const earlier = config.fresh ? null : RunDir.recordedConfig(config.out);
  const resumed = adoptAddedSettings(config, earlier, PRUNE_ADDED_SETTINGS, (k) => PRUNE_OPTIONS[k as keyof typeof PRUNE_OPTIONS].default, explicit);
  const { fresh, checkpointMinutes, ...rest } = resumed.config;
  const recorded = recordAsBefore(rest, earlier, PRUNE_ADDED_SETTINGS);
  let run: RunDir;
  try {
    const loaded = await loadStateDict(config.checkpoint, model);
    for (const m of loaded.masks.values()) m.dispose();
    run = await RunDir.open(config.out, recorded, { fresh });
    if (resumed.adopted.length) process.stderr.write(`${config.out}: a run from before this setting existed; it goes on as it ran: ${resumed.adopted.join(', ')}\n`);
  } catch (e) {
    model.dispose();
    throw e;
  }

  const settings: PruneSettings = {
    ...rest,
    score,
    keepFraction: 1 - config.sparsity,
    nisFrl: config.nisFrl as NisFrl,
    method: config.method as RobustMethod,
    keepBudget: rest.keepBudgetRule as KeepBudgetRule,
  };
  const t0 = performance.now();
  const validation =
    subsets.heldOut.length > 0
      ? {
          data: selectSamples(trainSet, subsets.heldOut, `${trainSet.name} (held out)`),
          size: subsets.heldOut.length,
          steps: config.validationSteps,
          stepSize: config.validationStepSize,
        }
      : undefined;
  if (run.resumed) process.stderr.write(`resuming ${run.path} after epoch ${run.resumed.epoch} of ${config.pruneEpochs + config.finetuneEpochs}\n`);
  // Ctrl-C stops at the next step; the last finished epoch stays committed.
  const { signal, release } = onInterrupt();
  let result;
  try {
    result = await pruneAdversarially(model, subset, settings, {
      validation,
      run,
      signal,
      checkpointSeconds: checkpointMinutes * 60,
      onEpoch: (m) =>
        process.stderr.write(
          `${m.stage} epoch ${m.epoch}: loss ${m.loss.toFixed(4)}` +
            (m.compressionLoss !== null ? `, L_p ${m.compressionLoss.toFixed(4)} (φ ${m.phi})` : '') +
            (m.validationPgd !== null ? `, held-out PGD ${(m.validationPgd * 100).toFixed(2)}%` : '') +
            `, kept ${m.kept}, ${m.seconds.toFixed(1)} s\n`,
        ),
    });
  } catch (e) {
    if (e instanceof TrainingInterrupted) {
      console.error(`eed prune: ${e.message}`);
      model.dispose();
      shutdown();
      return 130;
    }
    throw e;
  } finally {
    release();
  }
  const modelPath = run.file('model.safetensors');
  await savePrunedModel(modelPath, result, { score, dataset: config.dataset, subset: String(config.subset), sparsity: String(config.sparsity) });
  const count = await result.model.countNonZero();
  await run.writeJson('report.json', {
    command: `eed prune ${argv.join(' ')}`.trim(),
    adapter,
    config: recorded,
    subsetSize: indices.length,
    nonZero: count,
    sparsity: 1 - count.prunableNonZero / count.prunableTotal,
    layerKeepRates: Object.fromEntries(result.layerKeepRates),
    selectedEpochs: result.selectedEpochs,
    history: result.history,
    wallSeconds: (performance.now() - t0) / 1000,
  });
  console.log(
    `done: ${count.prunableNonZero} of ${count.prunableTotal} prunable weights kept ` +
      `(sparsity ${((1 - count.prunableNonZero / count.prunableTotal) * 100).toFixed(2)}%); weights and masks in ${modelPath}`,
  );
  result.model.dispose();
  shutdown();
  return 0;
}
