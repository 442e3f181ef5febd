// IDX files (MNIST, Fashion-MNIST): a 4-byte magic (0, 0, element type, number of dimensions),
// one big-endian u32 per dimension, then the elements in row-major order. Files may be gzipped.
// Only unsigned bytes (type 0x08) are read: every image and label file of these datasets uses it.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkLabels, type Dataset } from './dataset.js';
import { gunzipIfNeeded, readDataFile } from './fileBytes.js';

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

const IDX_UBYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parses an IDX file of unsigned bytes; `path` names it in errors. */
export function parseIdx(bytes: Uint8Array, path: string): IdxArray {
  if (bytes.length < 4) throw new Error(`${path}: truncated IDX file (${bytes.length} bytes, the magic number alone is 4)`);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[3] === 0) {
    const magic = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join('');
    throw new Error(`${path}: bad IDX magic number 0x${magic} (expected 0x0000TTNN: zero, zero, type, dimensions)`);
  }
  const type = bytes[2];
  if (type !== IDX_UBYTE)
    throw new Error(
      `${path}: IDX element type 0x${type.toString(16).padStart(2, '0')} (${IDX_TYPE_NAMES[type] ?? 'unknown'}) ` +
        'is not supported (expected 0x08, unsigned byte)',
    );
  const ndim = bytes[3];
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes)
    throw new Error(`${path}: truncated IDX header (${bytes.length} bytes, ${ndim} dimensions need ${headerBytes})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const expected = dims.reduce((n, d) => n * d, 1);
  const found = bytes.length - headerBytes;
  if (found < expected)
    throw new Error(
      `${path}: truncated IDX data: the header promises ${dims.join('×')} = ${expected} bytes, the file holds ${found}`,
    );
  if (found > expected)
    throw new Error(`${path}: ${found - expected} bytes after the ${dims.join('×')} IDX data (expected exactly ${expected})`);
  return { dims, data: bytes.subarray(headerBytes) };
}

export async function readIdx(path: string, what = 'an IDX file'): Promise<IdxArray> {
  return parseIdx(gunzipIfNeeded(await readDataFile(path, what), path), path);
}

export interface IdxPairPaths {
  images: string;
  labels: string;
}

/** An image file ([N, rows, cols]) and its label file ([N]) as one grey-scale Dataset. */
export async function loadIdxDataset(paths: IdxPairPaths, name: string, classes = 10): Promise<Dataset> {
  const images = await readIdx(paths.images, 'IDX images (N×rows×cols unsigned bytes)');
  const labels = await readIdx(paths.labels, 'IDX labels (N unsigned bytes)');
  if (images.dims.length !== 3)
    throw new Error(`${paths.images}: IDX images have ${images.dims.length} dimensions, expected 3 (count, rows, columns)`);
  if (labels.dims.length !== 1)
    throw new Error(`${paths.labels}: IDX labels have ${labels.dims.length} dimensions, expected 1 (count)`);
  const [n, rows, cols] = images.dims;
  if (n < 1 || rows < 1 || cols < 1)
    throw new Error(`${paths.images}: IDX images are ${images.dims.join('×')}, expected at least one image of at least 1×1 pixels`);
  if (labels.dims[0] !== n)
    throw new Error(`${paths.labels}: ${labels.dims[0]} labels but ${paths.images} holds ${n} images`);
  const labelArray = Int32Array.from(labels.data);
  checkLabels(labelArray, classes, paths.labels);
  // Copy so the Dataset does not pin the whole decompressed file (header included).
  return { images: images.data.slice(), labels: labelArray, shape: [1, rows, cols], classes, name };
}

export type Split = 'train' | 'test';

/** The image and label paths of a split in the MNIST naming scheme, gzipped or not. */
export function mnistStylePaths(dir: string, split: Split): IdxPairPaths {
  const prefix = split === 'train' ? 'train' : 't10k';
  const pick = (stem: string): string => {
    const raw = join(dir, stem);
    const gz = `${raw}.gz`;
    if (existsSync(gz)) return gz;
    if (existsSync(raw)) return raw;
    throw new Error(`${gz}: file not found (nor ${raw}); expected the ${split} split of an MNIST-style IDX dataset`);
  };
  return { images: pick(`${prefix}-images-idx3-ubyte`), labels: pick(`${prefix}-labels-idx1-ubyte`) };
}

/** Fashion-MNIST (default: the Debian package's folder). 60,000 train / 10,000 test, 1×28×28. */
export function loadFashionMnist(split: Split, dir = FASHION_MNIST_DIR): Promise<Dataset> {
  return loadIdxDataset(mnistStylePaths(dir, split), 'fashion-mnist');
}

/** MNIST digits from a folder of the four original IDX files. */
export function loadMnist(split: Split, dir: string): Promise<Dataset> {
  return loadIdxDataset(mnistStylePaths(dir, split), 'mnist');
}
