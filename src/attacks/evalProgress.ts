// The finished rows of an interrupted attack suite (`eed eval`, and each row of `eed run`'s
// evaluation), so that rerunning the same command resumes after the last finished attack, and
// AutoAttack's state after each of its own attacks (in a safetensors file beside it: the points
// found so far), so that it resumes inside AutoAttack too: on a CPU adapter one AutoAttack runs for
// hours. Both record what they depend on (for eed eval the weights file's identity, the dataset, a
// digest of its test split and the suite options); a file from another model, other data or other
// settings is ignored and replaced, never mixed in. resumableSuite runs a suite through one.

import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { AttackWithinState, AutoAttackProgress } from './autoAttack.js';
import type { GpuDataset } from '../data/batches.js';
import type { Classifier } from './classifier.js';
import {
  evaluateSuite,
  resolveSuiteOptions,
  type AttackOutcome,
  type AutoAttackOutcome,
  type LabelledImages,
  type SuiteAttack,
  type SuiteHooks,
  type SuiteOptions,
  type SuiteResult,
} from './suite.js';
import { Tensor } from '../engine/tensor.js';
import { fileDigest } from '../io/fileDigest.js';
import { readSafetensors, tensorRecord, toFloat32, writeSafetensors, type SafetensorsContent } from '../io/safetensors.js';

/**
 * A file as a cache key: its size and content (rewritten weights are a new model; a copied run
 * is the same one), and its absolute path for the reader. The path is not compared (sameKey): the
 * same run reached from another folder or through a symlink resumes.
 */
export function fileIdentity(path: string): { path: string; bytes: number; sha256: string } {
  return { path: resolve(path), bytes: statSync(path).size, sha256: fileDigest(path) };
}

/** The identity progress files held before 27 November: size and modification time. */
export function legacyFileIdentity(path: string): { path: string; bytes: number; modified: number } {
  const st = statSync(path);
  return { path: resolve(path), bytes: st.size, modified: st.mtimeMs };
}

const withoutPaths = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(withoutPaths)
    : v !== null && typeof v === 'object'
      ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'path').map(([k, x]) => [k, withoutPaths(x)]))
      : v;

/** Whether two keys name the same model and settings (file paths aside). */
export function sameKey(a: unknown, b: unknown): boolean {
  return JSON.stringify(withoutPaths(a)) === JSON.stringify(withoutPaths(b));
}

interface ProgressFile {
  key: unknown;
  rows: AttackOutcome[];
}

export class EvalProgress {
  private constructor(
    readonly path: string,
    private readonly key: unknown,
    private readonly rows: AttackOutcome[],
    private readonly olderKeys: readonly unknown[],
    /** Names the command in what is written to stderr. */
    private readonly who: string,
  ) {}

  /**
   * Opens `path`, keeping its rows only if they were computed under the same `key`, or under one
   * of `olderKeys` (what files written before the key gained a field hold; the next write records
   * the full key).
   */
  static async open(path: string, key: unknown, olderKeys: readonly unknown[] = [], who = 'eed eval'): Promise<EvalProgress> {
    let rows: AttackOutcome[] = [];
    const matches = (k: unknown) => [key, ...olderKeys].some((x) => sameKey(k, x));
    // The older keys stay accepted for AutoAttack's state only while the rows file does not say
    // otherwise: once it was rewritten under a full key that does not match, its state is not ours either.
    let accepted = olderKeys;
    if (existsSync(path)) {
      try {
        const file = JSON.parse(readFileSync(path, 'utf8')) as ProgressFile;
        if (matches(file.key) && Array.isArray(file.rows)) rows = file.rows;
        else {
          accepted = [];
          process.stderr.write(`${who}: ${path} holds results for another model or other settings; starting over\n`);
        }
      } catch (e) {
        accepted = [];
        process.stderr.write(`${who}: ${path} is unreadable (${(e as Error).message}); starting over\n`);
      }
    }
    return new EvalProgress(path, key, rows, accepted, who);
  }

  /** Whether a saved key is this file's, or one of the older keys it accepts. */
  private accepts(saved: unknown): boolean {
    return [this.key, ...this.olderKeys].some((x) => sameKey(saved, x));
  }

  /** Whether an earlier invocation left work here that this one takes: finished attacks, or AutoAttack's state under this key. */
  async holdsEarlierWork(): Promise<boolean> {
    if (this.rows.length > 0) return true;
    if (!existsSync(this.autoAttackPath)) return false;
    try {
      return this.accepts(JSON.parse((await readSafetensors(this.autoAttackPath)).metadata.key));
    } catch {
      return false; // unreadable: autoAttackState() starts over as well
    }
  }

  row(attack: SuiteAttack): AttackOutcome | undefined {
    return this.rows.find((r) => r.attack === attack);
  }

  async record(outcome: AttackOutcome): Promise<void> {
    this.rows.push(outcome);
    const file: ProgressFile = { key: this.key, rows: this.rows };
    await writeFileAtomic(this.path, new TextEncoder().encode(JSON.stringify(file, null, 2) + '\n'));
  }

  /** AutoAttack's state file. */
  get autoAttackPath(): string {
    return this.path.replace(/\.json$/, '') + '.autoattack.safetensors';
  }

  /**
   * Saves AutoAttack's state after one of its attacks, or inside one (`within`), atomically; the
   * tensors are read, not kept.
   */
  async recordAutoAttack(progress: AutoAttackProgress): Promise<void> {
    const recordOf = async (t: Tensor) => tensorRecord((await t.data()) as Float32Array, t.shape);
    const tensors: [string, ReturnType<typeof tensorRecord>][] = [['xAdv', await recordOf(progress.xAdv)]];
    const metadata: Record<string, string> = {
      key: JSON.stringify(this.key),
      cleanAccuracy: String(progress.cleanAccuracy),
      steps: JSON.stringify(progress.steps),
      robust: JSON.stringify(progress.robust.map(Number)),
      ...(progress.seconds === undefined ? {} : { seconds: String(progress.seconds) }),
    };
    const w = progress.within;
    if (w) {
      tensors.push(['withinXAdv', await recordOf(w.xAdv)]);
      const inStage = w.inStage && { step: w.inStage.step, generatorPosition: w.inStage.generatorPosition, tensors: Object.keys(w.inStage.tensors) };
      for (const [name, t] of Object.entries(w.inStage?.tensors ?? {})) tensors.push([`inStage.${name}`, await recordOf(t)]);
      metadata.within = JSON.stringify({ ...(w.attack === undefined ? {} : { attack: w.attack }), batch: w.batch, stage: w.stage, robust: w.robust.map(Number), generatorPosition: w.generatorPosition, ...(inStage ? { inStage } : {}) });
    }
    await writeSafetensors(this.autoAttackPath, tensors, metadata);
  }

  /** AutoAttack's saved state under this file's key (the caller owns the tensor), if there is one. */
  async autoAttackState(): Promise<AutoAttackProgress | undefined> {
    if (!existsSync(this.autoAttackPath)) return undefined;
    try {
      const file = await readSafetensors(this.autoAttackPath);
      const m = file.metadata;
      const saved = JSON.parse(m.key) as unknown;
      if (!this.accepts(saved)) {
        process.stderr.write(`${this.who}: ${this.autoAttackPath} holds AutoAttack progress for another model or other settings; starting over\n`);
        return undefined;
      }
      const rec = file.tensors.get('xAdv');
      if (!rec) throw new Error('no xAdv tensor');
      const robust = (JSON.parse(m.robust) as number[]).map(Boolean);
      const steps = JSON.parse(m.steps) as AutoAttackProgress['steps'];
      const cleanAccuracy = Number(m.cleanAccuracy);
      if (!Array.isArray(steps) || !Number.isFinite(cleanAccuracy) || robust.length !== rec.shape[0]) throw new Error('inconsistent metadata');
      const xAdvValues = toFloat32(rec, `${this.autoAttackPath}: xAdv`);
      let within: AttackWithinState | undefined;
      try {
        within = m.within === undefined ? undefined : this.withinState(m.within, file, robust.filter(Boolean).length);
      } catch (e) {
        process.stderr.write(`${this.who}: ${this.autoAttackPath}: ${(e as Error).message}; resuming after the finished attacks instead\n`);
      }
      const seconds = m.seconds === undefined ? undefined : Number(m.seconds);
      const time = seconds !== undefined && Number.isFinite(seconds) && seconds >= 0 ? { seconds } : {};
      return { cleanAccuracy, steps, robust, xAdv: Tensor.fromArray(xAdvValues, rec.shape), ...time, ...(within ? { within } : {}) };
    } catch (e) {
      process.stderr.write(`${this.who}: ${this.autoAttackPath} is unusable (${(e as Error).message}); AutoAttack starts over\n`);
      return undefined;
    }
  }

  /**
   * The saved state inside an attack: its output so far has a row per point the attack started
   * on (those robust before it). Anything else is refused (the attack then starts at its
   * beginning); what the attack itself checks (the batch, the stage) it refuses the same way.
   */
  private withinState(json: string, file: SafetensorsContent, rows: number): AttackWithinState {
    const w = JSON.parse(json) as { attack?: unknown; batch: unknown; stage: unknown; robust: unknown; generatorPosition: unknown; inStage?: { step: unknown; generatorPosition: unknown; tensors: unknown } };
    const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    const rec = file.tensors.get('withinXAdv');
    const st = w.inStage;
    const names = st && Array.isArray(st.tensors) && st.tensors.every((n) => typeof n === 'string' && file.tensors.has(`inStage.${n}`)) ? (st.tensors as string[]) : null;
    const inStageOk = st === undefined || (count(st.step) && count(st.generatorPosition) && names !== null);
    if (!rec || ![w.batch, w.stage, w.generatorPosition].every(count) || !Array.isArray(w.robust) || rec.shape[0] !== rows || !inStageOk || (w.attack !== undefined && typeof w.attack !== 'string'))
      throw new Error(`the state inside an attack (withinXAdv, within) is incomplete or not for the ${rows} points robust before it`);
    // Every value converted before any tensor is made, so a failure leaves nothing behind.
    const values = (name: string) => {
      const r = file.tensors.get(name)!;
      return { data: toFloat32(r, `${this.autoAttackPath}: ${name}`), shape: r.shape };
    };
    const xAdv = values('withinXAdv');
    const inStageValues = (names ?? []).map((n) => [n, values(`inStage.${n}`)] as const);
    const inStage = st && {
      step: st.step as number,
      generatorPosition: st.generatorPosition as number,
      tensors: Object.fromEntries(inStageValues.map(([n, v]) => [n, Tensor.fromArray(v.data, v.shape)])),
    };
    return {
      ...(w.attack === undefined ? {} : { attack: w.attack as string }),
      batch: w.batch as number,
      stage: w.stage as number,
      robust: (w.robust as unknown[]).map(Boolean),
      generatorPosition: w.generatorPosition as number,
      xAdv: Tensor.fromArray(xAdv.data, xAdv.shape),
      ...(inStage ? { inStage } : {}),
    };
  }

  /** Drops the files once the full result is kept elsewhere. */
  remove(): void {
    rmSync(this.path, { force: true });
    rmSync(this.autoAttackPath, { force: true });
  }
}

/**
 * evaluateSuite one attack at a time through `progress`: an attack it already holds is taken from
 * it, each new one is recorded as it ends, and AutoAttack resumes after its last finished attack
 * (each attack's result depends only on its own settings and seed, so the split changes nothing).
 * `log` hears which attacks were taken from the file and AutoAttack's progress; `safePoint` runs
 * before each attack still to compute and after each AutoAttack state saved, and may throw to stop
 * there (where a Ctrl-C stops: at most one target class or restart of work is lost).
 */
export async function resumableSuite(
  progress: EvalProgress,
  classifier: Classifier,
  data: GpuDataset | LabelledImages,
  options: SuiteOptions,
  hooks: Omit<SuiteHooks, 'autoAttackResume'> = {},
  log: (line: string) => void = () => {},
  safePoint: () => void = () => {},
): Promise<SuiteResult> {
  const o = resolveSuiteOptions(options);
  const rows: AttackOutcome[] = [];
  for (const attack of o.attacks) {
    let outcome = progress.row(attack);
    if (outcome) log(`${outcome.label}: ${(outcome.accuracy * 100).toFixed(2)}% (from ${progress.path})`);
    else {
      safePoint();
      const resume = attack === 'autoattack' ? await progress.autoAttackState() : undefined;
      if (resume) log(`AutoAttack: resuming ${resumeWhere(resume)} (from ${progress.autoAttackPath})`);
      let suite: SuiteResult;
      try {
        suite = await evaluateSuite(classifier, data, { ...options, attacks: [attack] }, {
          ...hooks,
          autoAttackResume: resume,
          onProgress: async (e) => {
            if (e.kind === 'autoattack-stage') {
              await progress.recordAutoAttack(e.progress);
              log(`  AutoAttack, after ${e.attack}: ${(e.robustAccuracy * 100).toFixed(2)}% (${e.seconds.toFixed(0)} s)`);
            }
            if (e.kind === 'autoattack-resume-refused') log(`AutoAttack: ${e.reason}`);
            if (e.kind === 'autoattack-checkpoint') {
              await progress.recordAutoAttack(e.progress);
              if (e.progress.within) log(`  AutoAttack, ${e.attack}: saved at ${insideWhere(e.progress.within)} (${e.seconds.toFixed(0)} s)`);
            }
            await hooks.onProgress?.(e);
            if (e.kind === 'autoattack-stage' || e.kind === 'autoattack-checkpoint') safePoint();
          },
        });
      } finally {
        if (resume) disposeAutoAttackProgress(resume);
      }
      outcome = suite.rows[0];
      if (!outcome) continue; // AutoAttack with aaCount 0
      await progress.record(outcome);
    }
    rows.push(outcome);
  }
  const aa = rows.find((r): r is AutoAttackOutcome => r.attack === 'autoattack') ?? null;
  return { rows, autoAttack: aa, options: o };
}

/** Frees the tensors of a state autoAttackState returned. */
export function disposeAutoAttackProgress(p: AutoAttackProgress): void {
  p.xAdv.dispose();
  p.within?.xAdv.dispose();
  for (const t of Object.values(p.within?.inStage?.tensors ?? {})) t.dispose();
}

/** Where inside an attack a saved state stands, in words. */
function insideWhere(w: AttackWithinState): string {
  const plural = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  if (!w.stage && !w.inStage) return `${plural(w.batch, 'batch')} done`;
  const robust = `${w.robust.filter(Boolean).length} of its ${w.robust.length} points still robust`;
  const inStage = w.inStage ? `, ${plural(w.inStage.step, 'step')} (queries) into the next` : '';
  return `batch ${w.batch + 1}, ${plural(w.stage, 'stage')} (target classes or restarts) done${inStage}; ${robust}`;
}

/** Where a saved AutoAttack state stands, in words. */
function resumeWhere(p: AutoAttackProgress): string {
  const after = p.steps.length ? `after ${p.steps.map((st) => st.attack).join(', ')}` : '';
  const inside = p.within ? `inside ${p.within.attack ?? 'the next attack'} at ${insideWhere(p.within)}` : '';
  return [after, inside].filter(Boolean).join(', ') || 'at the start';
}
