// Running an attack stage on some samples of a batch only (those still robust), and writing the
// results back: host index lists become i32 index tensors for indexSelect / indexAdd.

import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { ones, tensor } from '../ops/creation.js';
import { where } from '../ops/elementwise.js';
import { indexAdd, indexSelect } from '../ops/gather.js';
import { reshape } from '../ops/shape.js';

/** Indices i with flags[i] true. */
export function indicesWhere(flags: readonly boolean[]): number[] {
  const out: number[] = [];
  flags.forEach((f, i) => {
    if (f) out.push(i);
  });
  return out;
}

/** Rows `rows` of t along axis 0, in that order. */
export function selectRows(t: Tensor, rows: readonly number[]): Tensor {
  return scope(() => indexSelect(t, 0, tensor(rows, [rows.length], 'i32')));
}

/** A copy of `base` whose rows `rows` are replaced by the rows of `values` (one per index). */
export function replaceRows(base: Tensor, rows: readonly number[], values: Tensor): Tensor {
  if (values.shape[0] !== rows.length) throw new Error(`replaceRows: ${values.shape[0]} rows of values for ${rows.length} indices`);
  if (!rows.length) return base.view(base.shape);
  return scope(() => {
    const idx = tensor(rows, [rows.length], 'i32');
    const n = base.shape[0];
    const hit = reshape(indexAdd(ones([rows.length]), 0, idx, [n]), [n, ...base.shape.slice(1).map(() => 1)]);
    return where(hit, indexAdd(values, 0, idx, base.shape), base);
  });
}
