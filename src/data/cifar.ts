// CIFAR-10 and CIFAR-100 "binary version" files: fixed-size records with no header.
//   CIFAR-10:  1 label byte,                          then 3072 pixel bytes (R, G, B planes of 32×32)
//   CIFAR-100: 1 coarse label byte, 1 fine label byte, then 3072 pixel bytes
// The pixels are already channel-major, so a record's image is copied as is into NCHW. CIFAR-100
// uses the fine (100-class) labels; the coarse label is still range-checked, as a sign of a wrong
// or shifted file.

import { join } from 'node:path';
import { concatDatasets, type Dataset } from './dataset.js';
import { readDataFile } from './fileBytes.js';
import type { Split } from './idx.js';

const CIFAR_SHAPE: [number, number, number] = [3, 32, 32];
const PIXELS = 3 * 32 * 32;

interface RecordLayout {
  name: string;
  /** Label bytes before the pixels. */
  labelBytes: number;
  /** Which of the label bytes is the label used. */
  labelAt: number;
  classes: number;
  /** Classes of every label byte, for range checks. */
  labelRanges: number[];
}

const CIFAR10: RecordLayout = { name: 'cifar10', labelBytes: 1, labelAt: 0, classes: 10, labelRanges: [10] };
const CIFAR100: RecordLayout = { name: 'cifar100', labelBytes: 2, labelAt: 1, classes: 100, labelRanges: [20, 100] };

function parseRecords(bytes: Uint8Array, path: string, layout: RecordLayout): Dataset {
  const record = layout.labelBytes + PIXELS;
  if (bytes.length === 0 || bytes.length % record !== 0)
    throw new Error(
      `${path}: ${bytes.length} bytes is not a whole number of ${layout.name} records ` +
        `(${record} bytes each: ${layout.labelBytes} label byte${layout.labelBytes > 1 ? 's' : ''} + ${PIXELS} pixels)`,
    );
  const n = bytes.length / record;
  const images = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * record;
    for (let b = 0; b < layout.labelBytes; b++) {
      const value = bytes[at + b];
      if (value >= layout.labelRanges[b])
        throw new Error(
          `${path}: record ${i} has label ${value} in byte ${b}, outside [0, ${layout.labelRanges[b]}) (is this a ${layout.name} file?)`,
        );
    }
    labels[i] = bytes[at + layout.labelAt];
    images.set(bytes.subarray(at + layout.labelBytes, at + record), i * PIXELS);
  }
  return { images, labels, shape: [...CIFAR_SHAPE], classes: layout.classes, name: layout.name };
}

/** One CIFAR-10 batch file (data_batch_k.bin or test_batch.bin). */
export function parseCifar10Batch(bytes: Uint8Array, path: string): Dataset {
  return parseRecords(bytes, path, CIFAR10);
}

/** One CIFAR-100 file (train.bin or test.bin); labels are the fine labels. */
export function parseCifar100File(bytes: Uint8Array, path: string): Dataset {
  return parseRecords(bytes, path, CIFAR100);
}

export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILES = ['test_batch.bin'];

/** CIFAR-10 from the folder of the binary version (cifar-10-batches-bin): 50,000 / 10,000 images. */
export async function loadCifar10(split: Split, dir: string): Promise<Dataset> {
  const files = split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES;
  const parts: Dataset[] = [];
  for (const f of files) {
    const path = join(dir, f);
    parts.push(parseCifar10Batch(await readDataFile(path, 'a CIFAR-10 binary batch (records of 1 + 3072 bytes)'), path));
  }
  return concatDatasets(parts, 'cifar10');
}

/** CIFAR-100 from the folder of the binary version (cifar-100-binary): train.bin / test.bin. */
export async function loadCifar100(split: Split, dir: string): Promise<Dataset> {
  const path = join(dir, split === 'train' ? 'train.bin' : 'test.bin');
  return parseCifar100File(await readDataFile(path, 'a CIFAR-100 binary file (records of 2 + 3072 bytes)'), path);
}
