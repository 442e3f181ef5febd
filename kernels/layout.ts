// Launch geometry for strided elementwise kernels (binary, where, strided copy).
//
// Adjacent axes that every operand walks contiguously are merged first, so most broadcasts in a
// CNN ([N, C, H, W] with [1, C, 1, 1]) become 3-D or smaller. Up to 3 merged axes run on a 3-D grid
// (x = innermost axis), which needs no integer division: CPU adapters (lavapipe) have no vector
// integer divide, and per-element div/mod made broadcast ops slower than convolutions.

export interface CollapsedLayout {
  shape: number[];
  /** Strides per operand, aligned with `shape`. */
  strides: number[][];
}

export function collapseAxes(shape: readonly number[], strides: readonly (readonly number[])[]): CollapsedLayout {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue; // size-1 axes carry no offset
    const last = outShape.length - 1;
    const mergeable =
      last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * shape[d]);
    if (mergeable) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  if (!outShape.length) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}

export interface Grid3 {
  /** [inner, mid, outer] extents. */
  extents: [number, number, number];
  strides: [number, number, number][];
  workgroup: [number, number];
  groups: [number, number, number];
  /** Consecutive inner-axis elements per invocation (the kernels' PER override). */
  per: number;
}

/** Inner-axis elements per invocation on rows of at least 4·GRID_PER: fewer invocations, whose cost dominates on CPU adapters. */
const GRID_PER = 4;

/** A division-free 3-D launch for a collapsed layout of at most 3 axes, or null. */
export function grid3(layout: CollapsedLayout, maxGroups: number): Grid3 | null {
  const n = layout.shape.length;
  if (n > 3) return null;
  const pad = 3 - n;
  const ext = [...Array(pad).fill(1), ...layout.shape].reverse() as [number, number, number];
  const strides = layout.strides.map((s) => [...Array(pad).fill(0), ...s].reverse() as [number, number, number]);
  // Workgroup of 256 invocations shaped to the innermost extent, so short rows do not idle lanes.
  const per = ext[0] >= 4 * GRID_PER ? GRID_PER : 1;
  const xs = Math.ceil(ext[0] / per);
  const wx = Math.min(256, 2 ** Math.ceil(Math.log2(Math.max(1, xs))));
  const wy = 256 / wx;
  const groups: [number, number, number] = [Math.ceil(xs / wx), Math.ceil(ext[1] / wy), ext[2]];
  if (groups.some((g) => g > maxGroups)) return null;
  return { extents: ext, strides, workgroup: [wx, wy], groups, per };
}
