import { existsSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AttackOutcome } from '../../src/attacks/suite.js';
import { EvalProgress, fileIdentity } from '../../src/cli/evalProgress.js';

const pgdRow: AttackOutcome = { attack: 'pgd', label: 'PGD-20', accuracy: 0.61, count: 2000, seconds: 12 };

describe('eed eval progress file', () => {
  it('keeps finished rows for the same weights and options, and drops them for others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-evalprogress-'));
    const weights = join(dir, 'model.safetensors');
    writeFileSync(weights, 'w');
    const path = join(dir, 'eval.json.partial.json');
    const key = (o: unknown) => ({ weights: fileIdentity(weights), options: o });

    const first = await EvalProgress.open(path, key({ eps: 0.1 }));
    expect(first.row('pgd')).toBeUndefined();
    await first.record(pgdRow);

    const resumed = await EvalProgress.open(path, key({ eps: 0.1 }));
    expect(resumed.row('pgd')).toEqual(pgdRow);
    expect(resumed.row('clean')).toBeUndefined();

    expect((await EvalProgress.open(path, key({ eps: 0.2 }))).row('pgd')).toBeUndefined();
    // Rewritten weights are another model.
    utimesSync(weights, new Date(), new Date(Date.now() + 5000));
    expect((await EvalProgress.open(path, key({ eps: 0.1 }))).row('pgd')).toBeUndefined();

    writeFileSync(path, '{not json');
    expect((await EvalProgress.open(path, key({ eps: 0.1 }))).row('pgd')).toBeUndefined();
    resumed.remove();
    expect(existsSync(path)).toBe(false);
  });
});
