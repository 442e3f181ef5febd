// The state of the epoch that scored best on a validation split, kept beside training so that the
// end of a stage can go back to it (pruning, §5 [C:harp]; ensemble training, §7 [X]). A checkpoint
// carries it: `current` for the state file, `save` and `load` for its tensors.

import { noGrad } from '../engine/autograd.js';
import { Tensor, type DType } from '../engine/tensor.js';
import { readSafetensors, tensorRecord, writeSafetensors, type SafetensorsContent, type SafetensorsDType, type TensorRecord } from '../io/safetensors.js';
import { clone } from '../ops/creation.js';

const RECORD_DTYPE = { f32: 'F32', i32: 'I32', u32: 'U32' } as const satisfies Record<DType, SafetensorsDType>;

/** A tensor's values from a record written from a tensor of the same dtype and size. */
function exactValues(rec: TensorRecord, t: Tensor, what: string): Float32Array | Int32Array | Uint32Array {
  const n = rec.shape.reduce((a, d) => a * d, 1);
  if (rec.dtype !== RECORD_DTYPE[t.dtype] || n !== t.size)
    throw new Error(`${what} is ${rec.dtype} with ${n} values, expected ${RECORD_DTYPE[t.dtype]} with ${t.size}`);
  const buf = rec.data.slice().buffer;
  return t.dtype === 'f32' ? new Float32Array(buf) : t.dtype === 'i32' ? new Int32Array(buf) : new Uint32Array(buf);
}

/** Named copies of tensors, to restore the best epoch's state later. */
class Snapshot {
  private constructor(private readonly copies: Map<string, [Tensor, Tensor]>) {}

  static of(state: Map<string, Tensor>): Snapshot {
    return new Snapshot(noGrad(() => new Map([...state].map(([k, t]): [string, [Tensor, Tensor]] => [k, [t, clone(t).keep()]]))));
  }

  /** The saved values of `state`'s tensors from a file written from records(); `path` names it in errors. */
  static fromFile(content: SafetensorsContent, path: string, state: Map<string, Tensor>): Snapshot {
    const unexpected = [...content.tensors.keys()].filter((k) => !state.has(k));
    if (unexpected.length) throw new Error(`${path}: unexpected ${unexpected.join(', ')}`);
    const values = new Map<string, Float32Array | Int32Array | Uint32Array>();
    for (const [k, t] of state) {
      const rec = content.tensors.get(k);
      if (!rec) throw new Error(`${path}: missing '${k}'`);
      values.set(k, exactValues(rec, t, `${path}: '${k}'`));
    }
    return new Snapshot(new Map([...state].map(([k, t]): [string, [Tensor, Tensor]] => [k, [t, Tensor.fromArray(values.get(k)!, t.shape, t.dtype).keep()]])));
  }

  async records(): Promise<[string, TensorRecord][]> {
    const out: [string, TensorRecord][] = [];
    for (const [k, [, copy]] of this.copies) out.push([k, tensorRecord(await copy.data(), copy.shape)]);
    return out;
  }

  /** Puts the saved values back and frees the copies. */
  restore(): void {
    for (const [t, copy] of this.copies.values()) t.assign(copy);
  }

  dispose(): void {
    for (const [, copy] of this.copies.values()) copy.dispose();
  }
}

/** Keeps the best-scoring epoch's state (a checkpoint carries it: current, save, load). */
export class BestEpoch {
  private best: { epoch: number; accuracy: number; snapshot: Snapshot } | null = null;

  /** ties: which of two epochs with the same accuracy to keep (pruning keeps the earlier, [C:harp]). */
  constructor(private readonly ties: 'earlier' | 'later' = 'earlier') {}

  consider(epoch: number, accuracy: number, state: () => Map<string, Tensor>): void {
    if (this.best && (accuracy < this.best.accuracy || (accuracy === this.best.accuracy && this.ties === 'earlier'))) return;
    this.best?.snapshot.dispose();
    this.best = { epoch, accuracy, snapshot: Snapshot.of(state()) };
  }

  /** Restores the best state (if any) and returns its epoch. */
  restore(): number | null {
    if (!this.best) return null;
    this.best.snapshot.restore();
    const epoch = this.best.epoch;
    this.best = null;
    return epoch;
  }

  /** The best so far without its state (which save() writes), for a checkpoint. */
  get current(): BestSoFar | null {
    return this.best && { epoch: this.best.epoch, accuracy: this.best.accuracy };
  }

  async save(path: string): Promise<void> {
    if (!this.best) throw new Error(`${path}: no best epoch to save`);
    await writeSafetensors(path, await this.best.snapshot.records(), { format: 'eed-best-epoch', epoch: String(this.best.epoch) });
  }

  /** Takes the best so far back from a checkpoint; `state` is the current stage's (stageState). */
  async load(path: string, saved: BestSoFar, state: Map<string, Tensor>): Promise<void> {
    const snapshot = Snapshot.fromFile(await readSafetensors(path), path, state);
    this.dispose();
    this.best = { ...saved, snapshot };
  }

  dispose(): void {
    this.best?.snapshot.dispose();
    this.best = null;
  }
}

export interface BestSoFar {
  epoch: number;
  accuracy: number;
}

/** The best so far as a checkpoint's state.json records it: null for none yet, undefined for anything else. */
export function readBestSoFar(v: unknown): BestSoFar | null | undefined {
  if (v === null) return null;
  const o = v as Partial<BestSoFar>;
  if (typeof v !== 'object' || !Number.isSafeInteger(o.epoch) || o.epoch! < 0 || typeof o.accuracy !== 'number' || !Number.isFinite(o.accuracy)) return undefined;
  return { epoch: o.epoch!, accuracy: o.accuracy };
}
