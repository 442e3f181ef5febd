// AutoAttack's bookkeeping, with stub attacks on a stub classifier whose decisions are set by
// hand: which points each attack sees, the per-point worst case, the accuracy after each attack
// and the ε check of what the attacks return.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { autoAttack, standardAttacks, type AttackWithinState, type AutoAttackComponent, type AutoAttackProgress } from '../../src/attacks/autoAttack.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { randomProblem } from './fixtures.js';

const EPS = 0.03;

/**
 * Images [N, 1, 1, 3]: pixels 0 and 1 are the two class scores, pixel 2 identifies the point
 * (id/100). Label 0 is right iff pixel 0 > pixel 1.
 */
const scoresClassifier: Classifier = { numClasses: 2, logits: (x) => E.slice(E.flatten(x, 1), 1, 0, 2) };

function image(id: number, correct: boolean): number[] {
  return correct ? [0.51, 0.5, id / 100] : [0.5, 0.51, id / 100];
}

interface StubLog {
  seen: number[];
}

/** An attack that swaps the two scores (a 0.01 change) of the points in `fools`, and returns the rest unchanged. */
function stub(name: string, fools: ReadonlySet<number>, log: StubLog, overshoot = 0): AutoAttackComponent {
  return {
    name,
    run: async (_c, x) => {
      const v = Array.from(await x.data());
      const out: number[] = [];
      for (let s = 0; s < x.shape[0]; s++) {
        const [a, b, tag] = v.slice(3 * s, 3 * s + 3);
        const id = Math.round(tag * 100);
        log.seen.push(id);
        out.push(...(fools.has(id) ? [b - overshoot, a + overshoot, tag] : [a, b, tag]));
      }
      return E.tensor(out, x.shape);
    },
  };
}

async function runStubs(cleanCorrect: boolean[], foolSets: Set<number>[]) {
  const n = cleanCorrect.length;
  const x = E.tensor(cleanCorrect.flatMap((c, i) => image(i, c)), [n, 1, 1, 3]);
  const y = E.zeros([n], 'i32');
  const logs = foolSets.map((): StubLog => ({ seen: [] }));
  const stages: { attack: string; robustAccuracy: number; seenSoFar: number }[] = [];
  const report = await autoAttack(scoresClassifier, x, y, {
    eps: EPS,
    attacks: foolSets.map((f, k) => stub(`stub${k}`, f, logs[k])),
    // Reported as each attack finishes: the later attacks have not run yet.
    onStage: (s) => {
      stages.push({ attack: s.attack, robustAccuracy: s.robustAccuracy, seenSoFar: logs.filter((l) => l.seen.length).length });
    },
  });
  const adv = Array.from(await report.xAdv.data());
  for (const t of [x, y, report.xAdv]) t.dispose();
  return { report, logs, adv, stages };
}

describe('autoAttack bookkeeping', () => {
  it('runs each attack only on the points still robust and keeps the first success per point', async () => {
    // Point 5 is misclassified from the start; attack 0 fools 1 and 2, attack 1 fools 2 (again) and 3.
    const clean = [true, true, true, true, true, false];
    const { report, logs, adv, stages } = await runStubs(clean, [new Set([1, 2]), new Set([2, 3]), new Set([0])]);
    expect(stages).toEqual([
      { attack: 'stub0', robustAccuracy: 3 / 6, seenSoFar: 1 },
      { attack: 'stub1', robustAccuracy: 2 / 6, seenSoFar: 2 },
      { attack: 'stub2', robustAccuracy: 1 / 6, seenSoFar: 3 },
    ]);
    expect(logs[0].seen).toEqual([0, 1, 2, 3, 4]);
    expect(logs[1].seen).toEqual([0, 3, 4]);
    expect(logs[2].seen).toEqual([0, 4]);
    expect(report.cleanAccuracy).toBeCloseTo(5 / 6, 12);
    expect(report.steps.map((s) => s.attack)).toEqual(['stub0', 'stub1', 'stub2']);
    expect(report.steps.map((s) => s.robustAccuracy)).toEqual([3 / 6, 2 / 6, 1 / 6]);
    expect(report.robust).toEqual([false, false, false, false, true, false]);
    expect(report.robustAccuracy).toBeCloseTo(1 / 6, 12);
    expect(report.label).toBe('AA (stub0 + stub1 + stub2)');
    // Fooled points carry the fooling image; the others (and point 5) keep x.
    const row = (i: number) => adv.slice(3 * i, 3 * i + 3).map((v) => Math.fround(v));
    for (const i of [0, 1, 2, 3]) expect(row(i)).toEqual(image(i, false).map(Math.fround));
    expect(row(4)).toEqual(image(4, true).map(Math.fround));
    expect(row(5)).toEqual(image(5, false).map(Math.fround));
  });

  it('checks correctness in batches of batchSize, with the same result', async () => {
    // A classifier that refuses more than 2 images per forward pass, as a device refuses a binding
    // past its limit: the clean check and each attack's success check must be batched.
    const small: Classifier = {
      numClasses: 2,
      logits: (x) => {
        if (x.shape[0] > 2) throw new Error(`forward pass of ${x.shape[0]} images`);
        return scoresClassifier.logits(x);
      },
    };
    const clean = [true, true, true, true, true, false, true];
    const x = E.tensor(clean.flatMap((c, i) => image(i, c)), [7, 1, 1, 3]);
    const y = E.zeros([7], 'i32');
    const log: StubLog = { seen: [] };
    const report = await autoAttack(small, x, y, { eps: EPS, batchSize: 2, attacks: [stub('stub', new Set([1, 3, 6]), log)] });
    expect(report.cleanAccuracy).toBeCloseTo(6 / 7, 12);
    expect(report.robust).toEqual([true, false, true, false, true, false, false]);
    expect(log.seen).toEqual([0, 1, 2, 3, 4, 6]);
    await expect(autoAttack(small, x, y, { eps: EPS, batchSize: 3, attacks: [stub('stub', new Set(), { seen: [] })] })).rejects.toThrow(/forward pass of 3 images/);
    for (const t of [x, y, report.xAdv]) t.dispose();
  });

  it('resumed from the state reported after an attack, it skips the finished attacks and ends the same', async () => {
    const clean = [true, true, true, true, true, false];
    const fools = [new Set([1, 2]), new Set([2, 3]), new Set([0])];
    const x = E.tensor(clean.flatMap((c, i) => image(i, c)), [6, 1, 1, 3]);
    const y = E.zeros([6], 'i32');
    const attacks = (logs: StubLog[]) => fools.map((f, k) => stub(`stub${k}`, f, logs[k]));
    let saved: { cleanAccuracy: number; steps: { attack: string; robustAccuracy: number }[]; robust: boolean[]; xAdv: number[] } | null = null;
    const full = await autoAttack(scoresClassifier, x, y, {
      eps: EPS,
      attacks: attacks(fools.map(() => ({ seen: [] }))),
      // What eed eval writes to disk after the first attack.
      onStage: async (s) => {
        if (s.progress.steps.length === 1)
          saved = { ...s.progress, steps: [...s.progress.steps], robust: [...s.progress.robust], xAdv: Array.from(await s.progress.xAdv.data()) };
      },
    });
    const logs = fools.map((): StubLog => ({ seen: [] }));
    const xAdvSaved = E.tensor(saved!.xAdv, x.shape);
    const resumed = await autoAttack(scoresClassifier, x, y, {
      eps: EPS,
      attacks: attacks(logs),
      resumeFrom: { ...saved!, xAdv: xAdvSaved },
    });
    expect(logs.map((l) => l.seen)).toEqual([[], [0, 3, 4], [0, 4]]);
    expect([resumed.steps, resumed.robust, resumed.cleanAccuracy]).toEqual([full.steps, full.robust, full.cleanAccuracy]);
    expect(Array.from(await resumed.xAdv.data())).toEqual(Array.from(await full.xAdv.data()));
    const other = stub('other', new Set(), { seen: [] });
    await expect(autoAttack(scoresClassifier, x, y, { eps: EPS, attacks: [other], resumeFrom: { ...saved!, xAdv: xAdvSaved } })).rejects.toThrow(
      /resumeFrom ran stub0, not the first attacks of other/,
    );
    for (const t of [x, y, xAdvSaved, full.xAdv, resumed.xAdv]) t.dispose();
  });

  it('a point is robust iff it is clean-correct and every attack failed on it (random cases)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }),
        fc.array(fc.array(fc.nat({ max: 11 })), { minLength: 1, maxLength: 4 }),
        async (clean, fools) => {
          const sets = fools.map((f) => new Set(f));
          const { report, logs } = await runStubs(clean, sets);
          const expected = clean.map((c, i) => c && sets.every((s) => !s.has(i)));
          expect(report.robust).toEqual(expected);
          const accs = [report.cleanAccuracy, ...report.steps.map((s) => s.robustAccuracy)];
          for (let k = 1; k < accs.length; k++) expect(accs[k]).toBeLessThanOrEqual(accs[k - 1]);
          // Attack k sees exactly the points robust after attacks 0..k−1.
          logs.forEach((log, k) => {
            const alive = clean.map((c, i) => (c && sets.slice(0, k).every((s) => !s.has(i)) ? i : -1)).filter((i) => i >= 0);
            expect(log.seen).toEqual(alive);
          });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('rejects an attack whose successful perturbation exceeds eps, naming it', async () => {
    const x = E.tensor([...image(0, true), ...image(1, true)], [2, 1, 1, 3]);
    const y = E.zeros([2], 'i32');
    const cheat = stub('Cheat', new Set([1]), { seen: [] }, 0.05);
    await expect(autoAttack(scoresClassifier, x, y, { eps: EPS, attacks: [cheat] })).rejects.toThrow(/Cheat returned a perturbation/);
    for (const t of [x, y]) t.dispose();
  });

  it('the standard suite is APGD-CE, APGD-T, FAB-T, Square (FAB-T optional)', () => {
    expect(standardAttacks().map((a) => a.name)).toEqual(['APGD-CE', 'APGD-T', 'FAB-T', 'Square']);
    expect(standardAttacks({ fab: false }).map((a) => a.name)).toEqual(['APGD-CE', 'APGD-T', 'Square']);
  });
});

describe('autoAttack resumed inside an attack', () => {
  const settings = { eps: 0.1, iterations: 3, targetClasses: 3, queries: 20, batchSize: 3 };

  it("resumes from a state saved inside APGD-T; refuses one named for another attack or beyond the attack's batches, running that attack from its beginning", async () => {
    const p = randomProblem('linear', 41, 7);
    const keep = async (t: E.Tensor) => E.tensor(Array.from(await t.data()), t.shape).keep();
    try {
      const whole = await autoAttack(p.classifier, p.x, p.y, settings);
      const expected = { robust: whole.robust, steps: whole.steps, x: Array.from(await whole.xAdv.data()) };
      whole.xAdv.dispose();
      // The first state saved inside APGD-T, kept as a file would keep it.
      let saved: AutoAttackProgress | undefined;
      const again = await autoAttack(p.classifier, p.x, p.y, {
        ...settings,
        onCheckpoint: async ({ attack, progress }) => {
          if (saved || attack !== 'APGD-T' || !progress.within) return;
          saved = { ...progress, robust: [...progress.robust], xAdv: await keep(progress.xAdv), within: { ...progress.within, xAdv: await keep(progress.within.xAdv) } };
        },
      });
      again.xAdv.dispose();
      expect(saved?.within?.attack).toBe('APGD-T');
      const resume = async (within: AttackWithinState) => {
        const refused: string[] = [];
        const r = await autoAttack(p.classifier, p.x, p.y, { ...settings, resumeFrom: { ...saved!, within }, onResumeRefused: (m) => refused.push(m) });
        const out = { robust: r.robust, steps: r.steps, x: Array.from(await r.xAdv.data()) };
        r.xAdv.dispose();
        return { out, refused };
      };
      const w = saved!.within!;
      expect(await resume(w)).toEqual({ out: expected, refused: [] });
      expect(await resume({ ...w, attack: 'FAB-T' })).toEqual({ out: expected, refused: [expect.stringMatching(/is FAB-T's, and the attack after APGD-CE is APGD-T/)] });
      expect(await resume({ ...w, batch: 9 })).toEqual({ out: expected, refused: [expect.stringMatching(/apgdTargeted: cannot resume from batch 9.*; APGD-T starts from its beginning/)] });
      saved!.xAdv.dispose();
      w.xAdv.dispose();
    } finally {
      p.dispose();
    }
  });
});
