// untilFooledInBatches: checkpointed after every stage and batch, an attack interrupted at any of
// them and resumed from the saved state ends exactly as the uninterrupted run (AutoAttack on a CPU
// adapter is resumed this way between sessions).

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { apgdTargeted } from '../../src/attacks/apgd.js';
import { squareAttack } from '../../src/attacks/square.js';
import { ResumeStateError, type BatchedAttackCheckpoint, type BatchedAttackState } from '../../src/attacks/robustRestarts.js';
import { randomProblem } from './fixtures.js';

const settings = { eps: 0.08, iterations: 3, restarts: 2, targetClasses: 2, batchSize: 2 };

async function copy(t: E.Tensor): Promise<E.Tensor> {
  return E.tensor(Array.from(await t.data()), t.shape).keep();
}

/** A copy of a borrowed state, as a file would keep it. */
async function kept(s: BatchedAttackState): Promise<BatchedAttackState> {
  const inStage = s.inStage && {
    ...s.inStage,
    tensors: Object.fromEntries(await Promise.all(Object.entries(s.inStage.tensors).map(async ([k, t]) => [k, await copy(t)] as const))),
  };
  return { ...s, robust: [...s.robust], xAdv: await copy(s.xAdv), ...(inStage ? { inStage } : {}) };
}

function release(s: BatchedAttackState): void {
  s.xAdv.dispose();
  for (const t of Object.values(s.inStage?.tensors ?? {})) t.dispose();
}

type Attack = (checkpoint?: BatchedAttackCheckpoint) => Promise<E.Tensor>;

/**
 * Runs `attack` uninterrupted, then saving at every checkpoint (same result), then resumed from
 * each saved state; returns the uninterrupted output, the states and each resumed output.
 */
async function everyResume(attack: Attack) {
  const values = async (t: E.Tensor) => {
    const v = Array.from(await t.data());
    t.dispose();
    return v;
  };
  const expected = await values(await attack());
  const saved: BatchedAttackState[] = [];
  const saving = await values(await attack({ save: async (s) => void saved.push(await kept(s)) }));
  const resumed: number[][] = [];
  for (const state of saved) resumed.push(await values(await attack({ resumeFrom: state, save: async () => {} })));
  return { expected, saving, saved, resumed };
}

describe('untilFooledInBatches checkpoints', () => {
  it('resumed from each saved state (inside a batch and between batches), APGD-T ends as the uninterrupted run', async () => {
    const p = randomProblem('linear', 91, 5);
    try {
      const { expected, saving, saved, resumed } = await everyResume((checkpoint) =>
        apgdTargeted(p.classifier, p.x, p.y, { ...settings, generator: new E.Generator(3), checkpoint }),
      );
      expect(saving).toEqual(expected);
      // 3 batches of 2, 2, 1 samples; 4 stages each (2 targets × 2 restarts): 3 saves inside each
      // batch, 2 between batches.
      expect(saved.map((s) => [s.batch, s.stage])).toEqual([
        [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3], [2, 0], [2, 1], [2, 2], [2, 3],
      ]);
      // The stages draw their random starts from the generator (none where no sample is left).
      expect(saved.every((s, i) => i === 0 || s.generatorPosition >= saved[i - 1].generatorPosition)).toBe(true);
      expect(saved[saved.length - 1].generatorPosition).toBeGreaterThan(saved[0].generatorPosition);

      // Each resume, named by where it started, ends as the uninterrupted run.
      expect(resumed.map((x, i) => ({ at: [saved[i].batch, saved[i].stage], x }))).toEqual(saved.map((st) => ({ at: [st.batch, st.stage], x: expected })));
      // The run changed something (else equality above would prove nothing).
      expect(expected).not.toEqual(Array.from(await p.x.data()));
      saved.forEach(release);
    } finally {
      p.dispose();
    }
  });

  it("Square saves inside its one long stage every saveEvery queries; resumed from any save, it ends as the uninterrupted run", async () => {
    const p = randomProblem('linear', 93, 5);
    const square = { eps: 0.3, queries: 45, saveEvery: 5, checkEvery: 5, batchSize: 3 };
    try {
      const { expected, saving, saved, resumed } = await everyResume((checkpoint) =>
        squareAttack(p.classifier, p.x, p.y, { ...square, generator: new E.Generator(4), checkpoint }),
      );
      expect(saving).toEqual(expected);
      // Batches of 3 and 2 samples (all start robust, the labels being the model's own): inside the
      // stage after every 5 queries, and once between the batches. The second batch's samples are
      // fooled after its first save, so a resume that drew other windows would end elsewhere; once
      // both are, its stage stops early (checked every 5 queries), before a third save.
      const steps = [5, 10, 15, 20, 25, 30, 35, 40];
      expect(saved.map((s) => [s.batch, s.stage, s.inStage?.step ?? null, s.robust.length])).toEqual([
        ...steps.map((q) => [0, 0, q, 3]),
        [1, 0, null, 0],
        [1, 0, 5, 2],
        [1, 0, 10, 2],
      ]);
      const stillRobust = async (s: BatchedAttackState) => Array.from(await s.inStage!.tensors.marginMin.data()).filter((m) => m > 0).length;
      expect([await stillRobust(saved[9]), await stillRobust(saved[10])]).toEqual([2, 1]);
      const where = (st: BatchedAttackState) => [st.batch, st.inStage?.step ?? null];
      expect(resumed.map((x, i) => ({ at: where(saved[i]), x }))).toEqual(saved.map((st) => ({ at: where(st), x: expected })));
      expect(expected).not.toEqual(Array.from(await p.x.data()));
      saved.forEach(release);
    } finally {
      p.dispose();
    }
  });

  it('with no stage (0 restarts) saves nothing and returns the input', async () => {
    const p = randomProblem('linear', 94, 5);
    try {
      const saves: number[] = [];
      const out = await apgdTargeted(p.classifier, p.x, p.y, { ...settings, restarts: 0, checkpoint: { save: async (s) => void saves.push(s.batch) } });
      expect(saves).toEqual([]);
      expect(Array.from(await out.data())).toEqual(Array.from(await p.x.data()));
      out.dispose();
    } finally {
      p.dispose();
    }
  });

  it('refuses a state that is not of this input, naming what it expected', async () => {
    const p = randomProblem('linear', 92, 3);
    const wrong = E.zeros([2, 2, 4, 4]);
    try {
      await expect(
        apgdTargeted(p.classifier, p.x, p.y, {
          ...settings,
          checkpoint: { resumeFrom: { batch: 0, stage: 1, robust: [true, true], xAdv: wrong, generatorPosition: 0 }, save: async () => {} },
        }),
      ).rejects.toThrow(ResumeStateError);
      await expect(
        apgdTargeted(p.classifier, p.x, p.y, {
          ...settings,
          checkpoint: { resumeFrom: { batch: 0, stage: 1, robust: [true, true], xAdv: wrong, generatorPosition: 0 }, save: async () => {} },
        }),
      ).rejects.toThrow(/apgdTargeted: cannot resume from batch 0, stage 1 .* expected points \[3, 2, 4, 4\]/);
    } finally {
      wrong.dispose();
      p.dispose();
    }
  });
});
