// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, following
// torch.optim.SGD exactly (the first step's momentum buffer is the gradient itself).

import { noGrad } from '../engine/autograd.js';
import type { Tensor } from '../engine/tensor.js';
import { sgdStepKernel } from '../../kernels/sgdStep.js';
import { clone } from '../ops/creation.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(
    readonly params: readonly Tensor[],
    opts: SgdOptions,
  ) {
    if (!(opts.lr > 0)) throw new Error(`SGD: lr must be > 0, got ${opts.lr}`);
    this.lr = opts.lr;
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      throw new Error('SGD: Nesterov momentum requires momentum > 0 and dampening = 0');
  }

  /** Applies one update. Gradients come from `grads` (same order as params) or from `.grad`. */
  step(grads?: readonly Tensor[]): void {
    if (grads && grads.length !== this.params.length)
      throw new Error(`SGD.step: ${grads.length} gradients for ${this.params.length} parameters`);
    const settings = {
      lr: this.lr,
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    };
    noGrad(() =>
      this.params.forEach((p, i) => {
        const g = grads ? grads[i] : p.grad;
        if (!g) return;
        // One fused pass per parameter (kernels/sgdStep.ts); the outputs replace the old storage.
        const prev = this.buffers.get(p) ?? null;
        const next = sgdStepKernel(p, g, prev, settings);
        if (next.buf) {
          if (prev) prev.assign(next.buf);
          else this.buffers.set(p, next.buf.keep());
        }
        p.assign(next.p);
      }),
    );
  }

  /** Drops the accumulated `.grad` of every parameter. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Momentum buffers by parameter name (PyTorch's `state[...]['momentum_buffer']`), for checkpoints. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.params.forEach((p, i) => {
      const b = this.buffers.get(p);
      if (b) out.set(`${p.name ?? i}.momentum_buffer`, b);
    });
    return out;
  }

  /**
   * Restores momentum buffers saved by stateDict() (copies; the sources stay the caller's). Every
   * key and shape is checked before any buffer changes; `source` (a file) names the errors.
   */
  loadStateDict(state: Map<string, Tensor>, source = 'SGD.loadStateDict'): void {
    const keyOf = (p: Tensor, i: number) => `${p.name ?? i}.momentum_buffer`;
    const known = new Set(this.params.map(keyOf));
    const unknown = [...state.keys()].filter((k) => !known.has(k));
    if (unknown.length) throw new Error(`${source}: unexpected keys ${unknown.join(', ')}`);
    this.params.forEach((p, i) => {
      const t = state.get(keyOf(p, i));
      if (t && (t.shape.length !== p.shape.length || t.shape.some((d, k) => d !== p.shape[k])))
        throw new Error(`${source}: '${keyOf(p, i)}' is [${t.shape.join(', ')}], the parameter is [${p.shape.join(', ')}]`);
    });
    this.params.forEach((p, i) => {
      const t = state.get(keyOf(p, i));
      if (!t) return;
      this.buffers.get(p)?.dispose();
      this.buffers.set(p, noGrad(() => clone(t)).keep());
    });
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
