// Stage 0 (algorithms.md §1): the dense adversarially trained base θ0, trained on the pool
// (the training split minus the held-out images) in base/, a resumable training run, or taken
// from --base-checkpoint.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { selectSamples } from '../data/dataset.js';
import { saveStateDict } from '../io/checkpoint.js';
import { buildArchitecture } from '../ensemble/subModel.js';
import type { TrainingMethod } from '../training/adversarialLoss.js';
import { RunDir } from '../training/runDir.js';
import { trainAdversarially, TrainingInterrupted } from '../training/trainer.js';
import { PipelineInterrupted, readStageJson, resolveInRun, runRelative, type PipelineContext } from './context.js';
import { tryLock } from './jobLock.js';

export interface BaseReport {
  checkpoint: string;
  seconds: number;
  history: unknown[];
}

export const baseDir = (ctx: PipelineContext) => ctx.run.file('base');

/** The base checkpoint's path once stage 0 is done, else null. */
export function baseCheckpoint(ctx: PipelineContext): string | null {
  if (ctx.config.baseCheckpoint) return ctx.config.baseCheckpoint;
  const stored = readStageJson<BaseReport>(join(baseDir(ctx), 'report.json'))?.checkpoint;
  return stored === undefined ? null : resolveInRun(ctx, stored);
}

export async function baseStage(ctx: PipelineContext): Promise<string> {
  const c = ctx.config;
  if (c.baseCheckpoint) {
    if (!existsSync(c.baseCheckpoint)) throw new Error(`option 'baseCheckpoint': ${c.baseCheckpoint} does not exist`);
    ctx.log(`base: using ${c.baseCheckpoint}`);
    return c.baseCheckpoint;
  }
  const done = baseCheckpoint(ctx);
  if (done) {
    ctx.log(`base: done (${done})`);
    return done;
  }
  // One process trains the base; others (`--stage pool --job k` started together) wait for it
  // instead of training it again into the same files.
  const lockPath = ctx.run.file('base.lock'); // beside base/, which is a run directory of its own
  let lock = tryLock(lockPath);
  if (!lock.acquired) ctx.log(`base: being trained by ${lock.owner}; waiting for it`);
  while (!lock.acquired) {
    if (ctx.signal.aborted) throw new PipelineInterrupted('the wait for the base model');
    await new Promise((r) => setTimeout(r, waitMs));
    const finished = baseCheckpoint(ctx);
    if (finished) return finished;
    lock = tryLock(lockPath); // its owner may have died: train it here
  }
  try {
    return baseCheckpoint(ctx) ?? (await trainBase(ctx));
  } finally {
    lock.release();
  }
}

/** Polling interval of a process waiting for another one's base (lowered by tests). */
let waitMs = 5000;
export function setBaseWaitMs(ms: number): void {
  waitMs = ms;
}

async function trainBase(ctx: PipelineContext): Promise<string> {
  const c = ctx.config;
  const settings = {
    method: c.baseMethod as TrainingMethod,
    epochs: c.baseEpochs,
    batchSize: c.batchSize,
    lr: c.baseLr,
    momentum: c.momentum,
    weightDecay: c.weightDecay,
    schedule: 'cosine' as const,
    eps: c.eps,
    stepSize: c.stepSize,
    attackSteps: c.attackSteps,
    tradesBeta: 6,
    martLambda: 5,
    augment: c.augment,
    seed: c.seed,
    evalSize: 0,
    evalSteps: 0,
    evalStepSize: 0,
  };
  const run = await RunDir.open(baseDir(ctx), { ...settings, dataset: c.dataset, trainSize: c.trainSize, heldOut: c.heldOut, architecture: ctx.architecture });
  const pool = selectSamples(ctx.train, ctx.subsets.pool, `${ctx.train.name} (pool, ${ctx.subsets.pool.length} images)`);
  ctx.log(`base: ${settings.method} AT of ${c.model} for ${c.baseEpochs} epoch(s) on ${pool.labels.length} images`);
  const model = buildArchitecture(ctx.architecture, c.seed);
  const t0 = performance.now();
  try {
    const result = await trainAdversarially(model, pool, null, settings, run, { signal: ctx.signal, checkpointSeconds: 600 });
    const checkpoint = run.file('model.safetensors');
    await saveStateDict(checkpoint, model, { metadata: { method: settings.method, dataset: c.dataset } });
    // Summed over epochs, so a resumed run reports the whole training time.
    const seconds = result.history.reduce((sum, h) => sum + h.seconds, 0) || (performance.now() - t0) / 1000;
    const report: BaseReport = { checkpoint: runRelative(ctx, checkpoint), seconds, history: result.history };
    await run.writeJson('report.json', report);
    return checkpoint;
  } catch (e) {
    if (e instanceof TrainingInterrupted) throw new PipelineInterrupted('base training');
    throw e;
  } finally {
    model.dispose();
  }
}
