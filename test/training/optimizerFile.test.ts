// The SGD momentum file of a run directory (saveOptimizer / loadOptimizer): it must restore what was
// saved, and refuse a file that does not fit the optimizer (a wrong shape, an unknown key, a
// non-finite value) with an error naming the file, before any buffer changes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { writeSafetensors, tensorRecord } from '../../src/io/safetensors.js';
import { loadOptimizer, saveOptimizer } from '../../src/training/trainer.js';

const scratch = mkdtempSync(join(tmpdir(), 'eed-optim-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** An SGD over two named parameters, stepped once so that both have momentum buffers. */
function steppedOptimizer(seed: number): { opt: E.SGD; params: E.Tensor[] } {
  const gen = new E.Generator(seed);
  const w = E.variable(gen.uniform([4, 2, 3, 3]));
  const b = E.variable(gen.uniform([4]));
  w.name = 'conv.weight';
  b.name = 'conv.bias';
  const opt = new E.SGD([w, b], { lr: 0.1, momentum: 0.9 });
  E.scope(() => {
    w.grad = gen.uniform([4, 2, 3, 3]).keep();
    b.grad = gen.uniform([4]).keep();
  });
  opt.step();
  return { opt, params: [w, b] };
}

const buffers = async (opt: E.SGD) => new Map(await Promise.all([...opt.stateDict()].map(async ([k, t]) => [k, [...(await t.data())]] as const)));

describe('optimizer files', () => {
  it('restore the momentum buffers saved', async () => {
    const a = steppedOptimizer(1);
    const path = join(scratch, 'ok.safetensors');
    await saveOptimizer(path, a.opt);
    const b = steppedOptimizer(2);
    await loadOptimizer(path, b.opt);
    expect(await buffers(b.opt)).toEqual(await buffers(a.opt));
    for (const s of [a, b]) {
      s.opt.dispose();
      E.dispose(s.params);
    }
  });

  const cases: [string, [string, number[], number[]][], RegExp][] = [
    ['transposed.safetensors', [['conv.weight.momentum_buffer', [3, 3, 2, 4], new Array(72).fill(0)]], /'conv\.weight\.momentum_buffer' is \[3, 3, 2, 4\], the parameter is \[4, 2, 3, 3\]/],
    ['unknown.safetensors', [['conv.bias.momentum_buffer', [4], [0, 0, 0, 0]], ['fc.weight.momentum_buffer', [1], [0]]], /unexpected keys fc\.weight\.momentum_buffer/],
    ['nan.safetensors', [['conv.bias.momentum_buffer', [4], [0, NaN, 0, 0]]], /'conv\.bias\.momentum_buffer' holds NaN at index 1/],
  ];
  for (const [name, entries, pattern] of cases)
    it(`refuse ${name.replace('.safetensors', '')} entries, naming the file, with the buffers unchanged`, async () => {
      const path = join(scratch, name);
      await writeSafetensors(path, entries.map(([k, shape, values]) => [k, tensorRecord(Float32Array.from(values), shape)]));
      const s = steppedOptimizer(3);
      const before = await buffers(s.opt);
      const err = await loadOptimizer(path, s.opt).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, `${name} was accepted`).not.toBeNull();
      expect(err!.message).toMatch(pattern);
      expect(err!.message).toContain(path);
      expect(await buffers(s.opt)).toEqual(before);
      s.opt.dispose();
      E.dispose(s.params);
    });
});
