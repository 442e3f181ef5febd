import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tryLock } from '../../src/pipeline/jobLock.js';

const scratch = mkdtempSync(join(tmpdir(), 'eed-lock-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('pool job locks', () => {
  it('are exclusive until released', () => {
    const path = join(scratch, 'a.lock');
    const first = tryLock(path);
    expect(first.acquired).toBe(true);
    // Another holder (simulated: the lock names a live process that is not us, our parent).
    writeFileSync(path, JSON.stringify({ pid: process.ppid, host: hostname(), since: 'now' }));
    const second = tryLock(path);
    expect(second.acquired).toBe(false);
    if (!second.acquired) expect(second.owner).toContain(`pid ${process.ppid}`);
    rmSync(path);
    const third = tryLock(path);
    expect(third.acquired).toBe(true);
    if (third.acquired) third.release();
    expect(existsSync(path)).toBe(false);
  });

  it('take over a lock whose process died on this host, but not one from another host', () => {
    const path = join(scratch, 'b.lock');
    // PIDs above the kernel's pid_max (4194304) never exist.
    writeFileSync(path, JSON.stringify({ pid: 4194305, host: hostname(), since: 'then' }));
    const stale = tryLock(path);
    expect(stale.acquired).toBe(true);
    if (stale.acquired) stale.release();
    writeFileSync(path, JSON.stringify({ pid: 4194305, host: `${hostname()}-elsewhere`, since: 'then' }));
    expect(tryLock(path).acquired).toBe(false);
  });

  it.skipIf(!existsSync('/proc/sys/kernel/random/boot_id'))('take over a lock from an earlier boot of this host even when its pid is alive now, and record the boot', () => {
    const path = join(scratch, 'boot.lock');
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // Our parent is alive, but the lock names another boot: after a reboot its pid means nothing.
    writeFileSync(path, JSON.stringify({ pid: process.ppid, host: hostname(), since: '2000-01-01T00:00:00Z', boot: `${boot}-earlier` }));
    const taken = tryLock(path);
    expect(taken.acquired).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8')).boot).toBe(boot);
    if (taken.acquired) taken.release();
    // The same boot and a live pid: respected; so is a live lock of another boot taken since ours
    // began (another machine with this hostname sharing the folder).
    writeFileSync(path, JSON.stringify({ pid: process.ppid, host: hostname(), since: new Date().toISOString(), boot }));
    expect(tryLock(path).acquired).toBe(false);
    writeFileSync(path, JSON.stringify({ pid: process.ppid, host: hostname(), since: new Date().toISOString(), boot: `${boot}-elsewhere` }));
    expect(tryLock(path).acquired).toBe(false);
    rmSync(path);
  });

  it('take over a lock naming our own pid that this process does not hold (a restarted container), never one it holds', () => {
    const path = join(scratch, 'own.lock');
    writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), since: 'before the restart' }));
    const taken = tryLock(path);
    expect(taken.acquired).toBe(true);
    const again = tryLock(path);
    expect(again.acquired).toBe(false);
    if (taken.acquired) taken.release();
    expect(existsSync(path)).toBe(false);
  });

  it('respect a lock they cannot read (it is never empty while being created)', () => {
    const path = join(scratch, 'c.lock');
    for (const text of ['', '{"pid":', '{"host":"x"}']) {
      writeFileSync(path, text);
      const r = tryLock(path);
      expect(r.acquired, JSON.stringify(text)).toBe(false);
      if (!r.acquired) expect(r.owner).toContain('unreadable lock');
    }
    rmSync(path);
    // A fresh lock holds its owner from the moment it exists, and no private files are left behind.
    const r = tryLock(path);
    expect(r.acquired).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8')).pid).toBe(process.pid);
    expect(readdirSync(scratch).filter((f) => f.startsWith('c.lock.'))).toEqual([]);
    if (r.acquired) r.release();
  });
});
