import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  DTYPE_BYTES,
  encodeSafetensors,
  halfToNumber,
  readSafetensors,
  tensorRecord,
  toFloat32,
  toInt32,
  writeSafetensors,
  type SafetensorsDType,
  type TensorRecord,
} from '../../src/io/safetensors.js';

const scratch = mkdtempSync(join(tmpdir(), 'eed-st-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A file with a hand-written header (string or object) and `dataBytes` bytes of data. */
function rawFile(header: string | object, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

describe('safetensors codec', () => {
  it('writes the reference layout: u64 header length, space-padded JSON, packed data', () => {
    const a = tensorRecord(Float32Array.from([1, 2, 3]), [3]);
    const b = tensorRecord(BigInt64Array.from([7n]), []);
    const bytes = encodeSafetensors([['a', a], ['b', b]], { format: 'pt' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text).toMatch(/^\{.*\} *$/);
    expect(JSON.parse(text)).toEqual({
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
      b: { dtype: 'I64', shape: [], data_offsets: [12, 20] },
    });
    expect(bytes.length).toBe(8 + n + 20);
    expect(new Float32Array(bytes.slice(8 + n, 8 + n + 12).buffer)).toEqual(Float32Array.from([1, 2, 3]));
    expect(new BigInt64Array(bytes.slice(8 + n + 12).buffer)[0]).toBe(7n);
  });

  it('round-trips any tensors, dtypes, shapes and metadata exactly', () => {
    const dtypes = Object.keys(DTYPE_BYTES) as SafetensorsDType[];
    const recordArb = fc
      .record({
        dtype: fc.constantFrom(...dtypes),
        shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
        seed: fc.nat(),
      })
      .map(({ dtype, shape, seed }): TensorRecord => {
        const n = shape.reduce((p, d) => p * d, 1) * DTYPE_BYTES[dtype];
        return { dtype, shape, data: Uint8Array.from({ length: n }, (_, i) => (seed + i * 31) & 255) };
      });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__'), recordArb), {
          selector: ([name]) => name,
          maxLength: 6,
        }),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })),
        (tensors, metadata) => {
          const decoded = decodeSafetensors(encodeSafetensors(tensors, metadata), 'mem');
          // Order follows the data offsets; empty tensors share an offset, and JSON objects list
          // integer-like keys first, so their relative order is not part of the format.
          const byName = (a: [string, TensorRecord], b: [string, TensorRecord]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
          expect([...decoded.tensors].sort(byName)).toEqual([...tensors].sort(byName));
          const nonEmpty = (list: [string, TensorRecord][]) => list.filter(([, r]) => r.data.length > 0).map(([k]) => k);
          expect(nonEmpty([...decoded.tensors])).toEqual(nonEmpty(tensors));
          expect(decoded.metadata).toEqual(metadata);
        },
      ),
    );
  });

  it('keeps a tensor or metadata key named __proto__ as an ordinary entry', () => {
    const rec: TensorRecord = { dtype: 'U8', shape: [2], data: Uint8Array.from([7, 9]) };
    const meta = JSON.parse('{"__proto__": "x", "a": "b"}') as Record<string, string>;
    const decoded = decodeSafetensors(encodeSafetensors([['__proto__', rec]], meta), 'mem');
    expect([...decoded.tensors.keys()]).toEqual(['__proto__']);
    expect(Object.entries(decoded.metadata)).toEqual([
      ['__proto__', 'x'],
      ['a', 'b'],
    ]);
  });

  it('converts F16, BF16, F64 to f32 and I64, U8, BOOL to i32', () => {
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x8000].map(halfToNumber)).toEqual([1, -2, 65504, 2 ** -24, 0.333251953125, -0]);
    expect(halfToNumber(0x7c00)).toBe(Infinity);
    expect(halfToNumber(0x7e00)).toBeNaN();
    const f16: TensorRecord = { dtype: 'F16', shape: [2], data: new Uint8Array(Uint16Array.from([0x3c00, 0xb800]).buffer) };
    expect([...toFloat32(f16, 'x')]).toEqual([1, -0.5]);
    const bf16: TensorRecord = { dtype: 'BF16', shape: [2], data: new Uint8Array(Uint16Array.from([0x3f80, 0xc040]).buffer) };
    expect([...toFloat32(bf16, 'x')]).toEqual([1, -3]);
    expect([...toFloat32(tensorRecord(Float64Array.from([0.25, -8]), [2]), 'x')]).toEqual([0.25, -8]);
    expect([...toInt32(tensorRecord(BigInt64Array.from([-5n, 2n ** 31n - 1n]), [2]), 'x')]).toEqual([-5, 2 ** 31 - 1]);
    expect([...toInt32({ dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) }, 'x')]).toEqual([1, 0]);
    expect(() => toInt32(tensorRecord(BigInt64Array.from([2n ** 31n]), [1]), 'nbt')).toThrow(/nbt: I64 value 2147483648 does not fit in int32/);
    expect(() => toFloat32(tensorRecord(Int32Array.from([1]), [1]), 'w')).toThrow(/w: dtype I32 is not a floating-point type/);
  });

  it('writes atomically: the target appears whole, no temporary file stays behind', async () => {
    const path = join(scratch, 'model.safetensors');
    writeFileSync(path, 'old contents');
    await writeSafetensors(path, [['w', tensorRecord(Float32Array.from([4, 5]), [2])]]);
    const back = await readSafetensors(path);
    expect([...toFloat32(back.tensors.get('w')!, 'w')]).toEqual([4, 5]);
    expect(readdirSync(scratch).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const missingDir = join(scratch, 'no-such-dir', 'm.safetensors');
    await expect(writeSafetensors(missingDir, [])).rejects.toThrow(/no-such-dir\/m\.safetensors: write failed/);
    expect(existsSync(join(scratch, 'no-such-dir'))).toBe(false);
  });
});

describe('safetensors refuses corrupt files, naming the file and the problem', () => {
  const good = encodeSafetensors([
    ['a', tensorRecord(Float32Array.from([1, 2]), [2])],
    ['b', tensorRecord(Int32Array.from([3]), [1])],
  ]);
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', good.subarray(0, 5), /truncated safetensors file \(5 bytes/],
    ['header length past the end', good.subarray(0, 20), /header length \d+ exceeds the 12 bytes after it/],
    ['truncated data', good.subarray(0, good.length - 2), /tensor 'b': data_offsets \[8, 12\] run past the 10 data bytes \(truncated file\?\)/],
    ['invalid JSON', rawFile('{"a": {"dtype": "F32",', 0), /invalid JSON header/],
    ['not an object', rawFile('[1, 2]', 0), /the header is not a JSON object/],
    ['unknown dtype', rawFile({ a: entry('Q8', [1], 0, 1) }, 1), /tensor 'a': unknown dtype "Q8"/],
    ['bad shape', rawFile({ a: entry('U8', [-1] as number[], 0, 1) }, 1), /tensor 'a': shape \[-1\] is not a list of sizes/],
    ['offsets not a pair', rawFile({ a: { dtype: 'U8', shape: [1], data_offsets: [0] } }, 1), /data_offsets \[0\] is not \[begin, end\]/],
    ['offsets reversed', rawFile({ a: entry('U8', [0], 1, 0) }, 1), /data_offsets \[1, 0\] end before they begin/],
    ['size ≠ shape × dtype', rawFile({ a: entry('F32', [2], 0, 4) }, 4), /tensor 'a': 4 data bytes, but F32 \[2\] needs 8/],
    [
      'overlapping tensors',
      rawFile({ a: entry('F32', [2], 0, 8), b: entry('F32', [1], 4, 8) }, 8),
      /tensor 'a': data_offsets \[0, 8\] overlap the previous tensor \(which ends at 4\)|tensor 'b': data_offsets \[4, 8\] overlap/,
    ],
    ['a gap', rawFile({ a: entry('U8', [1], 0, 1), b: entry('U8', [1], 2, 3) }, 3), /tensor 'b': data_offsets start at 2, leaving bytes 1\.\.2 unused/],
    ['bytes after the last tensor', rawFile({ a: entry('U8', [1], 0, 1) }, 3), /2 data bytes after the last tensor/],
    ['metadata not strings', rawFile({ __metadata__: { epoch: 3 } }, 0), /__metadata__ value of 'epoch' is not a string/],
  ];
  for (const [name, bytes, pattern] of cases)
    it(name, async () => {
      const path = join(scratch, `${name.replace(/\W+/g, '_')}.safetensors`);
      writeFileSync(path, bytes);
      const err = await readSafetensors(path).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, `${name} was accepted`).not.toBeNull();
      expect(err!.message).toMatch(pattern);
      expect(err!.message.startsWith(`${path}: `)).toBe(true);
    });

  it('a missing file', async () => {
    await expect(readSafetensors(join(scratch, 'absent.safetensors'))).rejects.toThrow(/absent\.safetensors: cannot read the safetensors file/);
  });

  it('the writer refuses inconsistent records', () => {
    expect(() => encodeSafetensors([['x', { dtype: 'F32', shape: [3], data: new Uint8Array(8) }]])).toThrow(/'x' has 8 bytes, F32 \[3\] needs 12/);
    expect(() => encodeSafetensors([['__metadata__', tensorRecord(Uint8Array.from([1]), [1])]])).toThrow(/cannot name a tensor/);
    // Shapes the reader refuses are refused when written, not after.
    expect(() => encodeSafetensors([['x', { dtype: 'U8', shape: [-1, -2], data: new Uint8Array(2) }]])).toThrow(/'x' has shape \[-1, -2\]; sizes must be non-negative integers/);
    expect(() => encodeSafetensors([['x', { dtype: 'U8', shape: [0.5, 4], data: new Uint8Array(2) }]])).toThrow(/sizes must be non-negative integers/);
  });
});
