import { describe, expect, it } from 'vitest';
import { adoptAddedSettings, recordAsBefore } from '../../src/training/addedSettings.js';

const ADDED = { rule: 'shift', gap: 1 };
const DEFAULTS: Record<string, unknown> = { rule: 'scale', gap: 0.05, lr: 0.1 };
const defaultOf = (k: string) => DEFAULTS[k];
const now = { rule: 'scale', gap: 0.05, lr: 0.1 };

describe('settings added after run folders existed', () => {
  it('a folder that lacks them goes on under their older values, and records them as before', () => {
    const folder = { lr: 0.1 };
    const { config, adopted } = adoptAddedSettings(now, folder, ADDED, defaultOf);
    expect(config).toEqual({ rule: 'shift', gap: 1, lr: 0.1 });
    expect(adopted).toEqual(['rule "shift"', 'gap 1']);
    expect(recordAsBefore(config, folder, ADDED)).toEqual(folder);
    expect(now.rule).toBe('scale');
  });

  it('a new folder, or one that records a setting, keeps the command\'s value and records it', () => {
    expect(adoptAddedSettings(now, null, ADDED, defaultOf)).toEqual({ config: now, adopted: [] });
    expect(recordAsBefore({ ...now, rule: 'shift' }, null, ADDED)).toEqual({ ...now, rule: 'shift' });
    const recordsRule = { rule: 'scale', lr: 0.1 };
    const { config, adopted } = adoptAddedSettings(now, recordsRule, ADDED, defaultOf);
    expect(config).toEqual({ rule: 'scale', gap: 1, lr: 0.1 });
    expect(adopted).toEqual(['gap 1']);
    expect(recordAsBefore(config, recordsRule, ADDED)).toEqual(recordsRule);
  });

  it('a value the command names, or one off the default, is another run and is recorded', () => {
    const folder = { lr: 0.1 };
    const named = adoptAddedSettings(now, folder, ADDED, defaultOf, new Set(['rule']));
    expect(named.config.rule).toBe('scale');
    expect(named.adopted).toEqual(['gap 1']);
    expect(recordAsBefore(named.config, folder, ADDED)).toEqual({ rule: 'scale', lr: 0.1 });
    const offDefault = adoptAddedSettings({ ...now, gap: 0.2 }, folder, ADDED, defaultOf);
    expect(offDefault.config.gap).toBe(0.2);
    expect(recordAsBefore(offDefault.config, folder, ADDED)).toEqual({ gap: 0.2, lr: 0.1 });
  });
});
