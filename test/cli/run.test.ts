// `eed run` option handling (the pipeline itself is tested in test/pipeline/; the command shuts the
// shared device down, so only what fails before the device is touched is run here).

import { describe, expect, it, vi } from 'vitest';
import { resolveOptions } from '../../src/cli/options.js';
import { RUN_FLAGS, runCommand } from '../../src/cli/run.js';
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
    await expect(runCommand(['--stage', 'prune'])).rejects.toThrow(/option 'stage' expects one of base, pool, select, ensemble, eval, got "prune"/);
    await expect(runCommand(['--job', '3'])).rejects.toThrow(/--job needs --stage pool/);
    await expect(runCommand(['--baseline-only', '--stage', 'pool'])).rejects.toThrow(/--baseline-only runs alone/);
    await expect(runCommand(['--stage', 'pool', '--job', 'x'])).rejects.toThrow(/option 'job' expects a number, got "x"/);
    // An empty --job (`--job=$K` with K unset) used to run job 0.
    await expect(runCommand(['--stage', 'pool', '--job='])).rejects.toThrow(/option 'job' expects a number, got ""/);
    await expect(runCommand(['--stage', 'pool', '--job=1.5'])).rejects.toThrow(/option 'job' expects an integer/);
    await expect(runCommand(['--stage', 'pool', '--job=-2'])).rejects.toThrow(/option 'job' expects a number >= -1/);
    await expect(runCommand(['--eval-helper', '--baseline-only'])).rejects.toThrow(/--eval-helper runs alone/);
    await expect(runCommand(['--eval-helper', '--stage', 'pool'])).rejects.toThrow(/--eval-helper runs alone/);
    // The invocation's flags go through the option parser (switch forms included) and stay out of the config.
    const flags = (...argv: string[]) => resolveOptions('run', PIPELINE_OPTIONS, PIPELINE_PRESETS, argv, RUN_FLAGS);
    expect(flags().flags).toEqual({ stage: 'eval', job: -1, fresh: false, baselineOnly: false, stagesFrom: '', evalHelper: false });
    expect(flags('--stage', 'pool', '--job=7').flags).toEqual({ stage: 'pool', job: 7, fresh: false, baselineOnly: false, stagesFrom: '', evalHelper: false });
    expect(flags('--eval-helper').flags.evalHelper).toBe(true);
    expect(flags('--stages-from', 'runs/fmnist').flags.stagesFrom).toBe('runs/fmnist');
    expect(flags('--stages-from', 'runs/fmnist').config).not.toHaveProperty('stagesFrom');
    expect(flags('--stage', 'pool', '--job=7').config).not.toHaveProperty('job');
    // --fresh=false and `--fresh false` used to mean --fresh: the run directory was deleted.
    expect(flags('--fresh=false', '--seed', '1').flags.fresh).toBe(false);
    expect(flags('--fresh=false', '--seed', '1').config.seed).toBe(1);
    expect(flags('--fresh=true').flags.fresh).toBe(true);
    expect(flags('--fresh').flags.fresh).toBe(true);
    expect(flags('--no-fresh').flags.fresh).toBe(false);
    expect(() => flags('--fresh', '--no-fresh')).toThrow(/--fresh is given twice/);
    // Any repeat, not only a switch in two forms (node's parser would let the last one win).
    expect(() => flags('--no-fresh', '--no-fresh')).toThrow(/--fresh is given twice/);
    expect(() => flags('--stage', 'pool', '--stage=eval')).toThrow(/--stage is given twice/);
    expect(() => flags('--seed', '1', '--seed', '2')).toThrow(/--seed is given twice/);
    expect(() => resolveOptions('run', PIPELINE_OPTIONS, PIPELINE_PRESETS, [], { preset: RUN_FLAGS.stage })).toThrow(/'preset' is both/);
    expect(() => resolveOptions('run', PIPELINE_OPTIONS, PIPELINE_PRESETS, [], { seed: RUN_FLAGS.fresh })).toThrow(/'seed' is both a config option and a command flag/);
    // A command flag is not an option of presets or config files.
    expect(() => resolveOptions('run', PIPELINE_OPTIONS, { p: { fresh: true } as never }, ['--preset', 'p'], RUN_FLAGS)).toThrow(/preset 'p': unknown option 'fresh'/);
    await expect(runCommand(['--fresh=maybe'])).rejects.toThrow(/--fresh is a switch/);
    await expect(runCommand(['--fresh', 'false'])).rejects.toThrow(/unexpected argument 'false'/);
    await expect(runCommand(['--scores', 'erm,hydra'])).rejects.toThrow(/'scores': unknown 'hydra'/);
    await expect(runCommand(['--eval-attacks', 'pgd,autoattack'])).rejects.toThrow(/'evalAttacks': unknown 'autoattack'/);
    await expect(runCommand(['--ensemble-lr', '0.1,x'])).rejects.toThrow(/'ensembleLr' expects comma-separated/);
    await expect(runCommand(['--sparsity', '0.8', '--sub-sparsity', '0.85'])).rejects.toThrow(/no team of two sub-models fits the budget.*at least 0.900/);
  });
});
