// What every pipeline stage shares: the resolved config, the run directory, the data (the
// training subset, the held-out split, the EED subsets of §1) and the architecture. Opening a
// run directory twice with a different config is refused, except for the settings of the
// evaluation stage, which is recomputed whenever it runs and so may change between runs.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { loadDatasetByName, type DatasetName } from '../data/byName.js';
import { selectSamples, type Dataset } from '../data/dataset.js';
import { HostRandom } from '../data/hostRandom.js';
import { eedSubsets, type EedSubsets } from '../data/subsets.js';
import { GpuDataset } from '../data/batches.js';
import type { Tensor } from '../engine/tensor.js';
import { adapterString } from '../engine/device.js';
import { runtime } from '../engine/engine.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { ArchitectureSpec } from '../ensemble/subModel.js';
import type { ModelName } from '../training/models.js';
import { RunDir } from '../training/runDir.js';
import { adoptAddedSettings, recordAsBefore } from '../training/addedSettings.js';
import { datasetDigest } from '../data/datasetDigest.js';
import { checkPipelineConfig, PIPELINE_OPTIONS, type PipelineConfig } from './config.js';

/** Settings that only the evaluation stage reads: changing them never invalidates earlier stages. */
export const EVALUATION_KEYS: readonly (keyof PipelineConfig)[] = [
  'evalCount', 'aaCount', 'evalSteps', 'evalStepSize', 'evalAttacks', 'singleAttacks', 'speedRepeats',
  'sweep', 'data', 'out',
];

export interface PipelineContext {
  config: PipelineConfig;
  run: RunDir;
  /** The training images every stage draws from (a random subset with trainSize). */
  train: Dataset;
  test: Dataset;
  /** Held-out split and per-metric subsets, as indices into `train`. */
  subsets: EedSubsets;
  architecture: ArchitectureSpec;
  adapter: string;
  /** Set by Ctrl-C; stages stop at their next step and keep what is committed. */
  signal: { aborted: boolean };
  /** A line to stderr and the run's log. */
  log(line: string): void;
}

/** The pipeline's settings added after run folders already existed (training/addedSettings.ts). */
export const ADDED_SETTINGS: Partial<PipelineConfig> = {
  // Before 27 November every pool member could join a team (the spec's rule).
  rdAccuracyGap: 1,
  // Before 28 November the safety net shifted every rate logit (the spec's rule).
  keepBudgetRule: 'shift',
  // Until the evening of 27 November ensemble training ended with its last epoch (the spec's).
  ensembleValidation: false,
};

function recordedConfig(config: PipelineConfig, train: Dataset, existing: Record<string, unknown> | null): Record<string, unknown> {
  const out = recordAsBefore(
    Object.fromEntries(Object.entries(config).filter(([k]) => !EVALUATION_KEYS.includes(k as keyof PipelineConfig))),
    existing,
    ADDED_SETTINGS,
  );
  // The training images by content: --data (not recorded) may point at another copy of the same
  // files, but different data must not resume stages trained on the old.
  out.trainingData = datasetDigest(train);
  // The base by its content, not its path: a base retrained into the same file must not resume
  // the stages derived from the old one, and the same file reached by another path may.
  if (config.baseCheckpoint) out.baseCheckpoint = `sha256:${createHash('sha256').update(readFileSync(config.baseCheckpoint)).digest('hex')}`;
  return out;
}

/** Opens (or resumes) the run directory and loads the data; the engine must be initialised. */
export async function openPipeline(
  config: PipelineConfig,
  opts: { fresh?: boolean; signal?: { aborted: boolean }; /** Keys the command set (resolveOptions' `explicit`): never replaced by a folder's older value. */ explicit?: ReadonlySet<string> } = {},
): Promise<PipelineContext> {
  checkPipelineConfig(config);
  // Every check that can refuse the settings runs before the run directory records them, so a
  // corrected command is not then refused as 'a run with a different config'.
  const dataset = config.dataset as DatasetName;
  let train = await loadDatasetByName(dataset, 'train', config.data);
  const test = await loadDatasetByName(dataset, 'test', config.data);
  if (config.trainSize > 0 && config.trainSize < train.labels.length) {
    const order = new HostRandom(config.seed, 17).shuffle(Int32Array.from({ length: train.labels.length }, (_, i) => i));
    train = selectSamples(train, order.slice(0, config.trainSize), `${train.name} (${config.trainSize} images)`);
  }
  if (config.heldOut >= train.labels.length)
    throw new Error(`option 'heldOut' (${config.heldOut}) must be smaller than the ${train.labels.length} training images`);
  const subsets = eedSubsets({ trainSize: train.labels.length, seed: config.seed, chunks: config.chunks, heldOut: config.heldOut });
  const existing = opts.fresh ? null : RunDir.recordedConfig(config.out);
  const resumed = adoptAddedSettings(config, existing, ADDED_SETTINGS, (k) => PIPELINE_OPTIONS[k as keyof PipelineConfig].default, opts.explicit);
  const adopted = resumed.adopted;
  config = resumed.config;
  const run = await RunDir.open(config.out, recordedConfig(config, train, existing), opts);
  // The full config of the latest invocation, evaluation settings included, for the report.
  await writeFileAtomic(join(config.out, 'invocation.json'), new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
  const architecture: ArchitectureSpec = { model: config.model as ModelName, width: config.width, inChannels: train.shape[0], numClasses: train.classes, imageSize: train.shape[1] };
  const log = (line: string) => {
    process.stderr.write(`${line}\n`);
    run.log(line);
  };
  if (adopted.length) log(`${config.out}: a run from before ${adopted.length > 1 ? 'these settings' : 'this setting'} existed; it goes on as it ran: ${adopted.join(', ')}`);
  return { config, run, train, test, subsets, architecture, adapter: adapterString(runtime().adapterInfo), signal: opts.signal ?? { aborted: false }, log };
}

/**
 * A file of the run as stage reports store it: relative to the run directory, so a run that was
 * moved (or is reached by another path) still finds its own files, never another run's.
 */
export function runRelative(ctx: PipelineContext, path: string): string {
  return relative(ctx.config.out, path);
}

/** A path from a stage report back to a usable one (runs before runRelative stored paths as given). */
export function resolveInRun(ctx: PipelineContext, stored: string): string {
  if (isAbsolute(stored)) return stored;
  const inRun = join(ctx.config.out, stored);
  return existsSync(inRun) || !existsSync(stored) ? inRun : stored;
}

/**
 * What a resumable stage cost over all its invocations: the epochs' own times (earlier
 * invocations' included) plus what this invocation spent outside the training call, and never
 * less than this invocation's wall time (the training call also does work no epoch records, such
 * as computing importance scores, which an earlier invocation's share of then goes uncounted).
 */
export function stageSeconds(history: readonly { seconds: number }[], invocationSeconds: number, trainingSeconds: number): number {
  const epochs = history.reduce((sum, h) => sum + h.seconds, 0);
  return Math.max(invocationSeconds, epochs + Math.max(0, invocationSeconds - trainingSeconds));
}

/** The held-out split (§6: team selection, best epochs, DIE calibration) as a dataset. */
export function heldOutSet(ctx: PipelineContext): Dataset {
  return selectSamples(ctx.train, ctx.subsets.heldOut, `${ctx.train.name} (held out)`);
}

/** The held-out split on the device, all of it as one batch (the caller disposes x and y). */
export function heldOutBatch(ctx: PipelineContext): { x: Tensor; y: Tensor } {
  const data = GpuDataset.upload(heldOutSet(ctx));
  try {
    return data.gather(Int32Array.from({ length: data.size }, (_, i) => i));
  } finally {
    data.dispose();
  }
}

/** Reads a JSON file a stage wrote, or null when the stage has not finished. */
export function readStageJson<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${path}: unreadable (${(e as Error).message}); delete it to redo that stage`);
  }
}

export async function writeStageJson(path: string, value: unknown): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n'));
}

/** Thrown when Ctrl-C stopped a stage; committed work stays and the same command resumes. */
export class PipelineInterrupted extends Error {
  constructor(what: string) {
    super(`interrupted during ${what}; finished work is saved, rerun the same command to resume`);
    this.name = 'PipelineInterrupted';
  }
}
