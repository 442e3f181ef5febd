// `eed prune` option handling (the full command runs a device and datasets; its stages are tested
// in prune.test.ts, resuming in resume.test.ts).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { resolveOptions } from '../../src/cli/options.js';
import { PRUNE_OPTIONS, PRUNE_PRESETS, pruneCommand } from '../../src/cli/prune.js';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { saveStateDict } from '../../src/io/checkpoint.js';
import * as E from '../../src/index.js';

describe('eed prune options', () => {
  it('parses --score, --sparsity and --subset and refuses an unknown score', () => {
    const { config } = resolveOptions('prune', PRUNE_OPTIONS, PRUNE_PRESETS, ['--score', 'ase', '--sparsity', '0.9', '--subset', '2']);
    expect([config.score, config.sparsity, config.subset, config.method]).toEqual(['ase', 0.9, 2, 'madry']);
    expect(resolveOptions('prune', PRUNE_OPTIONS, PRUNE_PRESETS, ['--method', 'mart']).config.method).toBe('mart');
    expect(() => resolveOptions('prune', PRUNE_OPTIONS, PRUNE_PRESETS, ['--score', 'magnitude'])).toThrow(/score/);
  });

  it("the acceptance preset prunes the fmnist-smallcnn checkpoint to 80% with that preset's attack, and flags still win", () => {
    const { config } = resolveOptions('prune', PRUNE_OPTIONS, PRUNE_PRESETS, ['--preset', 'fmnist-smallcnn-80', '--score', 'bnsf']);
    expect([config.checkpoint, config.sparsity, config.eps, config.stepSize, config.attackSteps, config.score]).toEqual([
      'runs/fmnist-smallcnn/model.safetensors', 0.8, 0.1, 0.025, 7, 'bnsf',
    ]);
  });

  it('prints help and requires a checkpoint', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await pruneCommand(['--help'])).toBe(0);
      expect(String(log.mock.calls[0][0])).toMatch(/--sparsity/);
    } finally {
      log.mockRestore();
    }
    await expect(pruneCommand(['--score', 'nis'])).rejects.toThrow(/--checkpoint is required/);
  });

  // Both read the training labels (the subset check needs the dataset's size) before the run
  // directory is opened.
  it.skipIf(!existsSync(FASHION_MNIST_DIR))('a refused --subset leaves no run directory behind to refuse the corrected command', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eed-prune-cli-'));
    try {
      writeFileSync(join(out, 'dense.safetensors'), '');
      const args = ['--checkpoint', join(out, 'dense.safetensors'), '--out', join(out, 'run'), '--score', 'nis'];
      await expect(pruneCommand([...args, '--subset', '9'])).rejects.toThrow(/--subset 9: the metric has \d sub-model subset/);
      expect(existsSync(join(out, 'run', 'config.json'))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('a checkpoint that does not load leaves no run directory behind to refuse the corrected command', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eed-prune-cli-'));
    try {
      writeFileSync(join(out, 'damaged.safetensors'), 'not a safetensors file');
      await expect(pruneCommand(['--checkpoint', join(out, 'damaged.safetensors'), '--out', join(out, 'run'), '--score', 'nis'])).rejects.toThrow(/damaged\.safetensors/);
      expect(existsSync(join(out, 'run', 'config.json'))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('--out is a run directory: another job there is refused before any work, naming the field', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eed-prune-cli-'));
    try {
      const args = ['--checkpoint', join(out, 'dense.safetensors'), '--out', out];
      // A folder from before the safety net's rule was a setting (no entry): it ran the spec's 'shift'.
      const { fresh: _fresh, checkpointMinutes: _minutes, keepBudgetRule, ...recorded } = resolveOptions('prune', PRUNE_OPTIONS, PRUNE_PRESETS, [...args, '--score', 'ase']).config;
      expect(keepBudgetRule).toBe('scale');
      writeFileSync(join(out, 'config.json'), JSON.stringify(recorded));
      // The checkpoint must load (a missing or damaged one is refused first, see below).
      const dense = new E.SmallCNN();
      await saveStateDict(join(out, 'dense.safetensors'), dense);
      dense.dispose();
      await expect(pruneCommand([...args, '--score', 'nis', '--keep-budget-rule', 'shift'])).rejects.toThrow(/different config \(score: "ase" there, "nis" now\).*--fresh/);
      // Rerun with the default, it goes on under the rule it ran (the config matches: what stops it
      // is the state file, damaged here on purpose so that nothing trains).
      writeFileSync(join(out, 'state.json'), '{');
      await expect(pruneCommand([...args, '--score', 'ase'])).rejects.toThrow(/state\.json: unreadable checkpoint state/);
      // Asked for by name, the new rule is another run than the folder's.
      await expect(pruneCommand([...args, '--score', 'ase', '--keep-budget-rule', 'scale'])).rejects.toThrow(/different config \(keepBudgetRule: undefined there, "scale" now\)/);
      // A new folder records the rule by name, the spec's too (stopped again by a damaged state file).
      const fresh = join(out, 'new');
      mkdirSync(fresh);
      writeFileSync(join(fresh, 'state.json'), '{');
      await expect(pruneCommand(['--checkpoint', join(out, 'dense.safetensors'), '--out', fresh, '--score', 'ase', '--keep-budget-rule', 'shift'])).rejects.toThrow(/state\.json: unreadable/);
      expect((JSON.parse(readFileSync(join(fresh, 'config.json'), 'utf8')) as { keepBudgetRule?: string }).keepBudgetRule).toBe('shift');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
