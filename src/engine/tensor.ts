// A tensor is a shape, a dtype and a reference to pooled GPU storage, plus the autograd link to the
// op that made it. Data are always contiguous and row-major; reshapes share storage, every other
// layout change is a copy kernel. GPU memory is freed explicitly (`dispose`) or by `scope`.

import type { Binding } from '../../kernels/runtime.js';
import type { GradNode } from './autograd.js';
import { runtime } from './engine.js';
import { trackTensor } from './scope.js';
import { checkShape, numel, type Shape, shapeStr } from './shape.js';

export type DType = 'f32' | 'i32' | 'u32';
export type TypedArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;
export type AnyTypedArray = Float32Array | Int32Array | Uint32Array;

/** Reference-counted GPU storage (reshaped views share it). */
class Storage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
}

let nextId = 1;
let live = 0;

/** Tensors created and not yet disposed (for leak tests). */
export function liveTensorCount(): number {
  return live;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  private storage: Storage | null;
  /** Leaves with requiresGrad get `.grad` from backward(); ops on them are recorded. */
  requiresGrad = false;
  gradFn: GradNode | null = null;
  grad: Tensor | null = null;
  /** Kept tensors survive the scopes they were created in (parameters, optimizer state). */
  kept = false;
  /** Optional name used in error messages (parameters get their state-dict name). */
  name: string | undefined;

  private constructor(storage: Storage, shape: Shape, dtype: DType) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = numel(shape);
    live++;
    trackTensor(this);
  }

  /** Uninitialised tensor from the buffer pool. Kernels write every element. */
  static empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape, 'Tensor.empty');
    const bytes = Math.max(4, numel(shape) * 4);
    const buf = runtime().pool.acquire(bytes);
    return new Tensor(new Storage(buf, bytes), shape, dtype);
  }

  /** Uploads host data. */
  static fromArray(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape, 'tensor');
    const n = numel(shape);
    if (data.length !== n)
      throw new Error(`tensor: ${data.length} values do not fill shape ${shapeStr(shape)} (${n} elements)`);
    const typed = toTyped(data, dtype);
    const t = Tensor.empty(shape, dtype);
    if (n > 0) runtime().write(t.buffer, 0, typed);
    return t;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  get byteSize(): number {
    return this.size * 4;
  }

  private alive(): Storage {
    if (!this.storage)
      throw new Error(
        `tensor ${this.name ?? `#${this.id}`} ${shapeStr(this.shape)} was used after dispose() ` +
          '(return it from its scope() or keep() it to use it later)',
      );
    return this.storage;
  }

  get buffer(): GPUBuffer {
    return this.alive().buffer;
  }

  /** Storage binding of exactly this tensor's bytes. */
  binding(): Binding {
    return { buffer: this.alive().buffer, offset: 0, size: Math.max(4, this.size * 4) };
  }

  /** A tensor of another shape over the same storage. */
  view(shape: Shape): Tensor {
    const s = this.alive();
    if (numel(shape) !== this.size)
      throw new Error(`reshape: cannot view ${shapeStr(this.shape)} (${this.size} elements) as ${shapeStr(shape)}`);
    s.refs++;
    return new Tensor(s, shape, this.dtype);
  }

  /** The same storage under another shape, consuming this tensor (a kernel's flat output, say). */
  reshapedInto(shape: Shape): Tensor {
    const v = this.view(shape);
    this.dispose();
    return v;
  }

  /** A tensor of another dtype over the same bits (no conversion). */
  bitcast(dtype: DType): Tensor {
    const s = this.alive();
    s.refs++;
    return new Tensor(s, this.shape, dtype);
  }

  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    live--;
    this.gradFn = null;
    if (--s.refs === 0) runtime().pool.release(s.buffer);
  }

  /** Moves `src`'s storage into this tensor (same shape and dtype) and disposes `src`. */
  assign(src: Tensor): void {
    if (src === this) return; // (disposing src would dispose this)
    if (src.dtype !== this.dtype || src.shape.length !== this.shape.length || src.shape.some((d, i) => d !== this.shape[i]))
      throw new Error(
        `assign to ${this.name ?? 'tensor'}: expected ${this.dtype} ${shapeStr(this.shape)}, got ${src.dtype} ${shapeStr(src.shape)}`,
      );
    const old = this.alive();
    const incoming = src.alive();
    incoming.refs++;
    this.storage = incoming;
    src.dispose();
    if (--old.refs === 0) runtime().pool.release(old.buffer);
  }

  /** Copies the data to the host. Waits for every pending GPU command. */
  async data(): Promise<AnyTypedArray> {
    const s = this.alive();
    if (this.size === 0) return emptyOf(this.dtype);
    const ab = await runtime().read(this.name ?? `tensor #${this.id}`, s.buffer, 0, this.size * 4);
    return this.dtype === 'f32' ? new Float32Array(ab) : this.dtype === 'i32' ? new Int32Array(ab) : new Uint32Array(ab);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): tensor has ${this.size} elements, expected 1`);
    return (await this.data())[0];
  }

  /** Marks the tensor as surviving scopes. */
  keep(): this {
    this.kept = true;
    return this;
  }

  toString(): string {
    return `Tensor(${this.dtype} ${shapeStr(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''}${
      this.gradFn ? `, grad_fn=${this.gradFn.op}` : ''
    })`;
  }
}

function emptyOf(dtype: DType): AnyTypedArray {
  return dtype === 'f32' ? new Float32Array(0) : dtype === 'i32' ? new Int32Array(0) : new Uint32Array(0);
}

/** Copies into a fresh typed array unless `data` already is one of the right kind. */
function toTyped(data: ArrayLike<number>, dtype: DType): ArrayBufferView<ArrayBuffer> {
  if (dtype === 'f32') return data instanceof Float32Array && data.buffer instanceof ArrayBuffer ? (data as Float32Array<ArrayBuffer>) : Float32Array.from(data);
  if (dtype === 'i32') return data instanceof Int32Array && data.buffer instanceof ArrayBuffer ? (data as Int32Array<ArrayBuffer>) : Int32Array.from(data);
  return data instanceof Uint32Array && data.buffer instanceof ArrayBuffer ? (data as Uint32Array<ArrayBuffer>) : Uint32Array.from(data);
}
