// Command recording and submission. Every dispatch of the engine goes through `Runtime.dispatch`:
// it is recorded into one shared command encoder (one open compute pass), its small parameter
// block is appended to a uniform ring buffer (bound with a dynamic offset, so no buffer is created
// per dispatch), and the batch is submitted on readback or after a bounded number of dispatches.
// WebGPU errors are captured per submitted batch and rethrown, naming the ops of that batch.

import type { AcquiredDevice, AdapterDescription } from '../src/engine/device.js';
import { BufferPool } from '../src/engine/bufferPool.js';
import { shaderSource } from './shaderSource.js';

export type Access = 'read' | 'write';

export interface KernelSpec {
  /** Shader file in shaders/ (without .wgsl). */
  shader: string;
  entryPoint?: string;
  /** WGSL `override` values; each distinct set is its own cached pipeline. */
  constants?: Record<string, number>;
  /** Access of storage bindings 0..n-1 in @group(0), in order. */
  bindings: readonly Access[];
}

export interface Binding {
  buffer: GPUBuffer;
  offset?: number;
  /** Bytes bound (a multiple of 4). */
  size: number;
}

export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}

/** Bytes of parameters a dispatch may pass (WGSL structs must fit). */
export const MAX_PARAMS_BYTES = 256;
const RING_BYTES = 1 << 18;
const MAX_PENDING_DISPATCHES = 256;


export class Runtime {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly adapterInfo: AdapterDescription;
  readonly limits: Record<string, number>;
  readonly features: string[];
  readonly runtimeKind: 'node' | 'browser';
  /** Submit after every dispatch, so a GPU error names exactly one op (slow; for debugging). */
  syncEachOp = false;

  private pipelines = new Map<string, GPUComputePipeline>();
  private layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();
  private modules = new Map<string, GPUShaderModule>();
  private paramsLayout: GPUBindGroupLayout;
  private ring: GPUBuffer;
  private ringCpu = new Uint8Array(RING_BYTES);
  private ringOffset = 0;
  private ringBindGroup: GPUBindGroup;
  private readonly align: number;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batchOps: string[] = [];
  private outstanding = new Set<Promise<void>>();
  private lost: string | null = null;
  private uncaptured: string[] = [];
  private labels: string[] = [];
  /** Dispatches recorded since the runtime started (for statistics and tests). */
  dispatchCount = 0;
  submitCount = 0;

  constructor(acq: AcquiredDevice) {
    this.device = acq.device;
    this.adapterInfo = acq.adapterInfo;
    this.limits = acq.limits;
    this.features = acq.features;
    this.runtimeKind = acq.runtime;
    this.pool = new BufferPool(this.device, undefined, () => this.flush());
    this.align = Math.max(16, this.limits.minUniformBufferOffsetAlignment ?? 256);
    this.paramsLayout = this.device.createBindGroupLayout({
      entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } }],
    });
    this.ring = this.device.createBuffer({ size: RING_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.ringBindGroup = this.device.createBindGroup({
      layout: this.paramsLayout,
      entries: [{ binding: 0, resource: { buffer: this.ring, offset: 0, size: MAX_PARAMS_BYTES } }],
    });
    this.device.addEventListener('uncapturederror', (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.uncaptured.push(err.message);
    });
    void this.device.lost.then((info) => {
      this.lost = `${info.reason}: ${info.message}`;
    });
  }

  get adapterIsSoftware(): boolean {
    return this.adapterInfo.isSoftware;
  }

  /** Names the high-level op (a layer, a loss) in error messages while `fn` records work. */
  withLabel<T>(label: string, fn: () => T): T {
    this.labels.push(label);
    try {
      return fn();
    } finally {
      this.labels.pop();
    }
  }

  private opName(kernel: string): string {
    return this.labels.length ? `${this.labels.join(' > ')} > ${kernel}` : kernel;
  }

  private checkAlive(what: string): void {
    if (this.lost !== null) throw new GpuError(`WebGPU device lost (${this.lost}) while running ${what}`);
    if (this.uncaptured.length) {
      const msgs = this.uncaptured.splice(0);
      throw new GpuError(`WebGPU error before ${what}: ${msgs.join('; ')}`);
    }
  }

  private shaderModule(name: string): GPUShaderModule {
    let m = this.modules.get(name);
    if (!m) {
      m = this.device.createShaderModule({ code: shaderSource(name), label: name });
      this.modules.set(name, m);
    }
    return m;
  }

  private layoutFor(bindings: readonly Access[]): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
    const key = bindings.join(',');
    let l = this.layouts.get(key);
    if (!l) {
      const bgl = this.device.createBindGroupLayout({
        entries: bindings.map((a, i) => ({
          binding: i,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: a === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
        })),
      });
      const pl = this.device.createPipelineLayout({ bindGroupLayouts: [bgl, this.paramsLayout] });
      l = { bgl, pl };
      this.layouts.set(key, l);
    }
    return l;
  }

  pipeline(spec: KernelSpec): { pipeline: GPUComputePipeline; bgl: GPUBindGroupLayout } {
    const consts = spec.constants ?? {};
    const key = `${spec.shader}|${spec.entryPoint ?? 'main'}|${spec.bindings.join(',')}|${Object.keys(consts)
      .sort()
      .map((k) => `${k}=${consts[k]}`)
      .join(',')}`;
    const layout = this.layoutFor(spec.bindings);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipeline({
        label: key,
        layout: layout.pl,
        compute: { module: this.shaderModule(spec.shader), entryPoint: spec.entryPoint ?? 'main', constants: consts },
      });
      this.pipelines.set(key, p);
    }
    return { pipeline: p, bgl: layout.bgl };
  }

  private ensurePass(): GPUComputePassEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope('internal');
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder();
    }
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  private ensureEncoderNoPass(): GPUCommandEncoder {
    this.ensurePass();
    this.pass!.end();
    this.pass = null;
    return this.encoder!;
  }

  /**
   * Records one dispatch. `params` is the kernel's uniform block (at most MAX_PARAMS_BYTES).
   * Binding sizes are checked against the device limit here, so an oversized tensor fails with the
   * op's name instead of as a validation error later.
   */
  dispatch(
    name: string,
    spec: KernelSpec,
    bindings: readonly Binding[],
    params: Uint32Array,
    workgroups: readonly [number, number?, number?],
  ): void {
    const op = this.opName(name);
    this.checkAlive(op);
    if (bindings.length !== spec.bindings.length)
      throw new GpuError(`${op}: kernel '${spec.shader}' expects ${spec.bindings.length} buffers, got ${bindings.length}`);
    const maxBind = this.limits.maxStorageBufferBindingSize ?? 134217728;
    for (const b of bindings) {
      if (b.size > maxBind)
        throw new GpuError(
          `${op}: a tensor of ${b.size} bytes exceeds this adapter's storage binding limit of ${maxBind} bytes; ` +
            'split the batch',
        );
    }
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    const [wx, wy = 1, wz = 1] = workgroups;
    if (wx > maxGroups || wy > maxGroups || wz > maxGroups)
      throw new GpuError(`${op}: dispatch ${wx}x${wy}x${wz} exceeds ${maxGroups} workgroups per dimension`);
    if (wx === 0 || wy === 0 || wz === 0) return;
    const pbytes = params.byteLength;
    if (pbytes > MAX_PARAMS_BYTES) throw new GpuError(`${op}: ${pbytes} bytes of parameters (max ${MAX_PARAMS_BYTES})`);
    if (this.ringOffset + MAX_PARAMS_BYTES > RING_BYTES) this.flush();

    const { pipeline, bgl } = this.pipeline(spec);
    const offset = this.ringOffset;
    this.ringCpu.set(new Uint8Array(params.buffer, params.byteOffset, pbytes), offset);
    this.ringOffset += Math.ceil(Math.max(pbytes, 16) / this.align) * this.align;

    const group = this.device.createBindGroup({
      layout: bgl,
      entries: bindings.map((b, i) => ({
        binding: i,
        resource: { buffer: b.buffer, offset: b.offset ?? 0, size: Math.max(4, b.size) },
      })),
    });
    const pass = this.ensurePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.setBindGroup(1, this.ringBindGroup, [offset]);
    pass.dispatchWorkgroups(wx, wy, wz);
    this.batchOps.push(op);
    this.dispatchCount++;
    if (this.syncEachOp || this.batchOps.length >= MAX_PENDING_DISPATCHES) this.flush();
  }

  clear(name: string, buffer: GPUBuffer, offset: number, size: number): void {
    if (size === 0) return;
    this.ensureEncoderNoPass().clearBuffer(buffer, offset, size);
    this.batchOps.push(this.opName(name));
  }

  copy(name: string, src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    if (size === 0) return;
    this.ensureEncoderNoPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.batchOps.push(this.opName(name));
  }

  /** Writes host data into a buffer, after every command recorded before it. */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView<ArrayBuffer>): void {
    this.checkAlive('an upload');
    if (this.encoder) this.flush(); // pending commands may still read this (recycled) buffer
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const padded = bytes.byteLength % 4 === 0 ? bytes : copyPadded(bytes);
    this.device.queue.writeBuffer(buffer, offset, padded);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (this.ringOffset > 0) this.device.queue.writeBuffer(this.ring, 0, this.ringCpu, 0, this.ringOffset);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    const ops = this.batchOps;
    const done: Promise<void> = Promise.all([
      this.device.popErrorScope(),
      this.device.popErrorScope(),
      this.device.popErrorScope(),
    ]).then((errs) => {
      this.outstanding.delete(done);
      const real = errs.filter((e): e is GPUError => e !== null);
      if (!real.length) return;
      const last = ops[ops.length - 1] ?? '(none)';
      const listed = ops.length <= 6 ? ops.join(', ') : `${ops.slice(0, 3).join(', ')}, ... ${last}`;
      this.uncaptured.push(
        `in a batch of ${ops.length} ops (${listed}): ${real.map((e) => e.message).join('; ')}` +
          (ops.length > 1 ? ' (set runtime.syncEachOp = true to pin it to one op)' : ''),
      );
    });
    this.outstanding.add(done);
    this.batchOps = [];
    this.ringOffset = 0;
    this.submitCount++;
  }

  private async reapErrors(): Promise<void> {
    await Promise.all([...this.outstanding]);
  }

  /** Waits for all submitted work and throws any WebGPU error it produced. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.reapErrors();
    this.checkAlive('a sync');
  }

  async read(name: string, buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.copy(name, buffer, offset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      await this.reapErrors();
      this.checkAlive(`reading ${name}`);
      throw new GpuError(`reading ${name} back failed: ${(e as Error).message}`);
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    await this.reapErrors();
    this.checkAlive(`reading ${name}`);
    return out;
  }

  destroy(): void {
    this.flush();
    this.pool.trim();
    this.ring.destroy();
    this.device.destroy();
  }
}

function copyPadded(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}

/** Workgroup counts for `n` invocations of a 1-D kernel, folded into y when x would overflow. */
export function grid1d(n: number, workgroupSize: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(n / workgroupSize);
  if (groups <= maxPerDim) return [Math.max(groups, 0), 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/** Packs a uniform block of u32/i32/f32 words (WGSL reads them from a struct of 4-byte fields). */
export class Params {
  private words: number[] = [];
  private kinds: ('u' | 'i' | 'f')[] = [];
  u(...v: number[]): this {
    for (const x of v) {
      this.words.push(x);
      this.kinds.push('u');
    }
    return this;
  }
  i(...v: number[]): this {
    for (const x of v) {
      this.words.push(x);
      this.kinds.push('i');
    }
    return this;
  }
  f(...v: number[]): this {
    for (const x of v) {
      this.words.push(x);
      this.kinds.push('f');
    }
    return this;
  }
  /** Pads to a multiple of 4 words (vec4 alignment), e.g. before an array<vec4<u32>, N>. */
  align4(): this {
    while (this.words.length % 4) this.u(0);
    return this;
  }
  /** `n` u32 values padded to `slots` (a multiple of 4), as an array<vec4<u32>, slots/4>. */
  uvec(values: readonly number[], slots: number): this {
    this.align4();
    for (let k = 0; k < slots; k++) this.u(values[k] ?? 0);
    return this;
  }
  build(): Uint32Array {
    this.align4();
    const buf = new ArrayBuffer(this.words.length * 4);
    const u = new Uint32Array(buf);
    const i = new Int32Array(buf);
    const f = new Float32Array(buf);
    this.words.forEach((w, k) => {
      const kind = this.kinds[k];
      if (kind === 'f') f[k] = w;
      else if (kind === 'i') {
        if (!Number.isInteger(w) || w < -(2 ** 31) || w >= 2 ** 31) throw new Error(`kernel parameter ${k}: ${w} is not an i32`);
        i[k] = w;
      } else {
        // A size past u32 would wrap into a small wrong one and the kernel would compute garbage.
        if (!Number.isInteger(w) || w < 0 || w >= 2 ** 32) throw new Error(`kernel parameter ${k}: ${w} is not a u32`);
        u[k] = w;
      }
    });
    return u;
  }
}
