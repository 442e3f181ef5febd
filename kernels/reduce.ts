// Launchers for shaders/reduce.wgsl and argmax.wgsl. Reductions run on a [outer, K, inner] view;
// long K is reduced in chunks and then again, so no single invocation walks a huge axis.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;
const CHUNK = 256;
const REDUCE_OPS = { sum: 0, max: 1, min: 2 } as const;
export type ReduceOp = keyof typeof REDUCE_OPS;

/** Reduces axis 1 of x viewed as [outer, k, inner]; the result has outer·inner elements. */
export function reduceKernel(op: ReduceOp, x: Tensor, outer: number, k: number, inner: number): Tensor {
  if (x.dtype !== 'f32') throw new Error(`${op}: expected f32, got ${x.dtype}`);
  if (outer * k * inner !== x.size) throw new Error(`${op}: view [${outer}, ${k}, ${inner}] does not match ${x.size} elements`);
  if (k === 0) {
    if (op !== 'sum') throw new Error(`${op}: reduction over an empty axis`);
    const z = Tensor.empty([outer * inner]);
    runtime().clear('sum', z.buffer, 0, z.size * 4);
    return z;
  }
  let cur = x;
  let curK = k;
  while (true) {
    const nchunks = Math.ceil(curK / CHUNK);
    const out = Tensor.empty([outer * nchunks * inner]);
    const n = out.size;
    if (n > 0) {
      const groups = grid1d(n, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
      runtime().dispatch(
        op,
        { shader: 'reduce', constants: { OP: REDUCE_OPS[op] }, bindings: ['read', 'write'] },
        [cur.binding(), out.binding()],
        new Params().u(outer, curK, inner, CHUNK, nchunks, groups[0] * WG).build(),
        groups,
      );
    }
    if (cur !== x) cur.dispose();
    if (nchunks === 1) return out;
    cur = out;
    curK = nchunks;
  }
}

/** Index (i32) of the maximum along axis 1 of x viewed as [outer, k, inner]. */
export function argmaxKernel(x: Tensor, outer: number, k: number, inner: number): Tensor {
  if (x.dtype !== 'f32') throw new Error(`argmax: expected f32, got ${x.dtype}`);
  if (k === 0) throw new Error('argmax: reduction over an empty axis');
  const out = Tensor.empty([outer * inner], 'i32');
  if (out.size === 0) return out;
  const groups = grid1d(out.size, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  runtime().dispatch(
    'argmax',
    { shader: 'argmax', bindings: ['read', 'write'] },
    [x.binding(), out.binding()],
    new Params().u(outer, k, inner, groups[0] * WG).build(),
    groups,
  );
  return out;
}
