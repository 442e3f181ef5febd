// A float64 host reference of the §8 DIE rule for one sample, written straight from the spec
// (softmax of each member's logits, eqs. 20 and 29–31, the surv/best loop) and independent of
// haltingRule.ts. It also reports how close each decision came to flipping, so that comparisons
// with the f32 GPU path can skip samples sitting on a threshold.

import type { DieCombiner, DieRule } from '../../src/ensemble/haltingRule.js';

export interface ReferenceOptions {
  dieRule: DieRule;
  dieSoft: boolean;
  tauU: number;
  tauQ: number;
  combiner: DieCombiner;
}

export interface ReferenceResult {
  membersUsed: number;
  predictionSize: number;
  probabilities: number[];
  /** Smallest distance of a compared quantity to the value that would flip its comparison. */
  margin: number;
}

export function softmax64(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function combine(probs: number[][], combiner: DieCombiner): number[] {
  const c = probs[0].length;
  if (combiner === 'average') return Array.from({ length: c }, (_, k) => probs.reduce((s, p) => s + p[k], 0) / probs.length);
  const mx = Array.from({ length: c }, (_, k) => Math.max(...probs.map((p) => p[k])));
  const s = mx.reduce((a, b) => a + b, 0);
  return mx.map((v) => v / s);
}

/** memberLogits[t] = logits of member t + 1 for this sample. */
export function referenceDie(memberLogits: readonly (readonly number[])[], o: ReferenceOptions): ReferenceResult {
  const T = memberLogits.length;
  const probs = memberLogits.map(softmax64);
  let margin = Infinity;
  let surv = 1;
  let best = -1;
  let zx = T;
  let prev: number[] = [];
  for (let t = 1; t <= T; t++) {
    const ens = combine(probs.slice(0, t), o.combiner);
    const u = t === 1 ? 0 : ens.reduce((s, p, k) => s + (p > 0 ? p * Math.log(p / prev[k]) : 0), 0);
    const conf = Math.max(...ens) ** 2;
    let q: number;
    if (t === T) q = 1;
    else if (o.dieSoft) q = conf * Math.exp(-u / o.tauU);
    else {
      if (t > 1) margin = Math.min(margin, Math.abs(u - o.tauU));
      q = u <= o.tauU ? conf : 0;
    }
    prev = ens;
    if (o.dieRule === 'threshold') {
      if (t < T) margin = Math.min(margin, Math.abs(q - o.tauQ));
      if (q >= o.tauQ || t === T) return { membersUsed: t, predictionSize: t, probabilities: ens, margin };
      continue;
    }
    const p = q * surv;
    margin = Math.min(margin, Math.abs(p - best));
    if (p > best) {
      best = p;
      zx = t;
    }
    surv *= 1 - q;
    if (t < T) margin = Math.min(margin, Math.abs(surv - best));
    if (surv <= best || t === T)
      return { membersUsed: t, predictionSize: zx, probabilities: combine(probs.slice(0, zx), o.combiner), margin };
  }
  throw new Error('unreachable: the last member always stops');
}
