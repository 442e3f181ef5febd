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
    // What the command set, whatever the value (augment's is its default): the rest are defaults.
    expect([...r.explicit].sort()).toEqual(['augment', 'epochs', 'lr', 'method']);
    expect(resolveOptions('t', table, presets, []).explicit.size).toBe(0);
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

  it('switches turn off with --no-<flag> or --<flag>=false, and a stray word is refused, not ignored', () => {
    const cfg = (argv: string[]) => resolveOptions('t', table, presets, argv).config.augment;
    expect(cfg(['--no-augment'])).toBe(false);
    expect(cfg(['--augment=false'])).toBe(false);
    expect(cfg(['--augment=true'])).toBe(true);
    expect(cfg(['--augment'])).toBe(true);
    // `--augment false` used to mean true, with 'false' silently dropped.
    expect(() => cfg(['--augment', 'false'])).toThrow(/unexpected argument 'false' \(switches take no value/);
    expect(() => cfg(['--augment=no'])).toThrow(/--augment is a switch: give --augment, --no-augment or --augment=true\|false, got '--augment=no'/);
    expect(() => cfg(['--no-augment=true'])).toThrow(/--no-augment takes no value/);
    expect(() => cfg(['--augment', '--no-augment'])).toThrow(/--augment is given twice/);
    expect(() => cfg(['--no-epochs'])).toThrow(/command line: .*no-epochs/);
    expect(resolveOptions('t', table, presets, ['--preset=fast']).preset).toBe('fast');
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
