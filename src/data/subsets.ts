// EED's data subsets (algorithms.md §1 and §10.1).
//   1. A held-out split (default 1,000 samples) is taken out first: robust-diversity team selection,
//      checkpoint selection and DIE calibration run on it, so no sub-model trains on it (§6).
//   2. For each importance metric a new permutation of the remaining indices (the pool) is drawn
//      ("reshuffled whenever the metric changes") and split into d near-equal chunks C0..C(d−1).
//   3. C0 is shared: sub-model s (s = 1..d−1) of the metric prunes and fine-tunes on C0 ∪ Cs,
//      i.e. 2/d of the pool. d = 4 gives 3 sub-models per metric, 12 in all; d = 1 gives one
//      sub-model per metric on the whole pool.
// When the pool size is not a multiple of d the chunk sizes differ by one (the first chunks are
// larger), so every pool index belongs to exactly one chunk of every metric.
// Everything is host-side and a pure function of (trainSize, heldOut, d, metrics, seed).

import { HostRandom, streamOf } from './hostRandom.js';

export const IMPORTANCE_METRICS = ['NIS', 'ERM', 'ASE', 'BNSF'] as const;

export interface SubsetOptions {
  /** Training samples; indices are 0..trainSize−1. */
  trainSize: number;
  seed: number;
  /** Number of chunks d (default 4). */
  chunks?: number;
  /** Samples held out before chunking (default 1,000). */
  heldOut?: number;
  /** Metric names; each draws its own permutation (default NIS, ERM, ASE, BNSF). */
  metrics?: readonly string[];
}

export interface MetricSubsets {
  metric: string;
  /** The pool in this metric's random order. */
  permutation: Int32Array;
  /** d consecutive pieces of `permutation`; chunks[0] is the shared one. */
  chunks: Int32Array[];
  /** Training indices of each sub-model (C0 ∪ Cs for s = 1..d−1; the whole pool when d = 1), sorted. */
  subModels: Int32Array[];
}

export interface EedSubsets {
  /** Held-out indices, sorted. */
  heldOut: Int32Array;
  /** Training indices that are not held out, sorted. */
  pool: Int32Array;
  metrics: MetricSubsets[];
}

/** Stream reserved for the held-out draw (metric streams are name hashes; a clash is harmless but unlikely). */
const HELD_OUT_STREAM = 0x5eed0001;

function sorted(a: Int32Array): Int32Array {
  return a.slice().sort();
}

/** Sizes of d near-equal chunks of n (the first n mod d chunks hold one more). */
export function chunkSizes(n: number, d: number): number[] {
  const base = Math.floor(n / d);
  return Array.from({ length: d }, (_, k) => base + (k < n % d ? 1 : 0));
}

export function eedSubsets(opts: SubsetOptions): EedSubsets {
  const d = opts.chunks ?? 4;
  const heldOutCount = opts.heldOut ?? 1000;
  const metrics = opts.metrics ?? IMPORTANCE_METRICS;
  const n = opts.trainSize;
  if (!Number.isInteger(n) || n < 1 || n >= 2 ** 31) throw new Error(`eedSubsets: invalid trainSize ${n}`);
  if (!Number.isInteger(d) || d < 1) throw new Error(`eedSubsets: the chunk count d must be a positive integer, got ${d}`);
  if (!Number.isInteger(heldOutCount) || heldOutCount < 0 || n - heldOutCount < d)
    throw new Error(`eedSubsets: holding out ${heldOutCount} of ${n} samples leaves fewer than d = ${d} for the chunks`);
  if (!metrics.length) throw new Error('eedSubsets: no metrics');
  if (new Set(metrics).size !== metrics.length) throw new Error(`eedSubsets: duplicate metric names in ${metrics.join(', ')}`);

  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  new HostRandom(opts.seed, HELD_OUT_STREAM).shuffle(all);
  const heldOut = sorted(all.subarray(0, heldOutCount));
  const pool = sorted(all.subarray(heldOutCount));
  const sizes = chunkSizes(pool.length, d);

  const perMetric = metrics.map((metric): MetricSubsets => {
    const permutation = new HostRandom(opts.seed, streamOf(metric)).shuffle(pool.slice());
    const chunks: Int32Array[] = [];
    let at = 0;
    for (const size of sizes) {
      chunks.push(permutation.slice(at, at + size));
      at += size;
    }
    const subModels =
      d === 1
        ? [sorted(chunks[0])]
        : chunks.slice(1).map((own) => {
            const union = new Int32Array(chunks[0].length + own.length);
            union.set(chunks[0]);
            union.set(own, chunks[0].length);
            return union.sort();
          });
    return { metric, permutation, chunks, subModels };
  });
  return { heldOut, pool, metrics: perMetric };
}

export interface PoolMember {
  /** Position in the pool F_0..F_{N−1} (metric-major). */
  index: number;
  metric: string;
  /** Sub-model number within the metric (1..d−1; 0 when d = 1). */
  subModel: number;
  indices: Int32Array;
}

/** The pool's sub-models in order F_0..F_{N−1}: metric by metric, sub-model by sub-model. */
export function poolMembers(subsets: EedSubsets): PoolMember[] {
  const out: PoolMember[] = [];
  for (const m of subsets.metrics)
    m.subModels.forEach((indices, k) =>
      out.push({ index: out.length, metric: m.metric, subModel: m.chunks.length === 1 ? 0 : k + 1, indices }),
    );
  return out;
}
