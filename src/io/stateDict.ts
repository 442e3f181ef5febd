// Model checkpoints as safetensors files that PyTorch can read: the tensors of `module.stateDict()`
// under their PyTorch names, in state-dict order.
//
// Dtypes: f32 tensors are written as F32. The engine keeps integer buffers (BatchNorm's
// num_batches_tracked) as i32, PyTorch as int64, so i32 tensors are written as I64 and read back
// from I64 or I32 (range-checked). F16, BF16 and F64 files load into f32 tensors.
//
// Pruning masks live in the same file, after the state dict: the mask of parameter `<param>` is
// the tensor `<param>.mask` (e.g. `layer1.0.conv1.weight.mask`), dtype U8 holding 0 or 1, with the
// parameter's shape. The suffix cannot clash with a real state-dict key, since a parameter has no
// children, and one file keeps a pruned model and its masks in step. A PyTorch user drops those
// keys (`{k: v for k, v in sd.items() if not k.endswith('.mask')}`) or applies them as masks.
//
// This file maps a module's state to and from decoded safetensors content and touches no file
// system, so the browser bundle uses it directly; checkpoint.ts adds the Node file I/O.

import { scope } from '../engine/scope.js';
import { Tensor, type DType } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { int64Record, tensorRecord, toFloat32, toInt32, type SafetensorsContent, type TensorRecord } from './safetensorsCodec.js';

export const MASK_SUFFIX = '.mask';

export interface LoadedCheckpoint {
  /** f32 0/1 masks by parameter name, owned by the caller (empty when the file has none). */
  masks: Map<string, Tensor>;
  metadata: Record<string, string>;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

async function recordOf(t: Tensor, what: string): Promise<TensorRecord> {
  const values = await t.data();
  if (values instanceof Int32Array) return int64Record(values, t.shape);
  if (values instanceof Float32Array) expectFinite(values, what);
  return tensorRecord(values, t.shape);
}

/**
 * Refuses NaN and ±Inf: a diverged model must not be saved over a good checkpoint, nor loaded
 * (its first forward pass would turn every later loss into NaN far from the cause).
 */
export function expectFinite(values: ArrayLike<number>, what: string): void {
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i])) throw new Error(`${what} holds ${values[i]} at index ${i}; checkpoints hold finite values only`);
}

/** The module's state (and masks) as host records, reading every tensor back from the GPU. */
export async function stateDictRecords(module: Module, masks: Map<string, Tensor> = new Map()): Promise<Map<string, TensorRecord>> {
  const records = new Map<string, TensorRecord>();
  for (const [name, t] of module.stateDict()) records.set(name, await recordOf(t, `saveStateDict: '${name}'`));
  const params = new Map(module.namedParameters());
  for (const [name, mask] of masks) {
    const param = params.get(name);
    if (!param) throw new Error(`saveStateDict: a mask is given for '${name}', which is not a parameter of ${module.constructor.name}`);
    if (!sameShape(mask.shape, param.shape))
      throw new Error(`saveStateDict: mask '${name}' is [${mask.shape.join(', ')}], the parameter is [${param.shape.join(', ')}]`);
    const values = await mask.data();
    const bits = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v !== 0 && v !== 1) throw new Error(`saveStateDict: mask '${name}' holds ${v} at ${i}; masks must be 0 or 1`);
      bits[i] = v;
    }
    records.set(name + MASK_SUFFIX, tensorRecord(bits, mask.shape));
  }
  return records;
}

function valuesFor(rec: TensorRecord, dtype: DType, what: string): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'f32') return toFloat32(rec, what);
  if (dtype === 'u32' && rec.dtype === 'U32') return new Uint32Array(rec.data.slice().buffer);
  const ints = toInt32(rec, what);
  if (dtype === 'i32') return ints;
  const negative = ints.findIndex((v) => v < 0);
  if (negative >= 0) throw new Error(`${what}: value ${ints[negative]} does not fit the model's u32 tensor`);
  return new Uint32Array(ints.buffer);
}

/**
 * loadStateDict for an already decoded file (`source` names it in errors): the browser build
 * fetches the bytes itself and decodes them with decodeSafetensors.
 */
export function applyStateDict(content: SafetensorsContent, source: string, module: Module): LoadedCheckpoint {
  const { tensors, metadata } = content;
  const path = source;
  const own = module.stateDict();
  const params = new Map(module.namedParameters());
  const state = new Map<string, TensorRecord>();
  const maskRecords = new Map<string, TensorRecord>();
  for (const [name, rec] of tensors) {
    const base = name.endsWith(MASK_SUFFIX) ? name.slice(0, -MASK_SUFFIX.length) : null;
    if (base !== null && params.has(base)) maskRecords.set(base, rec);
    else state.set(name, rec);
  }
  // As PyTorch's BatchNorm does, a file without num_batches_tracked (older or converted weights)
  // loads and the module keeps its own count.
  const keptCounters = [...own.keys()].filter((k) => !state.has(k) && k.endsWith('.num_batches_tracked'));
  const missing = [...own.keys()].filter((k) => !state.has(k) && !keptCounters.includes(k));
  const unexpected = [...state.keys()].filter((k) => !own.has(k));
  if (missing.length || unexpected.length)
    throw new Error(
      `${path}: does not match ${module.constructor.name}: ` +
        [missing.length ? `missing ${missing.join(', ')}` : '', unexpected.length ? `unexpected ${unexpected.join(', ')}` : '']
          .filter(Boolean)
          .join('; '),
    );

  // Convert and check everything on the host first, so a bad file leaves the module untouched.
  const host = new Map<string, Float32Array | Int32Array | Uint32Array>();
  for (const [name, dst] of own) {
    if (keptCounters.includes(name)) continue;
    const rec = state.get(name)!;
    const what = `${path}: '${name}'`;
    if (!sameShape(rec.shape, dst.shape))
      throw new Error(`${what} is ${rec.dtype} [${rec.shape.join(', ')}] but ${module.constructor.name} expects [${dst.shape.join(', ')}]`);
    const values = valuesFor(rec, dst.dtype, what);
    if (values instanceof Float32Array) expectFinite(values, what);
    host.set(name, values);
  }
  const maskValues = new Map<string, Float32Array>();
  for (const [name, rec] of maskRecords) {
    const what = `${path}: mask '${name}${MASK_SUFFIX}'`;
    const shape = params.get(name)!.shape;
    if (!sameShape(rec.shape, shape)) throw new Error(`${what} is [${rec.shape.join(', ')}], the parameter is [${shape.join(', ')}]`);
    const isFloat = rec.dtype === 'F32' || rec.dtype === 'F16' || rec.dtype === 'BF16' || rec.dtype === 'F64';
    const values = isFloat ? toFloat32(rec, what) : Float32Array.from(toInt32(rec, what));
    const bad = values.findIndex((v) => v !== 0 && v !== 1);
    if (bad >= 0) throw new Error(`${what} holds ${values[bad]} at ${bad}; masks must be 0 or 1`);
    maskValues.set(name, values);
  }

  scope(() => {
    const uploaded = new Map<string, Tensor>();
    for (const [name, dst] of own) if (host.has(name)) uploaded.set(name, Tensor.fromArray(host.get(name)!, dst.shape, dst.dtype));
    // Not strict only for the kept counters; every other key was checked above.
    module.loadStateDict(uploaded, { strict: keptCounters.length === 0 }); // GPU copies; the uploads are freed when the scope ends
  });
  const masks = new Map<string, Tensor>();
  for (const [name, values] of maskValues) masks.set(name, Tensor.fromArray(values, params.get(name)!.shape));
  return { masks, metadata };
}