// The step-size and window schedules of APGD and Square against lists derived by hand from
// algorithms.md §11.2.

import { describe, expect, it } from 'vitest';
import { apgdCheckpoints } from '../../src/attacks/apgdSchedule.js';
import { squareFraction, squareSide } from '../../src/attacks/square.js';

/**
 * The paper's form, in hundredths of N_iter to stay exact: p_0 = 0, p_1 = 22,
 * p_{j+1} = p_j + max(p_j − p_{j−1} − 3, 6), while p_j ≤ 100.
 */
function checkpointsInHundredths(): number[] {
  const p = [0, 22];
  while (true) {
    const j = p.length - 1;
    const next = p[j] + Math.max(p[j] - p[j - 1] - 3, 6);
    if (next > 100) break;
    p.push(next);
  }
  return p.slice(1);
}

describe('APGD checkpoints', () => {
  it('for N_iter = 100 are 22, 41, 57, 70, 80, 87, 93, 99 (worked by hand)', () => {
    // Intervals 22, 19, 16, 13, 10, 7, then the minimum 6, 6.
    expect(apgdCheckpoints(100).map((c) => c.iteration)).toEqual([22, 41, 57, 70, 80, 87, 93, 99]);
    expect(apgdCheckpoints(100).map((c) => c.interval)).toEqual([22, 19, 16, 13, 10, 7, 6, 6]);
  });

  it('agree with the paper formula p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)', () => {
    expect(checkpointsInHundredths()).toEqual([22, 41, 57, 70, 80, 87, 93, 99]);
    expect(apgdCheckpoints(1000).map((c) => c.iteration)).toEqual(checkpointsInHundredths().map((p) => p * 10));
  });

  it('keep every interval at least 1 for short runs', () => {
    // N_iter = 20: first ⌊4.4⌋ = 4, shrinking by max(⌊0.6⌋, 1) = 1 down to max(⌊1.2⌋, 1) = 1.
    expect(apgdCheckpoints(20).map((c) => c.iteration)).toEqual([4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(apgdCheckpoints(1).map((c) => c.iteration)).toEqual([1]);
    expect(apgdCheckpoints(0)).toEqual([]);
  });
});

describe('Square schedule', () => {
  it('halves p at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 queries', () => {
    const at = (i: number) => squareFraction(i, 0.8);
    expect([0, 10, 11, 50, 51, 200, 201, 500, 501, 1000, 1001, 2000, 2001, 4000, 4001, 6000, 6001, 8000, 8001, 9999].map(at)).toEqual([
      0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625, 0.00625, 0.003125, 0.003125,
      0.0015625, 0.0015625,
    ]);
  });

  it('rescales to the query budget only when asked', () => {
    expect(squareFraction(100, 0.8, 1000, false)).toBe(0.2);
    expect(squareFraction(100, 0.8, 1000, true)).toBe(0.05); // as if it were query 1000 of 10,000
  });

  it('window side is round(sqrt(p·H·W)), at least 1 and at most the image', () => {
    expect(squareSide(0.8, 32, 32)).toBe(29);
    expect(squareSide(0.05, 32, 32)).toBe(7);
    expect(squareSide(0.0015625, 32, 32)).toBe(1);
    expect(squareSide(1e-6, 8, 8)).toBe(1);
    expect(squareSide(0.8, 4, 64)).toBe(4);
  });
});
