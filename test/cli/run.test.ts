// `eed run` option handling (the pipeline itself is tested in test/pipeline/; the command shuts the
// shared device down, so only what fails before the device is touched is run here).

import { describe, expect, it, vi } from 'vitest';
import { resolveOptions } from '../../src/cli/options.js';
import { runCommand, takeFlag } from '../../src/cli/run.js';
import { checkPipelineConfig, PIPELINE_OPTIONS, PIPELINE_PRESETS } from '../../src/pipeline/config.js';

describe('eed run options', () => {
  it('prints help with the stages and presets', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await runCommand(['--help'])).toBe(0);
      const help = String(log.mock.calls[0][0]);
      expect(help).toMatch(/base\|pool\|select\|ensemble\|eval/);
      expect(help).toMatch(/quick, fmnist, cifar10-resnet18, svhn-vgg16/);
    } finally {
      log.mockRestore();
    }
  });

  it('every preset is a valid configuration', () => {
    for (const name of Object.keys(PIPELINE_PRESETS)) {
      const { config } = resolveOptions('run', PIPELINE_OPTIONS, PIPELINE_PRESETS, ['--preset', name]);
      expect(() => checkPipelineConfig(config), name).not.toThrow();
    }
    // algorithms.md §1: pre-training at lr 0.1 (cosine) on the paper's datasets.
    for (const name of ['cifar10-resnet18', 'svhn-vgg16'])
      expect(resolveOptions('run', PIPELINE_OPTIONS, PIPELINE_PRESETS, ['--preset', name]).config.baseLr, name).toBe(0.1);
  });

  it('refuses bad stages, jobs and lists before touching the device', async () => {
    await expect(runCommand(['--stage', 'prune'])).rejects.toThrow(/unknown stage 'prune' \(have base, pool, select, ensemble, eval\)/);
    await expect(runCommand(['--job', '3'])).rejects.toThrow(/--job needs --stage pool/);
    await expect(runCommand(['--stage', 'pool', '--job', 'x'])).rejects.toThrow(/--job expects a pool job number/);
    // An empty --job (`--job=$K` with K unset) used to run job 0.
    await expect(runCommand(['--stage', 'pool', '--job='])).rejects.toThrow(/--job expects a pool job number/);
    await expect(runCommand(['--stage', 'pool', '--job', ' 1'])).rejects.toThrow(/--job expects a pool job number/);
    // --fresh=false and `--fresh false` used to mean --fresh: the run directory was deleted.
    const argv = ['--fresh=false', '--seed', '1'];
    expect(takeFlag(argv, '--fresh', false)).toBe(false);
    expect(argv).toEqual(['--seed', '1']);
    expect(takeFlag(['--fresh=true'], '--fresh', false)).toBe(true);
    expect(takeFlag(['--fresh'], '--fresh', false)).toBe(true);
    expect(takeFlag(['--no-fresh'], '--fresh', false)).toBe(false);
    await expect(runCommand(['--fresh=maybe'])).rejects.toThrow(/--fresh is a switch/);
    await expect(runCommand(['--fresh', 'false'])).rejects.toThrow(/unexpected argument 'false'/);
    await expect(runCommand(['--scores', 'erm,hydra'])).rejects.toThrow(/'scores': unknown 'hydra'/);
    await expect(runCommand(['--eval-attacks', 'pgd,autoattack'])).rejects.toThrow(/'evalAttacks': unknown 'autoattack'/);
    await expect(runCommand(['--ensemble-lr', '0.1,x'])).rejects.toThrow(/'ensembleLr' expects comma-separated/);
    await expect(runCommand(['--sparsity', '0.8', '--sub-sparsity', '0.85'])).rejects.toThrow(/no team of two sub-models fits the budget.*at least 0.900/);
  });
});
