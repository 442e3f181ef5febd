import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { BatchNorm2d } from '../../src/nn/layers.js';
import { recalibrateBatchNorm } from '../../src/pruning/bnRecalibration.js';

describe('BatchNorm re-estimation', () => {
  it('replaces the running statistics by the average over the batches and restores mode and momentum', async () => {
    const bn = new BatchNorm2d(3);
    bn.eval();
    E.scope(() => {
      bn.runningMean.assign(E.tensor([5, -5, 9], [3]));
      bn.runningVar.assign(E.tensor([40, 0.1, 7], [3]));
    });
    const gen = new E.Generator(4);
    const batches = [0, 1, 2].map((k) => E.affine(gen.uniform([4, 3, 2, 2]), 1 + k, k).keep());
    const host = await Promise.all(batches.map((b) => b.data()));
    expect(await recalibrateBatchNorm(bn, batches)).toBe(3);
    expect(bn.training).toBe(false);
    expect(bn.momentum).toBe(0.1);
    const mean = await bn.runningMean.data();
    const variance = await bn.runningVar.data();
    for (let c = 0; c < 3; c++) {
      let meanSum = 0;
      let varSum = 0;
      for (const v of host) {
        const xs: number[] = [];
        for (let n = 0; n < 4; n++) for (let i = 0; i < 4; i++) xs.push(v[(n * 3 + c) * 4 + i]);
        const m = xs.reduce((a, b) => a + b, 0) / xs.length;
        meanSum += m;
        varSum += xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1); // running_var is unbiased, as in PyTorch
      }
      expect(mean[c]).toBeCloseTo(meanSum / 3, 5);
      expect(variance[c]).toBeCloseTo(varSum / 3, 4);
    }
    batches.forEach((b) => b.dispose());
    bn.dispose();
  });
});
