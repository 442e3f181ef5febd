// Training-time augmentation on the GPU: a random crop of the image padded with `cropPadding` zero
// pixels on every side (i.e. a shift by dy, dx ∈ [−pad, pad]) and, optionally, a horizontal
// mirror; each sample draws its own. This is the standard CIFAR recipe (HARP/HYDRA use
// RandomCrop(32, padding=4) + RandomHorizontalFlip). Digits are not mirrored: a mirrored 2 or 5
// is not a digit of the same class.

import { augmentCropFlipKernel } from '../../kernels/augment.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { zeros } from '../ops/creation.js';
import type { Generator } from '../ops/random.js';
import { concat } from '../ops/shape.js';

export interface Augmentation {
  /** Zero padding of the random crop, in pixels (0: no crop). */
  cropPadding: number;
  horizontalFlip: boolean;
}

export const NO_AUGMENTATION: Augmentation = Object.freeze({ cropPadding: 0, horizontalFlip: false });

const DIGIT_DATASETS = new Set(['svhn', 'mnist']);

/** Crop (4-pixel padding) for 32×32 colour images, plus flips unless they are digits; else none. */
export function defaultAugmentation(data: { name: string; shape: readonly number[] }): Augmentation {
  const [c, h, w] = data.shape;
  if (c !== 3 || h !== 32 || w !== 32) return NO_AUGMENTATION;
  return { cropPadding: 4, horizontalFlip: !DIGIT_DATASETS.has(data.name) };
}

export function isIdentity(aug: Augmentation): boolean {
  return aug.cropPadding === 0 && !aug.horizontalFlip;
}

/** Applies explicit per-sample choices: i32 [B, 3] of (dy, dx, flip). */
export function cropFlip(x: Tensor, choices: Tensor): Tensor {
  return augmentCropFlipKernel(x, choices);
}

/** A new, randomly augmented copy of the batch x (f32 [B, C, H, W]). */
export function randomCropFlip(x: Tensor, aug: Augmentation, generator: Generator): Tensor {
  const pad = aug.cropPadding;
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`augmentation: cropPadding must be a non-negative integer, got ${pad}`);
  const batch = x.shape[0];
  return scope(() => {
    const shifts = generator.randint([batch, 2], -pad, pad + 1);
    const flips = aug.horizontalFlip ? generator.randint([batch, 1], 0, 2) : zeros([batch, 1], 'i32');
    return cropFlip(x, concat([shifts, flips], 1));
  });
}
