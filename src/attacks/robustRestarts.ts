// The loop shared by the evaluation attacks (APGD restarts and target classes, FAB and Square
// restarts) and by AutoAttack, as in the reference implementations: each stage runs only on the
// samples still classified correctly (at x, and by every earlier stage's output), and a sample
// keeps the first misclassified point a stage finds for it; samples never fooled keep x.

import { scopeAsync } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { clone } from '../ops/creation.js';
import { correctOnHost, type Classifier } from './classifier.js';
import { indicesWhere, replaceRows, selectRows } from './rowSubsets.js';

/** One attack stage on a subset: candidate points for its samples (same shape as xs). */
export type AttackStage = (xs: Tensor, ys: Tensor) => Tensor | Promise<Tensor>;

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
   * last of them (the tensor is copied). Stages draw no shared randomness, so the result is the
   * uninterrupted run's.
   */
  resumeFrom?: UntilFooledState;
  /** Samples per forward pass of the correctness checks (default: all at once). */
  batchSize?: number;
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
  for (let k = from?.stage ?? 0; k < stages.length; k++) {
    const rows = indicesWhere(robust);
    if (rows.length) {
      const found = await scopeAsync(async () => {
        const xs = selectRows(x, rows);
        const ys = selectRows(labels, rows);
        const candidate = await stages[k](xs, ys);
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
