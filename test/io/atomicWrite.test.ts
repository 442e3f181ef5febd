// Atomic writes leave no temporary file behind when they finish, and the temporaries a crash left
// are removed once they are old enough that no live writer can own them.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeStaleTemporaries, writeFileAtomic } from '../../src/io/atomicWrite.js';

const scratch = mkdtempSync(join(tmpdir(), 'eed-atomic-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('replace the file whole and leave no temporary behind', async () => {
    const path = join(scratch, 'state.json');
    await writeFileAtomic(path, new TextEncoder().encode('{"a":1}'));
    await writeFileAtomic(path, new TextEncoder().encode('{"a":2}'));
    expect(readFileSync(path, 'utf8')).toBe('{"a":2}');
    expect(readdirSync(scratch)).toEqual(['state.json']);
  });

  it("a crashed write's temporary is removed once stale, a recent one (a live writer's) is kept", () => {
    const old = join(scratch, '.model.safetensors.4242.0badc0de.tmp');
    const recent = join(scratch, '.model.safetensors.4243.12345678.tmp');
    const unrelated = join(scratch, '.hidden.tmp');
    for (const p of [old, recent, unrelated]) writeFileSync(p, 'x');
    const twoHoursAgo = (Date.now() - 7200_000) / 1000;
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    utimesSync(unrelated, twoHoursAgo, twoHoursAgo);
    removeStaleTemporaries(scratch);
    expect([old, recent, unrelated].map((p) => existsSync(p))).toEqual([false, true, true]);
  });
});
