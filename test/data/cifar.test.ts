import { afterAll, describe, expect, it } from 'vitest';
import { loadCifar10, loadCifar100, parseCifar100File, parseCifar10Batch } from '../../src/data/cifar.js';
import { edited, expectDatasetMatches, fixture, fixtureBytes, scratchDir, writeScratch } from './fixtures.js';

describe('CIFAR loaders', () => {
  it('CIFAR-10 train joins data_batch_1..5 in order; test reads test_batch', async () => {
    expectDatasetMatches(await loadCifar10('train', fixture('cifar-10-batches-bin')), 'cifar10-train');
    expectDatasetMatches(await loadCifar10('test', fixture('cifar-10-batches-bin')), 'cifar10-test');
  });

  it('CIFAR-100 uses the fine labels (second byte)', async () => {
    expectDatasetMatches(await loadCifar100('train', fixture('cifar-100-binary')), 'cifar100-train');
    expectDatasetMatches(await loadCifar100('test', fixture('cifar-100-binary')), 'cifar100-test');
  });
});

describe('CIFAR loaders refuse corrupt files, naming the file', () => {
  const scratch = scratchDir();
  afterAll(scratch.cleanup);
  const batch = fixtureBytes('cifar-10-batches-bin', 'test_batch.bin');
  const c100 = fixtureBytes('cifar-100-binary', 'train.bin');

  it('a size that is not a multiple of the record size', () => {
    expect(() => parseCifar10Batch(batch.subarray(0, batch.length - 1), 'cut.bin')).toThrow(
      /cut\.bin: 9218 bytes is not a whole number of cifar10 records \(3073 bytes each/,
    );
    // A CIFAR-10 file read as CIFAR-100 is caught by the size too (3 × 3073 is not a multiple of 3074).
    expect(() => parseCifar100File(batch, 'c10.bin')).toThrow(/c10\.bin: .* cifar100 records \(3074 bytes each/);
    expect(() => parseCifar10Batch(new Uint8Array(0), 'empty.bin')).toThrow(/empty\.bin: 0 bytes/);
  });

  it('a label outside the class range', () => {
    const bad = edited(batch, (b) => (b[3073] = 10)); // label of record 1
    expect(() => parseCifar10Batch(bad, 'label.bin')).toThrow(/label\.bin: record 1 has label 10 in byte 0, outside \[0, 10\)/);
    const fine = edited(c100, (b) => (b[3074 * 2 + 1] = 100));
    expect(() => parseCifar100File(fine, 'fine.bin')).toThrow(/fine\.bin: record 2 has label 100 in byte 1, outside \[0, 100\)/);
    const coarse = edited(c100, (b) => (b[0] = 20));
    expect(() => parseCifar100File(coarse, 'coarse.bin')).toThrow(/coarse\.bin: record 0 has label 20 in byte 0, outside \[0, 20\)/);
  });

  it('a missing batch file names the path', async () => {
    const dir = scratch.dir;
    writeScratch(dir, 'data_batch_1.bin', batch);
    await expect(loadCifar10('train', dir)).rejects.toThrow(/data_batch_2\.bin: file not found \(expected a CIFAR-10 binary batch/);
  });

  it('a corrupt file is named by its full path when loaded from a folder', async () => {
    const dir = scratchDir();
    try {
      const p = writeScratch(dir.dir, 'test_batch.bin', batch.subarray(0, 100));
      await expect(loadCifar10('test', dir.dir)).rejects.toThrow(p);
    } finally {
      dir.cleanup();
    }
  });
});
