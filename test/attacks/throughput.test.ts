// Wall-clock throughput: warm-up calls are not timed, the median of the timed calls is reported,
// and speed-ups compare time per image.

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { classifierPredictor, measureThroughput, measureThroughputInterleaved, median, speedUp } from '../../src/attacks/throughput.js';
import { makeModel } from './fixtures.js';

/** A clock that advances by the next duration (ms) each time a call starts and ends. */
function fakeClock(durationsMs: number[]) {
  let t = 0;
  let started = false;
  let k = 0;
  return {
    now: () => {
      if (started) t += durationsMs[k++];
      started = !started;
      return t;
    },
  };
}

describe('measureThroughput', () => {
  it('skips the warm-up calls and reports the median of the timed ones', async () => {
    let calls = 0;
    let synced = 0;
    const clock = fakeClock([40, 10, 30, 20, 1000]);
    const r = await measureThroughput(
      () => {
        calls++;
      },
      { images: 10, warmup: 2, repeats: 5, now: clock.now, sync: async () => void synced++ },
    );
    expect(calls).toBe(7);
    expect(synced).toBe(7);
    expect(r.seconds).toEqual([0.04, 0.01, 0.03, 0.02, 1]);
    expect(r.medianSeconds).toBeCloseTo(0.03, 12);
    expect(r.imagesPerSecond).toBeCloseTo(10 / 0.03, 9);
    expect(r.msPerImage).toBeCloseTo(3, 12);
  });

  it('awaits an async callback inside the timed region', async () => {
    const r = await measureThroughput(() => new Promise((res) => setTimeout(res, 15)), { images: 1, warmup: 0, repeats: 3 });
    expect(r.medianSeconds).toBeGreaterThanOrEqual(0.01);
  });

  it('speed-up is per image, so different batch sizes compare', async () => {
    const base = await measureThroughput(() => undefined, { images: 100, repeats: 1, warmup: 0, now: fakeClock([200]).now });
    const fast = await measureThroughput(() => undefined, { images: 50, repeats: 1, warmup: 0, now: fakeClock([25]).now });
    expect(speedUp(base, fast)).toBeCloseTo(4, 12);
  });

  it('interleaved, a change of load during the measurement falls on every callback alike', async () => {
    // Callback B costs twice A; the machine slows down 4× halfway. Timed one after the other, the
    // ratio would be 8 (A fast, B slow); interleaved it stays 2.
    let t = 0;
    let calls = 0;
    const cost = (ms: number) => () => {
      calls++;
      t += ms * (calls > 6 ? 4 : 1);
    };
    const [a, b] = await measureThroughputInterleaved([cost(10), cost(20)], { images: 1, warmup: 1, repeats: 5, now: () => t });
    expect(speedUp(b, a)).toBe(2); // a per image against b: twice as fast
    expect(a.seconds.length).toBe(5);
    expect(a.warmup).toBe(1);
    await expect(measureThroughputInterleaved([cost(1)], { images: 0 })).rejects.toThrow(/images must be a positive integer/);
  });

  it('interleaved speed-ups pair the rounds: a slow round cancels instead of moving one median', () => {
    // Per round, the candidate is twice as fast except once; the ratio of medians would say 0.6.
    const base = { images: 1, warmup: 0, repeats: 3, seconds: [0.01, 0.04, 0.012], medianSeconds: 0.012, imagesPerSecond: 0, msPerImage: 12, interleaving: 7 };
    const cand = { images: 1, warmup: 0, repeats: 3, seconds: [0.005, 0.02, 0.03], medianSeconds: 0.02, imagesPerSecond: 0, msPerImage: 20, interleaving: 7 };
    expect(speedUp(base, cand)).toBeCloseTo(2, 12);
    // Not from the same interleaved measurement: nothing to pair.
    expect(speedUp(base, { ...cand, interleaving: 8 })).toBeCloseTo(0.6, 12);
  });

  it('interleaved rounds rotate their start, so a first-in-round cost does not always fall on one callback', async () => {
    // Every round's first call costs 5 ms more (say, after the previous round's readbacks); the two
    // callbacks are otherwise identical (10 ms).
    let t = 0;
    let inRound = 0;
    const call = () => {
      t += inRound++ % 2 === 0 ? 15 : 10;
    };
    const [a, b] = await measureThroughputInterleaved([call, call], { images: 1, warmup: 0, repeats: 4, now: () => t });
    expect(a.medianSeconds).toBeCloseTo(b.medianSeconds, 12);
    expect(a.seconds.filter((s) => s > 0.012).length).toBe(2);
  });

  it('names the bad option', async () => {
    await expect(measureThroughput(() => undefined, { images: 0 })).rejects.toThrow(/images must be a positive integer, got 0/);
    await expect(measureThroughput(() => undefined, { images: 1, repeats: 0 })).rejects.toThrow(/repeats must be a positive integer/);
    await expect(measureThroughput(() => undefined, { images: 1, warmup: -1 })).rejects.toThrow(/warmup must be a non-negative integer/);
    expect(median([3, 1, 2, 10])).toBe(2.5);
    expect(() => median([])).toThrow(/no values/);
  });

  it('times a classifier forward pass on the device without leaking tensors', async () => {
    const { model } = makeModel('linear', 4);
    const x = E.zeros([8, 2, 4, 4]).keep();
    try {
      const live = E.liveTensorCount();
      const r = await measureThroughput(classifierPredictor(E.moduleClassifier(model), x), { images: 8, warmup: 1, repeats: 2 });
      expect(E.liveTensorCount()).toBe(live);
      expect(r.imagesPerSecond).toBeGreaterThan(0);
      expect(Number.isFinite(r.imagesPerSecond)).toBe(true);
    } finally {
      x.dispose();
      model.dispose();
    }
  });
});
