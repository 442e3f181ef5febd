// A run directory: the resolved config, a log, per-epoch checkpoints and the final report.
// Checkpoints are committed by atomically rewriting state.json after the tensor files it names
// are fully written, so an interrupted run always resumes from a consistent epoch boundary.

import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic } from '../io/atomicWrite.js';

export interface RunState {
  /** Epochs completed. */
  epoch: number;
  /** Files of this checkpoint, relative to the run directory. */
  files: Record<string, string>;
  /** Anything else needed to continue exactly (generator positions, metrics so far). */
  extra: Record<string, unknown>;
}

// JSON as config.json stores it, with keys sorted at every depth: key order must not matter (an
// array replacer would also drop nested keys that are not top-level names, so nested settings
// would go uncompared), and keys whose value is undefined are absent, as in the file.
const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map((x) => (x === undefined ? 'null' : canonical(x))).join(',')}]`
    : v !== null && typeof v === 'object'
      ? `{${Object.keys(v)
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : String(JSON.stringify(v));

/** Where the run lives is not part of what it computes: a moved run, or one reached by another path, resumes. */
const LOCATION_KEYS = ['out'];
const comparable = (config: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(config).filter(([k]) => !LOCATION_KEYS.includes(k)));

/** state.json as written by commit(), or an error naming the file and the field. */
function checkedState(v: unknown, where: string): RunState {
  const bad = (what: string) => new Error(`${where}: ${what}; pass --fresh to start over`);
  const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (!isObject(v)) throw bad(`expected an object {epoch, files, extra}, found ${JSON.stringify(v)}`);
  if (!Number.isInteger(v.epoch) || (v.epoch as number) < 0) throw bad(`epoch must be a non-negative integer, found ${JSON.stringify(v.epoch)}`);
  if (!isObject(v.files) || !Object.values(v.files).every((f) => typeof f === 'string'))
    throw bad(`files must map names to file names, found ${JSON.stringify(v.files)}`);
  if (!isObject(v.extra)) throw bad(`extra must be an object, found ${JSON.stringify(v.extra)}`);
  return v as unknown as RunState;
}

export class RunDir {
  private constructor(
    readonly path: string,
    readonly resumed: RunState | null,
  ) {}

  /**
   * Opens (or creates) a run directory for `config`. An existing directory is resumed only if it
   * holds the same config; otherwise the error names the first differing field.
   */
  /** The config a run folder recorded, if it has a readable one (open() reports an unreadable one). */
  static recordedConfig(path: string): Record<string, unknown> | null {
    try {
      const v: unknown = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'));
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  static async open(path: string, config: Record<string, unknown>, opts: { fresh?: boolean } = {}): Promise<RunDir> {
    if (opts.fresh && existsSync(path)) rmSync(path, { recursive: true, force: true });
    mkdirSync(path, { recursive: true });
    removeStaleTemporaries(path);
    const cfgPath = join(path, 'config.json');
    if (existsSync(cfgPath)) {
      let old: Record<string, unknown>;
      try {
        old = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new Error(`${cfgPath}: unreadable (${(e as Error).message}); pass --fresh to start over`);
      }
      const [was, now] = [comparable(old), comparable(config)];
      if (canonical(was) !== canonical(now)) {
        const keys = [...new Set([...Object.keys(was), ...Object.keys(now)])];
        const k = keys.find((key) => canonical(was[key]) !== canonical(now[key]));
        throw new Error(
          `${path} holds a run with a different config (${k}: ${JSON.stringify(old[k!])} there, ${JSON.stringify(config[k!])} now); ` +
            'use another --out or pass --fresh to discard it',
        );
      }
    } else {
      await writeFileAtomic(cfgPath, new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
    }
    const statePath = join(path, 'state.json');
    let state: RunState | null = null;
    if (existsSync(statePath)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(statePath, 'utf8'));
      } catch (e) {
        throw new Error(`${statePath}: unreadable checkpoint state (${(e as Error).message}); pass --fresh to start over`);
      }
      state = checkedState(parsed, statePath);
      for (const f of Object.values(state.files))
        if (!existsSync(join(path, f))) throw new Error(`${statePath} names ${f}, which is missing; pass --fresh to start over`);
    }
    return new RunDir(path, state);
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /** A number the resumed checkpoint's extra must hold (a generator position), or an error naming state.json. */
  resumedNumber(key: string): number {
    const v = this.resumed?.extra[key];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new Error(`${this.file('state.json')}: extra.${key} must be a finite number, found ${JSON.stringify(v)}; pass --fresh to start over`);
    return v;
  }

  log(line: string): void {
    appendFileSync(this.file('log.txt'), `${new Date().toISOString()} ${line}\n`);
  }

  /**
   * Writes the checkpoint files (via `write`, which gets their paths), then commits state.json.
   * `step` names a checkpoint taken `step` steps into the epoch after `epoch` (long epochs); the
   * caller keeps in `extra` what it needs to continue from there.
   */
  async commit(
    epoch: number,
    names: string[],
    write: (paths: Record<string, string>) => Promise<void>,
    extra: Record<string, unknown>,
    step?: number,
  ): Promise<void> {
    const files: Record<string, string> = {};
    const tag = `epoch-${String(epoch).padStart(4, '0')}` + (step === undefined ? '' : `-step-${String(step).padStart(6, '0')}`);
    for (const n of names) files[n] = `${tag}.${n}.safetensors`;
    await write(Object.fromEntries(Object.entries(files).map(([k, f]) => [k, this.file(f)])));
    const state: RunState = { epoch, files, extra };
    await writeFileAtomic(this.file('state.json'), new TextEncoder().encode(JSON.stringify(state, null, 2) + '\n'));
    // Older checkpoints are no longer referenced.
    const keep = new Set(Object.values(files));
    for (const f of readdirSync(this.path))
      if (/^epoch-\d+(-step-\d+)?\..*\.safetensors$/.test(f) && !keep.has(f)) rmSync(this.file(f), { force: true });
  }

  async writeJson(name: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.file(name), new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n'));
  }
}
