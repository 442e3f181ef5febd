// A lock file per pool job, so that several `eed run --stage pool` processes (on one machine or
// on machines sharing the run folder) never prune the same sub-model twice. The lock appears with
// its owner already written (written to a private file, then hard-linked into place, which fails
// if the lock exists), so no process ever reads a half-created lock. A lock left by a dead process
// on this host is taken over, and so is one from an earlier boot of this host (Linux's boot id:
// after a reboot its pid may name an unrelated live process); one from another host, or one that
// cannot be read, is respected until removed (delete the file by hand if its owner is gone).

import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, uptime } from 'node:os';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
  /** The owner's boot id, where the system has one (locks written before it existed lack it). */
  boot?: string;
}

/** This boot's id (Linux), or undefined elsewhere. */
function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
const thisBoot = bootId();
/** When this boot began (ms since the epoch). */
const bootTime = Date.now() - uptime() * 1000;

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
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return typeof o?.pid === 'number' && typeof o.host === 'string' && (o.boot === undefined || typeof o.boot === 'string') ? o : null;
  } catch {
    return null;
  }
}

const sameOwner = (a: LockOwner | null, b: LockOwner): boolean => a !== null && a.pid === b.pid && a.host === b.host && a.since === b.since;

export type LockResult = { acquired: true; release: () => void } | { acquired: false; owner: string };

/** Creates the lock holding our owner record, or returns false if it exists. */
function create(path: string): boolean {
  const mine = `${path}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
  writeFileSync(mine, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), boot: thisBoot } satisfies LockOwner));
  try {
    linkSync(mine, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links: create exclusively and write (a reader may then, briefly,
    // see an empty lock, and respects it).
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS') return createExclusive(path, readFileSync(mine, 'utf8'));
    throw new Error(`${path}: cannot create the job lock (${(e as Error).message})`);
  } finally {
    rmSync(mine, { force: true });
  }
}

function createExclusive(path: string, owner: string): boolean {
  try {
    writeFileSync(path, owner, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`${path}: cannot create the job lock (${(e as Error).message})`);
  }
}

/**
 * Locks this process holds. A lock naming our own pid that is not among them was left by an
 * earlier process that had the same pid (containers restart with the same pids and hostname).
 */
const held = new Set<string>();

export function tryLock(path: string): LockResult {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (create(path)) {
      held.add(path);
      return {
        acquired: true,
        release: () => {
          held.delete(path);
          rmSync(path, { force: true });
        },
      };
    }
    const owner = readOwner(path);
    if (owner === null) return { acquired: false, owner: `an unreadable lock (${path}; delete it if no process holds it)` };
    const ours = owner.pid === process.pid;
    // Another boot id and taken before this boot began: a machine sharing the hostname (and the run
    // folder) has another boot id too, but its live locks are younger than our boot.
    const earlierBoot = owner.boot !== undefined && thisBoot !== undefined && owner.boot !== thisBoot && Date.parse(owner.since) < bootTime;
    const stale = owner.host === hostname() && (earlierBoot || (ours ? !held.has(path) : !alive(owner.pid)));
    if (!stale) return { acquired: false, owner: `pid ${owner.pid} on ${owner.host} since ${owner.since}` };
    // Take the dead owner's lock aside under a name of our own; if what we took is not the lock we
    // judged stale (another process took it over first and now holds it), put it back.
    const aside = `${path}.${process.pid}.stale`;
    try {
      renameSync(path, aside);
    } catch {
      continue; // gone already: try to create it again
    }
    if (!sameOwner(readOwner(aside), owner)) {
      try {
        linkSync(aside, path);
      } catch {
        // the slot was filled meanwhile; that holder keeps it
      }
      rmSync(aside, { force: true });
      return { acquired: false, owner: 'another process (it took the stale lock over first)' };
    }
    rmSync(aside, { force: true });
  }
  return { acquired: false, owner: 'another process (the lock changed hands while it was taken over)' };
}
