// The EED pipeline end to end on a sliver of Fashion-MNIST with token amounts of work: every
// stage runs, writes its outputs, and a rerun resumes instead of recomputing.

import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/cli/options.js';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { readManifest } from '../../src/ensemble/ensembleDir.js';
import { PIPELINE_OPTIONS, PIPELINE_PRESETS, type PipelineConfig } from '../../src/pipeline/config.js';
import { baseStage, setBaseWaitMs } from '../../src/pipeline/baseStage.js';
import { setEvalAutoAttack, setEvalRowWaitMs } from '../../src/pipeline/evalStage.js';
import { openPipeline } from '../../src/pipeline/context.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { poolJobs } from '../../src/pipeline/poolStage.js';
import { copyEarlierStages } from '../../src/pipeline/sharedStages.js';
import type { Selection } from '../../src/pipeline/selectStage.js';
import type { EnsembleStageReport } from '../../src/pipeline/ensembleStage.js';
import type { EedReport } from '../../src/reports/report.js';
import type { SuiteResult } from '../../src/attacks/suite.js';

const scratch = mkdtempSync(join(tmpdir(), 'eed-pipeline-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function tinyConfig(out: string): PipelineConfig {
  const flags = {
    width: 0.25, trainSize: 160, heldOut: 32, chunks: 2, scores: 'erm,bnsf,nis', batchSize: 32, eps: 0.1, stepSize: 0.05, attackSteps: 1,
    baseEpochs: 1, pruneEpochs: 1, finetuneEpochs: 1, pruneValidation: false, scoreSamples: 32, bnRecalibration: 32, subSparsity: 0.9, sparsity: 0.75,
    rdSteps: 1, rdStepSize: 0.05, ensembleEpochs: 1, ensembleSize: 64, ensembleAttackSteps: 1, distillSteps: 1, distillStep: 0.02,
    evalCount: 32, aaCount: 0, evalSteps: 1, evalStepSize: 0.05, evalAttacks: 'clean,pgd', singleAttacks: 'clean', speedRepeats: 1, out,
  };
  return { ...resolveOptions('run', PIPELINE_OPTIONS, PIPELINE_PRESETS, []).config, ...flags };
}

/** A lock as a process on another host sharing the folder holds it (never taken over). */
function lockedElsewhere(lockPath: string): void {
  writeFileSync(lockPath, JSON.stringify({ pid: 1, host: `${hostname()}-elsewhere`, since: new Date().toISOString() }));
}

/** The pipeline opened with its log lines also kept. */
async function openLogged(config: PipelineConfig): Promise<{ ctx: Awaited<ReturnType<typeof openPipeline>>; lines: string[] }> {
  const ctx = await openPipeline(config);
  const lines: string[] = [];
  const log = ctx.log;
  ctx.log = (line) => {
    lines.push(line);
    log(line);
  };
  return { ctx, lines };
}

describe.skipIf(!existsSync(FASHION_MNIST_DIR))('the EED pipeline (eed run)', () => {
  const out = join(scratch, 'run');

  it('runs one pool job alone, as `--stage pool --job k` does', async () => {
    const ctx = await openPipeline(tinyConfig(out));
    const jobs = poolJobs(ctx);
    expect(jobs.map((j) => j.name)).toEqual(['erm-1', 'bnsf-1', 'nis-1']);
    const outcome = await runPipeline(ctx, { stage: 'pool', job: 1 });
    expect(outcome.stagesRun).toEqual(['base', 'pool']);
    expect(existsSync(join(jobs[1].dir, 'report.json'))).toBe(true);
    expect(existsSync(join(jobs[0].dir, 'report.json'))).toBe(false);
    expect(existsSync(join(jobs[1].dir, 'job.lock'))).toBe(false);
    // The job's own run folder records the safety net's rule; the spec's as no entry, so a job
    // checkpointed before the setting existed resumes.
    const jobConfig = (dir: string) => JSON.parse(readFileSync(join(dir, 'train', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(jobConfig(jobs[1].dir).keepBudget).toBe('scale');
    const spec = join(scratch, 'run-shift');
    const shiftCtx = await openPipeline({ ...tinyConfig(spec), keepBudgetRule: 'shift' });
    await runPipeline(shiftCtx, { stage: 'pool', job: 1 });
    expect('keepBudget' in jobConfig(poolJobs(shiftCtx)[1].dir)).toBe(false);
    rmSync(spec, { recursive: true, force: true });
  });

  it('finishes the run: pool, team within budget, ensemble folder, report with every row', async () => {
    const ctx = await openPipeline(tinyConfig(out));
    const jobOneReport = statSync(join(poolJobs(ctx)[1].dir, 'report.json')).mtimeMs;
    const outcome = await runPipeline(ctx);
    expect(outcome.stagesRun).toEqual(['base', 'pool', 'select', 'ensemble', 'eval']);
    // Every evaluation row was computed here, so the stage's time is the whole of it.
    expect(outcome.report!.run.stages.find((s) => s.stage === 'eval')!.note).toBeUndefined();
    // The job done earlier was not redone.
    expect(statSync(join(poolJobs(ctx)[1].dir, 'report.json')).mtimeMs).toBe(jobOneReport);

    const selection = JSON.parse(readFileSync(join(out, 'select', 'selection.json'), 'utf8')) as Selection;
    expect(selection.pool).toHaveLength(3);
    expect(selection.failures.every((f) => f.length === 32)).toBe(true);
    expect(selection.considered).toHaveLength(4); // 3 pairs + the triple
    expect(selection.parameters).toBeLessThanOrEqual(selection.budget);
    expect(selection.team.length).toBeGreaterThanOrEqual(2);

    const manifest = await readManifest(join(out, 'ensemble'));
    expect(manifest.members.map((m) => m.name)).toEqual(selection.teamNames);
    // Ensemble training kept its best epoch on the held-out split (0: the team as selected).
    const ensembleReport = JSON.parse(readFileSync(join(out, 'ensemble', 'report.json'), 'utf8')) as EnsembleStageReport;
    const heldOutScores = [ensembleReport.initialValidationPgd!, ...ensembleReport.history.map((h) => h.validationPgd!)];
    expect(heldOutScores).toHaveLength(2);
    expect(ensembleReport.selectedEpoch).toBe(heldOutScores.lastIndexOf(Math.max(...heldOutScores)));
    expect(manifest.members.reduce((s, m) => s + m.prunableNonZero, 0)).toBeLessThanOrEqual(selection.budget);

    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as EedReport;
    // The team before ensemble training has a row of its own unless EED kept exactly those weights (epoch 0).
    const untrainedRow = ensembleReport.selectedEpoch === 0 ? [] : ['team-untrained'];
    expect(report.methods.map((m) => m.kind)).toEqual(['dense', 'pruned', 'pruned', 'pruned', 'pool-average', ...untrainedRow, 'eed-static', 'eed-die', 'eed-die-adaptive']);
    expect(report.ensembleTraining).toEqual({ epochs: 1, selectedEpoch: ensembleReport.selectedEpoch, heldOutPgd: heldOutScores });
    for (const m of report.methods) {
      expect(m.clean).toBeGreaterThanOrEqual(0);
      expect(m.clean).toBeLessThanOrEqual(1);
      expect(m.speedUp).toBeGreaterThan(0);
    }
    const die = report.methods.find((m) => m.kind === 'eed-die')!;
    expect(die.pgd).not.toBeNull();
    // The adaptive row: the same clean accuracy, and never above DIE's under the static-team attack.
    const adaptive = report.methods.find((m) => m.kind === 'eed-die-adaptive')!;
    expect(adaptive.clean).toBe(die.clean);
    expect(adaptive.pgd).toBeLessThanOrEqual(die.pgd!);
    // ... counted per image from the cached rows' verdicts: DIE right under the team attack and
    // under the first member's alone (not merely the lower of the two accuracies).
    const cachedRows = readdirSync(join(out, 'eval')).map((f) => JSON.parse(readFileSync(join(out, 'eval', f), 'utf8')) as { key: { row: string; options: { attacks: string[] } }; value: unknown });
    const pgdRow = (row: string) => cachedRows.find((r) => r.key.row === row && r.key.options.attacks.includes('pgd'))!.value;
    const team = (pgdRow('eed') as { dieResult: SuiteResult; staticCorrect: string }).dieResult;
    const first = pgdRow('eed-first-member') as SuiteResult;
    for (const r of [team, first]) expect(r.rows[0].correct).toMatch(/^[01]{32}$/);
    const both = [...team.rows[0].correct!].filter((v, i) => v === '1' && first.rows[0].correct![i] === '1').length / 32;
    expect(adaptive.pgd).toBe(both);
    expect(adaptive.pgd).toBeLessThanOrEqual(first.rows[0].accuracy);
    expect(adaptive.speedUp).toBe(die.speedUp);
    expect(die.aa).toBeNull(); // aaCount 0: not run, reported as such
    expect(report.die!.membersUsedHistogram.reduce((a, b) => a + b, 0)).toBe(32);
    expect(report.die!.withDie.meanMembersUsed).toBeLessThanOrEqual(selection.team.length);
    expect(report.teamSelection!.teams.filter((t) => t.chosen)).toHaveLength(1);
    expect(existsSync(join(out, 'report.md'))).toBe(true);
    expect(readdirSync(out).some((f) => f.endsWith('.svg'))).toBe(true);
  });

  it('keeps evaluation results per row, so a rerun recomputes only what changed', async () => {
    const cacheFiles = () => readdirSync(join(out, 'eval')).filter((f) => f.endsWith('.json'));
    const before = cacheFiles();
    // dense, 3 sub-models, the pool average, the team before ensemble training (unless EED kept
    // its weights), EED under clean and PGD, and the first member alone under PGD (the adaptive check).
    const kept = (JSON.parse(readFileSync(join(out, 'ensemble', 'report.json'), 'utf8')) as EnsembleStageReport).selectedEpoch;
    expect(before).toHaveLength(kept === 0 ? 8 : 9);
    const stamps = new Map(before.map((f) => [f, statSync(join(out, 'eval', f)).mtimeMs]));
    const ctx = await openPipeline({ ...tinyConfig(out), evalAttacks: 'clean,pgd,cw' });
    const outcome = await runPipeline(ctx);
    expect(outcome.report!.methods.find((m) => m.kind === 'eed-die')!.cw).not.toBeNull();
    const after = cacheFiles();
    // Only the rows whose attacks changed are new: dense (its attack list changed), EED under CW
    // and the first member alone under CW.
    expect(after.filter((f) => !stamps.has(f))).toHaveLength(3);
    // The report says that the evaluation's time leaves out the rows finished before it.
    const note = outcome.report!.run.stages.find((s) => s.stage === 'eval')!.note ?? '';
    const [, rows, earlier] = /^time of this invocation only: of its (\d+) evaluation rows \(eval\/\), (\d+) finished by earlier invocations$/.exec(note) ?? [];
    expect(Number(rows) - Number(earlier)).toBe(3);
    // Every earlier row but the dense one (its attack list changed, so its key did) was taken.
    expect(Number(earlier)).toBe(before.length - 1);
    for (const [f, t] of stamps) if (after.includes(f)) expect(statSync(join(out, 'eval', f)).mtimeMs).toBe(t);
  });

  it('keeps every finished row in a copy of the run folder (new paths and modification times)', async () => {
    // Rows are keyed by the model files' content: a run copied to another machine or unpacked from
    // an archive (which keeps whole seconds of a time at best) must not recompute hours of attacks.
    const copy = join(scratch, 'run-copy');
    cpSync(out, copy, { recursive: true });
    const rows = readdirSync(join(copy, 'eval')).filter((f) => f.endsWith('.json'));
    const stamps = new Map(rows.map((f) => [f, statSync(join(copy, 'eval', f)).mtimeMs]));
    const outcome = await runPipeline(await openPipeline({ ...tinyConfig(copy), evalAttacks: 'clean,pgd,cw' }));
    expect(outcome.report!.methods.find((m) => m.kind === 'eed-die')!.cw).not.toBeNull();
    // The same rows, none written again (a recomputed row is rewritten under the same name).
    expect(readdirSync(join(copy, 'eval')).filter((f) => f.endsWith('.json')).sort()).toEqual(rows.sort());
    for (const [f, t] of stamps) expect(statSync(join(copy, 'eval', f)).mtimeMs).toBe(t);
    rmSync(copy, { recursive: true, force: true });
  });

  it('takes rows written under the older path-and-time keys while the files are unchanged', async () => {
    const copy = join(scratch, 'run-legacy');
    cpSync(out, copy, { recursive: true, preserveTimestamps: true });
    // Every model file of the run by its content digest, as the evaluation names it (run folder + relative path).
    const files = new Map<string, string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true }))
        // (checkpoint folders may hold a byte-identical copy of a final model)
        if (e.isDirectory()) e.name !== 'train' && walk(join(dir, e.name));
        else if (e.name.endsWith('.safetensors')) files.set(createHash('sha256').update(readFileSync(join(dir, e.name))).digest('hex'), join(dir, e.name));
    };
    walk(copy);
    const legacy = (v: unknown): unknown => {
      if (typeof v === 'string' && v.startsWith('sha256:')) {
        const path = files.get(v.slice(7))!;
        const st = statSync(path);
        return `${path}@${st.mtimeMs}:${st.size}`;
      }
      if (Array.isArray(v)) return v.map(legacy);
      if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, legacy(x)]));
      return v;
    };
    const digest = (key: unknown) => createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 16);
    const rows = readdirSync(join(copy, 'eval')).filter((f) => f.endsWith('.json'));
    const values = new Map<string, unknown>();
    for (const f of rows) {
      const row = JSON.parse(readFileSync(join(copy, 'eval', f), 'utf8')) as { key: unknown; value: unknown };
      values.set(f, row.value);
      const key = legacy(row.key);
      rmSync(join(copy, 'eval', f));
      writeFileSync(join(copy, 'eval', `${digest(key)}.json`), JSON.stringify({ key, value: row.value }));
    }
    await runPipeline(await openPipeline({ ...tinyConfig(copy), evalAttacks: 'clean,pgd,cw' }));
    // The rows this evaluation asks for are back under their content names with the values they
    // had (a recomputed row has other timings); the rest (the first test's dense row, whose attack
    // list was shorter) keep their older names. Nothing was computed again.
    const now = readdirSync(join(copy, 'eval')).filter((f) => f.endsWith('.json'));
    const adopted = rows.filter((f) => now.includes(f));
    expect(adopted.length).toBe(rows.length - 1);
    expect(now.length).toBe(rows.length);
    for (const f of adopted) expect((JSON.parse(readFileSync(join(copy, 'eval', f), 'utf8')) as { value: unknown }).value).toEqual(values.get(f));
    rmSync(copy, { recursive: true, force: true });
  });

  it('resumes a folder from before a setting existed when the setting has the value that folder ran under', async () => {
    const older = join(scratch, 'run-older');
    cpSync(out, older, { recursive: true });
    const recorded = JSON.parse(readFileSync(join(older, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(recorded.rdAccuracyGap).toBe(0.05);
    expect(recorded.keepBudgetRule).toBe('scale');
    expect(recorded.ensembleValidation).toBe(true);
    delete recorded.rdAccuracyGap;
    delete recorded.keepBudgetRule;
    delete recorded.ensembleValidation;
    writeFileSync(join(older, 'config.json'), JSON.stringify(recorded, null, 2) + '\n');
    // Another value than the folder's or the default is another run.
    await expect(openPipeline({ ...tinyConfig(older), rdAccuracyGap: 0.1 })).rejects.toThrow(/different config \(rdAccuracyGap: undefined there, 0\.1 now\)/);
    // The defaults (the command that made the folder, as it was) go on under the folder's values.
    const ctx = await openPipeline(tinyConfig(older));
    expect([ctx.config.rdAccuracyGap, ctx.config.keepBudgetRule, ctx.config.ensembleValidation]).toEqual([1, 'shift', false]);
    expect(readFileSync(join(older, 'log.txt'), 'utf8')).toMatch(
      /from before these settings existed; it goes on as it ran: rdAccuracyGap 1, keepBudgetRule "shift", ensembleValidation false/,
    );
    // So does a command that names them.
    expect((await openPipeline({ ...tinyConfig(older), rdAccuracyGap: 1, keepBudgetRule: 'shift', ensembleValidation: false })).config.keepBudgetRule).toBe('shift');
    // A command that asks for the default by name asks for another run than the folder's.
    await expect(openPipeline(tinyConfig(older), { explicit: new Set(['keepBudgetRule']) })).rejects.toThrow(/different config \(keepBudgetRule: undefined there, "scale" now\)/);
    // The folder keeps the config it was made with.
    expect(JSON.parse(readFileSync(join(older, 'config.json'), 'utf8'))).toEqual(recorded);
    // Its ensemble stage, checkpointed before the held-out check existed (no validation in its
    // config), resumes as it ran: the last epoch kept, nothing checked.
    const trainConfig = join(older, 'ensemble', 'train', 'config.json');
    const { validation: _validation, ...unvalidated } = JSON.parse(readFileSync(trainConfig, 'utf8')) as Record<string, unknown>;
    writeFileSync(trainConfig, JSON.stringify(unvalidated));
    rmSync(join(older, 'ensemble', 'manifest.json'));
    await runPipeline(await openPipeline(tinyConfig(older)), { stage: 'ensemble' });
    const stage = JSON.parse(readFileSync(join(older, 'ensemble', 'report.json'), 'utf8')) as EnsembleStageReport;
    expect([stage.selectedEpoch, stage.initialValidationPgd]).toEqual([1, undefined]);
    expect(JSON.parse(readFileSync(trainConfig, 'utf8'))).toEqual(unvalidated);
    rmSync(older, { recursive: true, force: true });
  });

  it('--baseline-only computes the dense row the evaluation takes, and a process that finds a row being computed waits for it', async () => {
    const cacheFiles = () => readdirSync(join(out, 'eval')).filter((f) => f.endsWith('.json'));
    const keyOf = (f: string) => (JSON.parse(readFileSync(join(out, 'eval', f), 'utf8')) as { key: { row: string; options: { attacks: string[] } } }).key;
    // The evaluation of the test before (clean, PGD, CW) holds its dense row: the baseline finds it under the same key.
    const config = { ...tinyConfig(out), evalAttacks: 'clean,pgd,cw' };
    const denseFile = cacheFiles().find((f) => keyOf(f).row === 'dense' && keyOf(f).options.attacks.includes('cw'))!;
    const stamp = statSync(join(out, 'eval', denseFile)).mtimeMs;
    expect((await runPipeline(await openPipeline(config), { baselineOnly: true })).stagesRun).toEqual(['base']);
    expect(statSync(join(out, 'eval', denseFile)).mtimeMs).toBe(stamp);
    // Being computed elsewhere (a lock of another host sharing the folder) and not yet written:
    // the process waits, then takes the other's result instead of computing it again.
    const saved = readFileSync(join(out, 'eval', denseFile));
    rmSync(join(out, 'eval', denseFile));
    const lockPath = join(out, 'eval', denseFile.replace(/\.json$/, '.lock'));
    lockedElsewhere(lockPath);
    setEvalRowWaitMs(20);
    try {
      const { ctx, lines } = await openLogged(config);
      const waiting = runPipeline(ctx, { baselineOnly: true });
      await new Promise((r) => setTimeout(r, 500));
      expect(existsSync(join(out, 'eval', denseFile))).toBe(false);
      writeFileSync(join(out, 'eval', denseFile), saved);
      await waiting;
      expect(lines.some((l) => /this row is being computed by .*-elsewhere/.test(l))).toBe(true);
      expect(readFileSync(join(out, 'eval', denseFile))).toEqual(saved);
    } finally {
      rmSync(lockPath, { force: true });
      setEvalRowWaitMs(10_000);
    }
    // No lock or progress file is left by the rows computed here.
    expect(readdirSync(join(out, 'eval')).filter((f) => /\.(lock|partial\.json)$/.test(f))).toEqual([]);
  });

  /** A copy of the run (its evaluation under clean, PGD and CW done) and its EED rows' files. */
  function copyWithEedRows(name: string) {
    const copy = join(scratch, name);
    cpSync(out, copy, { recursive: true });
    const config = { ...tinyConfig(copy), evalAttacks: 'clean,pgd,cw' };
    const keyOf = (f: string) => (JSON.parse(readFileSync(join(copy, 'eval', f), 'utf8')) as { key: { row: string; options: { attacks: string[] } } }).key;
    const eedRows = readdirSync(join(copy, 'eval')).filter((f) => f.endsWith('.json') && /^eed/.test(keyOf(f).row));
    return { copy, config, eedRows, keyOf };
  }

  it('--eval-helper computes the EED rows the evaluation then takes, skipping a row being computed elsewhere', async () => {
    const { copy, config, eedRows } = copyWithEedRows('run-helper');
    // EED under clean, PGD and CW; the first member alone under PGD and CW.
    expect(eedRows).toHaveLength(5);
    for (const f of eedRows) rmSync(join(copy, 'eval', f));
    // One of them is being computed by a process elsewhere.
    const busyRow = eedRows[0];
    const lockPath = join(copy, 'eval', busyRow.replace(/\.json$/, '.lock'));
    lockedElsewhere(lockPath);
    const { ctx, lines } = await openLogged(config);
    expect((await runPipeline(ctx, { evalHelper: true })).report).toBeNull();
    const now = readdirSync(join(copy, 'eval')).filter((f) => f.endsWith('.json'));
    expect(eedRows.filter((f) => now.includes(f)).sort()).toEqual(eedRows.filter((f) => f !== busyRow).sort());
    expect(lines.some((l) => /being computed by .*-elsewhere.*; on to the next/.test(l))).toBe(true);
    // The team's rows first, then the first member's from the end of the evaluation's order.
    expect(lines.filter((l) => l.startsWith('eval helper: ')).map((l) => l.slice('eval helper: '.length))).toEqual([
      'EED team under clean', 'EED team under pgd', 'EED team under cw', 'EED first member alone under cw', 'EED first member alone under pgd',
    ]);
    // The evaluation takes the helper's rows as they are and computes the one left.
    rmSync(lockPath);
    const stamps = new Map(now.map((f) => [f, statSync(join(copy, 'eval', f)).mtimeMs]));
    await runPipeline(await openPipeline(config));
    for (const [f, t] of stamps) expect(statSync(join(copy, 'eval', f)).mtimeMs).toBe(t);
    expect(existsSync(join(copy, 'eval', busyRow))).toBe(true);
    // Without a trained ensemble there is nothing to help with.
    rmSync(join(copy, 'ensemble', 'manifest.json'));
    await expect(runPipeline(await openPipeline(config), { evalHelper: true })).rejects.toThrow(/manifest\.json does not exist yet/);
    rmSync(copy, { recursive: true, force: true });
  });

  it('the evaluation leaves an EED row another process holds for last, and computes the others meanwhile', async () => {
    const { copy, config, eedRows, keyOf } = copyWithEedRows('run-held');
    // The team under PGD is held by a process elsewhere, which lets go once this one waits for it.
    const held = eedRows.find((f) => keyOf(f).row === 'eed' && keyOf(f).options.attacks.includes('pgd'))!;
    for (const f of eedRows) rmSync(join(copy, 'eval', f));
    const lockPath = join(copy, 'eval', held.replace(/\.json$/, '.lock'));
    lockedElsewhere(lockPath);
    setEvalRowWaitMs(20);
    try {
      const { ctx, lines } = await openLogged(config);
      const log = ctx.log;
      ctx.log = (line) => {
        if (/; waiting for it$/.test(line)) rmSync(lockPath, { force: true });
        log(line);
      };
      const report = (await runPipeline(ctx)).report!;
      expect(report.methods.find((m) => m.kind === 'eed-die')!.pgd).not.toBeNull();
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      const skipped = at(/being computed by .*-elsewhere.*; on to the next/);
      const waited = at(/being computed by .*-elsewhere.*; waiting for it/);
      // Skipped at first, then every other EED row (the first member's under CW last of them), then the wait.
      expect(skipped).toBeGreaterThan(-1);
      expect(at(/EED first member .* under cw/)).toBeGreaterThan(skipped);
      expect(waited).toBeGreaterThan(at(/EED first member .* under cw/));
      expect(readdirSync(join(copy, 'eval')).filter((f) => eedRows.includes(f)).sort()).toEqual([...eedRows].sort());
    } finally {
      setEvalRowWaitMs(10_000);
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('--stages-from: a variant of the ensemble stage copies the base, pool, team and baseline rows of a finished run', async () => {
    const variant = join(scratch, 'run-beta');
    const ctx = await openPipeline({ ...tinyConfig(variant), beta: 0.5, omega: 0 });
    const copied = copyEarlierStages(ctx, out);
    expect(copied.join('; ')).toMatch(/^the base model; 3 pool job\(s\); the team selection; \d+ finished evaluation row\(s\)$/);
    const jobReports = readdirSync(join(variant, 'pool')).map((j) => join(variant, 'pool', j, 'report.json'));
    const stamps = jobReports.map((f) => statSync(f).mtimeMs);
    // No checkpoints of finished work come along.
    expect(readdirSync(join(variant, 'pool')).some((j) => existsSync(join(variant, 'pool', j, 'train')))).toBe(false);
    const outcome = await runPipeline(ctx);
    expect(jobReports.map((f) => statSync(f).mtimeMs)).toEqual(stamps);
    expect(JSON.parse(readFileSync(join(variant, 'select', 'selection.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(out, 'select', 'selection.json'), 'utf8')));
    // The ensemble is its own (trained with β 0.5, ω 0); the dense row is the original run's.
    const dense = (r: EedReport) => r.methods.find((m) => m.kind === 'dense')!;
    const original = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as EedReport;
    expect([dense(outcome.report!).clean, dense(outcome.report!).pgd]).toEqual([dense(original).clean, dense(original).pgd]);
    expect(JSON.parse(readFileSync(join(variant, 'ensemble', 'train', 'config.json'), 'utf8'))).toMatchObject({ beta: 0.5, omega: 0 });
    // Copying again finds nothing new; a run that differs before the ensemble stage is refused, naming the setting.
    expect(copyEarlierStages(ctx, out)).toEqual([]);
    const other = await openPipeline({ ...tinyConfig(join(scratch, 'run-seed')), seed: 1 });
    expect(() => copyEarlierStages(other, out)).toThrow(/--stages-from .*: it ran with seed 0, this run has 1; only the settings of the ensemble stage and after may differ/);
    expect(() => copyEarlierStages(other, join(scratch, 'nowhere'))).toThrow(/no run folder there \(expected .*config\.json/);
    rmSync(variant, { recursive: true, force: true });
    rmSync(join(scratch, 'run-seed'), { recursive: true, force: true });
  });

  it('an interrupt stops the evaluation at the next row to compute', async () => {
    const ctx = await openPipeline({ ...tinyConfig(out), evalAttacks: 'clean,fgsm' });
    // Ctrl-C once the evaluation has begun (its first line is the dense row, whose attack list changed).
    const log = ctx.log;
    ctx.log = (line) => {
      if (line.startsWith('eval: dense')) ctx.signal.aborted = true;
      log(line);
    };
    await expect(runPipeline(ctx)).rejects.toThrow(/interrupted during evaluation/);
  });

  it("counts DIE's members used on the clean images even without a clean row", async () => {
    const ctx = await openPipeline({ ...tinyConfig(out), evalAttacks: 'pgd' });
    const outcome = await runPipeline(ctx);
    expect(outcome.report!.methods.find((m) => m.kind === 'eed-die')!.clean).toBeNull();
    expect(outcome.report!.die!.membersUsedHistogram.reduce((a, b) => a + b, 0)).toBe(32);
    // §11.5's theoretical FLOP ratio beside the measured speed-ups: sub-models kept ~10% of the
    // prunable weights, and DIE never costs more than the static team.
    const rows = outcome.report!.methods;
    expect(rows.find((m) => m.kind === 'dense')!.flopRatio).toBe(1);
    for (const m of rows.filter((r) => r.kind === 'pruned')) expect(m.flopRatio!).toBeGreaterThan(3);
    const ratio = (kind: string) => rows.find((m) => m.kind === kind)!.flopRatio!;
    expect(ratio('eed-die')).toBeGreaterThanOrEqual(ratio('eed-static'));
    expect(ratio('pool-average')).toBeLessThan(ratio('eed-static'));
    const d = outcome.report!.die!;
    expect(d.withDie.macsPerImage!).toBeLessThanOrEqual(d.withoutDie.macsPerImage!);
    expect(d.withDie.timedMeanMembersUsed!).toBeGreaterThanOrEqual(1);
    expect(d.withDie.timedMeanMembersUsed!).toBeLessThanOrEqual(d.teamSize);
  });

  it('runs AutoAttack on the dense model, EED and the single sub-model with the highest PGD accuracy', async () => {
    const ctx = await openPipeline({ ...tinyConfig(out), aaCount: 4, evalAttacks: 'clean,pgd', singleAttacks: 'clean,pgd' });
    setEvalAutoAttack({ iterations: 2, queries: 5, targetClasses: 2 });
    let rows: EedReport['methods'];
    try {
      rows = (await runPipeline(ctx)).report!.methods;
    } finally {
      setEvalAutoAttack(undefined);
    }
    const singles = rows.filter((m) => m.kind === 'pruned');
    const best = singles.reduce((a, b) => (b.pgd! > a.pgd! ? b : a));
    expect(singles.filter((m) => m.aa !== null)).toEqual([best]);
    for (const kind of ['dense', 'eed-static', 'eed-die']) expect(rows.find((m) => m.kind === kind)!.aa, kind).not.toBeNull();
    expect(rows.find((m) => m.kind === 'pool-average')!.aa).toBeNull();
  });

  it('shows the team before ensemble training where EED kept other weights, under the single rows\' attacks', async () => {
    const copy = join(scratch, 'run-untrained');
    cpSync(out, copy, { recursive: true });
    const reportPath = join(copy, 'ensemble', 'report.json');
    const stage = JSON.parse(readFileSync(reportPath, 'utf8')) as EnsembleStageReport;
    const selection = JSON.parse(readFileSync(join(copy, 'select', 'selection.json'), 'utf8')) as Selection;
    const config = { ...tinyConfig(copy), singleAttacks: 'clean,pgd' };
    for (const selectedEpoch of [1, 0]) {
      writeFileSync(reportPath, JSON.stringify({ ...stage, selectedEpoch }));
      const rows = (await runPipeline(await openPipeline(config))).report!.methods;
      const untrained = rows.find((m) => m.kind === 'team-untrained');
      if (selectedEpoch === 0) expect(untrained).toBeUndefined();
      else {
        expect(untrained!.pgd).not.toBeNull();
        expect(untrained!.aa).toBeNull();
        expect(untrained!.parameters.nonZero).toBe(selection.parameters);
        expect(rows.map((m) => m.kind).indexOf('team-untrained')).toBe(rows.map((m) => m.kind).indexOf('eed-static') - 1);
      }
    }
    rmSync(copy, { recursive: true, force: true });
  });

  it('sweeps the target sparsity from the same base into the report (Fig. 4)', async () => {
    const ctx = await openPipeline({ ...tinyConfig(out), sweep: '0.7', singleAttacks: 'clean,pgd' });
    const outcome = await runPipeline(ctx);
    const sweepReport = JSON.parse(readFileSync(join(out, 'sweep', 's-0.7', 'report.json'), 'utf8')) as EedReport;
    expect(sweepReport.run.config.subSparsity).toBeCloseTo(0.925, 12);
    expect(sweepReport.run.config.baseCheckpoint).toBe(join(out, 'base', 'model.safetensors'));
    const series = outcome.report!.sweep!.robustness;
    // The pool average keeps more weights than any budget: no point on a sparsity axis.
    expect(series.map((s) => s.method).sort()).toEqual(['Best single sub-model', 'EED (DIE)', 'EED (static team)']);
    for (const s of series) expect(s.points.map((p) => p.targetSparsity).sort()).toEqual([0.7, 0.75]);
    const at = (method: string, target: number) => series.find((s) => s.method === method)!.points.find((p) => p.targetSparsity === target)!;
    // Each point sits at its row's measured sparsity: the best single sub-model at c_r, EED at its team's.
    const ownSparsity = (r: EedReport, kind: string, pick = (rows: EedReport['methods']) => rows[0]) => {
      const dense = r.methods.find((m) => m.kind === 'dense')!.parameters.nonZero;
      return 1 - pick(r.methods.filter((m) => m.kind === kind)).parameters.nonZero / dense;
    };
    const best = (rows: EedReport['methods']) => rows.reduce((a, b) => ((b.pgd as number) > (a.pgd as number) ? b : a));
    expect(at('Best single sub-model', 0.7).sparsity).toBeCloseTo(ownSparsity(sweepReport, 'pruned', best), 12);
    expect(at('Best single sub-model', 0.75).sparsity).toBeCloseTo(ownSparsity(outcome.report!, 'pruned', best), 12);
    expect(at('Best single sub-model', 0.7).sparsity).toBeGreaterThan(0.9); // c_r = 0.925 at s_r = 0.7
    expect(at('EED (DIE)', 0.7).sparsity).toBeCloseTo(ownSparsity(sweepReport, 'eed-die'), 12);
    expect(at('EED (DIE)', 0.7).sparsity).toBeGreaterThanOrEqual(0.7 - 1e-3);
    expect(at('EED (DIE)', 0.75).robust).toBe(outcome.report!.methods.find((m) => m.kind === 'eed-die')!.pgd);
    expect(at('EED (DIE)', 0.7).robust).toBe(sweepReport.methods.find((m) => m.kind === 'eed-die')!.pgd);
    expect(existsSync(join(out, 'sparsity.svg'))).toBe(true);
  });

  it('records --base-checkpoint by content: a base rewritten in place is refused, the same file elsewhere resumes', async () => {
    const dir = join(scratch, 'base-by-content');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.safetensors'), 'base one');
    const config = { ...tinyConfig(join(dir, 'run')), baseCheckpoint: join(dir, 'a.safetensors') };
    await openPipeline(config);
    writeFileSync(join(dir, 'b.safetensors'), 'base one');
    await openPipeline({ ...config, baseCheckpoint: join(dir, 'b.safetensors') });
    writeFileSync(join(dir, 'a.safetensors'), 'base two');
    await expect(openPipeline(config)).rejects.toThrow(/different config \(baseCheckpoint: "sha256:[0-9a-f]{64}" there, "sha256:[0-9a-f]{64}" now\)/);
  });

  it('a process that finds the base being trained by another one waits for it instead of training it again', async () => {
    const dir = join(scratch, 'base-wait');
    const ctx = await openPipeline(tinyConfig(dir));
    // The lock of a live process that is not us (our parent).
    writeFileSync(join(dir, 'base.lock'), JSON.stringify({ pid: process.ppid, host: hostname(), since: 'now' }));
    setBaseWaitMs(20);
    try {
      const waiting = baseStage(ctx);
      await new Promise((r) => setTimeout(r, 200));
      expect(existsSync(join(dir, 'base', 'config.json'))).toBe(false);
      // The other process finishes.
      mkdirSync(join(dir, 'base'));
      writeFileSync(join(dir, 'base', 'report.json'), JSON.stringify({ checkpoint: 'base/model.safetensors', seconds: 1, history: [] }));
      expect(await waiting).toBe(join(dir, 'base', 'model.safetensors'));
      expect(existsSync(join(dir, 'base', 'config.json'))).toBe(false);
    } finally {
      setBaseWaitMs(5000);
    }
  });

  it('records the training data by content: another copy of it resumes, changed data is refused', async () => {
    // Three Fashion-MNIST-format folders of 300 training and 50 test images: a, a copy of a, and a
    // with one label changed.
    const idx = (magic: number, dims: number[], body: Uint8Array) => {
      const head = Buffer.alloc(4 + 4 * dims.length);
      head.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
      return gzipSync(Buffer.concat([head, body]));
    };
    const folder = (name: string, labels: Uint8Array) => {
      const dir = join(scratch, name);
      mkdirSync(dir);
      const pixels = (n: number) => Uint8Array.from({ length: n * 784 }, (_, i) => (i * 37) % 251);
      writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), idx(0x803, [300, 28, 28], pixels(300)));
      writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), idx(0x801, [300], labels));
      writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), idx(0x803, [50, 28, 28], pixels(50)));
      writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), idx(0x801, [50], labels.slice(0, 50)));
      return dir;
    };
    const labels = Uint8Array.from({ length: 300 }, (_, i) => i % 10);
    const a = folder('data-a', labels);
    const copy = folder('data-a-copy', labels);
    const changed = folder('data-b', Uint8Array.from(labels, (v, i) => (i === 123 ? (v + 1) % 10 : v)));
    const config = { ...tinyConfig(join(scratch, 'by-data')), trainSize: 0, data: a };
    await openPipeline(config);
    await openPipeline({ ...config, data: copy });
    await expect(openPipeline({ ...config, data: changed })).rejects.toThrow(/different config \(trainingData: "[0-9a-f]{16}" there, "[0-9a-f]{16}" now\)/);
  });

  it('a --held-out refused as too large leaves no recorded config behind to refuse the corrected command', async () => {
    const other = join(scratch, 'refused');
    await expect(openPipeline({ ...tinyConfig(other), heldOut: 500 })).rejects.toThrow(/option 'heldOut' \(500\) must be smaller than the 160 training images/);
    expect(existsSync(join(other, 'config.json'))).toBe(false);
  });

  it('resumes a finished run without redoing its stages, and refuses a changed config', async () => {
    const before = statSync(join(out, 'select', 'selection.json')).mtimeMs;
    const ctx = await openPipeline({ ...tinyConfig(out), evalAttacks: 'clean' });
    const outcome = await runPipeline(ctx, { stage: 'ensemble' });
    expect(outcome.stagesRun).toEqual(['base', 'pool', 'select', 'ensemble']);
    expect(statSync(join(out, 'select', 'selection.json')).mtimeMs).toBe(before);
    await expect(openPipeline({ ...tinyConfig(out), subSparsity: 0.95 })).rejects.toThrow(/subSparsity: 0.9 there, 0.95 now/);
  });

  it('a moved run evaluates its own checkpoints (reports store paths relative to the run)', async () => {
    const moved = join(scratch, 'moved');
    renameSync(out, moved);
    try {
      const selection = JSON.parse(readFileSync(join(moved, 'select', 'selection.json'), 'utf8')) as Selection;
      for (const p of selection.pool) expect(p.checkpoint).toMatch(/^pool\/job-\d\d-[a-z]+-\d\/model\.safetensors$/);
      const ctx = await openPipeline({ ...tinyConfig(moved), evalAttacks: 'clean' });
      const outcome = await runPipeline(ctx);
      expect(outcome.stagesRun).toEqual(['base', 'pool', 'select', 'ensemble', 'eval']);
      expect(outcome.report!.methods.find((m) => m.kind === 'eed-die')!.clean).not.toBeNull();
    } finally {
      renameSync(moved, out);
    }
  });
});
