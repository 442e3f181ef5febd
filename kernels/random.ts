// Launchers for shaders/random.wgsl (Threefry-2x32 counter-based generator) and
// bitonic_sort.wgsl (used for random permutations).

import { runtime } from '../src/engine/engine.js';
import type { Shape } from '../src/engine/shape.js';
import { Tensor } from '../src/engine/tensor.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;
const MODES = { uniform: 0, normal: 1, bernoulli: 2, randint: 3, bits: 4 } as const;
export type RandomMode = keyof typeof MODES;

export interface RandomCall {
  mode: RandomMode;
  key: [number, number];
  /** Counter of element 0 (elements use base, base + 1, ...). */
  base: number;
  a?: number;
  b?: number;
  lo?: number;
  range?: number;
}

export function randomKernel(shape: Shape, call: RandomCall): Tensor {
  const dtype = call.mode === 'randint' ? 'i32' : call.mode === 'bits' ? 'u32' : 'f32';
  const y = Tensor.empty(shape, dtype);
  if (y.size === 0) return y;
  const groups = grid1d(y.size, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  const baseLo = call.base % 2 ** 32;
  const baseHi = Math.floor(call.base / 2 ** 32);
  runtime().dispatch(
    `random.${call.mode}`,
    { shader: 'random', constants: { MODE: MODES[call.mode] }, bindings: ['write'] },
    [y.binding()],
    new Params()
      .u(y.size, groups[0] * WG, call.key[0], call.key[1])
      .u(baseLo, baseHi)
      .i(call.lo ?? 0)
      .u((call.range ?? 0) % 2 ** 32) // the whole i32 range, 2^32, is 0 to the shader
      .f(call.a ?? 0, call.b ?? 0)
      .u(0, 0)
      .build(),
    groups,
  );
  return y;
}

/** Sorts (keys, values) pairs in place by key, then value. Both are u32 of power-of-two length. */
export function bitonicSortKernel(keys: Tensor, values: Tensor): void {
  const n = keys.size;
  if (n & (n - 1)) throw new Error(`bitonicSort: length ${n} is not a power of two`);
  const groups = grid1d(n, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  for (let k = 2; k <= n; k *= 2) {
    for (let j = k / 2; j >= 1; j /= 2) {
      runtime().dispatch(
        'bitonic_sort',
        { shader: 'bitonic_sort', bindings: ['write', 'write'] },
        [keys.binding(), values.binding()],
        new Params().u(n, k, j, groups[0] * WG).build(),
        groups,
      );
    }
  }
}
