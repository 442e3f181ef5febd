// The finished rows of an interrupted `eed eval`, so that rerunning the same command resumes after
// the last finished attack. The file records what the rows depend on (the weights file's identity,
// the dataset and the suite options); a file from another model or other settings is ignored and
// replaced, never mixed in.

import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { AttackOutcome, SuiteAttack } from '../attacks/suite.js';

/** A file as a cache key: absolute path, size and last write (rewritten weights are a new model). */
export function fileIdentity(path: string): { path: string; bytes: number; modified: number } {
  const st = statSync(path);
  return { path: resolve(path), bytes: st.size, modified: st.mtimeMs };
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
  ) {}

  /** Opens `path`, keeping its rows only if they were computed under the same `key`. */
  static async open(path: string, key: unknown): Promise<EvalProgress> {
    let rows: AttackOutcome[] = [];
    if (existsSync(path)) {
      try {
        const file = JSON.parse(readFileSync(path, 'utf8')) as ProgressFile;
        if (JSON.stringify(file.key) === JSON.stringify(key) && Array.isArray(file.rows)) rows = file.rows;
        else process.stderr.write(`eed eval: ${path} holds results for another model or other settings; starting over\n`);
      } catch (e) {
        process.stderr.write(`eed eval: ${path} is unreadable (${(e as Error).message}); starting over\n`);
      }
    }
    return new EvalProgress(path, key, rows);
  }

  row(attack: SuiteAttack): AttackOutcome | undefined {
    return this.rows.find((r) => r.attack === attack);
  }

  async record(outcome: AttackOutcome): Promise<void> {
    this.rows.push(outcome);
    const file: ProgressFile = { key: this.key, rows: this.rows };
    await writeFileAtomic(this.path, new TextEncoder().encode(JSON.stringify(file, null, 2) + '\n'));
  }

  /** Drops the file once the full report is written. */
  remove(): void {
    rmSync(this.path, { force: true });
  }
}
