// Launcher for shaders/square_proposal.wgsl: a Square-attack candidate for every image of a batch
// in one pass (window, signs and ε as uniforms).

import { runtime } from '../src/engine/engine.js';
import { sameShape, shapeStr } from '../src/engine/shape.js';
import { Tensor } from '../src/engine/tensor.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;

export interface SquareWindow {
  /** Top row and left column of the window. */
  row: number;
  col: number;
  /** Side length in pixels. */
  size: number;
  /** One sign per channel (+1 or −1). */
  signs: readonly number[];
}

/** clamp(min(max(xBest + 2ε·sign_c·[pixel in window], x0 − ε), x0 + ε), 0, 1) for [N, C, H, W]. */
export function squareProposalKernel(xBest: Tensor, x0: Tensor, eps: number, win: SquareWindow): Tensor {
  if (xBest.ndim !== 4 || xBest.dtype !== 'f32' || x0.dtype !== 'f32' || !sameShape(xBest.shape, x0.shape))
    throw new Error(`squareProposal: expected two f32 [N, C, H, W] tensors of one shape, got ${shapeStr(xBest.shape)} and ${shapeStr(x0.shape)}`);
  const [, c, h, w] = xBest.shape;
  if (c > 32) throw new Error(`squareProposal: at most 32 channels (the signs travel as one u32), got ${c}`);
  if (win.signs.length !== c) throw new Error(`squareProposal: ${win.signs.length} signs for ${c} channels`);
  if (!(win.size >= 1 && win.row >= 0 && win.col >= 0 && win.row + win.size <= h && win.col + win.size <= w))
    throw new Error(`squareProposal: window ${win.size}x${win.size} at (${win.row}, ${win.col}) leaves the ${h}x${w} image`);
  let bits = 0;
  win.signs.forEach((s, ch) => {
    if (s > 0) bits |= 1 << ch;
  });
  const y = Tensor.empty(xBest.shape);
  if (y.size === 0) return y;
  const groups = grid1d(y.size, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  runtime().dispatch(
    'square_proposal',
    { shader: 'square_proposal', bindings: ['read', 'read', 'write'] },
    [xBest.binding(), x0.binding(), y.binding()],
    new Params()
      .u(y.size, groups[0] * WG, c, h)
      .u(w, win.row, win.col, win.size)
      .u(bits >>> 0, 0, 0, 0)
      .f(eps)
      .u(0, 0, 0)
      .build(),
    groups,
  );
  return y;
}
