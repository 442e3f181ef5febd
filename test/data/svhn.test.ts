import { describe, expect, it } from 'vitest';
import { loadSvhn, loadSvhnFile, svhnFromMat } from '../../src/data/svhn.js';
import type { MatFile, MatNumericArray } from '../../src/data/matv5.js';
import { expectDatasetMatches, fixture, manifest } from './fixtures.js';

describe('SVHN loader', () => {
  it('reads a compressed .mat (y as double) into NCHW, mapping label 10 to digit 0', async () => {
    const ds = await loadSvhn('train', fixture('svhn', 'compressed'));
    expectDatasetMatches(ds, 'svhn-compressed');
    expect(ds.labels[0]).toBe(0); // stored as 10
  });

  it('reads an uncompressed .mat (y as uint8)', async () => {
    expectDatasetMatches(await loadSvhn('train', fixture('svhn', 'uncompressed')), 'svhn-uncompressed');
  });
});

describe('SVHN loader refuses malformed files, naming the file', () => {
  const bad = (name: string) => fixture(manifest['svhn-bad'][name]);
  const cases: [string, RegExp][] = [
    ['no_x.mat', /no variable 'X' \(expected 32×32×3×N uint8 images\); the file holds y/],
    ['no_y.mat', /no variable 'y' \(expected N×1 labels in 1\.\.10\); the file holds X/],
    ['x_wrong_dims.mat', /X has dimensions 16×16×3×2, expected 32×32×3×N/],
    ['x_three_channels_missing.mat', /X has dimensions 32×32×2×2, expected 32×32×3×N/],
    ['y_count_mismatch.mat', /y has dimensions 1×1, expected 2×1 \(one label per image in X\)/],
    ['y_out_of_range.mat', /label y\(2\) = 11 is outside 1\.\.10/],
    ['y_is_struct.mat', /variable 'y' is a struct, expected N×1 labels/],
  ];
  for (const [name, pattern] of cases)
    it(name, async () => {
      const path = bad(name);
      const err = await loadSvhnFile(path).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, `${name} was accepted`).not.toBeNull();
      expect(err!.message).toMatch(pattern);
      expect(err!.message.startsWith(`${path}: `)).toBe(true);
    });

  it('complex labels (an imaginary part would be dropped silently)', () => {
    const v = (name: string, dims: number[], real: Uint8Array | Float64Array, imag: Float64Array | null = null): MatNumericArray => ({
      name,
      matClass: real instanceof Uint8Array ? 'uint8' : 'double',
      logical: false,
      dims,
      real,
      imag,
    });
    const mat = (y: MatNumericArray): MatFile => ({
      header: 'test',
      littleEndian: true,
      variables: new Map([['X', v('X', [32, 32, 3, 1], new Uint8Array(3072))], ['y', y]]),
      skipped: new Map(),
    });
    expect(svhnFromMat(mat(v('y', [1, 1], Float64Array.from([3]))), 'ok.mat').labels[0]).toBe(3);
    expect(() => svhnFromMat(mat(v('y', [1, 1], Float64Array.from([3]), Float64Array.from([1]))), 'c.mat')).toThrow(/c\.mat: y is complex, expected real labels in 1\.\.10/);
  });

  it('a missing split file', async () => {
    await expect(loadSvhn('extra', fixture('svhn', 'compressed'))).rejects.toThrow(/extra_32x32\.mat: file not found/);
  });
});
