// untilFooledInBatches: checkpointed after every stage and batch, an attack interrupted at any of
// them and resumed from the saved state ends exactly as the uninterrupted run (AutoAttack on a CPU
// adapter is resumed this way between sessions).

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { apgdTargeted } from '../../src/attacks/apgd.js';
import type { BatchedAttackState } from '../../src/attacks/robustRestarts.js';
import { randomProblem } from './fixtures.js';

const settings = { eps: 0.08, iterations: 3, restarts: 2, targetClasses: 2, batchSize: 2 };

/** A copy of a borrowed state, as a file would keep it. */
async function kept(s: BatchedAttackState): Promise<BatchedAttackState> {
  return { ...s, robust: [...s.robust], xAdv: E.tensor(Array.from(await s.xAdv.data()), s.xAdv.shape).keep() };
}

describe('untilFooledInBatches checkpoints', () => {
  it('resumed from each saved state (inside a batch and between batches), APGD-T ends as the uninterrupted run', async () => {
    const p = randomProblem('linear', 91, 5);
    try {
      const whole = await apgdTargeted(p.classifier, p.x, p.y, { ...settings, generator: new E.Generator(3) });
      const expected = Array.from(await whole.data());
      whole.dispose();

      const saved: BatchedAttackState[] = [];
      const again = await apgdTargeted(p.classifier, p.x, p.y, {
        ...settings,
        generator: new E.Generator(3),
        checkpoint: { save: async (s) => void saved.push(await kept(s)) },
      });
      expect(Array.from(await again.data())).toEqual(expected);
      again.dispose();
      // 3 batches of 2, 2, 1 samples; 4 stages each (2 targets × 2 restarts): 3 saves inside each
      // batch, 2 between batches.
      expect(saved.map((s) => [s.batch, s.stage])).toEqual([
        [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3], [2, 0], [2, 1], [2, 2], [2, 3],
      ]);
      // The stages draw their random starts from the generator (none where no sample is left).
      expect(saved.every((s, i) => i === 0 || s.generatorPosition >= saved[i - 1].generatorPosition)).toBe(true);
      expect(saved[saved.length - 1].generatorPosition).toBeGreaterThan(saved[0].generatorPosition);

      for (const state of saved) {
        const resumed = await apgdTargeted(p.classifier, p.x, p.y, {
          ...settings,
          generator: new E.Generator(3),
          checkpoint: { resumeFrom: state, save: async () => {} },
        });
        expect({ at: [state.batch, state.stage], x: Array.from(await resumed.data()) }).toEqual({ at: [state.batch, state.stage], x: expected });
        resumed.dispose();
      }
      // The run changed something (else equality above would prove nothing).
      expect(expected).not.toEqual(Array.from(await p.x.data()));
      for (const s of saved) s.xAdv.dispose();
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
      ).rejects.toThrow(/apgdTargeted: cannot resume from batch 0, stage 1 .* expected points \[3, 2, 4, 4\]/);
    } finally {
      wrong.dispose();
      p.dispose();
    }
  });
});
