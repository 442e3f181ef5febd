// Launcher for shaders/augment_crop_flip.wgsl: data augmentation of a batch on the GPU, one
// crop offset and one flip decision per sample (drawn by the caller, see src/data/augment.ts).

import { runtime } from '../src/engine/engine.js';
import { shapeStr } from '../src/engine/shape.js';
import { Tensor } from '../src/engine/tensor.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;

/**
 * x: f32 [B, C, H, W]; choices: i32 [B, 3] holding (dy, dx, flip) per sample. Returns a new
 * [B, C, H, W] tensor (pixels shifted in from outside the image are 0).
 */
export function augmentCropFlipKernel(x: Tensor, choices: Tensor): Tensor {
  if (x.dtype !== 'f32' || x.ndim !== 4)
    throw new Error(`augmentCropFlip: images must be f32 [B, C, H, W], got ${x.dtype} ${shapeStr(x.shape)}`);
  const [batch, channels, h, w] = x.shape;
  if (choices.dtype !== 'i32' || choices.ndim !== 2 || choices.shape[0] !== batch || choices.shape[1] !== 3)
    throw new Error(`augmentCropFlip: choices must be i32 [${batch}, 3] (dy, dx, flip), got ${choices.dtype} ${shapeStr(choices.shape)}`);
  const y = Tensor.empty(x.shape);
  if (y.size === 0) return y;
  const groups = grid1d(y.size, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  runtime().dispatch(
    'augment_crop_flip',
    { shader: 'augment_crop_flip', bindings: ['read', 'read', 'write'] },
    [x.binding(), choices.binding(), y.binding()],
    new Params().u(batch * channels, channels, h, w).u(groups[0] * WG, 0, 0, 0).build(),
    groups,
  );
  return y;
}
