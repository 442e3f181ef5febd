// The EED pipeline (algorithms.md §1) as stages over one run directory:
//   base/      stage 0, the dense AT model                 (resumable per epoch)
//   pool/      stage 1, one folder per (score, subset) job (resumable per job; jobs lock)
//   select/    stage 2, failure matrix and team            (selection.json)
//   ensemble/  stage 3, ensemble training → manifest.json  (resumable per epoch)
//   report.*   stage 4, evaluation, Table 1/3, figures     (attack results cached per row in eval/)
// Each stage skips itself when its output exists, so rerunning a command resumes the run, and
// `--stage X` runs the stages up to X whose outputs are missing, then X itself.

import { writeReport } from '../reports/write.js';
import type { EedReport } from '../reports/report.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { baseDir, baseStage, type BaseReport } from './baseStage.js';
import { readStageJson, type PipelineContext } from './context.js';
import { ensembleDir, ensembleStage } from './ensembleStage.js';
import { evalBaseline, evalHelper, evalRowOrigins, evalStage, type EvalRowOrigins } from './evalStage.js';
import { poolStage } from './poolStage.js';
import { selectStage } from './selectStage.js';
import { runSweep } from './sweep.js';

export const STAGES = ['base', 'pool', 'select', 'ensemble', 'eval'] as const;
export type Stage = (typeof STAGES)[number];

export interface PipelineRequest {
  /** Last stage to run (default: eval, i.e. everything). */
  stage?: Stage;
  /** With stage 'pool': run only this job. */
  job?: number;
  /** Shown in the report. */
  preset?: string | null;
  /** Evaluate only the dense baseline (after the base stage), into eval/, and stop. */
  baselineOnly?: boolean;
  /** Compute the EED rows of another process's evaluation (evalHelper), and stop; the ensemble must exist. */
  evalHelper?: boolean;
}

export interface PipelineOutcome {
  stagesRun: Stage[];
  report: EedReport | null;
  reportDir: string | null;
}

/** What the evaluation's time leaves out, when earlier invocations did part of its work. */
function evalTimeNote(now: EvalRowOrigins, before: EvalRowOrigins): string | null {
  const d = (k: keyof EvalRowOrigins) => now[k] - before[k];
  const rows = d('computed') + d('resumed') + d('finishedBefore') + d('finishedElsewhere');
  const parts = [
    d('finishedBefore') > 0 ? `${d('finishedBefore')} finished by earlier invocations` : '',
    d('finishedElsewhere') > 0 ? `${d('finishedElsewhere')} by another process meanwhile` : '',
    d('resumed') > 0 ? `${d('resumed')} resumed from saved progress` : '',
  ].filter(Boolean);
  if (!parts.length) return null;
  return `time of this invocation only: of its ${rows} evaluation rows (eval/), ${parts.join(', ')}`;
}

export async function runPipeline(ctx: PipelineContext, req: PipelineRequest = {}): Promise<PipelineOutcome> {
  const last = req.stage ?? 'eval';
  const upTo = (s: Stage) => STAGES.indexOf(s) <= STAGES.indexOf(last);
  // Each stage's own recorded duration, so a resumed run still reports what the work cost (the pool
  // sums its jobs, wherever they ran).
  const times: { stage: string; seconds: number }[] = [];
  const timed = async <T>(stage: Stage, fn: () => Promise<T>, recorded: (r: T) => number | null): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    times.push({ stage, seconds: recorded(r) ?? (performance.now() - t0) / 1000 });
    return r;
  };
  const stagesRun: Stage[] = [];
  const basePath = await timed('base', () => baseStage(ctx), () => readStageJson<BaseReport>(join(baseDir(ctx), 'report.json'))?.seconds ?? null);
  stagesRun.push('base');
  if (req.baselineOnly) {
    if (req.job !== undefined || req.stage !== undefined) throw new Error("option 'baselineOnly' runs alone: without --stage or --job");
    await evalBaseline(ctx, basePath);
    return { stagesRun, report: null, reportDir: null };
  }
  if (req.evalHelper) {
    if (req.job !== undefined || req.stage !== undefined || req.baselineOnly) throw new Error("option 'evalHelper' runs alone: without --stage, --job or --baseline-only");
    // Never a second trainer of the pool or the team: the helper starts where the main run evaluates.
    if (!existsSync(join(ensembleDir(ctx), 'manifest.json')))
      throw new Error(`--eval-helper: ${join(ensembleDir(ctx), 'manifest.json')} does not exist yet; start the helper once the run's ensemble is trained`);
    await evalHelper(ctx);
    return { stagesRun, report: null, reportDir: null };
  }
  if (!upTo('pool')) return { stagesRun, report: null, reportDir: null };
  if (req.job !== undefined && last !== 'pool') throw new Error("option 'job' needs --stage pool");
  const pool = await timed('pool', () => poolStage(ctx, basePath, req.job), (jobs) => jobs.reduce((sum, j) => sum + j.seconds, 0));
  stagesRun.push('pool');
  if (!upTo('select')) return { stagesRun, report: null, reportDir: null };
  const selection = await timed('select', () => selectStage(ctx, pool), (sel) => sel.seconds);
  stagesRun.push('select');
  if (!upTo('ensemble')) return { stagesRun, report: null, reportDir: null };
  await timed('ensemble', () => ensembleStage(ctx, selection), (r) => r.seconds);
  stagesRun.push('ensemble');
  if (!upTo('eval')) return { stagesRun, report: null, reportDir: null };
  const t0 = performance.now();
  const origins = evalRowOrigins(ctx);
  const before = { ...origins };
  let report = await evalStage(ctx, basePath, pool, selection, times);
  const note = evalTimeNote(origins, before);
  report.run.stages = [...times, { stage: 'eval', seconds: (performance.now() - t0) / 1000, ...(note ? { note } : {}) }];
  report.run.preset = req.preset ?? null;
  if (ctx.config.sweep) {
    const t1 = performance.now();
    report = await runSweep(ctx, report, basePath, async (sub) => (await runPipeline(sub, { preset: req.preset })).report!);
    report.run.stages.push({ stage: 'sweep', seconds: (performance.now() - t1) / 1000 });
  }
  const reportDir = ctx.run.path;
  await writeReport(reportDir, report);
  stagesRun.push('eval');
  return { stagesRun, report, reportDir };
}
