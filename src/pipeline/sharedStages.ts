// `eed run --stages-from DIR`: a variant of a run that differs only from the ensemble stage on
// (β, ω, γ, another diversity term, the epochs, DIE's settings) needs the same base model, pool and
// team: hours on a CPU adapter, most of a GPU run. Where every setting those stages depend on
// matches, their finished outputs are copied from DIR into this run folder, which then computes
// the ensemble stage and the evaluation only. The copies are what this run would compute itself
// (the stages are deterministic given their settings), so the option is not recorded in the run's
// config. Finished evaluation rows are copied too: they are keyed by their models' content and
// options, so only the rows of identical models (the dense model, the sub-models) are taken.

import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RunDir } from '../training/runDir.js';
import type { PipelineConfig } from './config.js';
import { ADDED_SETTINGS, type PipelineContext } from './context.js';

/** Settings of the ensemble stage and after: a run copying its earlier stages may differ in these. */
export const ENSEMBLE_STAGE_KEYS: readonly (keyof PipelineConfig)[] = [
  'ensembleEpochs', 'ensembleLr', 'ensembleSize', 'diversity', 'ensembleAttackSteps', 'ensembleValidation', 'beta', 'omega', 'gamma',
  'lambda1', 'lambda2', 'distillEps', 'distillStep', 'distillSteps', 'regType', 'dieRule', 'dieCombiner', 'instabilityThreshold',
  'haltThreshold', 'dieCalibrate',
];

// Checkpoints of unfinished work (each stage's resumable run folder): a finished stage's outputs do not need them.
const withoutCheckpoints = (source: string) => !/[\\/]train([\\/]|$)/.test(source);

/**
 * Copies the finished base, pool jobs, team selection and evaluation rows of the run folder `from`
 * into ctx's, where this run has none of its own; returns what it copied, for the log. Throws,
 * naming the setting, when `from` ran the earlier stages with other settings.
 */
export function copyEarlierStages(ctx: PipelineContext, from: string): string[] {
  if (join(from) === join(ctx.run.path)) throw new Error(`--stages-from ${from}: that is this run's own folder`);
  const theirs = RunDir.recordedConfig(from);
  if (!theirs) throw new Error(`--stages-from ${from}: no run folder there (expected ${join(from, 'config.json')} written by eed run)`);
  const ours = RunDir.recordedConfig(ctx.run.path)!;
  const free = new Set<string>([...ENSEMBLE_STAGE_KEYS, 'out']);
  // A folder from before a setting existed ran under its older value.
  const added: Record<string, unknown> = ADDED_SETTINGS;
  const value = (config: Record<string, unknown>, k: string) => JSON.stringify(k in config ? config[k] : added[k]);
  for (const k of new Set([...Object.keys(ours), ...Object.keys(theirs)]))
    if (!free.has(k) && value(ours, k) !== value(theirs, k))
      throw new Error(
        `--stages-from ${from}: it ran with ${k} ${value(theirs, k)}, this run has ${value(ours, k)}; ` +
          'only the settings of the ensemble stage and after may differ',
      );
  const copied: string[] = [];
  const copy = (part: string) => cpSync(join(from, part), ctx.run.file(part), { recursive: true, filter: withoutCheckpoints });
  if (existsSync(join(from, 'base', 'report.json')) && !existsSync(ctx.run.file(join('base', 'report.json')))) {
    copy('base');
    copied.push('the base model');
  }
  const jobs = existsSync(join(from, 'pool')) ? readdirSync(join(from, 'pool')).filter((j) => existsSync(join(from, 'pool', j, 'report.json'))) : [];
  const newJobs = jobs.filter((j) => !existsSync(ctx.run.file(join('pool', j, 'report.json'))));
  for (const j of newJobs) copy(join('pool', j));
  if (newJobs.length) copied.push(`${newJobs.length} pool job(s)`);
  if (existsSync(join(from, 'select', 'selection.json')) && !existsSync(ctx.run.file(join('select', 'selection.json')))) {
    copy('select');
    copied.push('the team selection');
  }
  const rows = existsSync(join(from, 'eval')) ? readdirSync(join(from, 'eval')).filter((f) => /^[0-9a-f]{16}\.json$/.test(f)) : [];
  const newRows = rows.filter((f) => !existsSync(ctx.run.file(join('eval', f))));
  for (const f of newRows) copy(join('eval', f));
  if (newRows.length) copied.push(`${newRows.length} finished evaluation row(s)`);
  return copied;
}
