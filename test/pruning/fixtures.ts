// Tiny models and data for the pruning tests: SmallCNN at width 0.25 (8/16/32 channels) on 1×8×8
// images, a handful of samples, so each test runs in well under a second on lavapipe.

import * as E from '../../src/index.js';

export function tinyCnn(seed = 1): E.SmallCNN {
  return new E.SmallCNN({ width: 0.25, imageSize: 8, inChannels: 1, numClasses: 4, generator: new E.Generator(seed) });
}

export function tinyBatch(seed = 2, n = 6): { x: E.Tensor; y: E.Tensor } {
  const gen = new E.Generator(seed);
  return { x: gen.uniform([n, 1, 8, 8], 0, 1), y: gen.randint([n], 0, 4) };
}

export async function hostValues(t: E.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}
