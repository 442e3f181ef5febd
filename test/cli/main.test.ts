// The `eed` entry point's own flags (no command, so no engine starts): --version and --help.

import { describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';

describe('eed', () => {
  it('--version prints the package version; --help the commands', async () => {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
    try {
      const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
      expect(await main(['--version'])).toBe(0);
      expect(lines).toEqual([`eed ${version}`]);
      expect(await main(['--help'])).toBe(0);
      expect(lines[1]).toMatch(/Commands:[\s\S]*prune[\s\S]*eed --version/);
    } finally {
      log.mockRestore();
    }
  });

  it('prune and run refuse a missing checkpoint before they create the run directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-cli-'));
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((s: string) => void errors.push(s));
    try {
      expect(await main(['prune', '--checkpoint', join(dir, 'nope.safetensors'), '--out', join(dir, 'prune')])).toBe(1);
      expect(await main(['run', '--base-checkpoint', join(dir, 'nope.safetensors'), '--out', join(dir, 'run')])).toBe(1);
      expect(errors[0]).toMatch(/^eed prune: --checkpoint .*nope\.safetensors: no such file/);
      expect(errors[1]).toMatch(/^eed run: option 'baseCheckpoint': .*nope\.safetensors does not exist/);
      expect([existsSync(join(dir, 'prune')), existsSync(join(dir, 'run'))]).toEqual([false, false]);
    } finally {
      err.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
