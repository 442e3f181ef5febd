// Launcher for shaders/gather.wgsl (index_select, gather and their adjoints) and one_hot.wgsl.

import { runtime } from '../src/engine/engine.js';
import { Tensor, type DType } from '../src/engine/tensor.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;
const MODES = { indexSelect: 0, gather: 1, indexAdd: 2, scatterAdd: 3 } as const;
export type GatherMode = keyof typeof MODES;

/**
 * Views src as [outer, d, inner] (gathers) or as [outer, j, inner] (adjoints); the result is
 * [outer, j, inner] for gathers and [outer, d, inner] for adjoints, as a flat tensor.
 */
export function gatherKernel(
  mode: GatherMode,
  src: Tensor,
  idx: Tensor,
  outer: number,
  d: number,
  j: number,
  inner: number,
  outDtype: DType,
): Tensor {
  if (idx.dtype !== 'i32') throw new Error(`${mode}: indices must be i32, got ${idx.dtype}`);
  const gathering = mode === 'indexSelect' || mode === 'gather';
  const n = outer * (gathering ? j : d) * inner;
  const y = Tensor.empty([n], outDtype);
  if (n === 0) return y;
  const groups = grid1d(n, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  runtime().dispatch(
    mode,
    { shader: 'gather', constants: { MODE: MODES[mode] }, bindings: ['read', 'read', 'write'] },
    [src.binding(), idx.binding(), y.binding()],
    new Params().u(outer, d, j, inner, groups[0] * WG, 0, 0, 0).build(),
    groups,
  );
  return y;
}

export function oneHotKernel(labels: Tensor, classes: number, on: number, off: number): Tensor {
  if (labels.dtype !== 'i32') throw new Error(`oneHot: labels must be i32, got ${labels.dtype}`);
  const y = Tensor.empty([...labels.shape, classes]);
  if (y.size === 0) return y;
  const groups = grid1d(y.size, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  runtime().dispatch(
    'one_hot',
    { shader: 'one_hot', bindings: ['read', 'write'] },
    [labels.binding(), y.binding()],
    new Params().u(labels.size, classes, groups[0] * WG, 0).f(on, off).u(0, 0).build(),
    groups,
  );
  return y;
}
