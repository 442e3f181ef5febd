// The evaluation's cached rows are keyed by the test data's content, so pointing --data at another
// copy of a dataset recomputes them instead of reusing rows measured on the first copy.

import { describe, expect, it } from 'vitest';
import { datasetDigest } from '../../src/data/datasetDigest.js';

describe('evaluation cache keys', () => {
  it('change with any test image or label, and only with them', () => {
    const d = { images: Uint8Array.from({ length: 64 }, (_, i) => i), labels: Int32Array.from([0, 1, 2, 3]) };
    const copy = { images: d.images.slice(), labels: d.labels.slice() };
    expect(datasetDigest(copy)).toBe(datasetDigest(d));
    const relabelled = { images: d.images, labels: Int32Array.from([0, 1, 2, 4]) };
    const pixel = { images: d.images.slice(), labels: d.labels };
    pixel.images[63] ^= 1;
    expect(new Set([datasetDigest(d), datasetDigest(relabelled), datasetDigest(pixel)]).size).toBe(3);
  });
});
