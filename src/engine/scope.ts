// Explicit GPU memory scopes, as in tf.tidy: every tensor created while `fn` runs is disposed when
// it returns, except the tensors it returns (found anywhere inside arrays, Maps and plain objects)
// and tensors marked kept. Returned tensors move to the enclosing scope.
//
// A returned tensor keeps its autograd link, but the intermediates it depends on are gone: call
// backward()/grad() inside the scope that built the graph.

import type { Tensor } from './tensor.js';

const stack: Set<Tensor>[] = [];

export function trackTensor(t: Tensor): void {
  if (stack.length) stack[stack.length - 1].add(t);
}

function collect(value: unknown, out: Set<Tensor>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, seen);
  else if (value instanceof Map) for (const v of value.values()) collect(v, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out, seen);
}

function isTensor(v: object): v is Tensor {
  return 'shape' in v && 'dtype' in v && typeof (v as { dispose?: unknown }).dispose === 'function' && 'gradFn' in v;
}

function close(created: Set<Tensor>, result: unknown): void {
  const keep = new Set<Tensor>();
  collect(result, keep, new Set());
  for (const t of created) {
    if (keep.has(t)) trackTensor(t);
    else if (!t.kept) t.dispose();
  }
}

export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  stack.push(created);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    close(created, undefined);
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    // What fn created before its first await is freed (its continuation would run outside the scope).
    close(created, undefined);
    throw new Error('scope(fn): fn returned a Promise; use scopeAsync for async work');
  }
  close(created, result);
  return result;
}

/**
 * Async variant. Tensors created by other code while `fn` awaits land in this scope too, so do not
 * run two async scopes concurrently.
 */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const created = new Set<Tensor>();
  stack.push(created);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    stack.splice(stack.lastIndexOf(created), 1);
    close(created, undefined);
    throw e;
  }
  stack.splice(stack.lastIndexOf(created), 1);
  close(created, result);
  return result;
}

/** Disposes every tensor found in `value` (arrays, Maps, plain objects). */
export function dispose(value: unknown): void {
  const found = new Set<Tensor>();
  collect(value, found, new Set());
  for (const t of found) t.dispose();
}

export function scopeDepth(): number {
  return stack.length;
}
