// A reader for MATLAB Level 5 MAT-files (what MATLAB's `save -v7`/`-v6` and scipy.io.savemat
// write), for numeric and logical arrays. Layout (MathWorks, "MAT-File Format", 2023):
//
//   128-byte header: 116 bytes of text, 8 bytes of subsystem offset, u16 version 0x0100 and the
//   endian indicator "IM" (little-endian file) or "MI" (big-endian).
//   Then data elements, each an 8-byte tag (u32 type, u32 byte count) and its data padded to a
//   multiple of 8 bytes. A tag whose upper 16 bits are non-zero is a "small data element": type in
//   the low half, byte count (≤ 4) in the high half, data in the tag's second word.
//   A top-level element is miMATRIX (one variable) or miCOMPRESSED (a zlib stream holding one
//   miMATRIX element; not padded).
//   miMATRIX holds sub-elements: array flags (class, complex/logical bits), dimensions, name, then
//   for numeric classes the real part and, when complex, the imaginary part. The stored type of a
//   part may be narrower than the class (MATLAB stores a double array of small integers as
//   miUINT8, for instance), so values are converted to the class's type.
//
// Cell arrays, structs, objects, character and sparse arrays are skipped; their names are listed
// in `skipped` so callers can say "y is a struct" rather than "y is missing". MAT v7.3 files are
// HDF5 and are refused with that explanation.

import { inflateSync } from 'node:zlib';
import { readDataFile } from './fileBytes.js';

/** Data types of data elements (the "mi" constants of the format). */
const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
  UTF16: 17,
  UTF32: 18,
} as const;

export type MatClass =
  | 'double'
  | 'single'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64';

/** Array classes ("mx" constants) by number; the first five and 16+ are not numeric arrays. */
const MX_CLASSES: Record<number, MatClass | 'cell' | 'struct' | 'object' | 'char' | 'sparse' | 'function' | 'opaque'> = {
  1: 'cell',
  2: 'struct',
  3: 'object',
  4: 'char',
  5: 'sparse',
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
  16: 'function',
  17: 'opaque',
};

const NUMERIC_CLASSES = new Set<string>(['double', 'single', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64']);

function isNumericClass(cls: string): cls is MatClass {
  return NUMERIC_CLASSES.has(cls);
}

const FLAG_COMPLEX = 0x08;
const FLAG_LOGICAL = 0x02;

export type MatNumericData =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface MatNumericArray {
  name: string;
  matClass: MatClass;
  /** MATLAB `logical` arrays are stored as uint8 with a flag. */
  logical: boolean;
  /** MATLAB dimensions (at least 2); the data are column-major (first index fastest). */
  dims: number[];
  real: MatNumericData;
  imag: MatNumericData | null;
}

export interface MatFile {
  /** The descriptive text of the header ("MATLAB 5.0 MAT-file, ..."), trailing spaces removed. */
  header: string;
  littleEndian: boolean;
  variables: Map<string, MatNumericArray>;
  /** Variables that are not numeric arrays, by name, with their class ('struct', 'cell', ...). */
  skipped: Map<string, string>;
}

interface Element {
  type: number;
  data: Uint8Array;
  /** Offset of the next element in the same buffer. */
  next: number;
}

/** The byte size and typed-array constructor of each numeric stored type. */
const STORED: Record<number, { bytes: number; make: (b: ArrayBuffer) => MatNumericData }> = {
  [MI.INT8]: { bytes: 1, make: (b) => new Int8Array(b) },
  [MI.UINT8]: { bytes: 1, make: (b) => new Uint8Array(b) },
  [MI.INT16]: { bytes: 2, make: (b) => new Int16Array(b) },
  [MI.UINT16]: { bytes: 2, make: (b) => new Uint16Array(b) },
  [MI.INT32]: { bytes: 4, make: (b) => new Int32Array(b) },
  [MI.UINT32]: { bytes: 4, make: (b) => new Uint32Array(b) },
  [MI.SINGLE]: { bytes: 4, make: (b) => new Float32Array(b) },
  [MI.DOUBLE]: { bytes: 8, make: (b) => new Float64Array(b) },
  [MI.INT64]: { bytes: 8, make: (b) => new BigInt64Array(b) },
  [MI.UINT64]: { bytes: 8, make: (b) => new BigUint64Array(b) },
};

type NumericArrayConstructor = new (n: number) => MatNumericData;

const CLASS_ARRAYS: Record<MatClass, NumericArrayConstructor> = {
  double: Float64Array,
  single: Float32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};

/** The values an integer class holds: stored data wider than its class must fit it, not wrap. */
const INTEGER_RANGES: Partial<Record<MatClass, [bigint, bigint]>> = {
  int8: [-128n, 127n],
  uint8: [0n, 255n],
  int16: [-32768n, 32767n],
  uint16: [0n, 65535n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

class MatReader {
  constructor(
    private readonly path: string,
    private readonly littleEndian: boolean,
  ) {}

  fail(message: string): never {
    throw new Error(`${this.path}: ${message}`);
  }

  u32(bytes: Uint8Array, at: number): number {
    return new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, this.littleEndian);
  }

  /** The element at `at` of `buf`; `where` names the context for errors. */
  element(buf: Uint8Array, at: number, where: string): Element {
    if (buf.length - at < 8) this.fail(`truncated data element tag in ${where} (${buf.length - at} of 8 bytes)`);
    const first = this.u32(buf, at);
    const smallBytes = first >>> 16;
    if (smallBytes !== 0) {
      // Small data element: data live in the tag's second word.
      if (smallBytes > 4) this.fail(`small data element in ${where} claims ${smallBytes} bytes (at most 4)`);
      return { type: first & 0xffff, data: buf.subarray(at + 4, at + 4 + smallBytes), next: at + 8 };
    }
    const nbytes = this.u32(buf, at + 4);
    const start = at + 8;
    if (start + nbytes > buf.length)
      this.fail(`truncated data element in ${where}: its tag promises ${nbytes} bytes, ${buf.length - start} remain`);
    // Compressed elements are not padded; every other element is padded to 8 bytes (the last one
    // of a file sometimes is not, hence the clamp).
    const padded = first === MI.COMPRESSED ? nbytes : Math.ceil(nbytes / 8) * 8;
    return { type: first, data: buf.subarray(start, start + nbytes), next: Math.min(start + padded, buf.length) };
  }

  /** Decodes a numeric element into a typed array of its stored type. */
  stored(el: Element, what: string): MatNumericData {
    const spec = STORED[el.type];
    if (!spec) this.fail(`${what} has data type ${el.type}, which is not a numeric MAT type`);
    if (el.data.length % spec.bytes !== 0)
      this.fail(`${what} holds ${el.data.length} bytes, not a multiple of its ${spec.bytes}-byte element size`);
    const copy = el.data.slice(); // aligned, and owned (byte swapping happens in place)
    if (spec.bytes > 1 && this.littleEndian !== HOST_LITTLE_ENDIAN) {
      for (let i = 0; i < copy.length; i += spec.bytes) copy.subarray(i, i + spec.bytes).reverse();
    }
    return spec.make(copy.buffer);
  }

  /** Values of `src` in the typed array of `cls` (no copy when they already are). */
  toClass(src: MatNumericData, cls: MatClass, what: string): MatNumericData {
    const Target = CLASS_ARRAYS[cls];
    if (src.constructor === Target) return src;
    const out = new Target(src.length);
    const range = INTEGER_RANGES[cls];
    if (range) {
      // MATLAB stores integer classes in the smallest type that holds the values; a value that is
      // not an integer or does not fit the class means a corrupt file, not something to wrap.
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (typeof v === 'number' && !Number.isInteger(v)) this.fail(`${what}: value ${v} at index ${i} is not an integer, in an ${cls} array`);
        const b = BigInt(v);
        if (b < range[0] || b > range[1]) this.fail(`${what}: value ${v} at index ${i} does not fit ${cls}`);
      }
    }
    if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
      for (let i = 0; i < src.length; i++) out[i] = BigInt(src[i]);
    } else {
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
    }
    return out;
  }

  /** Parses the contents of a miMATRIX element. Returns null for classes that are not numeric. */
  matrix(body: Uint8Array, index: number): { name: string; numeric: MatNumericArray | null; cls: string } {
    const where = `variable #${index}`;
    const flags = this.element(body, 0, `${where} (array flags)`);
    if (flags.type !== MI.UINT32 || flags.data.length !== 8)
      this.fail(`${where}: array flags must be 8 bytes of miUINT32, found type ${flags.type} with ${flags.data.length} bytes`);
    const word = this.u32(flags.data, 0);
    const cls = MX_CLASSES[word & 0xff];
    if (!cls) this.fail(`${where}: unknown array class ${word & 0xff}`);
    const flagBits = (word >>> 8) & 0xff;

    const dimsEl = this.element(body, flags.next, `${where} (dimensions)`);
    if (dimsEl.type !== MI.INT32) this.fail(`${where}: dimensions must be miINT32, found type ${dimsEl.type}`);
    const dims = [...(this.stored(dimsEl, `${where} dimensions`) as Int32Array)];
    if (dims.length < 2 || dims.some((d) => d < 0)) this.fail(`${where}: invalid dimensions [${dims.join(', ')}]`);

    const nameEl = this.element(body, dimsEl.next, `${where} (name)`);
    if (nameEl.type !== MI.INT8 && nameEl.type !== MI.UINT8 && nameEl.type !== MI.UTF8)
      this.fail(`${where}: array name must be miINT8, found type ${nameEl.type}`);
    const name = new TextDecoder().decode(nameEl.data);
    const label = `variable '${name}'`;
    if (!isNumericClass(cls)) return { name, numeric: null, cls };

    const count = dims.reduce((n, d) => n * d, 1);
    const part = (at: number, which: string): { data: MatNumericData; next: number } => {
      if (count === 0 && at >= body.length) return { data: new CLASS_ARRAYS[cls](0), next: at };
      const el = this.element(body, at, `${label} (${which} part)`);
      const data = this.toClass(this.stored(el, `${label} ${which} part`), cls, label);
      if (data.length !== count)
        this.fail(`${label}: ${which} part holds ${data.length} values, dimensions ${dims.join('×')} need ${count}`);
      return { data, next: el.next };
    };
    const real = part(nameEl.next, 'real');
    const imag = flagBits & FLAG_COMPLEX ? part(real.next, 'imaginary').data : null;
    return {
      name,
      cls,
      numeric: { name, matClass: cls, logical: (flagBits & FLAG_LOGICAL) !== 0, dims, real: real.data, imag },
    };
  }
}

/** Parses a whole MAT v5 file; `path` names it in errors. */
export function parseMatV5(bytes: Uint8Array, path: string): MatFile {
  if (bytes.length < 128) throw new Error(`${path}: truncated MAT-file (${bytes.length} bytes; the header alone is 128)`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(0, 116)).replace(/[\s\0]+$/, '');
  const indicator = String.fromCharCode(bytes[126], bytes[127]);
  if (indicator !== 'IM' && indicator !== 'MI') {
    if (bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0 && bytes[3] === 0)
      throw new Error(`${path}: this looks like a MAT v4 file; expected MAT v5 (scipy.io.savemat's default format)`);
    throw new Error(`${path}: not a MAT v5 file (endian indicator ${JSON.stringify(indicator)}, expected "IM" or "MI")`);
  }
  const littleEndian = indicator === 'IM';
  const version = new DataView(bytes.buffer, bytes.byteOffset + 124, 2).getUint16(0, littleEndian);
  if (header.startsWith('MATLAB 7.3'))
    throw new Error(`${path}: MAT v7.3 files are HDF5 and not supported; save with -v7 (or scipy.io.savemat)`);
  if (version !== 0x0100) throw new Error(`${path}: MAT-file version 0x${version.toString(16)}, expected 0x0100 (MAT v5)`);

  const reader = new MatReader(path, littleEndian);
  const variables = new Map<string, MatNumericArray>();
  const skipped = new Map<string, string>();
  let at = 128;
  let index = 0;
  while (at < bytes.length) {
    const el = reader.element(bytes, at, `top-level element at byte ${at}`);
    let matrix: Element = el;
    if (el.type === MI.COMPRESSED) {
      let inflated: Uint8Array;
      try {
        inflated = new Uint8Array(inflateSync(el.data));
      } catch (e) {
        throw new Error(`${path}: corrupt compressed element at byte ${at} (zlib: ${(e as Error).message})`);
      }
      matrix = reader.element(inflated, 0, `compressed element at byte ${at}`);
    }
    if (matrix.type !== MI.MATRIX)
      reader.fail(`element at byte ${at} has type ${matrix.type}; expected miMATRIX (14) or miCOMPRESSED (15)`);
    if (matrix.data.length > 0) {
      const parsed = reader.matrix(matrix.data, index);
      if (parsed.numeric) variables.set(parsed.name, parsed.numeric);
      else skipped.set(parsed.name, parsed.cls);
    }
    index++;
    at = el.next;
  }
  return { header, littleEndian, variables, skipped };
}

export async function readMatV5(path: string, what = 'a MAT v5 file'): Promise<MatFile> {
  return parseMatV5(await readDataFile(path, what), path);
}

/** Linear (column-major) offset of MATLAB subscripts (0-based) in an array of `dims`. */
export function columnMajorOffset(dims: readonly number[], subscripts: readonly number[]): number {
  let offset = 0;
  let stride = 1;
  for (let k = 0; k < dims.length; k++) {
    offset += (subscripts[k] ?? 0) * stride;
    stride *= dims[k];
  }
  return offset;
}
