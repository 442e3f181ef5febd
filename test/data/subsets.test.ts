import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HostRandom } from '../../src/data/hostRandom.js';
import { chunkSizes, eedSubsets, IMPORTANCE_METRICS, poolMembers } from '../../src/data/subsets.js';

const setOf = (a: ArrayLike<number>) => new Set(Array.from(a));
const intersect = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  const sb = setOf(b);
  return Array.from(a).filter((x) => sb.has(x));
};

/** trainSize, heldOut and d with at least `minPool` samples left per chunk count. */
const splitArgs = (minPool = 1) =>
  fc
    .record({ d: fc.integer({ min: 1, max: 6 }), pool: fc.integer({ min: 0, max: 400 }), heldOut: fc.integer({ min: 0, max: 60 }), seed: fc.nat() })
    .map(({ d, pool, heldOut, seed }) => ({ d, heldOut, seed, trainSize: heldOut + Math.max(pool, d, minPool) }));

describe('EED data subsets', () => {
  it('held-out, pool and chunks partition the training indices', () => {
    fc.assert(
      fc.property(splitArgs(), ({ d, heldOut, seed, trainSize }) => {
        const s = eedSubsets({ trainSize, heldOut, chunks: d, seed });
        expect(s.heldOut.length).toBe(heldOut);
        expect(s.pool.length).toBe(trainSize - heldOut);
        expect(intersect(s.heldOut, s.pool)).toEqual([]);
        expect([...s.heldOut, ...s.pool].sort((a, b) => a - b)).toEqual(Array.from({ length: trainSize }, (_, i) => i));
        for (const m of s.metrics) {
          expect(m.chunks.map((c) => c.length)).toEqual(chunkSizes(s.pool.length, d));
          // Chunks are pairwise disjoint, cover the pool exactly, and never touch the held-out split.
          const all = m.chunks.flatMap((c) => Array.from(c));
          expect(setOf(all).size).toBe(all.length);
          expect(all.sort((a, b) => a - b)).toEqual(Array.from(s.pool));
          expect(intersect(all, s.heldOut)).toEqual([]);
          expect([...m.permutation].sort((a, b) => a - b)).toEqual(Array.from(s.pool));
        }
      }),
    );
  });

  it('chunk 0 (a 1/d share) is in every sub-model; the private chunks are not shared', () => {
    fc.assert(
      fc.property(splitArgs(), ({ d, heldOut, seed, trainSize }) => {
        const s = eedSubsets({ trainSize, heldOut, chunks: d, seed });
        const p = s.pool.length;
        for (const m of s.metrics) {
          expect(m.subModels.length).toBe(Math.max(d - 1, 1));
          expect([Math.floor(p / d), Math.ceil(p / d)]).toContain(m.chunks[0].length);
          m.subModels.forEach((sub, k) => {
            const own = d === 1 ? [] : Array.from(m.chunks[k + 1]);
            expect(Array.from(sub)).toEqual([...m.chunks[0], ...own].sort((a, b) => a - b));
            expect(intersect(sub, s.heldOut)).toEqual([]);
          });
          // Two sub-models of one metric overlap in exactly the shared chunk.
          for (let a = 0; a < m.subModels.length; a++)
            for (let b = a + 1; b < m.subModels.length; b++)
              expect(intersect(m.subModels[a], m.subModels[b]).sort((x, y) => x - y)).toEqual(
                [...m.chunks[0]].sort((x, y) => x - y),
              );
        }
      }),
    );
  });

  it('the same seed gives the same split; metrics and seeds change the permutation', () => {
    fc.assert(
      fc.property(splitArgs(24), ({ d, heldOut, seed, trainSize }) => {
        const a = eedSubsets({ trainSize, heldOut, chunks: d, seed });
        const b = eedSubsets({ trainSize, heldOut, chunks: d, seed });
        expect(b).toEqual(a);
        const perms = a.metrics.map((m) => m.permutation.join(','));
        expect(new Set(perms).size).toBe(IMPORTANCE_METRICS.length);
        const other = eedSubsets({ trainSize, heldOut, chunks: d, seed: seed + 1 });
        expect(other.metrics[0].permutation.join(',')).not.toBe(perms[0]);
        if (heldOut >= 8 && trainSize - heldOut >= 8) expect(other.heldOut.join(',')).not.toBe(a.heldOut.join(','));
      }),
    );
  });

  it('the paper setting: d = 4 on 50,000 images gives 12 sub-models on 50% of the pool', () => {
    const s = eedSubsets({ trainSize: 50_000, seed: 7 });
    const members = poolMembers(s);
    expect(members.map((m) => `${m.metric}${m.subModel}`)).toEqual(IMPORTANCE_METRICS.flatMap((m) => [1, 2, 3].map((k) => `${m}${k}`)));
    expect(s.heldOut.length).toBe(1000);
    for (const m of members) expect(m.indices.length).toBe(2 * 12_250);
  });

  it('refuses impossible splits', () => {
    expect(() => eedSubsets({ trainSize: 10, heldOut: 8, chunks: 4, seed: 0 })).toThrow(/leaves fewer than d = 4/);
    expect(() => eedSubsets({ trainSize: 10, heldOut: 0, chunks: 0, seed: 0 })).toThrow(/chunk count d must be a positive integer/);
    expect(() => eedSubsets({ trainSize: 10, heldOut: 0, seed: 0, metrics: ['A', 'A'] })).toThrow(/duplicate metric/);
  });
});

describe('HostRandom', () => {
  it('draws every permutation of 3 items about equally often (no modulo or shuffle bias)', () => {
    const rng = new HostRandom(123);
    const counts = new Map<string, number>();
    const trials = 60_000;
    for (let t = 0; t < trials; t++) {
      const key = rng.shuffle([0, 1, 2]).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    // 10,000 expected per permutation, standard deviation ≈ 91: ±500 is > 5σ.
    for (const c of counts.values()) expect(Math.abs(c - trials / 6)).toBeLessThan(500);
  });

  it('streams of one seed differ, and a seed reproduces its sequence', () => {
    const seq = (seed: number, stream: number) => {
      const r = new HostRandom(seed, stream);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(seq(5, 0)).toEqual(seq(5, 0));
    expect(seq(5, 1)).not.toEqual(seq(5, 0));
    expect(seq(2 ** 40, 0)).not.toEqual(seq(0, 0)); // the high half of a seed counts
  });
});
