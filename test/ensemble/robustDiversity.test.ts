// Robust Diversity (algorithms.md §6, eqs. 12–13): closed forms on hand-made failure matrices, the
// O(S²) pairwise route against the explicit distribution of failing-member counts, and invariances.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FailureMatrix } from '../../src/ensemble/failureMatrix.js';
import { compareDiversity, failureStatistics, failureSums, robustDiversity } from '../../src/ensemble/robustDiversity.js';

const rowsOf = (text: string[]): boolean[][] => text.map((r) => [...r].map((ch) => ch === '1'));

/** Random failure matrices: models × examples, with at least two models. */
const failureRows = fc
  .record({ models: fc.integer({ min: 2, max: 6 }), examples: fc.integer({ min: 1, max: 80 }) })
  .chain(({ models, examples }) =>
    fc.array(fc.array(fc.boolean(), { minLength: examples, maxLength: examples }), { minLength: models, maxLength: models }),
  );

describe('robust diversity', () => {
  it('is 0 for identical members and 1 for members failing on disjoint examples', () => {
    const identical = FailureMatrix.fromRows(rowsOf(['1101000', '1101000', '1101000']));
    expect(robustDiversity(identical, [0, 1, 2])).toBe(0);
    const disjoint = FailureMatrix.fromRows(rowsOf(['1100000', '0011000', '0000110']));
    expect(robustDiversity(disjoint, [0, 1, 2])).toBe(1);
    expect(failureStatistics(disjoint, [0, 1, 2]).pTwo).toBe(0);
  });

  it('matches eq. 12 by hand on a mixed matrix', () => {
    // Examples: c_n = 3, 2, 1, 1, 0 failing members of S = 3 → p = [1/5, 2/5, 1/5, 1/5].
    const m = FailureMatrix.fromRows(rowsOf(['11100', '11010', '10000']));
    const stats = failureStatistics(m, [0, 1, 2]);
    expect(Array.from(stats.distribution)).toEqual([0.2, 0.4, 0.2, 0.2]);
    const pOne = (1 / 3) * 0.4 + (2 / 3) * 0.2 + 1 * 0.2;
    const pTwo = ((2 * 1) / 6) * 0.2 + ((3 * 2) / 6) * 0.2;
    expect(stats.pOne).toBeCloseTo(pOne, 12);
    expect(stats.pTwo).toBeCloseTo(pTwo, 12);
    expect(robustDiversity(m, [0, 1, 2])).toBeCloseTo(1 - pTwo / pOne, 12);
    // Models 0 and 1 fail together on 2 examples out of their 3 + 3 failures: 1 − (2·2)/(1·6).
    expect(robustDiversity(m, [0, 1])).toBeCloseTo(1 - 4 / 6, 12);
  });

  it('is 1 when no member ever fails, and rejects malformed teams', () => {
    const m = FailureMatrix.fromRows(rowsOf(['000', '000', '101']));
    expect(robustDiversity(m, [0, 1])).toBe(1);
    expect(failureStatistics(m, [0, 1]).robustDiversity).toBe(1);
    expect(() => robustDiversity(m, [0])).toThrow(/at least 2/);
    expect(() => robustDiversity(m, [0, 0])).toThrow(/twice/);
    expect(() => robustDiversity(m, [0, 3])).toThrow(/not a model index/);
    expect(() => FailureMatrix.fromRows([[true], [true, false]])).toThrow(/examples/);
  });

  it('the pairwise route equals the distribution route, and RD lies in [0, 1]', () => {
    fc.assert(
      fc.property(failureRows, (rows) => {
        const m = FailureMatrix.fromRows(rows);
        const team = rows.map((_, j) => j);
        const rd = robustDiversity(m, team);
        expect(rd).toBeGreaterThanOrEqual(0);
        expect(rd).toBeLessThanOrEqual(1);
        expect(rd).toBeCloseTo(failureStatistics(m, team).robustDiversity, 10);
        // Any sub-team as well.
        expect(robustDiversity(m, [1, 0])).toBeCloseTo(failureStatistics(m, [0, 1]).robustDiversity, 10);
      }),
    );
  });

  it('is invariant to the order of the examples and of the members', () => {
    fc.assert(
      fc.property(failureRows, fc.integer(), (rows, seed) => {
        const n = rows[0].length;
        // A seeded Fisher–Yates permutation of the examples.
        const perm = Array.from({ length: n }, (_, i) => i);
        let s = seed >>> 0;
        for (let i = n - 1; i > 0; i--) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          const j = s % (i + 1);
          [perm[i], perm[j]] = [perm[j], perm[i]];
        }
        const team = rows.map((_, j) => j);
        const original = FailureMatrix.fromRows(rows);
        const shuffled = FailureMatrix.fromRows(rows.map((r) => perm.map((i) => r[i])));
        expect(robustDiversity(shuffled, team)).toBe(robustDiversity(original, team));
        expect(robustDiversity(original, [...team].reverse())).toBe(robustDiversity(original, team));
      }),
    );
  });

  it('compareDiversity orders teams as their RD values do', () => {
    fc.assert(
      fc.property(failureRows, failureRows, (rowsA, rowsB) => {
        const a = FailureMatrix.fromRows(rowsA);
        const b = FailureMatrix.fromRows(rowsB);
        const sa = failureSums(a, rowsA.map((_, j) => j));
        const sb = failureSums(b, rowsB.map((_, j) => j));
        const rdA = robustDiversity(a, rowsA.map((_, j) => j));
        const rdB = robustDiversity(b, rowsB.map((_, j) => j));
        const c = compareDiversity(sa, sb);
        if (Math.abs(rdA - rdB) > 1e-12) expect(Math.sign(c)).toBe(Math.sign(rdA - rdB));
        expect(compareDiversity(sa, sa)).toBe(0);
        expect(compareDiversity(sb, sa)).toBe(-c || 0);
      }),
    );
  });
});
