import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { BestEpoch, readBestSoFar } from '../../src/training/bestEpoch.js';

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

describe('readBestSoFar', () => {
  it("reads a checkpoint's { epoch, accuracy } or null, and nothing else", () => {
    expect(readBestSoFar(null)).toBeNull();
    expect(readBestSoFar({ epoch: 2, accuracy: 0.715 })).toEqual({ epoch: 2, accuracy: 0.715 });
    expect(readBestSoFar({ epoch: 0, accuracy: 0, extra: 1 })).toEqual({ epoch: 0, accuracy: 0 });
    for (const bad of [undefined, 3, 'best', {}, { epoch: -1, accuracy: 0.5 }, { epoch: 1.5, accuracy: 0.5 }, { epoch: 1, accuracy: Number.NaN }, { epoch: 1, accuracy: '0.5' }])
      expect(readBestSoFar(bad)).toBeUndefined();
  });
});
