// Calibration of the DIE thresholds on the held-out split (algorithms.md §8: "calibrate both on
// the validation split to trade speed against PGD accuracy"; the paper's values are lost).
//
// The members' log-probabilities on the clean and the adversarial held-out images are computed
// once; every candidate setting is then replayed on the host with the same HaltingState that
// dynamicEnsemble uses, so a grid costs no extra forward passes.
//
// Rule [X]: among the candidates whose held-out robust accuracy is within `tolerance` of the
// static team's (all members, the accuracy DIE trades away), take the one that runs the fewest
// members on average over clean and adversarial inputs; ties go to the more conservative
// (smaller τ_U, larger τ_q) setting. If none qualifies, the most accurate candidate is taken.

import type { Classifier } from '../attacks/classifier.js';
import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { logSoftmax } from '../ops/loss.js';
import { HaltingState, resolveHaltingOptions, type HaltingOptions } from './haltingRule.js';

/** Default candidates: τ_U in nats (argmax and threshold rules) and τ_q (threshold rule). */
export const DIE_GRID = {
  instabilityThreshold: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
  haltThreshold: [0.25, 0.5, 0.75, 0.9],
} as const;

/** Each member's log-probabilities on x, host copies [n·C] in member order. */
export async function memberLogProbabilities(members: readonly Classifier[], x: Tensor): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const m of members) {
    const t = scope(() => noGrad(() => logSoftmax(m.logits(x), 1)));
    try {
      out.push((await t.data()) as Float32Array);
    } finally {
      t.dispose();
    }
  }
  return out;
}

export interface ReplayResult {
  accuracy: number;
  meanMembers: number;
}

/** DIE on precomputed log-probabilities: accuracy and mean members run. */
export function replayDie(logProbs: readonly Float32Array[], labels: ArrayLike<number>, numClasses: number, opts: HaltingOptions): ReplayResult {
  const resolved = resolveHaltingOptions(opts);
  const n = labels.length;
  let right = 0;
  let members = 0;
  for (let i = 0; i < n; i++) {
    const s = new HaltingState(numClasses, logProbs.length, resolved);
    for (let t = 0; t < logProbs.length; t++) if (s.step(logProbs[t].subarray(i * numClasses, (i + 1) * numClasses))) break;
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (s.prediction[k] > s.prediction[best]) best = k;
    if (best === labels[i]) right++;
    members += s.membersRun;
  }
  return { accuracy: n ? right / n : 0, meanMembers: n ? members / n : 0 };
}

/** Accuracy of the static team (every member, average or max combiner), from the same numbers. */
export function staticAccuracy(logProbs: readonly Float32Array[], labels: ArrayLike<number>, numClasses: number, combiner: 'average' | 'max'): number {
  // The halting rule never stops before the last member when τ_q is above every q_t < 1.
  return replayDie(logProbs, labels, numClasses, { dieRule: 'threshold', haltThreshold: Infinity, combiner }).accuracy;
}

export interface CalibrationPoint {
  instabilityThreshold: number;
  haltThreshold: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  /** Mean members run over the clean and the adversarial images. */
  meanMembers: number;
}

export interface DieCalibration {
  chosen: Required<HaltingOptions>;
  points: CalibrationPoint[];
  staticClean: number;
  staticRobust: number;
  tolerance: number;
  /** False when no candidate came within the tolerance (the most accurate one was taken). */
  withinTolerance: boolean;
}

export function calibrateDie(
  clean: readonly Float32Array[],
  adversarial: readonly Float32Array[],
  labels: ArrayLike<number>,
  numClasses: number,
  base: HaltingOptions,
  opts: { tolerance?: number; grid?: { instabilityThreshold: readonly number[]; haltThreshold: readonly number[] } } = {},
): DieCalibration {
  const tolerance = opts.tolerance ?? 0.005;
  const grid = opts.grid ?? DIE_GRID;
  const resolved = resolveHaltingOptions(base);
  const halts = resolved.dieRule === 'threshold' ? grid.haltThreshold : [resolved.haltThreshold];
  const points: CalibrationPoint[] = [];
  for (const tauU of grid.instabilityThreshold)
    for (const tauQ of halts) {
      const o = { ...resolved, instabilityThreshold: tauU, haltThreshold: tauQ };
      const c = replayDie(clean, labels, numClasses, o);
      const a = replayDie(adversarial, labels, numClasses, o);
      points.push({ instabilityThreshold: tauU, haltThreshold: tauQ, cleanAccuracy: c.accuracy, robustAccuracy: a.accuracy, meanMembers: (c.meanMembers + a.meanMembers) / 2 });
    }
  if (!points.length) throw new Error('calibrateDie: the grid is empty');
  const staticClean = staticAccuracy(clean, labels, numClasses, resolved.combiner);
  const staticRobust = staticAccuracy(adversarial, labels, numClasses, resolved.combiner);
  const conservative = (a: CalibrationPoint, b: CalibrationPoint) =>
    a.instabilityThreshold - b.instabilityThreshold || b.haltThreshold - a.haltThreshold;
  const qualifying = points.filter((p) => p.robustAccuracy >= staticRobust - tolerance - 1e-12);
  const best = qualifying.length
    ? [...qualifying].sort((a, b) => a.meanMembers - b.meanMembers || conservative(a, b))[0]
    : [...points].sort((a, b) => b.robustAccuracy - a.robustAccuracy || conservative(a, b))[0];
  return {
    chosen: { ...resolved, instabilityThreshold: best.instabilityThreshold, haltThreshold: best.haltThreshold },
    points,
    staticClean,
    staticRobust,
    tolerance,
    withinTolerance: qualifying.length > 0,
  };
}
