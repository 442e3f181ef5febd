// DIE (algorithms.md §8) on stub members with hand-chosen or random logits: members run and
// predictions match a float64 reference of the sequential rule, stopping at 1 and at T, the batched
// run equals running each sample alone, and each member only sees the rows still active.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { dynamicEnsemble, type DynamicEnsembleResult } from '../../src/ensemble/dynamicEnsemble.js';
import type { HaltingOptions } from '../../src/ensemble/haltingRule.js';
import { staticEnsemble } from '../../src/ensemble/staticEnsemble.js';
import { referenceDie, type ReferenceOptions } from './dieReference.js';

/**
 * A member whose logits for the image holding sample id n are table[n]: the "images" are [N, 1, 1, 1]
 * tensors of sample ids. It counts the rows it is asked to evaluate.
 */
interface StubMember extends Classifier {
  rowsSeen: number;
  dispose(): void;
}

function stubMember(table: readonly (readonly number[])[]): StubMember {
  const numClasses = table[0].length;
  const logits = E.tensor(table.flat(), [table.length, numClasses]).keep();
  const stub: StubMember = {
    numClasses,
    rowsSeen: 0,
    logits: (x) => {
      stub.rowsSeen += x.shape[0];
      return E.indexSelect(logits, 0, E.cast(E.reshape(x, [x.shape[0]]), 'i32'));
    },
    dispose: () => logits.dispose(),
  };
  return stub;
}

const sampleIds = (ids: readonly number[]): E.Tensor => E.tensor(ids, [ids.length, 1, 1, 1]);

/** logits[t][n] = logits of member t on sample n. */
async function runDie(logits: number[][][], opts: HaltingOptions, ids?: number[]) {
  const members = logits.map(stubMember);
  const x = sampleIds(ids ?? logits[0].map((_, n) => n));
  const result = await dynamicEnsemble(members, x, opts);
  const probabilities = Array.from((await result.probabilities.data()) as Float32Array);
  result.probabilities.dispose();
  x.dispose();
  const rowsSeen = members.map((m) => m.rowsSeen);
  for (const m of members) m.dispose();
  return { result, probabilities, rowsSeen };
}

function referenceOptions(o: HaltingOptions): ReferenceOptions {
  return {
    dieRule: o.dieRule ?? 'argmax',
    dieSoft: o.dieSoft ?? false,
    tauU: o.instabilityThreshold ?? 0.05,
    tauQ: o.haltThreshold ?? 0.5,
    combiner: o.combiner ?? 'average',
  };
}

function expectRowsOnlyForActive(result: DynamicEnsembleResult, rowsSeen: number[]): void {
  rowsSeen.forEach((rows, t) => {
    const active = Array.from(result.membersUsed).filter((u) => u > t).length;
    expect(rows).toBe(active);
    expect(result.rowsPerMember[t]).toBe(active);
  });
}

describe('dynamicEnsemble', () => {
  it('stops a confident sample at member 1 and runs an undecided one to the end', async () => {
    // Sample 0: member 1 is sure (q_1 ≈ 1 ≥ surv). Sample 1: member 1 is uniform (q_1 = 1/9),
    // member 2 disagrees strongly (U_2 ≈ 0.23 > τ_U, q_2 = 0), member 3 is the forced stop.
    const logits = [
      [[12, 0, 0], [0, 0, 0]],
      [[0, 0, 9], [12, 0, 0]],
      [[0, 9, 0], [12, 0, 0]],
    ];
    const { result, probabilities, rowsSeen } = await runDie(logits, {});
    expect(Array.from(result.membersUsed)).toEqual([1, 3]);
    expect(Array.from(result.predictionSize)).toEqual([1, 3]);
    expect(rowsSeen).toEqual([2, 1, 1]);
    const ref = referenceDie([logits[0][1], logits[1][1], logits[2][1]], referenceOptions({}));
    expect(ref.membersUsed).toBe(3);
    for (let k = 0; k < 3; k++) expect(probabilities[3 + k]).toBeCloseTo(ref.probabilities[k], 5);
    expect(probabilities[0]).toBeCloseTo(1, 4);
    expect(Array.from(result.predictions)).toEqual([0, 0]);
  });

  it('predicts with ŷ^{z_x} when the argmax of eq. 21 lies before the last member run', async () => {
    // softmax([1.5, 0, 0]) has max 0.691, so q_1 = 0.478: best = 0.478, surv = 0.522 → go on.
    // Member 2 agrees exactly (U_2 = 0): p_2 = 0.478·0.522 = 0.249 < best, surv = 0.272 ≤ best → stop
    // after 2 members with z_x = 1; member 3 never runs. A second member that disagreed would not
    // change ŷ^{z_x}, so member 2's logits are moved in a direction that keeps U_2 ≤ τ_U.
    const logits = [[[1.5, 0, 0]], [[1.5, 0.01, 0]], [[0, 0, 9]]];
    const { result, probabilities, rowsSeen } = await runDie(logits, {});
    const ref = referenceDie(logits.map((m) => m[0]), referenceOptions({}));
    expect([ref.membersUsed, ref.predictionSize]).toEqual([2, 1]);
    expect(result.membersUsed[0]).toBe(2);
    expect(result.predictionSize[0]).toBe(1);
    expect(rowsSeen).toEqual([1, 1, 0]);
    // ŷ^{z_x} = ŷ_1 exactly, not the mean of the two members run.
    const first = [Math.exp(1.5), 1, 1].map((v) => v / (Math.exp(1.5) + 2));
    first.forEach((p, k) => expect(probabilities[k]).toBeCloseTo(p, 6));
  });

  it('forces the stop at T when no member is ever confident enough', async () => {
    // Uniform members: q_t = 1/C² = 1/16 and U_t = 0, so surv stays above best until q_T := 1.
    const T = 4;
    const logits = Array.from({ length: T }, () => [[0, 0, 0, 0], [1, 1, 1, 1]]);
    const { result, rowsSeen } = await runDie(logits, {});
    expect(Array.from(result.membersUsed)).toEqual([T, T]);
    expect(Array.from(result.predictionSize)).toEqual([T, T]);
    expect(rowsSeen).toEqual([2, 2, 2, 2]);
  });

  it('equals the static team when only the forced stop can halt', async () => {
    const logits = [
      [[2, 0, -1], [0, 3, 1], [5, 5, 0]],
      [[0, 1, 0], [-2, 0, 4], [1, 0, 0]],
      [[1, 1, 3], [0, 0, 0], [0, 7, 1]],
    ];
    for (const combiner of ['average', 'max'] as const) {
      const { result, probabilities } = await runDie(logits, { dieRule: 'threshold', haltThreshold: 2, combiner });
      expect(Array.from(result.membersUsed)).toEqual([3, 3, 3]);
      const members = logits.map(stubMember);
      const x = sampleIds([0, 1, 2]);
      const st = staticEnsemble(members, x, combiner);
      const expected = Array.from((await st.data()) as Float32Array);
      for (const t of [st, x]) t.dispose();
      for (const m of members) m.dispose();
      probabilities.forEach((p, i) => expect(p).toBeCloseTo(expected[i], 5));
      // The reference agrees too: average and renormalised max.
      for (let n = 0; n < 3; n++) {
        const ref = referenceDie(logits.map((m) => m[n]), referenceOptions({ dieRule: 'threshold', haltThreshold: 2, combiner }));
        for (let k = 0; k < 3; k++) expect(probabilities[n * 3 + k]).toBeCloseTo(ref.probabilities[k], 5);
      }
    }
  });

  it('the threshold rule halts at the first q_t ≥ τ_q', async () => {
    // Sample 0: Conf_1 = max(softmax([3,0,0]))² ≈ 0.82 ≥ 0.5. Sample 1: Conf_1 ≈ 0.33 < 0.5, then
    // member 2 agrees (U_2 small) and lifts Conf_2 above 0.5.
    const logits = [
      [[3, 0, 0], [1.5, 0, 0]],
      [[0, 0, 0], [4, 0, 0]],
      [[0, 0, 0], [0, 0, 0]],
    ];
    const opts: HaltingOptions = { dieRule: 'threshold', instabilityThreshold: 1 };
    const { result } = await runDie(logits, opts);
    for (let n = 0; n < 2; n++) {
      const ref = referenceDie(logits.map((m) => m[n]), referenceOptions(opts));
      expect(result.membersUsed[n]).toBe(ref.membersUsed);
    }
    expect(Array.from(result.membersUsed)).toEqual([1, 2]);
  });

  it('rejects bad options and mismatched members', async () => {
    const x = sampleIds([0]);
    const a = stubMember([[0, 1]]);
    const b = stubMember([[0, 1, 2]]);
    await expect(dynamicEnsemble([a, b], x)).rejects.toThrow(/class count/);
    await expect(dynamicEnsemble([a], x, { instabilityThreshold: 0 })).rejects.toThrow(/τ_U/);
    await expect(dynamicEnsemble([], x)).rejects.toThrow(/no members/);
    for (const t of [a, b]) t.dispose();
    x.dispose();
  });

  const dieCase = fc
    .record({
      members: fc.integer({ min: 2, max: 4 }),
      samples: fc.integer({ min: 1, max: 8 }),
      classes: fc.integer({ min: 2, max: 4 }),
    })
    .chain(({ members, samples, classes }) =>
      fc.record({
        logits: fc.array(
          fc.array(fc.array(fc.double({ min: -6, max: 6, noNaN: true }), { minLength: classes, maxLength: classes }), {
            minLength: samples,
            maxLength: samples,
          }),
          { minLength: members, maxLength: members },
        ),
        opts: fc.record({
          dieRule: fc.constantFrom('argmax' as const, 'threshold' as const),
          dieSoft: fc.boolean(),
          instabilityThreshold: fc.constantFrom(0.05, 0.2, 1),
          haltThreshold: fc.constantFrom(0.3, 0.5, 0.8),
          combiner: fc.constantFrom('average' as const, 'max' as const),
        }),
      }),
    );

  it('batched equals sample by sample and the float64 reference; members see only active rows', async () => {
    // Tallies over all runs, so the test fails if the cases never exercise the rule.
    let compared = 0;
    let early = 0;
    await fc.assert(
      fc.asyncProperty(dieCase, async ({ logits, opts }) => {
        const batched = await runDie(logits, opts);
        expectRowsOnlyForActive(batched.result, batched.rowsSeen);
        const c = logits[0][0].length;
        for (let n = 0; n < logits[0].length; n++) {
          const alone = await runDie(logits, opts, [n]);
          expect(alone.result.membersUsed[0]).toBe(batched.result.membersUsed[n]);
          expect(alone.result.predictionSize[0]).toBe(batched.result.predictionSize[n]);
          expect(alone.result.predictions[0]).toBe(batched.result.predictions[n]);
          alone.probabilities.forEach((p, k) => expect(p).toBeCloseTo(batched.probabilities[n * c + k], 6));
          const ref = referenceDie(logits.map((m) => m[n]), referenceOptions(opts));
          if (ref.margin < 1e-4) continue; // f32 vs f64 could fall either side of the threshold
          compared++;
          if (ref.membersUsed < logits.length) early++;
          expect(batched.result.membersUsed[n]).toBe(ref.membersUsed);
          expect(batched.result.predictionSize[n]).toBe(ref.predictionSize);
          ref.probabilities.forEach((p, k) => expect(batched.probabilities[n * c + k]).toBeCloseTo(p, 5));
        }
      }),
      { numRuns: 25 },
    );
    expect(compared).toBeGreaterThan(20);
    expect(early).toBeGreaterThan(0);
  });
});
