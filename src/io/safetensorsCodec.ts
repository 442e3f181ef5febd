// The safetensors format (huggingface/safetensors, the reference implementation's rules):
//
//   8 bytes   N, the header length, unsigned little-endian 64-bit
//   N bytes   a UTF-8 JSON object: for each tensor name {"dtype", "shape", "data_offsets": [begin, end]}
//             plus an optional "__metadata__" map of strings to strings. The writer pads it with
//             spaces to a multiple of 8 bytes so the data start 8-byte aligned.
//   the data  every tensor's bytes, little-endian, row-major; offsets are relative to the start of
//             the data and must tile it exactly (no gap, no overlap, nothing left over).
//
// This file is the codec alone (no file system, so the browser bundle can use it); safetensors.ts
// adds the Node file I/O. Conversions to and from the engine's dtypes (f32, i32, u32) are here too;
// which dtype a model's tensor is written as is checkpoint.ts's business.

export type SafetensorsDType = 'BOOL' | 'U8' | 'I8' | 'U16' | 'I16' | 'F16' | 'BF16' | 'U32' | 'I32' | 'F32' | 'U64' | 'I64' | 'F64';

export const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
});

/** One tensor as stored: its dtype, shape and little-endian bytes. */
export interface TensorRecord {
  dtype: SafetensorsDType;
  shape: number[];
  data: Uint8Array;
}

export interface SafetensorsContent {
  /** In file-data order. */
  tensors: Map<string, TensorRecord>;
  metadata: Record<string, string>;
}

/** The reference implementation refuses larger headers (a guard against absurd allocations). */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
  throw new Error('safetensors: this code assumes a little-endian host (every Node platform is)');

function numel(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses a whole file's bytes; `source` (the path) names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsContent {
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  if (bytes.length < 8) fail(`truncated safetensors file (${bytes.length} bytes; the header length alone is 8)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8))
    fail(`header length ${headerLength} exceeds the ${bytes.length - 8} bytes after it (truncated or not a safetensors file)`);
  const n = Number(headerLength);
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`invalid JSON header (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const data = bytes.subarray(8 + n);

  const metadata: Record<string, string> = {};
  const entries: [string, TensorRecord, number, number][] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value of '${k}' is not a string`);
        // defineProperty: a key named "__proto__" stays an ordinary entry.
        Object.defineProperty(metadata, k, { value: v as string, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (value === null || typeof value !== 'object') fail(`tensor '${name}': entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(dtype))
      fail(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(DTYPE_BYTES).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger))
      fail(`tensor '${name}': shape ${JSON.stringify(shape)} is not a list of sizes`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger))
      fail(`tensor '${name}': data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`tensor '${name}': data_offsets [${begin}, ${end}] end before they begin`);
    if (end > data.length)
      fail(`tensor '${name}': data_offsets [${begin}, ${end}] run past the ${data.length} data bytes (truncated file?)`);
    const dims = shape as number[];
    const expected = numel(dims) * DTYPE_BYTES[dtype as SafetensorsDType];
    if (end - begin !== expected)
      fail(`tensor '${name}': ${end - begin} data bytes, but ${dtype as string} [${dims.join(', ')}] needs ${expected}`);
    entries.push([name, { dtype: dtype as SafetensorsDType, shape: dims, data: data.subarray(begin, end) }, begin, end]);
  }

  // The tensors must tile the data exactly, as the reference implementation checks.
  entries.sort((a, b) => a[2] - b[2] || a[3] - b[3]);
  let covered = 0;
  for (const [name, , begin, end] of entries) {
    if (begin < covered)
      fail(`tensor '${name}': data_offsets [${begin}, ${end}] overlap the previous tensor (which ends at ${covered})`);
    if (begin > covered) fail(`tensor '${name}': data_offsets start at ${begin}, leaving bytes ${covered}..${begin} unused`);
    covered = end;
  }
  if (covered !== data.length) fail(`${data.length - covered} data bytes after the last tensor (the header accounts for ${covered})`);
  return { tensors: new Map(entries.map(([name, rec]) => [name, rec])), metadata };
}

/** Serialises tensors in the given order. */
export function encodeSafetensors(tensors: Iterable<[string, TensorRecord]>, metadata: Record<string, string> = {}): Uint8Array {
  // Null prototypes: a tensor (or metadata key) named "__proto__" must become a JSON key, not
  // replace the object's prototype.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (Object.keys(metadata).length) header[METADATA_KEY] = Object.assign(Object.create(null) as Record<string, string>, metadata);
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, rec] of tensors) {
    if (name === METADATA_KEY) throw new Error(`safetensors: '${METADATA_KEY}' cannot name a tensor`);
    if (Object.prototype.hasOwnProperty.call(header, name)) throw new Error(`safetensors: duplicate tensor name '${name}'`);
    if (!Array.isArray(rec.shape) || !rec.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`safetensors: tensor '${name}' has shape [${rec.shape.join(', ')}]; sizes must be non-negative integers`);
    const expected = numel(rec.shape) * DTYPE_BYTES[rec.dtype];
    if (rec.data.length !== expected)
      throw new Error(`safetensors: tensor '${name}' has ${rec.data.length} bytes, ${rec.dtype} [${rec.shape.join(', ')}] needs ${expected}`);
    header[name] = { dtype: rec.dtype, shape: [...rec.shape], data_offsets: [offset, offset + rec.data.length] };
    parts.push(rec.data);
    offset += rec.data.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // space padding, as the reference writer does
  let at = 8 + headerLength;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ------------------------------------------------------------------ typed values <-> records

export type RecordSource =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | BigInt64Array
  | BigUint64Array;

function nativeDType(values: RecordSource): SafetensorsDType {
  if (values instanceof Float32Array) return 'F32';
  if (values instanceof Float64Array) return 'F64';
  if (values instanceof Int32Array) return 'I32';
  if (values instanceof Uint32Array) return 'U32';
  if (values instanceof Uint8Array) return 'U8'; // Node Buffers too
  if (values instanceof Int8Array) return 'I8';
  if (values instanceof Int16Array) return 'I16';
  if (values instanceof Uint16Array) return 'U16';
  if (values instanceof BigInt64Array) return 'I64';
  return 'U64';
}

/** A record of `values` stored with their own dtype (a Uint8Array is U8). */
export function tensorRecord(values: RecordSource, shape: readonly number[]): TensorRecord {
  const dtype = nativeDType(values);
  if (numel(shape) !== values.length) throw new Error(`safetensors: ${values.length} values do not fill shape [${shape.join(', ')}]`);
  return { dtype, shape: [...shape], data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice() };
}

/** Engine int32 values stored as I64, the dtype PyTorch uses for integer buffers. */
export function int64Record(values: Int32Array, shape: readonly number[]): TensorRecord {
  return tensorRecord(BigInt64Array.from(values, (v) => BigInt(v)), shape);
}

function aligned(rec: TensorRecord): ArrayBuffer {
  return rec.data.slice().buffer; // a copy starting at offset 0, so any typed array can view it
}

/** IEEE half precision to a JS number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Float values of a floating-point record (F32, F64, F16, BF16), as f32. */
export function toFloat32(rec: TensorRecord, what: string): Float32Array {
  const buf = aligned(rec);
  switch (rec.dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'F16':
      return Float32Array.from(new Uint16Array(buf), halfToNumber);
    case 'BF16': {
      // bfloat16 is the upper half of an f32.
      const out = new Uint32Array(rec.data.length / 2);
      new Uint16Array(buf).forEach((b, i) => (out[i] = b << 16));
      return new Float32Array(out.buffer);
    }
    default:
      throw new Error(`${what}: dtype ${rec.dtype} is not a floating-point type (expected F32, F64, F16 or BF16)`);
  }
}

/** Integer values of an integer or boolean record as i32; 64-bit values must fit. */
export function toInt32(rec: TensorRecord, what: string): Int32Array {
  const buf = aligned(rec);
  switch (rec.dtype) {
    case 'I32':
      return new Int32Array(buf);
    case 'I64':
    case 'U64': {
      const wide = rec.dtype === 'I64' ? new BigInt64Array(buf) : new BigUint64Array(buf);
      const out = new Int32Array(wide.length);
      wide.forEach((v, i) => {
        if (v < -(2n ** 31n) || v >= 2n ** 31n) throw new Error(`${what}: ${rec.dtype} value ${v} does not fit in int32`);
        out[i] = Number(v);
      });
      return out;
    }
    case 'U32': {
      const u = new Uint32Array(buf);
      const bad = u.findIndex((v) => v >= 2 ** 31);
      if (bad >= 0) throw new Error(`${what}: U32 value ${u[bad]} does not fit in int32`);
      return new Int32Array(buf);
    }
    case 'U8':
    case 'BOOL':
      return Int32Array.from(new Uint8Array(buf));
    case 'I8':
      return Int32Array.from(new Int8Array(buf));
    case 'U16':
      return Int32Array.from(new Uint16Array(buf));
    case 'I16':
      return Int32Array.from(new Int16Array(buf));
    default:
      throw new Error(`${what}: dtype ${rec.dtype} is not an integer type`);
  }
}
