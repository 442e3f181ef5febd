// Checkpoints inside an epoch (a PGD-training epoch runs for an hour or more on a CPU adapter). A
// partial checkpoint records the generator position the epoch's shuffled orders were drawn from,
// so a resumed run redraws exactly those orders and then continues from the saved position.

import { epochOrder } from '../data/batches.js';
import type { Generator } from '../ops/random.js';

/** Where a mid-epoch checkpoint left off (the trainers add their running sums). */
export interface PartialEpoch {
  /** Steps of the epoch already taken. */
  step: number;
  /** Seconds the epoch had run when the checkpoint was taken. */
  seconds: number;
  /** Generator position the epoch's orders were drawn from. */
  orderPosition: number;
}

/**
 * Draws `count` shuffled orders of `size` rows for an epoch from `gen`; when resuming a partial
 * epoch, redraws that epoch's orders and leaves `gen` where the checkpoint left it.
 */
export async function drawEpochOrders(
  gen: Generator,
  size: number,
  count: number,
  resumeAt?: PartialEpoch,
): Promise<{ orders: Int32Array[]; orderPosition: number }> {
  const resumePosition = gen.position;
  if (resumeAt) gen.position = resumeAt.orderPosition;
  const orderPosition = gen.position;
  const orders: Int32Array[] = [];
  for (let i = 0; i < count; i++) orders.push(await epochOrder(size, gen));
  if (resumeAt) gen.position = resumePosition;
  return { orders, orderPosition };
}

/** Thrown when a run stops early on request; the last committed epoch is intact. */
export class TrainingInterrupted extends Error {
  constructor(
    readonly completedEpochs: number,
    readonly stepsIntoNext = 0,
  ) {
    super(
      `interrupted; ${completedEpochs} epoch(s)${stepsIntoNext ? ` and ${stepsIntoNext} step(s) of the next` : ''} are saved, rerun the same command to resume`,
    );
    this.name = 'TrainingInterrupted';
  }
}

/**
 * The training loops' stop check before step `step` of an epoch that started (or resumed) at
 * `first`: when the signal is set, commits the steps taken since `first` as a partial epoch (when
 * mid-epoch checkpoints are on and `commit` does not decline with false), then throws
 * TrainingInterrupted saying how far the saved state reaches.
 */
export async function stopIfAborted(
  signal: { aborted: boolean } | undefined,
  o: { clock: CheckpointClock; completedEpochs: number; step: number; first: number; commit: (step: number) => Promise<unknown> },
): Promise<void> {
  if (!signal?.aborted) return;
  const saved = o.clock.enabled && o.step > o.first && (await o.commit(o.step)) !== false;
  throw new TrainingInterrupted(o.completedEpochs, saved ? o.step : o.first);
}

/** Says when a mid-epoch checkpoint is due: every `seconds` (0: every step), never when unset. */
export class CheckpointClock {
  private last = performance.now();

  constructor(private readonly seconds: number | undefined) {}

  get enabled(): boolean {
    return this.seconds !== undefined;
  }

  due(): boolean {
    return this.seconds !== undefined && performance.now() - this.last >= this.seconds * 1000;
  }

  reset(): void {
    this.last = performance.now();
  }
}
