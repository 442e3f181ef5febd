// A tiny EED ensemble and test images for the browser tests: two SmallCNN (width 0.25) members
// with random weights and random masks, written as an ensemble folder.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { Tensor } from '../../src/engine/tensor.js';
import { applyMasks, buildArchitecture, countParameters, disposeSubModel } from '../../src/ensemble/subModel.js';
import { writeEnsemble } from '../../src/ensemble/ensembleDir.js';
import { resolveHaltingOptions } from '../../src/ensemble/haltingRule.js';
import type { ArchitectureSpec } from '../../src/ensemble/subModel.js';
import type { EnsembleManifest } from '../../src/ensemble/manifest.js';
import type { Module } from '../../src/nn/module.js';
import { prunableLayers, weightKey } from '../../src/pruning/prunable.js';
import type { SampleSet } from '../../src/serve/samplePayload.js';
import { loadTestSamples } from '../../src/serve/testSamples.js';

export const SPEC: ArchitectureSpec = { model: 'smallcnn', width: 0.25, inChannels: 1, numClasses: 10, imageSize: 28 };
export const EPS = 0.1;
// Found by trying: at ×1000 DIE stops after the first member on about half of the first 64
// Fashion-MNIST test images.
const SHARPEN = 1000;

/** Deterministic pseudo-random numbers in [0, 1) (a 32-bit LCG), for masks and fallback images. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Multiplies the classifier weight by `k`. Random-weight members are unsure of everything, so DIE
 * would always run both; a sharper first member lets it stop early on some images, which is what
 * the browser test must see reproduced.
 */
async function sharpen(m: Module, k: number): Promise<void> {
  const last = prunableLayers(m).at(-1)!;
  const w = await last.weight.data();
  const scaled = Tensor.fromArray(Float32Array.from(w, (v) => v * k), last.weight.shape);
  m.loadStateDict(new Map([[weightKey(last), scaled]]), { strict: false });
  scaled.dispose();
}

export async function writeTinyEnsemble(dir: string): Promise<EnsembleManifest> {
  const members = [1, 2].map((seed) => {
    const m = buildArchitecture(SPEC, seed);
    const rand = lcg(seed);
    const masks = new Map<string, Tensor>();
    for (const l of prunableLayers(m)) masks.set(weightKey(l), Tensor.fromArray(Float32Array.from({ length: l.weight.size }, () => (rand() < 0.5 ? 1 : 0)), l.weight.shape));
    applyMasks(m, masks);
    return m;
  });
  await sharpen(members[0], SHARPEN);
  const manifest: EnsembleManifest = {
    format: 'eed-ensemble',
    version: 1,
    architecture: SPEC,
    inputShape: [1, 28, 28],
    dataset: 'fashion-mnist',
    eps: EPS,
    members: await Promise.all(
      members.map(async (m, i) => ({ name: `random-${i + 1}`, file: `member-${i}.safetensors`, prunableNonZero: (await countParameters(m)).prunableNonZero })),
    ),
    die: resolveHaltingOptions({}),
  };
  await writeEnsemble(dir, manifest, members);
  members.forEach(disposeSubModel);
  return manifest;
}

/** The first 64 Fashion-MNIST test images, or (without the dataset package) 64 random images. */
export async function testImages(): Promise<{ samples: SampleSet; source: string }> {
  if (existsSync(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')) || existsSync(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte')))
    return { samples: await loadTestSamples('fashion-mnist', '', 64), source: 'Fashion-MNIST test[0:64]' };
  const rand = lcg(7);
  return {
    samples: {
      dataset: 'fashion-mnist',
      shape: [1, 28, 28],
      images: Uint8Array.from({ length: 64 * 784 }, () => Math.floor(rand() * 256)),
      labels: Int32Array.from({ length: 64 }, (_, i) => i % 10),
    },
    source: 'random images (no Fashion-MNIST here)',
  };
}
