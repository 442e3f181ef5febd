import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveOptions, type OptionTable } from '../../src/cli/options.js';
import { TRAIN_OPTIONS, TRAIN_PRESETS } from '../../src/cli/train.js';

const table = {
  epochs: { type: 'number', default: 5, min: 1, integer: true, help: 'epochs' },
  lr: { type: 'number', default: 0.1, min: 0, help: 'learning rate' },
  method: { type: 'enum', values: ['madry', 'trades'], default: 'madry', help: 'method' },
  augment: { type: 'boolean', default: true, help: 'augment' },
  out: { type: 'string', default: 'runs/x', help: 'out' },
} satisfies OptionTable;
const presets = { fast: { epochs: 1, lr: 0.5 } };

describe('command options', () => {
  it('defaults < preset < config file < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-opt-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ lr: 0.2, method: 'trades' }));
    expect(resolveOptions('t', table, presets, []).config).toEqual({ epochs: 5, lr: 0.1, method: 'madry', augment: true, out: 'runs/x' });
    const r = resolveOptions('t', table, presets, ['--preset', 'fast', '--config', file, '--epochs', '3', '--augment']);
    expect(r.config).toEqual({ epochs: 3, lr: 0.2, method: 'trades', augment: true, out: 'runs/x' });
  });

  it('refuses unknown presets, options and bad values with the name and what was expected', () => {
    expect(() => resolveOptions('t', table, presets, ['--preset', 'slow'])).toThrow(/--preset: unknown t preset 'slow' \(available: fast\)/);
    expect(() => resolveOptions('t', table, presets, ['--epoch', '3'])).toThrow(/command line: .*epoch/);
    expect(() => resolveOptions('t', table, presets, ['--epochs', '2.5'])).toThrow(/command line: option 'epochs' expects an integer, got "2.5"/);
    expect(() => resolveOptions('t', table, presets, ['--method', 'pgd'])).toThrow(/option 'method' expects one of madry, trades/);
    expect(() => resolveOptions('t', table, presets, ['--lr=-1'])).toThrow(/option 'lr' expects a number >= 0/);
    const dir = mkdtempSync(join(tmpdir(), 'eed-opt-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ learningRate: 0.1 }));
    expect(() => resolveOptions('t', table, presets, ['--config', bad])).toThrow(new RegExp(`config file ${bad}: unknown option 'learningRate'`));
    writeFileSync(bad, '{ "lr": ');
    expect(() => resolveOptions('t', table, presets, ['--config', bad])).toThrow(/config file .*bad.json: /);
  });

  it('every train preset is valid for the train options', () => {
    for (const name of Object.keys(TRAIN_PRESETS)) {
      const { config } = resolveOptions('train', TRAIN_OPTIONS, TRAIN_PRESETS, ['--preset', name]);
      expect(config.out).toBeTruthy();
    }
    const f = resolveOptions('train', TRAIN_OPTIONS, TRAIN_PRESETS, ['--preset', 'fmnist-smallcnn']).config;
    expect([f.eps, f.stepSize, f.attackSteps, f.evalSteps, f.evalStepSize, f.batchSize, f.lr, f.weightDecay]).toEqual([0.1, 0.025, 7, 20, 0.01, 128, 0.05, 5e-4]);
  });
});
