import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { cropFlip, defaultAugmentation, randomCropFlip } from '../../src/data/augment.js';
import { batches, epochOrder, GpuDataset } from '../../src/data/batches.js';
import { loadCifar10 } from '../../src/data/cifar.js';
import type { Dataset } from '../../src/data/dataset.js';
import { fixture } from './fixtures.js';

/** The f32 values a sample should have on the GPU: byte / 255. */
function expectedPixels(ds: Dataset, rows: ArrayLike<number>): Float32Array {
  const per = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const out = new Float32Array(rows.length * per);
  Array.from(rows).forEach((r, k) => {
    for (let i = 0; i < per; i++) out[k * per + i] = ds.images[r * per + i] / 255;
  });
  return out;
}

async function collect(data: GpuDataset, opts: Parameters<typeof batches>[1]): Promise<{ x: number[]; y: number[]; rows: number[] }[]> {
  const out: { x: number[]; y: number[]; rows: number[] }[] = [];
  for await (const b of batches(data, opts)) {
    out.push({ x: [...(await b.x.data())], y: [...(await b.y.data())], rows: [...b.indices] });
    E.dispose(b);
  }
  return out;
}

describe('GPU dataset and batches', () => {
  let cifar: Dataset;
  let single: GpuDataset;
  let sharded: GpuDataset;

  beforeAll(async () => {
    cifar = await loadCifar10('train', fixture('cifar-10-batches-bin')); // 10 samples, 3×32×32
    single = GpuDataset.upload(cifar);
    // 3 samples per shard: 4 shards, the last one with 1 sample.
    sharded = GpuDataset.upload(cifar, { maxShardBytes: 3 * 3072 * 4 + 100 });
  });
  afterAll(() => {
    single.dispose();
    sharded.dispose();
  });

  it('gathers rows as byte/255 f32 with their labels, from one shard or several', async () => {
    expect(single.shardCount).toBe(1);
    expect(sharded.shardCount).toBe(4);
    const rows = Int32Array.from([9, 0, 4, 3, 3, 7, 1]); // crosses every shard, out of order, a repeat
    for (const data of [single, sharded]) {
      const { x, y } = data.gather(rows);
      expect(x.shape).toEqual([7, 3, 32, 32]);
      expect([...(await x.data())]).toEqual([...expectedPixels(cifar, rows)]);
      expect([...(await y.data())]).toEqual(Array.from(rows, (r) => cifar.labels[r]));
      E.dispose([x, y]);
    }
    expect(() => single.gather(Int32Array.from([10]))).toThrow(/index 10 outside \[0, 10\)/);
  });

  it('one epoch visits every row once, in a seeded order; the same seed gives the same batches', async () => {
    const run = (seed: number, data: GpuDataset) => collect(data, { batchSize: 4, generator: new E.Generator(seed), augment: true });
    const live = E.liveTensorCount();
    const a = await run(11, single);
    expect(E.liveTensorCount(), 'batches leak no tensors once disposed').toBe(live);
    const b = await run(11, sharded);
    expect(b).toEqual(a); // sharding does not change the result
    expect(a.map((batch) => batch.rows.length)).toEqual([4, 4, 2]);
    expect(a.flatMap((batch) => batch.rows).sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const batch of a) {
      expect(batch.y).toEqual(batch.rows.map((r) => cifar.labels[r]));
      expect(batch.x.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
    const c = await run(12, single);
    expect(c.map((batch) => batch.rows)).not.toEqual(a.map((batch) => batch.rows));
  });

  it('draws only from a subset; no shuffle keeps its order; dropLast drops the remainder', async () => {
    const subset = Int32Array.from([8, 2, 5, 6, 1]);
    const gen = new E.Generator(3);
    const shuffled = await collect(single, { batchSize: 2, generator: gen, indices: subset, dropLast: true });
    expect(shuffled.length).toBe(2);
    for (const r of shuffled.flatMap((batch) => batch.rows)) expect([...subset]).toContain(r);
    const ordered = await collect(single, { batchSize: 2, generator: gen, indices: subset, shuffle: false });
    expect(ordered.map((batch) => batch.rows)).toEqual([[8, 2], [5, 6], [1]]);
    expect(ordered[0].x).toEqual([...expectedPixels(cifar, [8, 2])]); // no augmentation by default
    expect([...(await epochOrder(4, gen, undefined, false))]).toEqual([0, 1, 2, 3]);
  });
});

describe('crop and flip augmentation', () => {
  const [C, H, W] = [3, 32, 32];
  /** Every pixel distinct and in (0, 1], so a shifted copy identifies its shift. */
  const synthetic = Float32Array.from({ length: C * H * W }, (_, i) => (i + 1) / (C * H * W));

  /** Host reference of the kernel: y[c, i, j] = x[c, i + dy, (flip ? W−1−j : j) + dx], 0 outside. */
  function reference(dy: number, dx: number, flip: boolean): Float32Array {
    const out = new Float32Array(C * H * W);
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          const si = i + dy;
          const sj = (flip ? W - 1 - j : j) + dx;
          out[(c * H + i) * W + j] = si >= 0 && si < H && sj >= 0 && sj < W ? synthetic[(c * H + si) * W + sj] : 0;
        }
    return out;
  }

  /** The (dy, dx, flip) with |dy|, |dx| ≤ 4 that explain one output sample, or null. */
  function identify(sample: Float32Array): { dy: number; dx: number; flip: boolean } | null {
    for (const flip of [false, true])
      for (let dy = -4; dy <= 4; dy++)
        for (let dx = -4; dx <= 4; dx++) {
          const ref = reference(dy, dx, flip);
          if (ref.every((v, i) => v === sample[i])) return { dy, dx, flip };
        }
    return null;
  }

  it('explicit choices shift and mirror exactly (checked against a host reference)', async () => {
    const choices: [number, number, number][] = [
      [0, 0, 0],
      [0, 0, 1],
      [4, -4, 0],
      [-3, 2, 1],
      [-4, 4, 1],
    ];
    const B = choices.length;
    const x = E.tensor(new Float32Array(B * synthetic.length).map((_, i) => synthetic[i % synthetic.length]), [B, C, H, W]);
    const y = cropFlip(x, E.tensor(choices.flat(), [B, 3], 'i32'));
    const out = (await y.data()) as Float32Array;
    choices.forEach(([dy, dx, flip], b) => {
      const sample = out.subarray(b * synthetic.length, (b + 1) * synthetic.length);
      expect([...sample], `choice ${b}`).toEqual([...reference(dy, dx, flip === 1)]);
    });
    // A pure flip mirrors each row exactly: y[c, i, j] = x[c, i, W−1−j].
    expect(out[synthetic.length + 5]).toBe(synthetic[W - 1 - 5]);
    E.dispose([x, y]);
  });

  it('random crops stay within ±4 pixels, values stay in [0, 1], flips only when asked', async () => {
    const B = 48;
    const x = E.tensor(new Float32Array(B * synthetic.length).map((_, i) => synthetic[i % synthetic.length]), [B, C, H, W]);
    for (const horizontalFlip of [true, false]) {
      const y = randomCropFlip(x, { cropPadding: 4, horizontalFlip }, new E.Generator(5));
      const out = (await y.data()) as Float32Array;
      expect(out.every((v) => v >= 0 && v <= 1)).toBe(true);
      const found = Array.from({ length: B }, (_, b) => identify(out.subarray(b * synthetic.length, (b + 1) * synthetic.length)));
      expect(found.every((f) => f !== null), 'every sample is a ±4 shift (and maybe a mirror) of the input').toBe(true);
      const flips = found.filter((f) => f!.flip).length;
      if (horizontalFlip) expect(flips).toBeGreaterThan(0);
      else expect(flips).toBe(0);
      expect(new Set(found.map((f) => `${f!.dy},${f!.dx}`)).size).toBeGreaterThan(10); // shifts really vary
      y.dispose();
    }
    x.dispose();
  });

  it('same generator seed, same augmentation', async () => {
    const x = E.tensor(new Float32Array(4 * synthetic.length).map((_, i) => synthetic[i % synthetic.length]), [4, C, H, W]);
    const aug = { cropPadding: 4, horizontalFlip: true };
    const a = randomCropFlip(x, aug, new E.Generator(9));
    const b = randomCropFlip(x, aug, new E.Generator(9));
    expect([...(await a.data())]).toEqual([...(await b.data())]);
    E.dispose([x, a, b]);
  });

  it('defaults: crop and flip for CIFAR, crop only for SVHN, nothing for 28×28 grey images', () => {
    expect(defaultAugmentation({ name: 'cifar10', shape: [3, 32, 32] })).toEqual({ cropPadding: 4, horizontalFlip: true });
    expect(defaultAugmentation({ name: 'svhn', shape: [3, 32, 32] })).toEqual({ cropPadding: 4, horizontalFlip: false });
    expect(defaultAugmentation({ name: 'fashion-mnist', shape: [1, 28, 28] })).toEqual({ cropPadding: 0, horizontalFlip: false });
  });
});
