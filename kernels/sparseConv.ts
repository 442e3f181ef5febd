// Launcher for shaders/sparse_conv2d.wgsl: the forward convolution with CSR weights (inference).
// The input is zero-padded into a scratch tensor first so the kernel's inner loop has no bounds
// checks; that copy costs about one pass over the activations, small next to the convolution.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { stridedCopyKernel } from './copy.js';
import type { ConvGeometry } from './conv2d.js';
import { fillKernel } from './elementwise.js';
import { Params } from './runtime.js';
import type { SparseConv2d } from './sparseWeights.js';

/** Output positions per invocation (written out in the shader as two vec4 accumulators), WG_X apart. */
const POSITIONS_PER_INVOCATION = 8;
const WG_X = 64;

/** x [N, Cin, H, W] → x zero-padded to [N, Cin, H + 2·padH, W + 2·padW] (x itself without padding). */
function padInput(x: Tensor, g: ConvGeometry): Tensor {
  if (g.padH === 0 && g.padW === 0) return x;
  const hp = g.h + 2 * g.padH;
  const wp = g.w + 2 * g.padW;
  const xp = fillKernel([g.batch, g.cin, hp, wp], 0);
  stridedCopyKernel(
    'sparse_conv2d_pad',
    x,
    { offset: 0, strides: [g.cin * g.h * g.w, g.h * g.w, g.w, 1] },
    xp,
    { offset: g.padH * wp + g.padW, strides: [g.cin * hp * wp, hp * wp, wp, 1] },
    [g.batch, g.cin, g.h, g.w],
  );
  return xp;
}

export function sparseConv2dKernel(x: Tensor, sparse: SparseConv2d, bias: Tensor | null, g: ConvGeometry): Tensor {
  const y = Tensor.empty([g.batch, g.cout, g.oh, g.ow]);
  if (y.size === 0) return y;
  const hp = g.h + 2 * g.padH;
  const wp = g.w + 2 * g.padW;
  const xp = padInput(x, g);
  const nq = g.batch * g.oh * g.ow;
  runtime().dispatch(
    'sparse_conv2d',
    { shader: 'sparse_conv2d', bindings: ['read', 'read', 'read', 'read', 'read', 'write'], constants: { WG_X } },
    [
      xp.binding(),
      sparse.rowPtrGpu.binding(),
      sparse.offsetsFor(hp, wp).binding(),
      sparse.valuesGpu.binding(),
      // Without a bias the kernel never reads binding 4; any read-only buffer fills the slot.
      (bias ?? sparse.valuesGpu).binding(),
      y.binding(),
    ],
    new Params()
      .u(g.batch, g.cout, g.oh, g.ow)
      .u(g.cin * hp * wp, wp, g.strideH, g.strideW)
      .u(bias ? 1 : 0, 0, 0, 0)
      .build(),
    [g.cout, Math.ceil(nq / (POSITIONS_PER_INVOCATION * WG_X))],
  );
  if (xp !== x) xp.dispose();
  return y;
}
