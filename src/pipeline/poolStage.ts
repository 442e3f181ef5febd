// Stage 1 (algorithms.md §1, §4, §5): the pool of sub-models, one independent job per
// (importance score, subset): job k prunes a copy of the base with score ⌊k/(d−1)⌋ on subset
// C0 ∪ C_{k mod (d−1) + 1} and fine-tunes it. A job's output is its folder under pool/ with
// model.safetensors (weights, masks, layer rates) and report.json, written last: a folder with a
// report is done. Jobs take a lock (jobLock.ts), so processes that share the run folder split the
// pool between them; `eed run --stage pool --job k` runs exactly one.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { moduleClassifier } from '../attacks/classifier.js';
import { pgd } from '../attacks/pgd.js';
import { GpuDataset } from '../data/batches.js';
import { selectSamples, type Dataset } from '../data/dataset.js';
import type { Module } from '../nn/module.js';
import { Generator } from '../ops/random.js';
import { recalibrateBatchNorm } from '../pruning/bnRecalibration.js';
import { loadStateDict } from '../io/checkpoint.js';
import { buildArchitecture } from '../ensemble/subModel.js';
import { pruneAdversarially, savePrunedModel, type KeepBudgetRule, type PruneSettings, type RobustMethod } from '../pruning/prune.js';
import { IMPORTANCE_SCORES, type ImportanceScore } from '../pruning/scores.js';
import type { NisFrl } from '../pruning/nis.js';
import { RunDir } from '../training/runDir.js';
import { TrainingInterrupted } from '../training/trainer.js';
import { parseList } from './config.js';
import { heldOutSet, PipelineInterrupted, readStageJson, runRelative, stageSeconds, writeStageJson, type PipelineContext } from './context.js';
import { tryLock } from './jobLock.js';

export interface PoolJob {
  index: number;
  score: ImportanceScore;
  /** s of D_{m,s} = C0 ∪ Cs (1-based). */
  subset: number;
  /** 'ase-2': how reports and manifests name the sub-model. */
  name: string;
  dir: string;
}

export interface PoolJobReport {
  job: number;
  name: string;
  score: ImportanceScore;
  subset: number;
  subsetSize: number;
  checkpoint: string;
  prunableNonZero: number;
  prunableTotal: number;
  sparsity: number;
  layerKeepRates: Record<string, number>;
  history: unknown[];
  seconds: number;
}

export function poolJobs(ctx: PipelineContext): PoolJob[] {
  const scores = parseList(ctx.config.scores, IMPORTANCE_SCORES, 'scores');
  const perScore = ctx.config.chunks - 1;
  return scores.flatMap((score, m) =>
    Array.from({ length: perScore }, (_, s) => {
      const index = m * perScore + s;
      const name = `${score}-${s + 1}`;
      return { index, score, subset: s + 1, name, dir: ctx.run.file(join('pool', `job-${String(index).padStart(2, '0')}-${name}`)) };
    }),
  );
}

export const poolJobReport = (job: PoolJob) => readStageJson<PoolJobReport>(join(job.dir, 'report.json'));

/**
 * BN statistics re-estimated on the job's own training distribution (PGD examples of its subset;
 * src/pruning/bnRecalibration.ts says why short runs need it).
 */
async function recalibrateOnSubset(model: Module, subset: Dataset, s: PruneSettings, images: number, batchSize: number): Promise<void> {
  const data = GpuDataset.upload(subset);
  const gen = new Generator(s.seed).fork(11);
  try {
    const n = Math.min(images, data.size);
    async function* batches() {
      for (let b0 = 0; b0 < n; b0 += batchSize) {
        const { x, y } = data.gather(Int32Array.from({ length: Math.min(batchSize, n - b0) }, (_, i) => b0 + i));
        const xAdv = pgd(moduleClassifier(model), x, y, { eps: s.eps, stepSize: s.stepSize, steps: s.attackSteps, randomStart: true, generator: gen });
        try {
          yield xAdv;
        } finally {
          for (const t of [x, y, xAdv]) t.dispose();
        }
      }
    }
    await recalibrateBatchNorm(model, batches());
  } finally {
    data.dispose();
  }
}

/** Runs one job unless it is done or another process holds it ('busy'). */
export async function runPoolJob(ctx: PipelineContext, job: PoolJob, basePath: string): Promise<PoolJobReport | 'busy'> {
  const done = poolJobReport(job);
  if (done) return done;
  const c = ctx.config;
  await mkdir(job.dir, { recursive: true });
  const lock = tryLock(join(job.dir, 'job.lock'));
  if (!lock.acquired) {
    ctx.log(`pool job ${job.index} (${job.name}) is being run by ${lock.owner}; skipping it here`);
    return 'busy';
  }
  try {
    const again = poolJobReport(job); // finished while we were taking the lock
    if (again) return again;
    const metric = ctx.subsets.metrics.find((m) => m.metric === job.score.toUpperCase());
    if (!metric) throw new Error(`pool job ${job.index}: no EED subsets for score ${job.score}`);
    const all = metric.subModels[job.subset - 1];
    // A capped subset keeps the shared/own balance of C0 ∪ Cs: the first images of each chunk,
    // which are in the metric's random order (the pipeline has d ≥ 2 chunks, so both exist).
    const cap = (chunk: Int32Array, k: number) => chunk.slice(0, Math.min(chunk.length, k));
    const indices =
      c.subsetSize > 0 && c.subsetSize < all.length
        ? Int32Array.from([...cap(metric.chunks[0], Math.ceil(c.subsetSize / 2)), ...cap(metric.chunks[job.subset], Math.floor(c.subsetSize / 2))])
        : all;
    const subset = selectSamples(ctx.train, indices, `${ctx.train.name} (${job.name}, ${indices.length} images)`);
    const base = buildArchitecture(ctx.architecture, c.seed);
    try {
      const loaded = await loadStateDict(basePath, base);
      for (const m of loaded.masks.values()) m.dispose();
    } catch (e) {
      base.dispose(); // a damaged base file leaves no model on the device
      throw e;
    }
    const settings: PruneSettings = {
      score: job.score,
      keepFraction: 1 - c.subSparsity,
      alphaMin: c.alphaMin,
      phi: c.phi,
      pruneEpochs: c.pruneEpochs,
      finetuneEpochs: c.finetuneEpochs,
      batchSize: c.batchSize,
      pruneLr: c.pruneLr,
      finetuneLr: c.finetuneLr,
      finetuneLrStages: c.finetuneLrStages,
      momentum: c.momentum,
      weightDecay: c.weightDecay,
      eps: c.eps,
      stepSize: c.stepSize,
      attackSteps: c.poolAttackSteps || c.attackSteps,
      method: c.poolMethod as RobustMethod,
      scoreSamples: c.scoreSamples,
      nisFrl: c.nisFrl as NisFrl,
      // Absent for the spec's rule, so a job's checkpoint from before the setting existed resumes.
      ...(c.keepBudgetRule === 'shift' ? {} : { keepBudget: c.keepBudgetRule as KeepBudgetRule }),
      augment: c.augment,
      // Each job draws its own random streams, reproducibly.
      seed: c.seed * 1000 + job.index + 1,
    };
    const validation = c.pruneValidation
      ? {
          data: heldOutSet(ctx),
          size: ctx.subsets.heldOut.length,
          steps: c.rdSteps,
          stepSize: c.rdStepSize,
        }
      : undefined;
    ctx.log(`pool job ${job.index} (${job.name}): ${job.score} on ${indices.length} images, keeping ${((1 - c.subSparsity) * 100).toFixed(1)}% of the weights`);
    const t0 = performance.now();
    let result;
    let trainingSeconds = 0;
    try {
      // Checkpoints every epoch and every 10 minutes: a job stopped by Ctrl-C or a crash continues where it was.
      const run = await RunDir.open(join(job.dir, 'train'), { ...settings });
      if (run.resumed) ctx.log(`pool job ${job.index} (${job.name}): resuming after epoch ${run.resumed.epoch}`);
      const trainStart = performance.now();
      result = await pruneAdversarially(base, subset, settings, {
      validation,
      run,
      signal: ctx.signal,
      checkpointSeconds: 600,
      onEpoch: (m) =>
        ctx.log(
          `  ${job.name} ${m.stage} epoch ${m.epoch}: loss ${m.loss.toFixed(4)}` +
            (m.compressionLoss !== null ? `, L_p ${m.compressionLoss.toFixed(4)}` : '') +
            (m.validationPgd !== null ? `, held-out PGD ${(m.validationPgd * 100).toFixed(2)}%` : '') +
            `, kept ${m.kept}, ${m.seconds.toFixed(1)} s`,
        ),
      });
      trainingSeconds = (performance.now() - trainStart) / 1000;
    } catch (e) {
      base.dispose();
      if (e instanceof TrainingInterrupted) throw new PipelineInterrupted(`pool job ${job.index} (${job.name})`);
      throw e;
    }
    try {
      if (c.bnRecalibration > 0) await recalibrateOnSubset(result.model, subset, settings, c.bnRecalibration, c.batchSize);
      const checkpoint = join(job.dir, 'model.safetensors');
      await savePrunedModel(checkpoint, result, { score: job.score, subset: String(job.subset), job: String(job.index), dataset: c.dataset });
      const count = await result.model.countNonZero();
      const report: PoolJobReport = {
        job: job.index,
        name: job.name,
        score: job.score,
        subset: job.subset,
        subsetSize: indices.length,
        checkpoint: runRelative(ctx, checkpoint),
        prunableNonZero: count.prunableNonZero,
        prunableTotal: count.prunableTotal,
        sparsity: 1 - count.prunableNonZero / count.prunableTotal,
        layerKeepRates: Object.fromEntries(result.layerKeepRates),
        history: result.history,
        // A resumed job still reports what all of it cost.
        seconds: stageSeconds(result.history, (performance.now() - t0) / 1000, trainingSeconds),
      };
      await writeStageJson(join(job.dir, 'report.json'), report);
      ctx.log(`pool job ${job.index} (${job.name}) done: sparsity ${(report.sparsity * 100).toFixed(2)}%, ${report.seconds.toFixed(0)} s`);
      return report;
    } finally {
      result.model.dispose(); // the masks and the base it wraps
    }
  } finally {
    lock.release();
  }
}

/**
 * Runs the pool's unfinished jobs (or only job `only`), then waits for jobs other processes hold.
 * Returns every job's report in job order once all are done (or, with `only`, that job's).
 */
export async function poolStage(ctx: PipelineContext, basePath: string, only?: number): Promise<PoolJobReport[]> {
  const jobs = poolJobs(ctx);
  if (only !== undefined) {
    const job = jobs.find((j) => j.index === only);
    if (!job) throw new Error(`option 'job': ${only} is not a pool job (jobs 0..${jobs.length - 1}: ${jobs.map((j) => j.name).join(', ')})`);
    const r = await runPoolJob(ctx, job, basePath);
    if (r === 'busy') throw new Error(`pool job ${only} is being run by another process`);
    return [r];
  }
  for (const job of jobs) {
    if (ctx.signal.aborted) throw new PipelineInterrupted('the pool stage');
    await runPoolJob(ctx, job, basePath);
  }
  let waiting = jobs.filter((j) => !poolJobReport(j));
  if (waiting.length) ctx.log(`pool: waiting for ${waiting.map((j) => j.name).join(', ')} (run by other processes)`);
  while (waiting.length) {
    if (ctx.signal.aborted) throw new PipelineInterrupted('the wait for other pool jobs');
    await new Promise((r) => setTimeout(r, 5000));
    // A job whose owner died is free again: run it here.
    for (const job of waiting) await runPoolJob(ctx, job, basePath);
    waiting = jobs.filter((j) => !poolJobReport(j));
  }
  return jobs.map((j) => poolJobReport(j)!);
}
