// The in-memory form every loader produces: 8-bit images in NCHW order plus integer labels. Pixels
// stay bytes on the host (a quarter of the f32 size); batches.ts converts them to [0, 1] floats on
// upload. Loaders check their files; `checkDataset` checks the assembled result.

export interface Dataset {
  /** N×C×H×W bytes, row-major (sample, channel, row, column). */
  images: Uint8Array;
  /** N labels in [0, classes). */
  labels: Int32Array;
  /** [C, H, W] of one image. */
  shape: [number, number, number];
  classes: number;
  /** 'fashion-mnist', 'cifar10', 'svhn', ...: also picks the default augmentation. */
  name: string;
}

export function datasetSize(ds: Dataset): number {
  return ds.labels.length;
}

export function imageBytes(shape: readonly [number, number, number]): number {
  return shape[0] * shape[1] * shape[2];
}

/** Throws when images, labels and shape disagree or a label is outside [0, classes). */
export function checkDataset(ds: Dataset, source: string): void {
  const per = imageBytes(ds.shape);
  if (!ds.shape.every((d) => Number.isInteger(d) && d > 0))
    throw new Error(`${source}: invalid image shape [${ds.shape.join(', ')}]`);
  if (ds.images.length !== ds.labels.length * per)
    throw new Error(
      `${source}: ${ds.labels.length} labels need ${ds.labels.length * per} image bytes ` +
        `(${ds.shape.join('×')} each), found ${ds.images.length}`,
    );
  checkLabels(ds.labels, ds.classes, source);
}

export function checkLabels(labels: Int32Array, classes: number, source: string): void {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0 || l >= classes) throw new Error(`${source}: label ${l} of sample ${i} is outside [0, ${classes})`);
  }
}

/** The samples at `indices`, in that order (copies). */
export function selectSamples(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  const per = imageBytes(ds.shape);
  const n = datasetSize(ds);
  const images = new Uint8Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`selectSamples(${ds.name}): index ${i} outside [0, ${n})`);
    images.set(ds.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = ds.labels[i];
  }
  return { images, labels, shape: [...ds.shape], classes: ds.classes, name };
}

/** Joins datasets of one shape and class count (e.g. the five CIFAR-10 training batches). */
export function concatDatasets(parts: readonly Dataset[], name: string): Dataset {
  if (!parts.length) throw new Error(`concatDatasets(${name}): nothing to join`);
  const [first] = parts;
  for (const p of parts)
    if (p.shape.some((d, i) => d !== first.shape[i]) || p.classes !== first.classes)
      throw new Error(
        `concatDatasets(${name}): ${p.name} is [${p.shape.join(', ')}] with ${p.classes} classes, ` +
          `${first.name} is [${first.shape.join(', ')}] with ${first.classes}`,
      );
  const images = new Uint8Array(parts.reduce((n, p) => n + p.images.length, 0));
  const labels = new Int32Array(parts.reduce((n, p) => n + p.labels.length, 0));
  let atImage = 0;
  let atLabel = 0;
  for (const p of parts) {
    images.set(p.images, atImage);
    labels.set(p.labels, atLabel);
    atImage += p.images.length;
    atLabel += p.labels.length;
  }
  return { images, labels, shape: [...first.shape], classes: first.classes, name };
}
