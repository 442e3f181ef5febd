// Writing a file so that a crash or a concurrent reader never sees half of it: the bytes go to a
// temporary file in the same folder (rename is atomic only within one file system), are flushed
// to disk (fsync), and the temporary file is renamed over the target. The folder is fsynced too,
// so the rename itself survives a power loss.

import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const TEMP = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/;

/**
 * Removes the temporary files of atomic writes that a crash left in `dir` (each as large as the
 * file it was writing). Only files untouched for `olderThanMs` go: a run folder may be shared with
 * a process on another machine that is writing one right now.
 */
export function removeStaleTemporaries(dir: string, olderThanMs = 3600_000): void {
  const now = Date.now();
  for (const f of readdirSync(dir)) {
    if (!TEMP.test(f)) continue;
    const p = join(dir, f);
    try {
      if (now - statSync(p).mtimeMs > olderThanMs) rmSync(p, { force: true });
    } catch {
      // removed meanwhile
    }
  }
}

export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw new Error(`${path}: write failed (${(e as Error).message})`);
  }
  try {
    const folder = await open(dir, 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch {
    // Some platforms cannot open or fsync a directory; the file itself is already durable.
  }
}
