import { describe, expect, it } from 'vitest';
import { columnMajorOffset, parseMatV5, readMatV5, type MatNumericData } from '../../src/data/matv5.js';
import { edited, fixture, fixtureBytes, manifest } from './fixtures.js';

const expectedVars = manifest.matv5.variables;

function asComparable(data: MatNumericData | null): (number | string)[] | null {
  if (!data) return null;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return [...data].map((v) => v.toString());
  return [...data];
}

/**
 * A hand-built MAT v5 file of one variable, in either byte order: the real part is stored as
 * `storedType` (an "mi" code) even when the class is wider, as MATLAB does.
 */
function buildMat(opts: {
  littleEndian: boolean;
  classCode: number;
  dims: number[];
  name: string;
  storedType: number;
  storedBytes: number;
  values: number[];
}): Uint8Array {
  const { littleEndian: le } = opts;
  const chunks: Uint8Array[] = [];
  const word = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, le);
    return b;
  };
  const padded = (type: number, data: Uint8Array) => {
    if (data.length <= 4 && data.length > 0) {
      // small data element: (bytes << 16 | type), then the data in 4 bytes
      const small = new Uint8Array(8);
      small.set(word((data.length << 16) | type));
      small.set(data, 4);
      return small;
    }
    const out = new Uint8Array(8 + Math.ceil(data.length / 8) * 8);
    out.set(word(type));
    out.set(word(data.length), 4);
    out.set(data, 8);
    return out;
  };
  const dimsBytes = new Uint8Array(opts.dims.length * 4);
  opts.dims.forEach((d, i) => new DataView(dimsBytes.buffer).setInt32(i * 4, d, le));
  const values = new Uint8Array(opts.values.length * opts.storedBytes);
  const dv = new DataView(values.buffer);
  opts.values.forEach((v, i) => {
    if (opts.storedBytes === 1) dv.setUint8(i, v);
    else if (opts.storedBytes === 2) dv.setInt16(i * 2, v, le);
    else dv.setFloat64(i * 8, v, le);
  });
  const flags = new Uint8Array(8);
  flags.set(word(opts.classCode));
  const body = [padded(6, flags), padded(5, dimsBytes), padded(1, new TextEncoder().encode(opts.name)), padded(opts.storedType, values)];
  const bodyLength = body.reduce((n, b) => n + b.length, 0);
  const header = new Uint8Array(128).fill(0x20);
  header.set(new TextEncoder().encode('MATLAB 5.0 MAT-file, hand-built'));
  new DataView(header.buffer).setUint16(124, 0x0100, le);
  header.set(new TextEncoder().encode(le ? 'IM' : 'MI'), 126);
  chunks.push(header, word(14), word(bodyLength), ...body);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

describe('MAT v5 reader', () => {
  for (const kind of ['uncompressed', 'compressed'] as const) {
    it(`reads every numeric class scipy writes (${kind})`, async () => {
      const mat = await readMatV5(fixture(manifest.matv5.files[kind]));
      expect(mat.littleEndian).toBe(true);
      expect(mat.header).toMatch(/^MATLAB 5\.0 MAT-file/);
      expect([...mat.variables.keys()].sort()).toEqual(Object.keys(expectedVars).sort());
      for (const [name, want] of Object.entries(expectedVars)) {
        const got = mat.variables.get(name)!;
        expect({ name, cls: got.matClass, dims: got.dims, logical: got.logical }).toEqual({
          name,
          cls: want.class,
          dims: want.dims,
          logical: want.logical,
        });
        expect(asComparable(got.real), name).toEqual(want.real);
        expect(asComparable(got.imag), name).toEqual(want.imag);
      }
      expect(Object.fromEntries(mat.skipped)).toEqual(manifest.matv5.skipped);
    });
  }

  it('keeps MATLAB column-major order (3-D int32 array)', async () => {
    const mat = await readMatV5(fixture(manifest.matv5.files.uncompressed));
    const t = mat.variables.get('i32')!;
    // numpy wrote np.arange(24).reshape(2, 3, 4) - 12, so t(i, j, k) = 12i + 4j + k - 12.
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 4; k++) expect(t.real[columnMajorOffset(t.dims, [i, j, k])]).toBe(12 * i + 4 * j + k - 12);
  });

  it('reads big-endian files and widens narrow stored types to the class', () => {
    for (const littleEndian of [true, false]) {
      // A double 2×2 array stored as miINT16, and a uint8 1×3 stored as miUINT8 (small element).
      const wide = parseMatV5(
        buildMat({ littleEndian, classCode: 6, dims: [2, 2], name: 'w', storedType: 3, storedBytes: 2, values: [1, -2, 300, 4] }),
        'w.mat',
      );
      expect(wide.littleEndian).toBe(littleEndian);
      const w = wide.variables.get('w')!;
      expect(w.matClass).toBe('double');
      expect(w.real).toBeInstanceOf(Float64Array);
      expect([...w.real]).toEqual([1, -2, 300, 4]);
      const small = parseMatV5(
        buildMat({ littleEndian, classCode: 9, dims: [1, 3], name: 'sm', storedType: 2, storedBytes: 1, values: [7, 8, 9] }),
        's.mat',
      );
      expect([...small.variables.get('sm')!.real]).toEqual([7, 8, 9]);
    }
  });
});

describe('MAT v5 reader refuses corrupt files, naming the file', () => {
  const plain = fixtureBytes(manifest.matv5.files.uncompressed);
  const packed = fixtureBytes(manifest.matv5.files.compressed);

  it('truncated inside a data element', () => {
    expect(() => parseMatV5(plain.subarray(0, 300), 'cut.mat')).toThrow(/cut\.mat: truncated data element .*promises \d+ bytes, \d+ remain/);
    expect(() => parseMatV5(plain.subarray(0, 100), 'head.mat')).toThrow(/head\.mat: truncated MAT-file \(100 bytes; the header alone is 128\)/);
    expect(() => parseMatV5(plain.subarray(0, 132), 'tag.mat')).toThrow(/tag\.mat: truncated data element tag/);
  });

  it('a corrupt zlib stream in a compressed element', () => {
    const bad = edited(packed, (b) => b.fill(0xff, 140, 160));
    expect(() => parseMatV5(bad, 'zlib.mat')).toThrow(/zlib\.mat: corrupt compressed element at byte 128 \(zlib:/);
  });

  it('a bad endian indicator, a v4 file, a v7.3 (HDF5) file, a wrong version', () => {
    expect(() => parseMatV5(edited(plain, (b) => b.set([0x41, 0x42], 126)), 'x.mat')).toThrow(
      /x\.mat: not a MAT v5 file \(endian indicator "AB", expected "IM" or "MI"\)/,
    );
    expect(() => parseMatV5(new Uint8Array(200), 'v4.mat')).toThrow(/v4\.mat: this looks like a MAT v4 file/);
    const v73 = edited(plain, (b) => {
      b.set(new TextEncoder().encode('MATLAB 7.3 MAT-file'), 0);
      b.set([0x00, 0x02], 124);
    });
    expect(() => parseMatV5(v73, 'h5.mat')).toThrow(/h5\.mat: MAT v7\.3 files are HDF5/);
    expect(() => parseMatV5(edited(plain, (b) => b.set([0x00, 0x02], 124)), 'ver.mat')).toThrow(/ver\.mat: MAT-file version 0x200/);
  });

  it('a real part whose length disagrees with the dimensions', () => {
    const bytes = buildMat({ littleEndian: true, classCode: 6, dims: [2, 2], name: 'q', storedType: 9, storedBytes: 8, values: [1, 2, 3] });
    expect(() => parseMatV5(bytes, 'count.mat')).toThrow(/count\.mat: variable 'q': real part holds 3 values, dimensions 2×2 need 4/);
  });

  it('a value that does not fit its integer class (stored in a wider type) instead of wrapping it', () => {
    // Class uint8 (9) stored as miDOUBLE (9): 300, −1 and 1.5 are corrupt, 0 and 255 load.
    const u8 = (values: number[]) => buildMat({ littleEndian: true, classCode: 9, dims: [1, values.length], name: 'X', storedType: 9, storedBytes: 8, values });
    expect(() => parseMatV5(u8([0, 300]), 'big.mat')).toThrow(/big\.mat: variable 'X'.*value 300 at index 1 does not fit uint8/);
    expect(() => parseMatV5(u8([-1]), 'neg.mat')).toThrow(/value -1 at index 0 does not fit uint8/);
    expect(() => parseMatV5(u8([1.5]), 'half.mat')).toThrow(/value 1\.5 at index 0 is not an integer, in an uint8 array/);
    const i32 = buildMat({ littleEndian: true, classCode: 12, dims: [1, 1], name: 'n', storedType: 9, storedBytes: 8, values: [1e10] });
    expect(() => parseMatV5(i32, 'i32.mat')).toThrow(/value 10000000000 at index 0 does not fit int32/);
    const ok = parseMatV5(u8([0, 255]), 'ok.mat');
    expect([...ok.variables.get('X')!.real]).toEqual([0, 255]);
    expect(ok.variables.get('X')!.real).toBeInstanceOf(Uint8Array);
  });

  it('an unknown array class and a non-numeric stored type', () => {
    const cls = buildMat({ littleEndian: true, classCode: 40, dims: [1, 1], name: 'k', storedType: 2, storedBytes: 1, values: [1] });
    expect(() => parseMatV5(cls, 'cls.mat')).toThrow(/cls\.mat: variable #0: unknown array class 40/);
    const mi = buildMat({ littleEndian: true, classCode: 6, dims: [1, 1], name: 'k', storedType: 14, storedBytes: 1, values: [1] });
    expect(() => parseMatV5(mi, 'mi.mat')).toThrow(/mi\.mat: variable 'k' real part has data type 14, which is not a numeric MAT type/);
  });
});
