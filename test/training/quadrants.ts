// A tiny synthetic dataset that a small CNN learns in a few steps, shared by the training tests.

import type { Dataset } from '../../src/data/dataset.js';

/** 4 classes on 1×8×8 bytes: each class lights one quadrant (plus noise). */
export function quadrants(n: number, seed: number): Dataset {
  const images = new Uint8Array(n * 64);
  const labels = new Int32Array(n);
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  for (let i = 0; i < n; i++) {
    const q = i % 4;
    labels[i] = q;
    for (let r = 0; r < 8; r++)
      for (let c = 0; c < 8; c++) {
        const on = (r < 4 ? 0 : 2) + (c < 4 ? 0 : 1) === q;
        images[i * 64 + r * 8 + c] = Math.round(255 * Math.min(1, (on ? 0.6 : 0) + 0.4 * rnd()));
      }
  }
  return { images, labels, shape: [1, 8, 8], classes: 4, name: 'quadrants' };
}
