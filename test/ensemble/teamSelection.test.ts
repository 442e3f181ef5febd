// Team selection (algorithms.md §6): the smallest affordable team reaching τ_RD, the most diverse
// team of the largest affordable size otherwise, members in DIE order, deterministic ties. Checked
// on hand-made pools and against a brute-force reading of the rule on random pools.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FailureMatrix } from '../../src/ensemble/failureMatrix.js';
import { robustDiversity } from '../../src/ensemble/robustDiversity.js';
import { eligibleMembers, selectTeam } from '../../src/ensemble/teamSelection.js';

const rowsOf = (text: string[]): boolean[][] => text.map((r) => [...r].map((ch) => ch === '1'));

function allTeams(n: number): number[][] {
  const out: number[][] = [];
  for (let mask = 0; mask < 1 << n; mask++) {
    const team = Array.from({ length: n }, (_, j) => j).filter((j) => (mask >> j) & 1);
    if (team.length >= 2) out.push(team);
  }
  return out;
}

const pools = fc
  .record({ models: fc.integer({ min: 2, max: 6 }), examples: fc.integer({ min: 1, max: 40 }) })
  .chain(({ models, examples }) =>
    fc.record({
      rows: fc.array(fc.array(fc.boolean(), { minLength: examples, maxLength: examples }), { minLength: models, maxLength: models }),
      parameterCounts: fc.array(fc.integer({ min: 1, max: 100 }), { minLength: models, maxLength: models }),
      budget: fc.integer({ min: 0, max: 400 }),
      threshold: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  );

describe('selectTeam', () => {
  it('picks the smallest size that reaches τ_RD, its most diverse member set, in DIE order', () => {
    // Models 0 and 1 share 2 of their 2 + 3 failures (RD 1 − 4/5); models 2 and 3 fail elsewhere.
    const m = FailureMatrix.fromRows(rowsOf(['11000000', '11100000', '00011000', '00000111']));
    const sel = selectTeam(m, { parameterCounts: [1, 1, 1, 1], parameterBudget: 4 });
    expect(sel.reason).toBe('threshold');
    expect(sel.team.length).toBe(2);
    // Pairs with RD 1: {0,2}, {0,3}, {1,2}, {1,3}, {2,3}; ties go to the lower P1 (fewest failures:
    // {0,2} with 2 + 2), and the team is ordered by failures (0: 2, 2: 2 → index order).
    expect(sel.team).toEqual([0, 2]);
    expect(sel.robustDiversity).toBe(1);
    expect(sel.considered.length).toBe(2 ** 4 - 1 - 4);
    expect(sel.considered.find((t) => t.members.join() === '0,1')?.robustDiversity).toBeCloseTo(0.2, 12);
  });

  it('orders the chosen team by individual robust accuracy, most robust first', () => {
    const m = FailureMatrix.fromRows(rowsOf(['1110000', '0000001', '0001100']));
    const sel = selectTeam(m, { parameterCounts: [5, 5, 5], parameterBudget: 15, rdThreshold: 0.9 });
    expect(sel.team).toEqual([1, 2]); // RD 1 everywhere: lowest P1 is {1, 2}; 1 fails once, 2 twice.
    const three = selectTeam(m, { parameterCounts: [5, 5, 5], parameterBudget: 15, rdThreshold: 1.01 });
    expect(three.reason).toBe('fallback');
    expect(three.team).toEqual([1, 2, 0]);
  });

  it('falls back to the most diverse team of the largest affordable size', () => {
    // Heavily correlated failures: no team reaches 0.7.
    const m = FailureMatrix.fromRows(rowsOf(['11110000', '11101000', '11100100', '11100010']));
    const sel = selectTeam(m, { parameterCounts: [10, 10, 10, 30], parameterBudget: 30 });
    expect(sel.reason).toBe('fallback');
    expect(sel.team.length).toBe(3); // {0,1,2} is the only team of 3 within 30.
    expect([...sel.team].sort()).toEqual([0, 1, 2]);
    expect(sel.parameters).toBe(30);
    expect(sel.robustDiversity).toBeLessThan(0.7);
  });

  it('uses the caller team accuracy to break RD ties, and refuses when no pair fits', () => {
    const m = FailureMatrix.fromRows(rowsOf(['1000', '0100', '0010', '0001']));
    const sel = selectTeam(m, {
      parameterCounts: [1, 1, 1, 1],
      parameterBudget: 2,
      teamRobustAccuracy: (team) => (team.join() === '2,3' ? 0.9 : 0.5),
    });
    expect([...sel.team].sort()).toEqual([2, 3]);
    expect(() => selectTeam(m, { parameterCounts: [3, 3, 3, 3], parameterBudget: 5 })).toThrow(/no team of two fits/);
  });

  it('agrees with a brute-force reading of the rule on random pools', () => {
    fc.assert(
      fc.property(pools, ({ rows, parameterCounts, budget, threshold }) => {
        const m = FailureMatrix.fromRows(rows);
        const fitting = allTeams(rows.length).filter((t) => t.reduce((s, j) => s + parameterCounts[j], 0) <= budget);
        if (!fitting.length) {
          expect(() => selectTeam(m, { parameterCounts, parameterBudget: budget, rdThreshold: threshold })).toThrow();
          return;
        }
        const sel = selectTeam(m, { parameterCounts, parameterBudget: budget, rdThreshold: threshold });
        const size = sel.team.length;
        expect(sel.team.reduce((s, j) => s + parameterCounts[j], 0)).toBeLessThanOrEqual(budget);
        expect(sel.parameters).toBeLessThanOrEqual(budget);
        const rd = (t: number[]) => robustDiversity(m, t);
        const maxOf = (s: number) => Math.max(...fitting.filter((t) => t.length === s).map(rd));
        expect(sel.robustDiversity).toBeCloseTo(maxOf(size), 12);
        // Smallest qualifying size: no smaller affordable team reaches the threshold.
        for (const t of fitting) if (t.length < size) expect(rd(t)).toBeLessThan(threshold);
        if (sel.reason === 'threshold') expect(sel.robustDiversity).toBeGreaterThanOrEqual(threshold);
        else {
          expect(fitting.every((t) => rd(t) < threshold)).toBe(true);
          expect(size).toBe(Math.max(...fitting.map((t) => t.length)));
        }
        // DIE order: failure counts non-decreasing.
        for (let i = 1; i < size; i++) expect(m.failureCounts[sel.team[i - 1]]).toBeLessThanOrEqual(m.failureCounts[sel.team[i]]);
        // Deterministic: the same inputs give the same team.
        expect(selectTeam(m, { parameterCounts, parameterBudget: budget, rdThreshold: threshold }).team).toEqual(sel.team);
      }),
    );
  });

  it('enumerates all 4083 teams of a 12-model pool on 1,000 examples quickly', () => {
    // Deterministic pseudo-random failures, correlated through a shared "hard example" term.
    let seed = 12345;
    const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const hardness = Array.from({ length: 1000 }, () => next());
    const rows = Array.from({ length: 12 }, () => hardness.map((h) => next() < 0.3 + 0.5 * h));
    const m = FailureMatrix.fromRows(rows);
    const start = performance.now();
    const sel = selectTeam(m, { parameterCounts: Array(12).fill(500), parameterBudget: 2000 });
    const ms = performance.now() - start;
    expect(sel.considered.length).toBe(4083);
    expect(sel.team.length).toBeLessThanOrEqual(4);
    expect(sel.considered.filter((t) => t.fitsBudget).length).toBe(66 + 220 + 495);
    expect(ms).toBeLessThan(2000);
  });

  it('keeps members far below the best robust accuracy out of every team (rdAccuracyGap)', () => {
    // Models 0-2 fail on 2 of 10 examples, mostly the same ones; model 3 has collapsed (fails on 7,
    // including every example the others survive), which makes it the most "diverse" partner.
    const m = FailureMatrix.fromRows(rowsOf(['1100000000', '1010000000', '0110000000', '0001111111']));
    const spec = selectTeam(m, { parameterCounts: [1, 1, 1, 1], parameterBudget: 2 });
    expect(spec.team).toContain(3);
    expect(spec.eligible).toEqual([true, true, true, true]);
    const gap = selectTeam(m, { parameterCounts: [1, 1, 1, 1], parameterBudget: 2, maxAccuracyGap: 0.1 });
    expect(gap.eligible).toEqual([true, true, true, false]);
    expect(gap.team).not.toContain(3);
    expect(gap.robustDiversity).toBeCloseTo(Math.max(robustDiversity(m, [0, 1]), robustDiversity(m, [0, 2]), robustDiversity(m, [1, 2])), 12);
    // Every team is still listed for the report, those with model 3 as ineligible.
    expect(gap.considered.length).toBe(spec.considered.length);
    for (const t of gap.considered) expect(t.eligible).toBe(!t.members.includes(3));
    // A gap exactly as wide as the shortfall admits the member (0.8 − 0.3 = 0.5).
    expect(eligibleMembers(m, 0.5)).toEqual([true, true, true, true]);
    expect(eligibleMembers(m, 0.49)).toEqual([true, true, true, false]);
  });

  it('keeps the two most robust members eligible however narrow the gap', () => {
    const m = FailureMatrix.fromRows(rowsOf(['1000', '1100', '1110', '1111']));
    expect(eligibleMembers(m, 0)).toEqual([true, true, false, false]);
    expect(selectTeam(m, { parameterCounts: [1, 1, 1, 1], parameterBudget: 4, maxAccuracyGap: 0 }).team).toEqual([0, 1]);
    expect(() => eligibleMembers(m, -0.1)).toThrow(/maxAccuracyGap/);
  });

  it('picks the most diverse eligible team on random pools', () => {
    fc.assert(
      fc.property(pools, fc.double({ min: 0, max: 1, noNaN: true }), ({ rows, parameterCounts, budget, threshold }, gap) => {
        const m = FailureMatrix.fromRows(rows);
        const eligible = eligibleMembers(m, gap);
        const accuracy = rows.map((r) => 1 - r.filter(Boolean).length / r.length);
        const best = Math.max(...accuracy);
        const within = accuracy.map((a) => a >= best - gap - 1e-12);
        if (within.filter(Boolean).length >= 2) expect(eligible).toEqual(within);
        else expect(eligible.filter(Boolean).length).toBe(2);
        const fitting = allTeams(rows.length).filter((t) => t.every((j) => eligible[j]) && t.reduce((s, j) => s + parameterCounts[j], 0) <= budget);
        const options = { parameterCounts, parameterBudget: budget, rdThreshold: threshold, maxAccuracyGap: gap };
        if (!fitting.length) {
          expect(() => selectTeam(m, options)).toThrow(/no team of two fits/);
          return;
        }
        const sel = selectTeam(m, options);
        for (const j of sel.team) expect(eligible[j]).toBe(true);
        const rd = (t: number[]) => robustDiversity(m, t);
        expect(sel.robustDiversity).toBeCloseTo(Math.max(...fitting.filter((t) => t.length === sel.team.length).map(rd)), 12);
        for (const t of fitting) if (t.length < sel.team.length) expect(rd(t)).toBeLessThan(threshold);
      }),
    );
  });

  it('breaks full ties by the lexicographically smallest team', () => {
    // Every model identical: all RDs 0, all P1 equal → {0, 1}.
    const m = FailureMatrix.fromRows(rowsOf(['101', '101', '101', '101']));
    const sel = selectTeam(m, { parameterCounts: [1, 1, 1, 1], parameterBudget: 2 });
    expect(sel.team).toEqual([0, 1]);
    expect(sel.reason).toBe('fallback');
  });
});
