// The fused ℓ∞ step/projection kernel against a float32 TypeScript transcription of
// clamp(min(max(x + a·sign(g), x0 − ε), x0 + ε), 0, 1): results must agree bit for bit.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { linfProject, linfStep } from '../../src/attacks/project.js';
import { mulberry32 } from '../reference/ndarray.js';

const f = Math.fround;

function referenceStep(x: Float32Array, g: Float32Array | null, x0: Float32Array, eps: number, steps: Float32Array, perSample: number): Float32Array {
  const e = f(eps);
  return x.map((xi, i) => {
    const v = g ? f(xi + f(steps[Math.floor(i / perSample)] * Math.sign(g[i]))) : xi;
    const lo = f(x0[i] - e);
    const hi = f(x0[i] + e);
    return Math.min(Math.max(Math.min(Math.max(v, lo), hi), 0), 1);
  });
}

/** Images near the edges of [0, 1] and gradients with exact zeros, so every clamp is exercised. */
function randomCase(seed: number, n: number, perSample: number) {
  const rng = mulberry32(seed);
  const size = n * perSample;
  const x0 = Float32Array.from({ length: size }, () => f(rng() < 0.2 ? (rng() < 0.5 ? 0 : 1) : rng()));
  const x = x0.map((v) => f(v + (rng() - 0.5) * 0.1));
  const g = Float32Array.from({ length: size }, () => (rng() < 0.1 ? 0 : f(rng() - 0.5)));
  const steps = Float32Array.from({ length: n }, () => f(rng() * 0.05));
  return { x, x0, g, steps };
}

describe('fused l-inf step kernel', () => {
  it('matches the TypeScript reference bit for bit (per-sample steps)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 0.1, noNaN: true }),
        async (seed, n, perSample, eps) => {
          const c = randomCase(seed, n, perSample);
          const want = referenceStep(c.x, c.g, c.x0, eps, c.steps, perSample);
          const got = await E.scopeAsync(async () => {
            const shape = [n, perSample];
            const y = linfStep(E.tensor(c.x, shape), E.tensor(c.g, shape), E.tensor(c.x0, shape), eps, E.tensor(c.steps, [n]));
            return Array.from(await y.data());
          });
          expect(got).toEqual(Array.from(want));
        },
      ),
      { numRuns: 15 },
    );
  });

  it('a scalar step is the same step for every sample', async () => {
    const c = randomCase(7, 3, 40);
    const a = 2 / 255;
    const want = referenceStep(c.x, c.g, c.x0, 8 / 255, new Float32Array(3).fill(a), 40);
    const got = await E.scopeAsync(async () => {
      const t = (v: Float32Array) => E.tensor(v, [3, 40]);
      return Array.from(await linfStep(t(c.x), t(c.g), t(c.x0), 8 / 255, a).data());
    });
    expect(got).toEqual(Array.from(want));
  });

  it('projection mode clamps into the eps-box and [0, 1] and nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 0x7fffffff }), fc.double({ min: 0, max: 0.2, noNaN: true }), async (seed, eps) => {
        const c = randomCase(seed, 4, 64);
        const want = referenceStep(c.x, null, c.x0, eps, c.steps, 64);
        const got = await E.scopeAsync(async () => {
          const y = linfProject(E.tensor(c.x, [4, 64]), E.tensor(c.x0, [4, 64]), eps);
          return Array.from(await y.data());
        });
        expect(got).toEqual(Array.from(want));
      }),
      { numRuns: 10 },
    );
  });

  it('rejects mismatched shapes and step counts, naming them', () => {
    E.scope(() => {
      const x = E.zeros([2, 3]);
      expect(() => linfStep(x, E.zeros([2, 4]), x, 0.1, 0.01)).toThrow(/g \[2, 4\] does not match x \[2, 3\]/);
      expect(() => linfStep(x, x, x, 0.1, E.zeros([3]))).toThrow(/one value per sample/);
    });
  });
});
