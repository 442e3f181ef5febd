// A lock file per pool job, so that several `eed run --stage pool` processes (on one machine or
// on machines sharing the run folder) never prune the same sub-model twice. The lock is created
// with O_EXCL; a lock left by a dead process on this host is taken over, one from another host
// is respected until its owner removes it (delete the file by hand if that host is gone).

import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

export type LockResult = { acquired: true; release: () => void } | { acquired: false; owner: string };

export function tryLock(path: string): LockResult {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() } satisfies LockOwner));
      closeSync(fd);
      return { acquired: true, release: () => rmSync(path, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${path}: cannot create the job lock (${(e as Error).message})`);
    }
    const owner = readOwner(path);
    const stale = owner === null || (owner.host === hostname() && owner.pid !== process.pid && !alive(owner.pid));
    if (!stale) return { acquired: false, owner: `pid ${owner.pid} on ${owner.host} since ${owner.since}` };
    rmSync(path, { force: true });
  }
  return { acquired: false, owner: 'another process (the lock changed hands while it was taken over)' };
}
