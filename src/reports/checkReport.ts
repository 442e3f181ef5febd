// Validation of an EedReport, used before anything is written and when a report.json is read back
// (e.g. to re-render report.md). A NaN accuracy or an out-of-range index would otherwise surface
// as a broken figure or a wrong table cell far from its cause; here the error names the field.

import { REPORT_SCHEMA, SCORE_METHODS, type EedReport } from './report.js';

type Json = { [key: string]: unknown };

class Checker {
  constructor(private readonly source: string) {}

  fail(path: string, expected: string, got: unknown): never {
    const shown = typeof got === 'string' ? JSON.stringify(got) : Array.isArray(got) ? 'an array' : got === null ? 'null' : typeof got === 'object' ? 'an object' : String(got);
    throw new Error(`${this.source}: ${path}: expected ${expected}, got ${shown}`);
  }

  object(v: unknown, path: string): Json {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'an object', v);
    return v as Json;
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'an array', v);
    return v;
  }

  string(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'a string', v);
    return v;
  }

  boolean(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, 'true or false', v);
    return v;
  }

  finite(v: unknown, path: string, min = -Infinity): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) this.fail(path, min === -Infinity ? 'a finite number' : `a finite number >= ${min}`, v);
    return v;
  }

  count(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(path, 'a non-negative integer', v);
    return v;
  }

  fraction(v: unknown, path: string): number {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) this.fail(path, 'a fraction in [0, 1]', v);
    return v;
  }

  nullable<T>(v: unknown, path: string, check: (v: unknown, path: string) => T): T | null {
    return v === null ? null : check.call(this, v, path);
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(path, `one of ${values.join(', ')}`, v);
    return v as T;
  }
}

const KINDS = ['dense', 'pruned', 'pool-average', 'team-untrained', 'eed-static', 'eed-die', 'eed-die-adaptive'] as const;
const SCORES = Object.keys(SCORE_METHODS) as (keyof typeof SCORE_METHODS)[];

/** Returns `value` typed as an EedReport, or throws naming the first bad field. */
export function checkReport(value: unknown, source = 'EED report'): EedReport {
  const c = new Checker(source);
  const r = c.object(value, 'report');
  if (r.schema !== REPORT_SCHEMA) c.fail('schema', `"${REPORT_SCHEMA}"`, r.schema);

  const run = c.object(r.run, 'run');
  for (const k of ['command', 'adapter', 'date', 'dataset', 'model'] as const) c.string(run[k], `run.${k}`);
  c.nullable(run.preset, 'run.preset', c.string);
  c.object(run.config, 'run.config');
  c.array(run.stages, 'run.stages').forEach((s, i) => {
    const o = c.object(s, `run.stages[${i}]`);
    c.string(o.stage, `run.stages[${i}].stage`);
    c.finite(o.seconds, `run.stages[${i}].seconds`, 0);
    if (o.note !== undefined) c.string(o.note, `run.stages[${i}].note`);
  });
  c.string(r.threatModel, 'threatModel');

  c.array(r.methods, 'methods').forEach((m, i) => {
    const p = `methods[${i}]`;
    const o = c.object(m, p);
    c.string(o.method, `${p}.method`);
    const kind = c.oneOf(o.kind, `${p}.kind`, KINDS);
    if (kind === 'pruned') c.oneOf(o.score, `${p}.score`, SCORES);
    else c.nullable(o.score, `${p}.score`, (v, path) => c.oneOf(v, path, SCORES));
    for (const k of ['clean', 'pgd', 'aa', 'cw', 'df'] as const) c.nullable(o[k], `${p}.${k}`, c.fraction);
    const params = c.object(o.parameters, `${p}.parameters`);
    const nonZero = c.count(params.nonZero, `${p}.parameters.nonZero`);
    const total = c.count(params.total, `${p}.parameters.total`);
    if (nonZero > total) c.fail(`${p}.parameters.nonZero`, `at most parameters.total (${total})`, nonZero);
    c.nullable(o.speedUp, `${p}.speedUp`, (v, path) => c.finite(v, path, Number.MIN_VALUE));
    c.nullable(o.imagesPerSecond, `${p}.imagesPerSecond`, (v, path) => c.finite(v, path, 0));
    if (o.flopRatio !== undefined) c.nullable(o.flopRatio, `${p}.flopRatio`, (v, path) => c.finite(v, path, Number.MIN_VALUE));
  });

  if (r.die !== null) {
    const d = c.object(r.die, 'die');
    const size = c.count(d.teamSize, 'die.teamSize');
    if (size < 1) c.fail('die.teamSize', 'a positive integer', size);
    for (const k of ['withoutDie', 'withDie'] as const) {
      const row = c.object(d[k], `die.${k}`);
      c.string(row.method, `die.${k}.method`);
      c.nullable(row.clean, `die.${k}.clean`, c.fraction);
      c.nullable(row.pgd, `die.${k}.pgd`, c.fraction);
      const used = c.finite(row.meanMembersUsed, `die.${k}.meanMembersUsed`, 0);
      if (used > size) c.fail(`die.${k}.meanMembersUsed`, `at most die.teamSize (${size})`, used);
      c.nullable(row.msPerImage, `die.${k}.msPerImage`, (v, path) => c.finite(v, path, 0));
      c.nullable(row.speedUp, `die.${k}.speedUp`, (v, path) => c.finite(v, path, Number.MIN_VALUE));
      if (row.macsPerImage !== undefined) c.nullable(row.macsPerImage, `die.${k}.macsPerImage`, (v, path) => c.finite(v, path, 0));
      if (row.timedMeanMembersUsed !== undefined) {
        const timed = c.finite(row.timedMeanMembersUsed, `die.${k}.timedMeanMembersUsed`, 0);
        if (timed > size) c.fail(`die.${k}.timedMeanMembersUsed`, `at most die.teamSize (${size})`, timed);
      }
    }
    const hist = c.array(d.membersUsedHistogram, 'die.membersUsedHistogram');
    if (hist.length !== size) c.fail('die.membersUsedHistogram', `${size} entries (one per team size 1..die.teamSize)`, `${hist.length} entries`);
    hist.forEach((v, i) => c.count(v, `die.membersUsedHistogram[${i}]`));
  }

  if (r.teamSelection !== null) {
    const s = c.object(r.teamSelection, 'teamSelection');
    const pool = c.array(s.pool, 'teamSelection.pool');
    pool.forEach((m, i) => {
      const o = c.object(m, `teamSelection.pool[${i}]`);
      c.string(o.label, `teamSelection.pool[${i}].label`);
      c.oneOf(o.score, `teamSelection.pool[${i}].score`, SCORES);
      const params = c.object(o.parameters, `teamSelection.pool[${i}].parameters`);
      c.count(params.nonZero, `teamSelection.pool[${i}].parameters.nonZero`);
      c.count(params.total, `teamSelection.pool[${i}].parameters.total`);
      c.nullable(o.robustAccuracy, `teamSelection.pool[${i}].robustAccuracy`, c.fraction);
      if (o.eligible !== undefined) c.boolean(o.eligible, `teamSelection.pool[${i}].eligible`);
    });
    const index = (v: unknown, path: string) => {
      const k = c.count(v, path);
      if (k >= pool.length) c.fail(path, `a pool index below ${pool.length}`, k);
      return k;
    };
    c.finite(s.threshold, 'teamSelection.threshold');
    c.finite(s.parameterBudget, 'teamSelection.parameterBudget', 0);
    const chosen = c.array(s.chosen, 'teamSelection.chosen').map((v, i) => index(v, `teamSelection.chosen[${i}]`));
    const chosenKey = [...chosen].sort((a, b) => a - b).join(',');
    c.boolean(s.fallback, 'teamSelection.fallback');
    if (s.accuracyGap !== undefined) c.fraction(s.accuracyGap, 'teamSelection.accuracyGap');
    let chosenTeams = 0;
    c.array(s.teams, 'teamSelection.teams').forEach((t, i) => {
      const p = `teamSelection.teams[${i}]`;
      const o = c.object(t, p);
      c.array(o.members, `${p}.members`).forEach((v, j) => index(v, `${p}.members[${j}]`));
      c.nullable(o.robustDiversity, `${p}.robustDiversity`, c.finite);
      c.finite(o.parameters, `${p}.parameters`, 0);
      c.boolean(o.fitsBudget, `${p}.fitsBudget`);
      if (o.eligible !== undefined) c.boolean(o.eligible, `${p}.eligible`);
      if (c.boolean(o.chosen, `${p}.chosen`)) {
        chosenTeams++;
        const key = (o.members as number[]).join(',');
        if (key !== chosenKey) c.fail(`${p}.members`, `the members of teamSelection.chosen (${chosenKey}) on the team marked chosen`, key);
      }
    });
    if (chosenTeams > 1) c.fail('teamSelection.teams', 'at most one team with chosen: true', `${chosenTeams}`);
  }

  if (r.ensembleTraining !== undefined) {
    const e = c.object(r.ensembleTraining, 'ensembleTraining');
    const epochs = c.count(e.epochs, 'ensembleTraining.epochs');
    const kept = c.count(e.selectedEpoch, 'ensembleTraining.selectedEpoch');
    if (kept > epochs) c.fail('ensembleTraining.selectedEpoch', `at most ensembleTraining.epochs (${epochs})`, kept);
    const scores = c.array(e.heldOutPgd, 'ensembleTraining.heldOutPgd');
    if (scores.length !== epochs + 1) c.fail('ensembleTraining.heldOutPgd', `${epochs + 1} entries (before training and after each epoch)`, `${scores.length} entries`);
    scores.forEach((v, i) => c.nullable(v, `ensembleTraining.heldOutPgd[${i}]`, c.fraction));
  }

  if (r.sweep !== null) {
    const s = c.object(r.sweep, 'sweep');
    c.array(s.robustness, 'sweep.robustness').forEach((series, i) => {
      const o = c.object(series, `sweep.robustness[${i}]`);
      c.string(o.method, `sweep.robustness[${i}].method`);
      c.array(o.points, `sweep.robustness[${i}].points`).forEach((pt, j) => {
        const p = `sweep.robustness[${i}].points[${j}]`;
        const q = c.object(pt, p);
        c.fraction(q.sparsity, `${p}.sparsity`);
        if (q.targetSparsity !== undefined) c.fraction(q.targetSparsity, `${p}.targetSparsity`);
        c.fraction(q.robust, `${p}.robust`);
        c.nullable(q.clean, `${p}.clean`, c.fraction);
      });
    });
    if (s.rdByTeamSize !== null)
      c.array(s.rdByTeamSize, 'sweep.rdByTeamSize').forEach((pt, i) => {
        const q = c.object(pt, `sweep.rdByTeamSize[${i}]`);
        c.count(q.size, `sweep.rdByTeamSize[${i}].size`);
        c.finite(q.robustDiversity, `sweep.rdByTeamSize[${i}].robustDiversity`);
      });
  }
  return r as unknown as EedReport;
}
