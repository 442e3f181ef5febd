// Reverse-mode autograd. Each op output carries a GradNode: its inputs and a backward function
// that maps the output gradient to input gradients. Backward functions are written with the same
// differentiable ops as forward code, so when `createGraph` is set the gradient computation is
// itself recorded, and differentiating it again gives exact second derivatives (used by `hvp`).

import { scope } from './scope.js';
import { shapeStr } from './shape.js';
import type { Tensor } from './tensor.js';

export interface GradNode {
  op: string;
  inputs: readonly Tensor[];
  /**
   * Gradients for each input, given the output's gradient. `needs[i]` is false for inputs whose
   * gradient nobody asked for, so expensive terms (a conv's weight gradient during an attack)
   * can be skipped by returning null.
   */
  backward: (gy: Tensor, needs: readonly boolean[]) => (Tensor | null)[];
}

let recording = true;

export function isRecording(): boolean {
  return recording;
}

/** Runs fn without recording the autograd graph (inference, optimizer updates). Synchronous only. */
export function noGrad<T>(fn: () => T): T {
  return withRecording(false, fn);
}

/**
 * Runs fn with recording set to `on`. fn must be synchronous: recording is a global flag, restored
 * when fn returns, so whatever an async fn does after its first await would run with the outer
 * setting.
 */
export function withRecording<T>(on: boolean, fn: () => T): T {
  const prev = recording;
  recording = on;
  let result: T;
  try {
    result = fn();
  } finally {
    recording = prev;
  }
  if (result instanceof Promise) throw new Error('noGrad / withRecording: fn returned a Promise; await inside it would escape the setting');
  return result;
}

/** Links `out` to the op that produced it, if any input requires a gradient. */
export function attach(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: GradNode['backward'],
): Tensor {
  if (recording && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward };
  }
  return out;
}

export interface GradOptions {
  /** Gradient of the output (defaults to 1 for a scalar output). */
  gradOutput?: Tensor;
  /** Record the gradient computation so it can be differentiated again. */
  createGraph?: boolean;
  /** Return zeros instead of throwing for inputs the output does not depend on. */
  allowUnused?: boolean;
}

// Filled in by ops/index.ts to avoid an import cycle (the ops import `attach` from here).
export const gradHelpers: {
  add: (a: Tensor, b: Tensor) => Tensor;
  onesLike: (t: Tensor) => Tensor;
  zerosLike: (t: Tensor) => Tensor;
} = {
  add: () => {
    throw new Error('ops not loaded');
  },
  onesLike: () => {
    throw new Error('ops not loaded');
  },
  zerosLike: () => {
    throw new Error('ops not loaded');
  },
};

/**
 * Gradients of `y` with respect to each of `xs` (leaves or intermediate tensors, e.g. the input
 * image of an attack). Only the part of the graph between y and xs is differentiated.
 */
export function grad(y: Tensor, xs: readonly Tensor[], opts: GradOptions = {}): Tensor[] {
  const createGraph = opts.createGraph ?? false;
  if (!opts.gradOutput && y.size !== 1)
    throw new Error(`grad: output has shape ${shapeStr(y.shape)}; pass gradOutput for non-scalar outputs`);
  if (opts.gradOutput && opts.gradOutput.size !== y.size)
    throw new Error(`grad: gradOutput ${shapeStr(opts.gradOutput.shape)} does not match output ${shapeStr(y.shape)}`);
  const targets = new Set(xs);

  // Topological order of the tensors that lie on a path from y back to some x.
  const leadsToTarget = new Map<Tensor, boolean>();
  const order: Tensor[] = [];
  const visit = (root: Tensor): boolean => {
    // Iterative post-order DFS (graphs of deep nets overflow recursion in some runtimes).
    const stack: { t: Tensor; i: number }[] = [{ t: root, i: 0 }];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const inputs = top.t.gradFn?.inputs ?? [];
      if (top.i < inputs.length) {
        const next = inputs[top.i++];
        if (next.requiresGrad && next.isDisposed) throw disposedInGraph(next, top.t);
        if (next.requiresGrad && !leadsToTarget.has(next)) {
          leadsToTarget.set(next, false); // provisional: marks "being visited"
          stack.push({ t: next, i: 0 });
        }
        continue;
      }
      stack.pop();
      const reaches = targets.has(top.t) || inputs.some((u) => leadsToTarget.get(u) === true);
      leadsToTarget.set(top.t, reaches);
      if (reaches) order.push(top.t);
    }
    return leadsToTarget.get(root) === true;
  };
  leadsToTarget.set(y, false);
  const reachable = y.requiresGrad || targets.has(y) ? visit(y) : false;
  if (!reachable && !opts.allowUnused)
    throw new Error('grad: the output does not depend on any of the requested inputs (or none requires grad)');

  // Gradient tensors are shared between map entries (an add passes gy to both inputs), so they
  // are reference counted and disposed when the last holder lets go (not when building a graph).
  const holds = new Map<Tensor, number>();
  const hold = (t: Tensor) => holds.set(t, (holds.get(t) ?? 0) + 1);
  const drop = (t: Tensor) => {
    const n = (holds.get(t) ?? 0) - 1;
    if (n > 0) holds.set(t, n);
    else {
      holds.delete(t);
      if (!createGraph && t !== opts.gradOutput) t.dispose();
    }
  };

  const grads = new Map<Tensor, Tensor>();
  const results = new Map<Tensor, Tensor>();
  if (reachable) {
    const seed = opts.gradOutput ?? gradHelpers.onesLike(y);
    hold(seed);
    grads.set(y, seed);
  }
  withRecording(createGraph, () => {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (targets.has(t)) {
        results.set(t, g);
        hold(g);
      }
      const node = t.gradFn;
      if (node) {
        const needs = node.inputs.map((u) => u.requiresGrad && leadsToTarget.get(u) === true);
        const run = () => node.backward(g, needs);
        const outs = createGraph ? run() : scope(run);
        node.inputs.forEach((u, i) => {
          const o = outs[i];
          if (!needs[i] || !o) {
            if (o && !createGraph && !holds.has(o) && o !== g) o.dispose();
            return;
          }
          if (o.shape.length !== u.shape.length || o.shape.some((d, i) => d !== u.shape[i]))
            throw new Error(
              `grad: backward of ${node.op} returned ${shapeStr(o.shape)} for an input of shape ${shapeStr(u.shape)}`,
            );
          hold(o);
          const prev = grads.get(u);
          if (prev) {
            const sum = gradHelpers.add(prev, o);
            drop(prev);
            drop(o);
            hold(sum);
            grads.set(u, sum);
          } else grads.set(u, o);
        });
      }
      drop(g);
    }
  });

  // One tensor can be the gradient of two targets (an add passes gy to both inputs): each target
  // gets its own tensor (a view), so that disposing one, as SGD.zeroGrad does, leaves the other.
  const handedOut = new Set<Tensor>();
  return xs.map((x) => {
    const r = results.get(x);
    if (r) {
      if (handedOut.has(r)) return r.view(r.shape);
      handedOut.add(r);
      return r;
    }
    if (!opts.allowUnused)
      throw new Error(`grad: output does not depend on input ${x.name ?? shapeStr(x.shape)} (pass allowUnused)`);
    return gradHelpers.zerosLike(x);
  });
}

function disposedInGraph(t: Tensor, user: Tensor | null): Error {
  const name = (u: Tensor) => u.name ?? `tensor #${u.id} ${shapeStr(u.shape)}`;
  return new Error(
    `backward: ${name(t)} was disposed but ${user ? `${name(user)} (${user.gradFn?.op}) still needs it` : 'the graph still needs it'}; ` +
      'keep the tensors of a graph you will differentiate alive until backward (create them outside the scope that ends first)',
  );
}

/** Accumulates d(y)/d(leaf) into `.grad` of every leaf that requires a gradient. */
export function backward(y: Tensor, gradOutput?: Tensor): void {
  const leaves: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack = [y];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (!t.requiresGrad) continue;
    // A disposed tensor has lost its gradFn: it is not a leaf, and its inputs are unreachable.
    if (t.isDisposed) throw disposedInGraph(t, null);
    if (!t.gradFn) leaves.push(t);
    else stack.push(...t.gradFn.inputs);
  }
  if (!leaves.length) throw new Error('backward: nothing in the graph requires a gradient');
  const gs = grad(y, leaves, { gradOutput, allowUnused: true });
  leaves.forEach((leaf, i) => {
    const g = gs[i];
    if (leaf.grad) {
      const sum = gradHelpers.add(leaf.grad, g);
      leaf.grad.dispose();
      g.dispose();
      leaf.grad = sum.keep();
    } else leaf.grad = g.keep();
  });
}
