// A dataset's images and labels as a short key (Node only): evaluation caches and run directories
// recognise the same data by content, wherever its files live, and another copy of it by content too.

import { createHash } from 'node:crypto';
import type { Dataset } from './dataset.js';

export function datasetDigest(d: Pick<Dataset, 'images' | 'labels'>): string {
  const hash = createHash('sha256');
  hash.update(d.images);
  hash.update(new Uint8Array(d.labels.buffer, d.labels.byteOffset, d.labels.byteLength));
  return hash.digest('hex').slice(0, 16);
}
