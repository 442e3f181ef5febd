// The loop shared by the evaluation attacks (APGD restarts and target classes, FAB and Square
// restarts) and by AutoAttack, as in the reference implementations: each stage runs only on the
// samples still classified correctly (at x, and by every earlier stage's output), and a sample
// keeps the first misclassified point a stage finds for it; samples never fooled keep x.

import { scopeAsync } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { clone } from '../ops/creation.js';
import type { Generator } from '../ops/random.js';
import { slice } from '../ops/shape.js';
import { bounds, checkAttackInputs, checkBatchSize } from './batching.js';
import { correctOnHost, type Classifier } from './classifier.js';
import { indicesWhere, replaceRows, selectRows } from './rowSubsets.js';

/**
 * One attack stage on a subset: candidate points for its samples (same shape as xs). A long stage
 * (Square's 5,000 queries) may save its own state through `inside` and resume from it.
 */
export type AttackStage = (xs: Tensor, ys: Tensor, inside?: StageCheckpoint) => Tensor | Promise<Tensor>;

/** A stage's own state part way through, on the samples it was given. */
export interface StageSnapshot {
  /** The stage's steps done (e.g. queries). */
  step: number;
  /** The stages' generator's position the stage resumes from (it redraws from there). */
  generatorPosition: number;
  /** Its per-sample state (borrowed at save time). */
  tensors: Record<string, Tensor>;
}

export interface StageCheckpoint {
  resumeFrom?: StageSnapshot;
  save: (snapshot: StageSnapshot) => Promise<void>;
}

export interface UntilFooledHooks {
  /** Checks a stage's successful candidates against their clean points (e.g. the ε budget). */
  validate?: (stage: number, candidates: Tensor, clean: Tensor) => Promise<void>;
  /**
   * Called after each stage with the robustness flags of every sample and the points found so far
   * (borrowed: read it before returning, do not keep it).
   */
  afterStage?: (stage: number, robust: readonly boolean[], xAdv: Tensor) => void | Promise<void>;
  /**
   * Continue a run whose stages before `stage` are done, from what afterStage reported after the
   * last of them (the tensor is copied). The result is the uninterrupted run's where the stages'
   * random numbers are where they were too (untilFooledInBatches restores its generator's position).
   */
  resumeFrom?: UntilFooledState;
  /** Samples per forward pass of the correctness checks (default: all at once). */
  batchSize?: number;
  /**
   * Saving inside a stage: `save` hears the stage, the flags and points it started from and the
   * stage's snapshot (all borrowed); `resumeFrom` is the snapshot the first stage run resumes from.
   */
  inside?: {
    resumeFrom?: StageSnapshot;
    save: (stage: number, robust: readonly boolean[], xAdv: Tensor, snapshot: StageSnapshot) => Promise<void>;
  };
}

export interface UntilFooledState {
  /** Stages already run. */
  stage: number;
  robust: readonly boolean[];
  xAdv: Tensor;
}

export interface UntilFooledResult {
  /** The first misclassified point found per sample; x where none was. */
  xAdv: Tensor;
  /** Per sample: correct at x and at every stage's candidate. */
  robust: boolean[];
}

export async function untilFooled(
  classifier: Classifier,
  x: Tensor,
  labels: Tensor,
  stages: readonly AttackStage[],
  hooks: UntilFooledHooks = {},
): Promise<UntilFooledResult> {
  const from = hooks.resumeFrom;
  if (from && (from.robust.length !== x.shape[0] || from.xAdv.shape.join() !== x.shape.join() || !(from.stage >= 0 && from.stage <= stages.length)))
    throw new Error(
      `untilFooled: resumeFrom holds ${from.robust.length} flags, points [${from.xAdv.shape.join(', ')}] after stage ${from.stage}; ` +
        `expected ${x.shape[0]} flags, points [${x.shape.join(', ')}] and a stage in 0..${stages.length}`,
    );
  const robust = from ? [...from.robust] : await correctOnHost(classifier, x, labels, hooks.batchSize);
  let xAdv = clone(from ? from.xAdv : x);
  const first = from?.stage ?? 0;
  for (let k = first; k < stages.length; k++) {
    const rows = indicesWhere(robust);
    if (rows.length) {
      const inside = hooks.inside;
      const stageCheckpoint: StageCheckpoint | undefined = inside && {
        resumeFrom: k === first ? inside.resumeFrom : undefined,
        save: (snapshot) => inside.save(k, robust, xAdv, snapshot),
      };
      const found = await scopeAsync(async () => {
        const xs = selectRows(x, rows);
        const ys = selectRows(labels, rows);
        const candidate = await stages[k](xs, ys, stageCheckpoint);
        const correct = await correctOnHost(classifier, candidate, ys, hooks.batchSize);
        const hit = indicesWhere(correct.map((right) => !right));
        const rowsAdv = selectRows(candidate, hit);
        if (hooks.validate && hit.length) await hooks.validate(k, rowsAdv, selectRows(xs, hit));
        return { hit, rowsAdv };
      });
      const next = replaceRows(
        xAdv,
        found.hit.map((j) => rows[j]),
        found.rowsAdv,
      );
      xAdv.dispose();
      found.rowsAdv.dispose();
      xAdv = next;
      for (const j of found.hit) robust[rows[j]] = false;
    }
    await hooks.afterStage?.(k, robust, xAdv);
  }
  return { xAdv, robust };
}

/**
 * Where an attack run by untilFooledInBatches stands after some of its work, so that it can resume
 * there: AutoAttack's APGD-T or FAB-T on a CPU adapter runs for hours, one target class for minutes.
 */
export interface BatchedAttackState {
  /** Batches finished. */
  batch: number;
  /** Stages finished in batch `batch` (0 at a batch boundary). */
  stage: number;
  /** Batch `batch`'s robustness flags after those stages (empty at a batch boundary without `inStage`). */
  robust: readonly boolean[];
  /**
   * The attack's output so far over all its input rows: finished batches' results, the current
   * batch's points after `stage` stages, the input elsewhere.
   */
  xAdv: Tensor;
  /** The stages' generator's position there (restored on resume: the same draws follow). */
  generatorPosition: number;
  /** Part way through stage `stage` itself, where that stage saves its own state. */
  inStage?: StageSnapshot;
}

/**
 * A saved state that does not fit the attack it is given to, found before any work: the caller
 * may drop the state and run the attack from its beginning.
 */
export class ResumeStateError extends Error {}

export interface BatchedAttackCheckpoint {
  /** Continue from this state (its tensor is copied, not kept). */
  resumeFrom?: BatchedAttackState;
  /**
   * Called after each stage but a batch's last, after each batch but the last, and where a stage
   * saves inside itself (tensors borrowed).
   */
  save: (state: BatchedAttackState) => Promise<void>;
}

/**
 * untilFooled over consecutive batches of at most `batchSize` samples (the attacks' memory follows
 * the batch, not the data set), optionally checkpointed after every stage. `generator` is the one
 * the stages draw from. Without a checkpoint this is inBatchesAsync around untilFooled; with one,
 * a resumed run returns what the uninterrupted run would.
 */
export async function untilFooledInBatches(
  classifier: Classifier,
  x: Tensor,
  labels: Tensor,
  stages: readonly AttackStage[],
  opts: { batchSize: number; what: string; generator: Generator; checkpoint?: BatchedAttackCheckpoint },
): Promise<Tensor> {
  const { batchSize, what, generator, checkpoint } = opts;
  checkAttackInputs(x, labels, what);
  checkBatchSize(batchSize, what);
  const n = x.shape[0];
  const batchBounds = bounds(n, batchSize);
  const batches = batchBounds.length;
  const from = checkpoint?.resumeFrom;
  if (from) {
    const rowsThere = Math.min(n, (from.batch + 1) * batchSize) - from.batch * batchSize;
    if (
      from.xAdv.shape.join() !== x.shape.join() ||
      !(Number.isInteger(from.batch) && from.batch >= 0 && from.batch < Math.max(1, batches)) ||
      !(Number.isInteger(from.stage) && from.stage >= 0 && from.stage < stages.length) ||
      from.robust.length !== (from.stage || from.inStage ? rowsThere : 0) ||
      !(Number.isSafeInteger(from.generatorPosition) && from.generatorPosition >= 0)
    )
      throw new ResumeStateError(
        `${what}: cannot resume from batch ${from.batch}, stage ${from.stage} with ${from.robust.length} flags and points ` +
          `[${from.xAdv.shape.join(', ')}]: expected points [${x.shape.join(', ')}], a batch in 0..${Math.max(1, batches) - 1}, ` +
          `a stage in 0..${stages.length - 1} and a flag per sample of that batch once a stage is done`,
      );
    generator.position = from.generatorPosition;
  }
  // With no stage there is nothing to save (and a state "between batches" would name none).
  const saving = stages.length ? checkpoint : undefined;
  let out = clone(from ? from.xAdv : x);
  let inner: UntilFooledState | undefined;
  try {
    for (let b = from?.batch ?? 0; b < batches; b++) {
      const [s, e] = batchBounds[b];
      const rows = Array.from({ length: e - s }, (_, i) => s + i);
      // A state inside this batch: its points so far written over the attack's output so far.
      const saveInBatch =
        saving &&
        (async (xAdvBatch: Tensor, at: Omit<BatchedAttackState, 'batch' | 'xAdv' | 'generatorPosition'>) => {
          const state = replaceRows(out, rows, xAdvBatch);
          try {
            await saving.save({ batch: b, ...at, xAdv: state, generatorPosition: generator.position });
          } finally {
            state.dispose();
          }
        });
      const resumeHere = from && b === from.batch;
      inner = resumeHere && (from.stage > 0 || from.inStage) ? { stage: from.stage, robust: from.robust, xAdv: slice(out, 0, s, e) } : undefined;
      const done = await scopeAsync(async () => {
        const whole = batches === 1;
        const xb = whole ? x : slice(x, 0, s, e);
        const yb = whole ? labels : slice(labels, 0, s, e);
        const result = await untilFooled(classifier, xb, yb, stages, {
          resumeFrom: inner,
          inside: saveInBatch && {
            resumeFrom: resumeHere ? from.inStage : undefined,
            save: (k, robust, xAdvBatch, snapshot) => saveInBatch(xAdvBatch, { stage: k, robust, inStage: snapshot }),
          },
          afterStage:
            saveInBatch &&
            (async (k, robust, xAdvBatch) => {
              if (k + 1 < stages.length) await saveInBatch(xAdvBatch, { stage: k + 1, robust });
            }),
        });
        return result.xAdv;
      });
      inner?.xAdv.dispose();
      inner = undefined;
      const next = replaceRows(out, rows, done);
      done.dispose();
      out.dispose();
      out = next;
      if (saving && b + 1 < batches) await saving.save({ batch: b + 1, stage: 0, robust: [], xAdv: out, generatorPosition: generator.position });
    }
  } catch (e) {
    out.dispose();
    inner?.xAdv.dispose();
    throw e;
  }
  return out;
}
