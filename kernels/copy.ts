// Launcher for shaders/strided_copy.wgsl: the one data-movement kernel behind permute, slice,
// broadcast-expand, concat and their adjoints.

import { runtime } from '../src/engine/engine.js';
import { MAX_DIMS, type Shape } from '../src/engine/shape.js';
import type { Tensor } from '../src/engine/tensor.js';
import { collapseAxes, grid3 } from './layout.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;

export interface StridedView {
  offset: number;
  strides: readonly number[];
}

/** For every index i of `shape`: dst[dst.offset + i·dst.strides] = src[src.offset + i·src.strides]. */
export function stridedCopyKernel(
  name: string,
  src: Tensor,
  srcView: StridedView,
  dst: Tensor,
  dstView: StridedView,
  shape: Shape,
): void {
  let n = 1;
  for (const d of shape) n *= d;
  if (n === 0) return;
  if (shape.length > MAX_DIMS) throw new Error(`${name}: more than ${MAX_DIMS} dimensions`);
  const layout = collapseAxes(shape, [srcView.strides, dstView.strides]);
  const grid = grid3(layout, runtime().limits.maxComputeWorkgroupsPerDimension);
  if (grid) {
    runtime().dispatch(
      name,
      { shader: 'strided_copy', bindings: ['read', 'write'], constants: { GRID: 1, WG_X: grid.workgroup[0], WG_Y: grid.workgroup[1], PER: grid.per } },
      [src.binding(), dst.binding()],
      new Params()
        .u(n, 0, 3, srcView.offset)
        .u(dstView.offset, 0, 0, 0)
        .uvec(grid.extents, MAX_DIMS)
        .uvec(grid.strides[0], MAX_DIMS)
        .uvec(grid.strides[1], MAX_DIMS)
        .build(),
      grid.groups,
    );
    return;
  }
  const groups = grid1d(n, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  runtime().dispatch(
    name,
    { shader: 'strided_copy', bindings: ['read', 'write'] },
    [src.binding(), dst.binding()],
    new Params()
      .u(n, groups[0] * WG, layout.shape.length, srcView.offset)
      .u(dstView.offset, 0, 0, 0)
      .uvec(layout.shape, MAX_DIMS)
      .uvec(layout.strides[0], MAX_DIMS)
      .uvec(layout.strides[1], MAX_DIMS)
      .build(),
    groups,
  );
}

/** Copies all of src into dst (same byte size) with the copy engine. */
export function copyWholeKernel(src: Tensor, dst: Tensor): void {
  if (src.size !== dst.size) throw new Error(`copy: ${src.size} elements into ${dst.size}`);
  runtime().copy('copy', src.buffer, 0, dst.buffer, 0, src.size * 4);
}
