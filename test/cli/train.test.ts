// `eed train` option handling up to the first step (the training itself is tested in test/training/).

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainCommand } from '../../src/cli/train.js';

describe('eed train', () => {
  it('a dataset folder that does not load leaves no recorded config to refuse the corrected command', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eed-train-cli-'));
    try {
      const run = join(out, 'run');
      await expect(trainCommand(['--dataset', 'cifar10', '--data', join(out, 'no-such-folder'), '--out', run])).rejects.toThrow(/no-such-folder/);
      expect(existsSync(join(run, 'config.json'))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
