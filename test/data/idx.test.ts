import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, loadFashionMnist, loadIdxDataset, loadMnist, mnistStylePaths, parseIdx } from '../../src/data/idx.js';
import { edited, expectDatasetMatches, fixture, fixtureBytes, scratchDir, writeScratch } from './fixtures.js';

const IDX = fixture('idx');

describe('IDX loader', () => {
  it('reads gzipped and raw IDX pairs exactly as written (non-square 7×5 images)', async () => {
    expectDatasetMatches(await loadMnist('train', IDX), 'idx-train'); // .gz files
    expectDatasetMatches(await loadMnist('test', IDX), 'idx-test'); // raw files
  });

  it('finds the .gz file or the raw file of each split', () => {
    expect(mnistStylePaths(IDX, 'train').images).toMatch(/train-images-idx3-ubyte\.gz$/);
    expect(mnistStylePaths(IDX, 'test').labels).toMatch(/t10k-labels-idx1-ubyte$/);
    expect(() => mnistStylePaths(fixture('cifar-100-binary'), 'train')).toThrow(/train-images-idx3-ubyte\.gz: file not found/);
  });

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('loads the Fashion-MNIST test split from the Debian package', async () => {
    const ds = await loadFashionMnist('test');
    expect(ds.shape).toEqual([1, 28, 28]);
    expect(ds.labels.length).toBe(10_000);
    expect(ds.images.length).toBe(10_000 * 784);
    const perClass = new Array<number>(10).fill(0);
    for (const l of ds.labels) perClass[l]++;
    expect(perClass).toEqual(new Array<number>(10).fill(1000)); // the test split is balanced
  });
});

describe('IDX loader refuses corrupt files, naming the file', () => {
  const scratch = scratchDir();
  afterAll(scratch.cleanup);
  const rawImages = fixtureBytes('idx', 't10k-images-idx3-ubyte');
  const rawLabels = fixtureBytes('idx', 't10k-labels-idx1-ubyte');
  const goodLabels = writeScratch(scratch.dir, 'good-labels', rawLabels);
  const goodImages = writeScratch(scratch.dir, 'good-images', rawImages);

  const refuse = async (images: string, labels: string, pattern: RegExp, named: string) => {
    const err = await loadIdxDataset({ images, labels }, 'mnist').then(
      () => null,
      (e: Error) => e,
    );
    expect(err, 'corrupt input was accepted').not.toBeNull();
    expect(err!.message).toMatch(pattern);
    expect(err!.message).toContain(named);
  };

  it('wrong magic number', async () => {
    const p = writeScratch(scratch.dir, 'bad-magic', edited(rawImages, (b) => (b[0] = 0x12)));
    await refuse(p, goodLabels, /bad IDX magic number 0x12000803/, p);
  });

  it('an element type other than unsigned byte', async () => {
    const p = writeScratch(scratch.dir, 'float-type', edited(rawImages, (b) => (b[2] = 0x0d)));
    await refuse(p, goodLabels, /type 0x0d \(float32\) is not supported \(expected 0x08/, p);
  });

  it('truncated data (fewer bytes than the header promises)', async () => {
    const p = writeScratch(scratch.dir, 'short', rawImages.subarray(0, rawImages.length - 1));
    await refuse(p, goodLabels, /truncated IDX data: the header promises 4×7×5 = 140 bytes, the file holds 139/, p);
  });

  it('truncated header', async () => {
    const p = writeScratch(scratch.dir, 'short-header', rawImages.subarray(0, 10));
    await refuse(p, goodLabels, /truncated IDX header \(10 bytes, 3 dimensions need 16\)/, p);
  });

  it('bytes after the data', async () => {
    const longer = new Uint8Array(rawImages.length + 3);
    longer.set(rawImages);
    const p = writeScratch(scratch.dir, 'long', longer);
    await refuse(p, goodLabels, /3 bytes after the 4×7×5 IDX data/, p);
  });

  it('image and label counts that differ', async () => {
    const trainLabels = fixture('idx', 'train-labels-idx1-ubyte.gz');
    await refuse(goodImages, trainLabels, /6 labels but .*good-images holds 4 images/, trainLabels);
  });

  it('a label outside [0, classes)', async () => {
    const p = writeScratch(scratch.dir, 'label-10', edited(rawLabels, (b) => (b[8 + 2] = 10)));
    await refuse(goodImages, p, /label 10 of sample 2 is outside \[0, 10\)/, p);
  });

  it('images with the wrong number of dimensions', async () => {
    await refuse(goodLabels, goodLabels, /IDX images have 1 dimensions, expected 3/, goodLabels);
  });

  it('images without pixels or without images', async () => {
    // Headers of [4, 0, 5] images (no data) and of 0 images with 0 labels.
    const header = (dims: number[]) => {
      const b = new Uint8Array(4 + 4 * dims.length);
      b.set([0, 0, 0x08, dims.length]);
      dims.forEach((d, i) => new DataView(b.buffer).setUint32(4 + 4 * i, d));
      return b;
    };
    const flat = writeScratch(scratch.dir, 'flat-images', header([4, 0, 5]));
    await refuse(flat, goodLabels, /IDX images are 4×0×5, expected at least one image of at least 1×1 pixels/, flat);
    const none = writeScratch(scratch.dir, 'no-images', header([0, 28, 28]));
    const noLabels = writeScratch(scratch.dir, 'no-labels', header([0]));
    await refuse(none, noLabels, /IDX images are 0×28×28/, none);
  });

  it('a truncated gzip stream', async () => {
    const gz = gzipSync(rawImages);
    const p = writeScratch(scratch.dir, 'cut.gz', gz.subarray(0, gz.length - 6));
    await refuse(p, goodLabels, /corrupt gzip stream/, p);
  });

  it('a missing file', async () => {
    await refuse(fixture('idx', 'nope'), goodLabels, /nope: file not found \(expected IDX images/, 'nope');
  });

  it('parseIdx checks the magic of even tiny inputs', () => {
    expect(() => parseIdx(new Uint8Array([0, 0]), 'tiny')).toThrow(/tiny: truncated IDX file \(2 bytes/);
  });
});
