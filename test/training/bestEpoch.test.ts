import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { BestEpoch } from '../../src/training/bestEpoch.js';

describe('BestEpoch', () => {
  it('restores the best state, the earlier or the later of equals as asked, and frees its copies', async () => {
    for (const [ties, expected] of [
      ['earlier', 1],
      ['later', 2],
    ] as const) {
      const w = E.tensor([0, 0], [2]).keep();
      const state = () => new Map([['w', w]]);
      const best = new BestEpoch(ties);
      const live = E.liveTensorCount();
      for (const [epoch, accuracy] of [
        [0, 0.2],
        [1, 0.5],
        [2, 0.5],
        [3, 0.4],
      ]) {
        E.noGrad(() => w.assign(E.tensor([epoch, -epoch], [2])));
        best.consider(epoch, accuracy, state);
      }
      expect(best.current).toEqual({ epoch: expected, accuracy: 0.5 });
      expect(best.restore()).toBe(expected);
      expect(Array.from(await w.data())).toEqual([expected, -expected]);
      expect(E.liveTensorCount()).toBe(live);
      w.dispose();
    }
  });
});
