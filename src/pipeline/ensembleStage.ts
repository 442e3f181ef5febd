// Stage 3 (algorithms.md §7): the selected team trained together (CE on each member's PGD
// examples + β·diversity + ω·L_R + γ·L_C) on the pool images, with the masks fixed, in the
// resumable run ensemble/train/. The result is the ensemble folder ensemble/ (manifest.json and
// one safetensors file per member, in DIE order), which `eed serve` and the evaluation read.
// With ensembleValidation ([X], ours) the stage keeps the epoch, 0 (the team as pruned) included,
// whose static team has the best PGD accuracy on the held-out split.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { selectSamples } from '../data/dataset.js';
import { HostRandom } from '../data/hostRandom.js';
import { writeEnsemble } from '../ensemble/ensembleDir.js';
import { moduleClassifier } from '../attacks/classifier.js';
import { pgd } from '../attacks/pgd.js';
import { calibrateDie, memberLogProbabilities, type DieCalibration } from '../ensemble/dieCalibration.js';
import { resolveHaltingOptions, type DieCombiner, type HaltingOptions } from '../ensemble/haltingRule.js';
import { Generator } from '../ops/random.js';
import { MANIFEST_FILE, type EnsembleManifest } from '../ensemble/manifest.js';
import { staticTeam } from '../ensemble/staticEnsemble.js';
import { countParameters, disposeSubModel } from '../ensemble/subModel.js';
import { loadSubModel } from '../ensemble/subModelFile.js';
import { ensembleTrainSettings, type Diversity } from '../ensemble/training/settings.js';
import { trainEnsemble, type EnsembleEpochMetrics } from '../ensemble/training/trainEnsemble.js';
import type { Module } from '../nn/module.js';
import { RunDir } from '../training/runDir.js';
import { TrainingInterrupted } from '../training/trainer.js';
import { parseLrValues } from './config.js';
import { heldOutBatch, heldOutSet, PipelineInterrupted, readStageJson, resolveInRun, stageSeconds, writeStageJson, type PipelineContext } from './context.js';
import type { Selection } from './selectStage.js';

export const ensembleDir = (ctx: PipelineContext) => ctx.run.file('ensemble');

export interface EnsembleStageReport {
  team: string[];
  trainImages: number;
  history: EnsembleEpochMetrics[];
  prunableNonZero: number;
  budget: number;
  /** The DIE settings chosen on the held-out split (null: the configured ones, uncalibrated). */
  dieCalibration: DieCalibration | null;
  /** The epoch whose members were kept (0: the team as pruned); absent in reports from before the setting. */
  selectedEpoch?: number;
  /** The static team's held-out PGD accuracy before training, with ensembleValidation. */
  initialValidationPgd?: number;
  seconds: number;
}

const reportPath = (ctx: PipelineContext) => join(ensembleDir(ctx), 'report.json');

export function ensembleStageReport(ctx: PipelineContext): EnsembleStageReport | null {
  return existsSync(join(ensembleDir(ctx), MANIFEST_FILE)) ? readStageJson<EnsembleStageReport>(reportPath(ctx)) : null;
}

/** §8: DIE thresholds from the held-out split, clean and under PGD against the static team. */
async function calibratedDie(ctx: PipelineContext, members: Module[]): Promise<{ chosen: Required<HaltingOptions>; calibration: DieCalibration | null }> {
  const c = ctx.config;
  const configured = resolveHaltingOptions({
    dieRule: c.dieRule as 'argmax' | 'threshold',
    combiner: c.dieCombiner as 'average' | 'max',
    instabilityThreshold: c.instabilityThreshold,
    haltThreshold: c.haltThreshold,
  });
  if (!c.dieCalibrate) return { chosen: configured, calibration: null };
  const { x, y } = heldOutBatch(ctx);
  try {
    const classifiers = members.map((m) => moduleClassifier(m));
    const team = staticTeam(classifiers, configured.combiner);
    const xAdv = pgd(team, x, y, { eps: c.eps, stepSize: c.rdStepSize, steps: c.rdSteps, randomStart: true, generator: new Generator(c.seed).fork(3) });
    try {
      const labels = (await y.data()) as Int32Array;
      const calibration = calibrateDie(await memberLogProbabilities(classifiers, x), await memberLogProbabilities(classifiers, xAdv), labels, ctx.architecture.numClasses, configured);
      const p = calibration.points.find((q) => q.instabilityThreshold === calibration.chosen.instabilityThreshold && q.haltThreshold === calibration.chosen.haltThreshold)!;
      ctx.log(
        `ensemble: DIE calibrated on ${labels.length} held-out images: τ_U ${calibration.chosen.instabilityThreshold}` +
          (configured.dieRule === 'threshold' ? `, τ_q ${calibration.chosen.haltThreshold}` : '') +
          ` runs ${p.meanMembers.toFixed(2)} of ${members.length} members on average, PGD ${(p.robustAccuracy * 100).toFixed(1)}% ` +
          `(static team ${(calibration.staticRobust * 100).toFixed(1)}%${calibration.withinTolerance ? '' : '; no setting came within the tolerance'})`,
      );
      return { chosen: calibration.chosen, calibration };
    } finally {
      xAdv.dispose();
    }
  } finally {
    x.dispose();
    y.dispose();
  }
}

export async function ensembleStage(ctx: PipelineContext, selection: Selection): Promise<EnsembleStageReport> {
  const done = ensembleStageReport(ctx);
  if (done) {
    ctx.log(`ensemble: done (${ensembleDir(ctx)})`);
    return done;
  }
  const c = ctx.config;
  const t0 = performance.now();
  const team = selection.team.map((j) => selection.pool[j]);
  const members: Module[] = [];
  try {
    for (const m of team) members.push((await loadSubModel(resolveInRun(ctx, m.checkpoint), ctx.architecture)).module);
    let rows = ctx.subsets.pool;
    if (c.ensembleSize > 0 && c.ensembleSize < rows.length) rows = new HostRandom(c.seed, 23).shuffle(rows.slice()).slice(0, c.ensembleSize);
    const data = selectSamples(ctx.train, rows, `${ctx.train.name} (ensemble stage, ${rows.length} images)`);
    const settings = ensembleTrainSettings({
      epochs: c.ensembleEpochs,
      batchSize: c.batchSize,
      lrValues: parseLrValues(c.ensembleLr),
      momentum: c.momentum,
      weightDecay: c.weightDecay,
      eps: c.eps,
      stepSize: c.stepSize,
      attackSteps: c.ensembleAttackSteps || c.attackSteps,
      beta: c.beta,
      omega: c.omega,
      gamma: c.gamma,
      lambda1: c.lambda1,
      lambda2: c.lambda2,
      distillEps: c.distillEps,
      distillStep: c.distillStep,
      distillSteps: c.distillSteps,
      regType: c.regType === 'per-model' ? 0 : 1,
      diversity: c.diversity as Diversity,
      augment: c.augment,
      seed: c.seed,
    });
    let history: EnsembleEpochMetrics[] = [];
    let trainingSeconds = 0;
    let chosen: { selectedEpoch: number; initialValidationPgd?: number } = { selectedEpoch: settings.epochs };
    if (settings.epochs > 0) {
      ctx.log(`ensemble: ${settings.diversity} training of ${team.map((m) => m.name).join(', ')} for ${settings.epochs} epoch(s) on ${rows.length} images`);
      const validation = c.ensembleValidation
        ? { data: heldOutSet(ctx), size: ctx.subsets.heldOut.length, steps: c.rdSteps, stepSize: c.rdStepSize, combiner: c.dieCombiner as DieCombiner }
        : undefined;
      // The validation settings are part of what the run computes (a folder from before them has none).
      const recorded = validation ? { validation: { size: validation.size, steps: validation.steps, stepSize: validation.stepSize, combiner: validation.combiner } } : {};
      const run = await RunDir.open(join(ensembleDir(ctx), 'train'), { ...settings, team: team.map((m) => m.checkpoint), images: rows.length, ...recorded });
      const trainStart = performance.now();
      try {
        const result = await trainEnsemble(members, data, settings, run, { signal: ctx.signal, checkpointSeconds: 600, log: (line: string) => ctx.log(`  ${line}`), validation });
        history = result.history;
        chosen = { selectedEpoch: result.selectedEpoch, ...(result.initialValidationPgd === undefined ? {} : { initialValidationPgd: result.initialValidationPgd }) };
      } catch (e) {
        if (e instanceof TrainingInterrupted) throw new PipelineInterrupted('ensemble training');
        throw e;
      }
      trainingSeconds = (performance.now() - trainStart) / 1000;
    } else ctx.log('ensemble: ensembleEpochs is 0, the team is kept as pruned');

    const die = await calibratedDie(ctx, members);
    const counts = await Promise.all(members.map((m) => countParameters(m)));
    const prunableNonZero = counts.reduce((s, k) => s + k.prunableNonZero, 0);
    // §7 final check: the masks are fixed, so the team cannot have grown past the budget.
    if (prunableNonZero > selection.budget)
      ctx.log(`ensemble: WARNING the team keeps ${prunableNonZero} weights, above the budget ${Math.floor(selection.budget)}`);
    const manifest: EnsembleManifest = {
      format: 'eed-ensemble',
      version: 1,
      architecture: ctx.architecture,
      inputShape: [...ctx.train.shape],
      dataset: c.dataset,
      eps: c.eps,
      members: team.map((m, i) => ({
        name: m.name,
        file: `member-${i}.safetensors`,
        score: m.score,
        subset: m.subset,
        prunableNonZero: counts[i].prunableNonZero,
        validationPgd: m.validationPgd,
      })),
      die: die.chosen,
    };
    const report: EnsembleStageReport = {
      team: team.map((m) => m.name),
      trainImages: rows.length,
      history,
      prunableNonZero,
      budget: selection.budget,
      dieCalibration: die.calibration,
      ...chosen,
      // A resumed stage still reports what all of it cost.
      seconds: stageSeconds(history, (performance.now() - t0) / 1000, trainingSeconds),
    };
    // The report first: the manifest is the stage's done marker.
    await writeStageJson(reportPath(ctx), report);
    await writeEnsemble(ensembleDir(ctx), manifest, members);
    ctx.log(`ensemble: written to ${ensembleDir(ctx)} (${prunableNonZero} non-zero weights)`);
    return report;
  } finally {
    members.forEach(disposeSubModel);
  }
}
