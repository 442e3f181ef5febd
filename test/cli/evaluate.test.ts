// `eed eval` option handling (the attack run itself is evaluateSuite, tested in
// test/attacks/suite.test.ts; the command shuts the shared device down, so it is not run here).

import { describe, expect, it, vi } from 'vitest';
import { EVAL_OPTIONS, EVAL_PRESETS, evalCommand } from '../../src/cli/evaluate.js';
import { resolveOptions } from '../../src/cli/options.js';

describe('eed eval options', () => {
  it('prints help listing the attacks and presets', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await evalCommand(['--help'])).toBe(0);
      const help = String(log.mock.calls[0][0]);
      expect(help).toMatch(/clean,fgsm,pgd,cw,deepfool,autoattack/);
      expect(help).toMatch(/fmnist-smallcnn/);
    } finally {
      log.mockRestore();
    }
  });

  it('the preset sets the Fashion-MNIST protocol', () => {
    const { config } = resolveOptions('eval', EVAL_OPTIONS, EVAL_PRESETS, ['--preset', 'fmnist-smallcnn']);
    expect([config.eps, config.pgdSteps, config.pgdStep, config.count, config.aaCount, config.dfEps]).toEqual([0.1, 20, 0.01, 2000, 500, 2]);
  });

  it('refuses an unknown attack and a missing weights file before touching the device', async () => {
    await expect(evalCommand(['--weights', 'x.safetensors', '--attacks', 'clean,square'])).rejects.toThrow(/unknown attack 'square' \(have clean, fgsm/);
    await expect(evalCommand(['--weights', 'x.safetensors'])).rejects.toThrow(/weights file x.safetensors does not exist/);
    await expect(evalCommand(['--attacks', 'clean'])).rejects.toThrow(/pass --run DIR or --weights FILE/);
    await expect(evalCommand(['--run', '/nonexistent-run'])).rejects.toThrow(/--run \/nonexistent-run: no config.json/);
  });
});
