// The fused Square-attack proposal kernel against a float32 TypeScript transcription:
// P(x_best + 2ε·sign_c·[pixel in window]) with P the projection onto the ε-box and [0, 1].

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { squareProposalKernel } from '../../kernels/squareProposal.js';
import { mulberry32 } from '../reference/ndarray.js';

const f = Math.fround;

describe('square proposal kernel', () => {
  it('matches the TypeScript reference bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.record({ n: fc.integer({ min: 1, max: 3 }), c: fc.integer({ min: 1, max: 4 }), h: fc.integer({ min: 1, max: 7 }), w: fc.integer({ min: 1, max: 7 }) }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        async (seed, { n, c, h, w }, eps) => {
          const rng = mulberry32(seed);
          const size = Math.max(1, Math.floor(rng() * Math.min(h, w)) + 1);
          const row = Math.floor(rng() * (h - size + 1));
          const col = Math.floor(rng() * (w - size + 1));
          const signs = Array.from({ length: c }, () => (rng() < 0.5 ? -1 : 1));
          const len = n * c * h * w;
          const x0 = Float32Array.from({ length: len }, () => f(rng() < 0.3 ? Math.round(rng()) : rng()));
          const xBest = x0.map((v) => f(Math.min(Math.max(v + (rng() - 0.5) * 2 * eps, 0), 1)));
          const e = f(eps);
          const want = xBest.map((v, i) => {
            const wi = i % w;
            const hi = Math.floor(i / w) % h;
            const ci = Math.floor(i / (w * h)) % c;
            const inside = hi >= row && hi < row + size && wi >= col && wi < col + size;
            const moved = inside ? f(v + signs[ci] * 2 * e) : v;
            return Math.min(Math.max(Math.min(Math.max(moved, f(x0[i] - e)), f(x0[i] + e)), 0), 1);
          });
          const got = await E.scopeAsync(async () => {
            const shape = [n, c, h, w];
            const y = squareProposalKernel(E.tensor(xBest, shape), E.tensor(x0, shape), eps, { row, col, size, signs });
            return Array.from(await y.data());
          });
          expect(got).toEqual(Array.from(want));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('rejects windows that leave the image', () => {
    E.scope(() => {
      const x = E.zeros([1, 1, 4, 4]);
      expect(() => squareProposalKernel(x, x, 0.1, { row: 2, col: 0, size: 3, signs: [1] })).toThrow(/leaves the 4x4 image/);
      expect(() => squareProposalKernel(x, x, 0.1, { row: 0, col: 0, size: 2, signs: [1, 1] })).toThrow(/2 signs for 1 channels/);
    });
  });
});
