// A PyTorch-like Module: named parameters, buffers and submodules, registered in order, so that
// stateDict() keys and order match PyTorch's state_dict() for the same architecture
// (`layer1.0.conv1.weight`, `bn1.running_mean`, ...) and weights convert both ways.

import { copyWholeKernel } from '../../kernels/copy.js';
import { runtime } from '../engine/engine.js';
import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  private parent: Module | null = null;
  private nameInParent = '';

  abstract forward(x: Tensor): Tensor;

  /** Dotted path from the root module ('' for the root). */
  get path(): string {
    if (!this.parent) return '';
    const up = this.parent.path;
    return up ? `${up}.${this.nameInParent}` : this.nameInParent;
  }

  /** "Conv2d 'layer1.0.conv1'": how errors name this module. */
  get label(): string {
    const p = this.path;
    return p ? `${this.constructor.name} '${p}'` : this.constructor.name;
  }

  /** Runs fn with this module named in any GPU error raised meanwhile. */
  protected labelled<T>(fn: () => T): T {
    return runtime().withLabel(this.label, fn);
  }

  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    t.keep();
    this.params.set(name, t);
    this.nameTensors();
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    t.keep();
    this.buffers.set(name, t);
    this.nameTensors();
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    m.parent = this;
    m.nameInParent = name;
    this.children.set(name, m);
    m.nameTensors();
    return m;
  }

  private nameTensors(): void {
    const prefix = this.path ? `${this.path}.` : '';
    for (const [n, t] of this.params) t.name = prefix + n;
    for (const [n, t] of this.buffers) t.name = prefix + n;
    for (const c of this.children.values()) c.nameTensors();
  }

  /** Replaces a buffer's tensor (e.g. a counter updated out of place). */
  protected setBuffer(name: string, t: Tensor): void {
    const old = this.buffers.get(name);
    if (!old) throw new Error(`${this.label}: no buffer '${name}'`);
    old.assign(t);
  }

  protected getBuffer(name: string): Tensor {
    const t = this.buffers.get(name);
    if (!t) throw new Error(`${this.label}: no buffer '${name}'`);
    return t;
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.params) out.push([prefix ? `${prefix}.${n}` : n, t]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.buffers) out.push([prefix ? `${prefix}.${n}` : n, t]);
    for (const [n, c] of this.children) out.push(...c.namedBuffers(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Parameters and buffers in PyTorch's state_dict order (own params, own buffers, children). */
  stateDict(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const key = (n: string) => (prefix ? `${prefix}.${n}` : n);
    for (const [n, t] of this.params) out.set(key(n), t);
    for (const [n, t] of this.buffers) out.set(key(n), t);
    for (const [n, c] of this.children) for (const [k, t] of c.stateDict(key(n))) out.set(k, t);
    return out;
  }

  /**
   * Copies tensors into this module's parameters and buffers (GPU copies; the sources stay
   * owned by the caller). Strict by default: every key must match in name, dtype and shape.
   */
  loadStateDict(source: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): void {
    const strict = opts.strict ?? true;
    const src = source instanceof Map ? source : new Map(Object.entries(source));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length))
      throw new Error(
        `loadStateDict(${this.constructor.name}): ` +
          (missing.length ? `missing keys ${missing.join(', ')}` : '') +
          (missing.length && unexpected.length ? '; ' : '') +
          (unexpected.length ? `unexpected keys ${unexpected.join(', ')}` : ''),
      );
    for (const [k, dst] of own) {
      const t = src.get(k);
      if (!t) continue;
      if (t.dtype !== dst.dtype || t.shape.length !== dst.shape.length || t.shape.some((d, i) => d !== dst.shape[i]))
        throw new Error(
          `loadStateDict(${this.constructor.name}): '${k}' is ${t.dtype} ${shapeStr(t.shape)} but the model expects ${dst.dtype} ${shapeStr(dst.shape)}`,
        );
    }
    for (const [k, dst] of own) {
      const t = src.get(k);
      if (t) copyWholeKernel(t, dst);
    }
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Number of parameter elements (dense count; pruning reports non-zeros separately). */
  numParameters(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}
