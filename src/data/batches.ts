// Mini-batches on the GPU. A Dataset is uploaded once as f32 in [0, 1] (no mean/std
// normalisation: attacks and models work in pixel space, algorithms.md §0); each batch is then a
// gather of rows (indexSelect) plus optional augmentation, all on the device.
//
// One storage binding is limited (128 MiB on llvmpipe), less than CIFAR-10's 614 MB of f32
// pixels, so the images live in shards of whole samples. A batch touching several shards
// gathers from each and restores the requested order with one more gather.
//
// The epoch order is a permutation drawn by the engine Generator on the GPU and read back once per
// epoch (a few hundred KB), because the host needs it to pick shards and to map a sub-model's
// subset (algorithms.md §1) to dataset rows. Given the same Generator state, the same batches
// come out: the order, the crops and the flips all come from its counter.

import { runtime } from '../engine/engine.js';
import { scope } from '../engine/scope.js';
import { Tensor } from '../engine/tensor.js';
import { indexSelect } from '../ops/gather.js';
import type { Generator } from '../ops/random.js';
import { concat } from '../ops/shape.js';
import { defaultAugmentation, isIdentity, NO_AUGMENTATION, randomCropFlip, type Augmentation } from './augment.js';
import { checkDataset, datasetSize, imageBytes, type Dataset } from './dataset.js';

export interface GpuDatasetOptions {
  /** Largest shard in bytes (default: the adapter's storage binding limit). */
  maxShardBytes?: number;
}

/** A batch owned by the caller: dispose x and y (or create batches inside a scope). */
export interface Batch {
  /** f32 [B, C, H, W] in [0, 1]. */
  x: Tensor;
  /** i32 [B]. */
  y: Tensor;
  /** Dataset rows of the batch, in batch order. */
  indices: Int32Array;
}

export class GpuDataset {
  readonly name: string;
  readonly shape: [number, number, number];
  readonly classes: number;
  readonly size: number;
  /** Samples per shard (the last shard may hold fewer). */
  readonly rowsPerShard: number;
  private readonly shards: Tensor[];
  private readonly labels: Tensor;

  private constructor(ds: Dataset, shards: Tensor[], labels: Tensor, rowsPerShard: number) {
    this.name = ds.name;
    this.shape = [...ds.shape];
    this.classes = ds.classes;
    this.size = datasetSize(ds);
    this.shards = shards;
    this.labels = labels;
    this.rowsPerShard = rowsPerShard;
  }

  /** Uploads images (as byte/255) and labels. The tensors are kept: free them with dispose(). */
  static upload(ds: Dataset, opts: GpuDatasetOptions = {}): GpuDataset {
    checkDataset(ds, `GpuDataset.upload(${ds.name})`);
    const n = datasetSize(ds);
    if (n === 0) throw new Error(`GpuDataset.upload(${ds.name}): the dataset is empty`);
    const per = imageBytes(ds.shape);
    const limits = runtime().limits;
    const bindingLimit = Math.min(limits.maxStorageBufferBindingSize ?? 2 ** 27, limits.maxBufferSize ?? 2 ** 28);
    const maxBytes = Math.min(opts.maxShardBytes ?? bindingLimit, bindingLimit);
    const rowsPerShard = Math.min(n, Math.floor(maxBytes / (per * 4)));
    if (rowsPerShard < 1)
      throw new Error(`GpuDataset.upload(${ds.name}): one image (${per * 4} bytes as f32) exceeds the shard limit of ${maxBytes} bytes`);
    const shards: Tensor[] = [];
    // Convert shard by shard so the host never holds the whole dataset as f32.
    for (let first = 0; first < n; first += rowsPerShard) {
      const rows = Math.min(rowsPerShard, n - first);
      const bytes = ds.images.subarray(first * per, (first + rows) * per);
      const floats = new Float32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) floats[i] = bytes[i] / 255;
      shards.push(Tensor.fromArray(floats, [rows, ...ds.shape]).keep());
    }
    const labels = Tensor.fromArray(ds.labels, [n], 'i32').keep();
    return new GpuDataset(ds, shards, labels, rowsPerShard);
  }

  get shardCount(): number {
    return this.shards.length;
  }

  /** The samples at `indices` (dataset rows), in that order, without augmentation. */
  gather(indices: Int32Array): { x: Tensor; y: Tensor } {
    for (const i of indices)
      if (!(i >= 0 && i < this.size)) throw new Error(`GpuDataset(${this.name}).gather: index ${i} outside [0, ${this.size})`);
    return scope(() => {
      const idx = Tensor.fromArray(indices, [indices.length], 'i32');
      const y = indexSelect(this.labels, 0, idx);
      return { x: this.gatherImages(indices, idx), y };
    });
  }

  private gatherImages(indices: Int32Array, idx: Tensor): Tensor {
    if (this.shards.length === 1) return indexSelect(this.shards[0], 0, idx);
    // Group the batch by shard, gather each group, then put the rows back in batch order.
    const byShard = new Map<number, number[]>();
    indices.forEach((row, position) => {
      const s = Math.floor(row / this.rowsPerShard);
      let list = byShard.get(s);
      if (!list) byShard.set(s, (list = []));
      list.push(position);
    });
    if (byShard.size === 1) {
      const [s] = byShard.keys();
      const local = Int32Array.from(indices, (row) => row - s * this.rowsPerShard);
      return indexSelect(this.shards[s], 0, Tensor.fromArray(local, [local.length], 'i32'));
    }
    const pieces: Tensor[] = [];
    const rowOfPosition = new Int32Array(indices.length);
    let row = 0;
    for (const [s, positions] of [...byShard].sort((a, b) => a[0] - b[0])) {
      const local = Int32Array.from(positions, (p) => indices[p] - s * this.rowsPerShard);
      pieces.push(indexSelect(this.shards[s], 0, Tensor.fromArray(local, [local.length], 'i32')));
      for (const p of positions) rowOfPosition[p] = row++;
    }
    const grouped = concat(pieces, 0);
    return indexSelect(grouped, 0, Tensor.fromArray(rowOfPosition, [rowOfPosition.length], 'i32'));
  }

  dispose(): void {
    for (const s of this.shards) s.dispose();
    this.labels.dispose();
  }
}

export interface BatchOptions {
  batchSize: number;
  /** Draws the epoch order and the augmentation. */
  generator: Generator;
  /** Rows to draw from, e.g. a sub-model's subset (default: every sample). */
  indices?: Int32Array;
  /** Random order (default true); false keeps `indices` order (evaluation). */
  shuffle?: boolean;
  /** Drop the last, smaller batch (default false). */
  dropLast?: boolean;
  /** true: defaultAugmentation of the dataset; false (default): none; or an explicit recipe. */
  augment?: boolean | Augmentation;
}

/** The rows of one epoch in batch order: a GPU permutation of `indices` (read back), or `indices`. */
export async function epochOrder(size: number, generator: Generator, indices?: Int32Array, shuffle = true): Promise<Int32Array> {
  const rows = indices ?? Int32Array.from({ length: size }, (_, i) => i);
  if (!shuffle || rows.length < 2) return rows.slice();
  const perm = generator.permutation(rows.length);
  try {
    const order = (await perm.data()) as Int32Array;
    return Int32Array.from(order, (k) => rows[k]);
  } finally {
    perm.dispose();
  }
}

export function batchCount(rows: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(rows / batchSize) : Math.ceil(rows / batchSize);
}

function augmentationOf(data: GpuDataset, augment: BatchOptions['augment']): Augmentation {
  if (augment === true) return defaultAugmentation(data);
  if (!augment) return NO_AUGMENTATION;
  return augment;
}

/** One batch of the given rows, augmented with `aug` (drawn from `generator`). */
export function makeBatch(data: GpuDataset, rows: Int32Array, aug: Augmentation, generator: Generator): Batch {
  const { x, y } = data.gather(rows);
  if (isIdentity(aug)) return { x, y, indices: rows };
  const augmented = randomCropFlip(x, aug, generator);
  x.dispose();
  return { x: augmented, y, indices: rows };
}

/** The mini-batches of one epoch. */
export async function* batches(data: GpuDataset, opts: BatchOptions): AsyncGenerator<Batch> {
  const { batchSize, generator } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batches(${data.name}): invalid batch size ${batchSize}`);
  const aug = augmentationOf(data, opts.augment);
  const order = await epochOrder(data.size, generator, opts.indices, opts.shuffle ?? true);
  const count = batchCount(order.length, batchSize, opts.dropLast);
  for (let b = 0; b < count; b++) yield makeBatch(data, order.slice(b * batchSize, (b + 1) * batchSize), aug, generator);
}
