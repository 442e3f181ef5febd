import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { processMemory, processMemoryLine } from '../../src/training/processMemory.js';

describe('processMemory', () => {
  it('counts the tensors the engine holds, and on Linux the RSS and the memfd files', async () => {
    await E.init();
    const before = processMemory();
    const t = E.zeros([1024, 1024]).keep();
    const held = processMemory();
    expect(held.poolLiveBytes - before.poolLiveBytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    t.dispose();
    expect(processMemory().poolLiveBytes).toBe(before.poolLiveBytes);
    if (existsSync('/proc/self/status')) {
      expect(held.rssBytes).toBeGreaterThan(10 * 2 ** 20);
      expect(held.memfdBytes).toBeGreaterThanOrEqual(0);
    }
    expect(processMemoryLine({ rssBytes: 3 * 2 ** 20, memfdBytes: null, poolLiveBytes: 2 ** 20, poolFreeBytes: 5 * 2 ** 20 })).toBe(
      'memory: tensors 1 MiB (+5 MiB pooled), rss 3 MiB',
    );
  });
});
