// A linear layer with a pruning mask: y = x·(w ⊙ M)ᵀ + b, with w [out, in] and M of w's shape (a
// differentiable M gets ∂L/∂(w ⊙ M) ⊙ w, as in maskedConv2d). Unlike maskedConv2d the mask is applied by an element-wise
// product before the matmul: fully connected weights are small next to a step's activations (512×10
// in ResNet-18), and their shapes (10 outputs) miss the vec4 GEMM's alignment that the in-kernel
// mask relies on. The gradients follow the same rules as maskedConv2d (including the
// straight-through option) and, being built from differentiable ops, support double backward.

import { attach, noGrad } from '../engine/autograd.js';
import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { mul } from './elementwise.js';
import { linear } from './matmul.js';

export interface MaskedLinearOptions {
  /** Return ∂L/∂(w ⊙ M) as w's gradient (straight-through) instead of ∂L/∂w = ∂L/∂(w ⊙ M) ⊙ M. */
  gradWrtMaskedWeight?: boolean;
}

/** w ⊙ M whose gradient passes to w unchanged (the straight-through estimator); M's is g ⊙ w. */
function maskStraightThrough(w: Tensor, mask: Tensor): Tensor {
  return attach(
    noGrad(() => mul(w, mask)),
    'mask_straight_through',
    [w, mask],
    (g, needs) => [needs[0] ? g : null, needs[1] ? mul(g, w) : null],
  );
}

export function maskedLinear(x: Tensor, w: Tensor, mask: Tensor, bias?: Tensor | null, opts: MaskedLinearOptions = {}): Tensor {
  if (mask.dtype !== 'f32' || shapeStr(mask.shape) !== shapeStr(w.shape))
    throw new Error(`maskedLinear: mask ${mask.dtype} ${shapeStr(mask.shape)} must be f32 of the weight's shape ${shapeStr(w.shape)}`);
  const wm = opts.gradWrtMaskedWeight ? maskStraightThrough(w, mask) : mul(w, mask);
  return linear(x, wm, bias ?? undefined);
}
