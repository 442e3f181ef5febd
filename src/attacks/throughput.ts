// Clean inference speed, measured wall-clock. EED's speed-ups (sparse sub-models, DIE against the
// static team) are reported from these measurements, never from counted FLOPs: a sparse kernel or
// a halted sample saves only what the hardware actually saves, and the read-backs DIE needs cost
// time that no FLOP count shows.
//
// The callback predicts one batch and must not return before the work is done (read the result
// back, or await runtime().sync(), or pass `sync`): GPU submissions return immediately, so timing
// an unsynchronised call would time the encoder, not the kernels. Warm-up calls compile pipelines
// and fill the buffer pool; the median of the timed repeats resists one-off stalls of a shared CPU.

import { noGrad } from '../engine/autograd.js';
import { runtime } from '../engine/engine.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import type { Classifier } from './classifier.js';

export interface ThroughputOptions {
  /** Images one call of the callback predicts (for images/s). */
  images: number;
  /** Untimed calls first (default 1). */
  warmup?: number;
  /** Timed calls (default 5); the median is reported. */
  repeats?: number;
  /** Awaited after every call inside the timed region, e.g. () => runtime().sync(). */
  sync?: () => Promise<void>;
  /** Clock in milliseconds (default performance.now; tests pass a fake one). */
  now?: () => number;
}

export interface ThroughputResult {
  images: number;
  warmup: number;
  repeats: number;
  /** Seconds of each timed call, in call order. */
  seconds: number[];
  /** Median seconds per call: the latency of one batch. */
  medianSeconds: number;
  /** images / medianSeconds. */
  imagesPerSecond: number;
  /** medianSeconds / images, in milliseconds. */
  msPerImage: number;
  /** Results of one measureThroughputInterleaved call share this: their `seconds` pair up by round. */
  interleaving?: number;
}

export function median(values: readonly number[]): number {
  if (!values.length) throw new Error('median: no values');
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Times `predictBatch`: `warmup` untimed calls, then `repeats` timed ones; reports the median. */
export async function measureThroughput(predictBatch: () => unknown, opts: ThroughputOptions): Promise<ThroughputResult> {
  const { warmup, repeats, now } = resolved(opts);
  const call = async () => {
    await predictBatch();
    if (opts.sync) await opts.sync();
  };
  for (let i = 0; i < warmup; i++) await call();
  const seconds: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = now();
    await call();
    seconds.push((now() - t0) / 1000);
  }
  return throughputResult(opts.images, warmup, seconds);
}

function resolved(opts: ThroughputOptions): { warmup: number; repeats: number; now: () => number } {
  const warmup = opts.warmup ?? 1;
  const repeats = opts.repeats ?? 5;
  if (!(Number.isInteger(opts.images) && opts.images >= 1)) throw new Error(`measureThroughput: images must be a positive integer, got ${opts.images}`);
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new Error(`measureThroughput: warmup must be a non-negative integer, got ${warmup}`);
  if (!(Number.isInteger(repeats) && repeats >= 1)) throw new Error(`measureThroughput: repeats must be a positive integer, got ${repeats}`);
  return { warmup, repeats, now: opts.now ?? (() => performance.now()) };
}

function throughputResult(images: number, warmup: number, seconds: number[]): ThroughputResult {
  const medianSeconds = median(seconds);
  // A call faster than the clock's resolution measures 0 s; report it as unmeasurably fast
  // rather than dividing by zero.
  const perCall = Math.max(medianSeconds, Number.MIN_VALUE);
  return {
    images,
    warmup,
    repeats: seconds.length,
    seconds,
    medianSeconds,
    imagesPerSecond: images / perCall,
    msPerImage: (medianSeconds / images) * 1000,
  };
}

let interleavings = 0;

/**
 * measureThroughput for several callbacks at once, timed in turn within each repetition (after
 * `warmup` untimed calls of each), so that a change in the machine's load during the measurement
 * falls on all of them alike and their ratios (speed-ups) stay fair. Round r starts at callback
 * r mod K, so a cost that falls on whichever call comes first in a round (after the previous
 * round's last one) does not always fall on the same one. Results in input order; speedUp pairs
 * their times round by round.
 */
export async function measureThroughputInterleaved(predicts: readonly (() => unknown)[], opts: ThroughputOptions): Promise<ThroughputResult[]> {
  const { warmup, repeats, now } = resolved(opts);
  const calls = predicts.map((p) => async () => {
    await p();
    if (opts.sync) await opts.sync();
  });
  for (const call of calls) for (let i = 0; i < warmup; i++) await call();
  const seconds = calls.map((): number[] => new Array<number>(repeats));
  for (let r = 0; r < repeats; r++)
    for (let j = 0; j < calls.length; j++) {
      const k = (r + j) % calls.length;
      const t0 = now();
      await calls[k]();
      seconds[k][r] = (now() - t0) / 1000;
    }
  const id = ++interleavings;
  return seconds.map((s) => ({ ...throughputResult(opts.images, warmup, s), interleaving: id }));
}

/** A classifier's forward pass on x (no gradient), synchronised with the device: measureThroughput's callback. */
export function classifierPredictor(classifier: Classifier, x: Tensor): () => Promise<void> {
  return async () => {
    scope(() => void noGrad(() => classifier.logits(x)));
    await runtime().sync();
  };
}

/**
 * Wall-clock speed-up of `candidate` over `baseline` (> 1: faster), per image, so batches of
 * different sizes compare fairly. Timed in the same interleaved rounds, it is the median of the
 * rounds' own ratios (a load change between rounds then cancels); otherwise the ratio of medians.
 */
export function speedUp(baseline: ThroughputResult, candidate: ThroughputResult): number {
  const paired = baseline.interleaving !== undefined && baseline.interleaving === candidate.interleaving && baseline.seconds.length === candidate.seconds.length;
  if (!paired) return baseline.msPerImage / candidate.msPerImage;
  const perImage = (t: number, images: number) => Math.max(t, Number.MIN_VALUE) / images;
  return median(baseline.seconds.map((t, r) => perImage(t, baseline.images) / perImage(candidate.seconds[r], candidate.images)));
}
