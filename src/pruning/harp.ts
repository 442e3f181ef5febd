// HARP learnable masks (algorithms.md §5, [C:intellisec/harp models/layers.py, utils/hw.py]).
//
// Per prunable layer l: a score tensor S (the weight's shape) and a scalar rate logit r.
//   keep-rate (24)   k = sigmoid(r)·(1 − k_min) + k_min
//   mask (23)        n = numel, j = floor((1 − k)·n): the j entries with the smallest |S| get 0,
//                    the others 1.
//   straight-through ∂L/∂S = ∂L/∂M ⊙ sign(S),  ∂L/∂k = Σ ∂L/∂M,  ∂L/∂M = ∂L/∂w_eff ⊙ w
//   compression (25) L_p = max(0, Σ_l n_l·k_l / (a_t·Σ_l n_l) − 1), weighted by φ_e = (e+1)·φ.
//
// The selection runs on the host in float64: |S| and r are read back once per step
// (`selectKeptMask`), which makes the count exact and the tie breaking deterministic. [X] The
// spec leaves ties arbitrary; here equal |S| are pruned in flat-index order (the lower index goes
// first), so the same scores always give the same mask. A GPU radix select can replace this later
// without changing the contract tested in test/pruning/harp.test.ts.

import { attach } from '../engine/autograd.js';
import type { Tensor } from '../engine/tensor.js';
import { add, affine, exp, mul, neg, reciprocal, relu, sign } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';

/** k_min = α_min·a_t (0.1·0.05 = 0.005 in EED): no layer can be pruned away completely. */
export function minimumKeepRate(target: number, alphaMin = 0.1): number {
  return alphaMin * target;
}

/** (24) on the host, in float64. */
export function keepRateOf(rateLogit: number, kMin: number): number {
  return (1 / (1 + Math.exp(-rateLogit))) * (1 - kMin) + kMin;
}

/** The rate logit of keep rate k (keepRateOf's inverse); at or below k_min a logit whose sigmoid is far below one weight. */
export function rateLogitOf(keepRate: number, kMin: number): number {
  const p = (keepRate - kMin) / (1 - kMin);
  return p <= 1e-30 ? -70 : p >= 1 ? 70 : Math.log(p / (1 - p));
}

/** (24) on the GPU, differentiable in the logit r (any shape; [1] for a layer). */
export function keepRate(rateLogit: Tensor, kMin: number): Tensor {
  const sigmoid = reciprocal(affine(exp(neg(rateLogit)), 1, 1));
  return affine(sigmoid, 1 - kMin, kMin);
}

/**
 * The uniform rate initialisation at the target ([X] default, HARP "uni"):
 * r = logit(clip((a_t − k_min)/(1 − k_min), −0.99, 0.99)).
 */
export function uniformRateLogit(target: number, kMin: number): number {
  const p = Math.min(0.99, Math.max(-0.99, (target - kMin) / (1 - kMin)));
  return Math.log(p / (1 - p));
}

/**
 * How many weights of a layer of n the mask prunes at keep-rate k: floor((1 − k)·n), with
 * (1 − k)·n snapped to the nearest integer when it is one up to float rounding: 1 − 0.9 is
 * 0.09999999999999998 in doubles, and a 280-weight layer at keep-rate 0.9 kept 253 weights
 * instead of 252 (found by a property test).
 */
export function prunedCount(n: number, keepRate: number): number {
  const x = (1 - keepRate) * n;
  const nearest = Math.round(x);
  const count = Math.abs(x - nearest) <= 1e-9 * Math.max(1, n) ? nearest : Math.floor(x);
  return Math.min(n, Math.max(0, count));
}

/**
 * (23) on the host: 1 for kept entries, 0 for the floor((1 − k)·n) entries with the smallest |S|
 * (ties pruned in flat-index order).
 */
export function selectKeptMask(scores: ArrayLike<number>, keepRate: number): Float32Array {
  const n = scores.length;
  const j = prunedCount(n, keepRate);
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => Math.abs(scores[a]) - Math.abs(scores[b]) || a - b);
  const mask = new Float32Array(n).fill(1);
  for (let i = 0; i < j; i++) mask[order[i]] = 0;
  return mask;
}

/**
 * The mask as an autograd op of (S, k): its value is `maskValues` (which the caller computed from
 * the current S and k with selectKeptMask and uploaded once) and its backward is HARP's
 * straight-through estimator, gS = gM ⊙ sign(S) and gk = Σ gM. The discrete selection itself has
 * no gradient; this op defines the one used for training. The output is a view of maskValues, so
 * the many forwards of an attack share one upload.
 */
export function straightThroughMask(scores: Tensor, keep: Tensor, maskValues: Tensor): Tensor {
  if (maskValues.size !== scores.size)
    throw new Error(`straightThroughMask: ${maskValues.size} mask values for ${scores.size} scores`);
  return attach(maskValues.view(scores.shape), 'harpMask', [scores, keep], (gM, needs) => [
    needs[0] ? mul(gM, sign(scores)) : null,
    needs[1] ? reshape(sum(gM), keep.shape) : null,
  ]);
}

/**
 * (25): max(0, Σ_l n_l·k_l / (a_t·Σ_l n_l) − 1), differentiable in every k_l (scalars of any
 * one-element shape).
 */
export function compressionLoss(keepRates: readonly Tensor[], layerSizes: readonly number[], target: number): Tensor {
  if (keepRates.length !== layerSizes.length || !keepRates.length)
    throw new Error(`compressionLoss: ${keepRates.length} keep-rates for ${layerSizes.length} layers`);
  const total = layerSizes.reduce((a, b) => a + b, 0);
  let expectedKept: Tensor | null = null;
  keepRates.forEach((k, l) => {
    const term = mul(reshape(k, [1]), layerSizes[l]);
    expectedKept = expectedKept ? add(expectedKept, term) : term;
  });
  return relu(affine(reshape(expectedKept!, []), 1 / (target * total), -1));
}

/** φ_e = (e+1)·φ, e counted from 0 [C:harp utils/hw.py]. */
export function compressionWeight(phi: number, epoch: number): number {
  return (epoch + 1) * phi;
}
