import { describe, expect, it } from 'vitest';
import * as E from '../../../src/index.js';

const model = () => new E.SmallCNN({ width: 0.25, imageSize: 8, numClasses: 4, generator: new E.Generator(4) });

describe('DVERGE feature distillation', () => {
  for (const layer of [1, 2, 3, 4]) {
    it(`layer ${layer}: x̃ stays within ε_d of x_s and in [0, 1], lowers the feature distance and leaves nothing allocated`, async () => {
      const m = model();
      m.train();
      const gen = new E.Generator(layer);
      const xs = gen.uniform([6, 1, 8, 8]);
      const xt = gen.uniform([6, 1, 8, 8]);
      const eps = 0.05;
      const live = E.liveTensorCount();
      const xd = E.distill(m, xs, xt, { layer, eps, stepSize: 0.005, steps: 10 });
      expect(E.liveTensorCount(), 'only x̃ is left').toBe(live + 1);
      expect(m.training, 'the member keeps its own mode').toBe(true);
      const [a, b] = [await xs.data(), await xd.data()];
      let maxDiff = 0;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      expect(maxDiff).toBeLessThanOrEqual(eps + 1e-6);
      expect(maxDiff).toBeGreaterThan(0);
      expect(Math.min(...b)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...b)).toBeLessThanOrEqual(1);
      const target = E.featureTarget(m, xt, layer);
      const before = E.featureDistance(m, xs, target, layer);
      const after = E.featureDistance(m, xd, target, layer);
      const [d0, d1] = [await before.data(), await after.data()];
      // Every sample moves towards x_t's features (sign steps need not be monotone per step, but
      // ten of them from the start reliably get closer).
      for (let i = 0; i < d0.length; i++) expect(d1[i]).toBeLessThan(d0[i]);
      E.dispose([xs, xt, xd, target, before, after]);
      m.dispose();
    });
  }

  it('names the layer range in its error', () => {
    const m = model();
    const x = E.zeros([1, 1, 8, 8]);
    expect(() => E.distill(m, x, x, { layer: 5, eps: 0.05, stepSize: 0.005, steps: 1 })).toThrow(/layer must be an integer in \[1, 4\]/);
    x.dispose();
    m.dispose();
  });
});
