// Launchers for the batch-norm kernels: shaders/bn_stats.wgsl (per-channel sums in one pass over
// the activations) with bn_merge.wgsl (the statistics of its chunks combined), and bn_apply.wgsl
// (per-channel affine maps, forward and input gradient).
// Composite elementwise ops would read and write the activations about ten times per direction.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { Params } from './runtime.js';
import { reduceKernel } from './reduce.js';

/** Batch items per invocation: enough chunks to keep every core busy on small channel counts. */
function chunking(n: number, c: number): { per: number; chunks: number } {
  const chunks = Math.max(1, Math.min(n, Math.ceil(256 / Math.max(1, c))));
  const per = Math.ceil(n / chunks);
  return { per, chunks: Math.ceil(n / per) };
}

function statsPass(mode: 0 | 1, x: Tensor, mean: Tensor, g: Tensor, n: number, c: number, hw: number): { partial: Tensor; params: Uint32Array; chunks: number } {
  const { per, chunks } = chunking(n, c);
  const partial = Tensor.empty([c * chunks * 2]);
  const params = new Params().u(n, c, hw, per, chunks, 0, 0, 0).build();
  runtime().dispatch(
    mode === 0 ? 'batch_norm_stats' : 'batch_norm_backward_sums',
    { shader: 'bn_stats', constants: { MODE: mode }, bindings: ['read', 'read', 'read', 'write'] },
    [x.binding(), mean.binding(), g.binding(), partial.binding()],
    params,
    [Math.ceil(chunks / 64), c],
  );
  return { partial, params, chunks };
}

/**
 * Per-channel mean and biased variance of x viewed as [n, c, hw], as a [2, c] tensor: one pass over
 * x (per-chunk shifted sums), then a per-channel merge of the chunks.
 */
export function bnMomentsKernel(x: Tensor, n: number, c: number, hw: number): Tensor {
  if (n * hw === 0) throw new Error(`batch norm: no values per channel in an input of ${n}×${c}×${hw}`);
  const { partial, params } = statsPass(0, x, x, x, n, c, hw);
  const out = Tensor.empty([2, c]);
  runtime().dispatch('batch_norm_stats_merge', { shader: 'bn_merge', bindings: ['read', 'write'] }, [partial.binding(), out.binding()], params, [
    Math.ceil(c / 64),
  ]);
  partial.dispose();
  return out;
}

/** Per-channel [Σg, Σg·(x − mean)] as a [c, 2] tensor. */
export function bnBackwardSumsKernel(g: Tensor, x: Tensor, mean: Tensor, n: number, c: number, hw: number): Tensor {
  const { partial, chunks } = statsPass(1, x, mean, g, n, c, hw);
  // [C, chunks, 2] → [C, 2]
  const total = reduceKernel('sum', partial, c, chunks, 2);
  partial.dispose();
  return total;
}

/** Positions per invocation of bn_apply.wgsl on planes of at least 4·BN_PER positions (4 on planes of 16+): 16 measured ~20% less CPU than 4 on SmallCNN. */
const BN_PER = 16;

function applyPass(
  mode: 0 | 1 | 2,
  x: Tensor,
  g: Tensor,
  mean: Tensor,
  k: Tensor,
  n: number,
  c: number,
  hw: number,
  relu = false,
  residual: Tensor | null = null,
): Tensor {
  if (residual && residual.size !== n * c * hw) throw new Error(`batch norm: a residual of ${residual.size} values for an input of ${n * c * hw}`);
  const y = Tensor.empty([n, c, hw]);
  if (y.size === 0) return y;
  const per = hw >= 4 * BN_PER ? BN_PER : hw >= 16 ? 4 : 1;
  const cols = Math.ceil(hw / per);
  const wx = Math.min(64, 2 ** Math.ceil(Math.log2(Math.max(1, cols))));
  const wy = Math.max(1, Math.floor(256 / wx / 4));
  runtime().dispatch(
    (mode === 0 ? (relu ? 'batch_norm_relu' : 'batch_norm') : mode === 1 ? 'batch_norm_grad_input' : 'batch_norm_relu_grad') +
      (residual ? '_residual' : ''),
    {
      shader: 'bn_apply',
      constants: { MODE: mode, RELU: relu ? 1 : 0, RESIDUAL: residual ? 1 : 0, WG_X: wx, WG_Y: wy, PER: per },
      bindings: ['read', 'read', 'read', 'read', 'read', 'write'],
    },
    [x.binding(), g.binding(), mean.binding(), k.binding(), (residual ?? x).binding(), y.binding()],
    new Params().u(n, c, hw, 0).build(),
    [Math.ceil(cols / wx), Math.ceil(c / wy), n],
  );
  return y;
}

/**
 * y = (x − mean[c])·k[0, c] + k[1, c]; with `relu` max(that, 0); with a `residual` (x's shape)
 * max(that + residual, 0), a residual block's output.
 */
export function bnApplyKernel(
  x: Tensor,
  mean: Tensor,
  k: Tensor,
  n: number,
  c: number,
  hw: number,
  relu = false,
  residual: Tensor | null = null,
): Tensor {
  return applyPass(0, x, x, mean, k, n, c, hw, relu || residual !== null, residual);
}

/**
 * gx = g·k[2, c] where (x − mean[c])·k[0, c] + k[1, c] (+ residual) > 0, else 0: a gradient
 * through bnApplyKernel's ReLU.
 */
export function bnReluGradKernel(g: Tensor, x: Tensor, mean: Tensor, k: Tensor, n: number, c: number, hw: number, residual: Tensor | null = null): Tensor {
  return applyPass(2, x, g, mean, k, n, c, hw, false, residual);
}

/** gx = g·k[0, c] + (x − mean[c])·k[1, c] + k[2, c]. */
export function bnGradInputKernel(g: Tensor, x: Tensor, mean: Tensor, k: Tensor, n: number, c: number, hw: number): Tensor {
  return applyPass(1, x, g, mean, k, n, c, hw);
}
