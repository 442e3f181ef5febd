// DIE calibration: the host replay equals dynamicEnsemble, the static accuracy equals the static
// team's, and the chosen setting is the cheapest within the tolerance.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { calibrateDie, memberLogProbabilities, replayDie, staticAccuracy } from '../../src/ensemble/dieCalibration.js';
import { dynamicEnsemble } from '../../src/ensemble/dynamicEnsemble.js';
import { staticEnsemble } from '../../src/ensemble/staticEnsemble.js';

/** A member returning table[n] for the image whose single pixel holds n. */
function tableMember(table: number[][]): Classifier & { dispose(): void } {
  const logits = E.tensor(table.flat(), [table.length, table[0].length]).keep();
  return {
    numClasses: table[0].length,
    logits: (x) => E.indexSelect(logits, 0, E.cast(E.reshape(x, [x.shape[0]]), 'i32')),
    dispose: () => logits.dispose(),
  };
}

const logitTables = (members: number, n: number, classes: number) =>
  fc.array(fc.array(fc.array(fc.double({ min: -6, max: 6, noNaN: true }), { minLength: classes, maxLength: classes }), { minLength: n, maxLength: n }), {
    minLength: members,
    maxLength: members,
  });

describe('DIE calibration', () => {
  it('replays exactly what dynamicEnsemble decides, and the static team’s accuracy', async () => {
    await fc.assert(
      fc.asyncProperty(logitTables(3, 12, 4), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 12, maxLength: 12 }), fc.constantFrom(0.01, 0.1, 1), fc.constantFrom('argmax' as const, 'threshold' as const), async (tables, labels, tau, rule) => {
        const members = tables.map(tableMember);
        const x = E.tensor(tables[0].map((_, n) => n), [12, 1, 1, 1]);
        try {
          const opts = { dieRule: rule, instabilityThreshold: tau };
          const live = await dynamicEnsemble(members, x, opts);
          live.probabilities.dispose();
          const logProbs = await memberLogProbabilities(members, x);
          const replay = replayDie(logProbs, labels, 4, opts);
          const right = Array.from(live.predictions).filter((p, i) => p === labels[i]).length;
          expect(replay.accuracy).toBeCloseTo(right / 12, 12);
          expect(replay.meanMembers).toBeCloseTo(live.membersUsed.reduce((a, b) => a + b, 0) / 12, 12);
          const probs = staticEnsemble(members, x);
          const p = (await probs.data()) as Float32Array;
          probs.dispose();
          // Samples whose two best classes are closer than f32 can tell may go either way in the
          // float64 replay (shrinking finds such exact ties), so they are allowed to differ.
          let staticRight = 0;
          let nearTies = 0;
          for (let i = 0; i < 12; i++) {
            const row = Array.from(p.subarray(i * 4, i * 4 + 4));
            const sorted = [...row].sort((a, b) => b - a);
            if (sorted[0] - sorted[1] < 1e-5) nearTies++;
            if (row.indexOf(sorted[0]) === labels[i]) staticRight++;
          }
          expect(Math.abs(staticAccuracy(logProbs, labels, 4, 'average') - staticRight / 12)).toBeLessThanOrEqual(nearTies / 12 + 1e-12);
        } finally {
          x.dispose();
          members.forEach((m) => m.dispose());
        }
      }),
      { numRuns: 30 },
    );
  });

  it('picks the cheapest setting within the tolerance of the static team', () => {
    // Member 1 is confident and right everywhere; member 2 is unsure. Stopping after member 1 costs
    // no accuracy, so the calibration must choose a setting that stops early on every sample.
    const n = 20;
    const confident = Float32Array.from({ length: n * 2 }, (_, k) => (k % 2 === 0 ? Math.log(0.99) : Math.log(0.01)));
    const unsure = Float32Array.from({ length: n * 2 }, () => Math.log(0.5));
    const labels = new Array<number>(n).fill(0);
    const c = calibrateDie([confident, unsure], [confident, unsure], labels, 2, {});
    expect(c.staticRobust).toBe(1);
    expect(c.withinTolerance).toBe(true);
    const chosen = c.points.find((p) => p.instabilityThreshold === c.chosen.instabilityThreshold)!;
    expect(chosen.meanMembers).toBe(1);
    expect(Math.min(...c.points.map((p) => p.meanMembers))).toBe(1);
    // The most conservative of the equally cheap settings.
    expect(c.chosen.instabilityThreshold).toBe(0.005);
  });

  it('keeps every member when stopping early would cost accuracy', () => {
    // Member 1 is confidently wrong on half the samples, member 2 confidently right on all.
    const n = 10;
    const first = Float32Array.from({ length: n * 2 }, (_, k) => {
      const wrong = Math.floor(k / 2) % 2 === 0;
      return Math.log((k % 2 === 0) !== wrong ? 0.8 : 0.2);
    });
    const second = Float32Array.from({ length: n * 2 }, (_, k) => Math.log(k % 2 === 0 ? 0.999 : 0.001));
    const labels = new Array<number>(n).fill(0);
    // Under the argmax rule a first member this sure (Conf = 0.64) always halts (τ_U only gates
    // t ≥ 2), so no setting qualifies and the most accurate is reported as such.
    const argmax = calibrateDie([first, second], [first, second], labels, 2, {});
    expect(argmax.withinTolerance).toBe(false);
    // The threshold rule can wait for the second member: τ_q = 0.9 > 0.64.
    const c = calibrateDie([first, second], [first, second], labels, 2, { dieRule: 'threshold' });
    expect(c.withinTolerance).toBe(true);
    expect(c.chosen.haltThreshold).toBe(0.9);
    const chosen = c.points.find((p) => p.instabilityThreshold === c.chosen.instabilityThreshold && p.haltThreshold === 0.9)!;
    expect(chosen.robustAccuracy).toBe(1);
    expect(chosen.meanMembers).toBe(2);
  });
});
