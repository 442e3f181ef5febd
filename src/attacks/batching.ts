// Input checks shared by the attacks, and splitting a large input into batches: an attack's state
// is a few copies of its batch (iterate, best point, gradient), so memory follows the batch size,
// not the data set.

import { scope, scopeAsync } from '../engine/scope.js';
import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { concat, slice } from '../ops/shape.js';

/** Batch size of the EED stages [P]; attacks use it unless told otherwise. */
export const DEFAULT_ATTACK_BATCH = 512;

/** Throws unless x is f32 [N, C, H, W] and labels are i32 [N]. */
export function checkAttackInputs(x: Tensor, labels: Tensor, what: string): void {
  if (x.dtype !== 'f32' || x.ndim !== 4) throw new Error(`${what}: expected f32 images [N, C, H, W], got ${x.dtype} ${shapeStr(x.shape)}`);
  if (labels.dtype !== 'i32' || labels.ndim !== 1 || labels.shape[0] !== x.shape[0])
    throw new Error(`${what}: expected i32 labels [${x.shape[0]}], got ${labels.dtype} ${shapeStr(labels.shape)}`);
}

export function checkBatchSize(batchSize: number, what: string): void {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`${what}: batchSize must be a positive integer, got ${batchSize}`);
}

/** [start, end) of consecutive batches of at most batchSize of n samples. */
export function bounds(n: number, batchSize: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += batchSize) out.push([s, Math.min(n, s + batchSize)]);
  return out;
}

/**
 * Runs `attack` on consecutive batches of at most `batchSize` samples and concatenates the
 * results along the batch axis. Each batch's intermediates are freed before the next starts.
 */
export function inBatches(
  x: Tensor,
  labels: Tensor,
  batchSize: number,
  what: string,
  attack: (x: Tensor, labels: Tensor) => Tensor,
): Tensor {
  checkAttackInputs(x, labels, what);
  checkBatchSize(batchSize, what);
  if (x.shape[0] <= batchSize) return scope(() => attack(x, labels));
  const parts = bounds(x.shape[0], batchSize).map(([s, e]) =>
    scope(() => attack(slice(x, 0, s, e), slice(labels, 0, s, e))),
  );
  const out = concat(parts, 0);
  for (const p of parts) p.dispose();
  return out;
}

/** inBatches for attacks that read results back while they run. */
export async function inBatchesAsync<R extends Record<string, Tensor>>(
  x: Tensor,
  labels: Tensor,
  batchSize: number,
  what: string,
  attack: (x: Tensor, labels: Tensor) => Promise<R>,
): Promise<R> {
  checkAttackInputs(x, labels, what);
  checkBatchSize(batchSize, what);
  if (x.shape[0] <= batchSize) return scopeAsync(() => attack(x, labels));
  const parts: R[] = [];
  for (const [s, e] of bounds(x.shape[0], batchSize))
    parts.push(await scopeAsync(() => attack(slice(x, 0, s, e), slice(labels, 0, s, e))));
  const out: Record<string, Tensor> = {};
  for (const key of Object.keys(parts[0])) {
    out[key] = concat(
      parts.map((p) => p[key]),
      0,
    );
    for (const p of parts) p[key].dispose();
  }
  return out as R;
}
