// The four importance scores of algorithms.md §4 behind one interface, and the per-layer
// normalisation of §4.5. Every score is one value per weight (unstructured), for every prunable
// layer (prunable.ts), computed on the host in float64 and uploaded as a tensor of the weight's
// shape.
//   NIS  (§4.1) nis.ts: NISP backward propagation from the FRL (Inf-FS or uniform)
//   ERM  (§4.2) η·w/max|w|, η = sqrt(6/fan_in), signed as the reference code stores it
//   ASE  (§4.3) ase.ts: |½·w ⊙ (H·w)| per layer from exact HVPs on PGD examples
//   BNSF (§4.4) |γ_j|·|w|/sqrt(running_var_j + ε) with the following BN; |w| without one

import { Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { aseScores, type AseOptions } from './ase.js';
import { nisScores, type LabelledBatch, type NisOptions } from './nis.js';
import { prunableLayers, type PrunableLayer } from './prunable.js';

export const IMPORTANCE_SCORES = ['nis', 'erm', 'ase', 'bnsf'] as const;
export type ImportanceScore = (typeof IMPORTANCE_SCORES)[number];

export interface ScoreOptions {
  nis?: NisOptions;
  ase?: AseOptions;
}

/** η = sqrt(6/fan_in) of HYDRA's scaled initialisation [C:hydra/harp initialize_scaled_score]. */
export function scaleOf(layer: PrunableLayer): number {
  return Math.sqrt(6 / layer.fanIn);
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/** ERM (9): η·w/max|w| (signed; the mask uses |S|). */
export async function ermScores(model: Module): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const l of prunableLayers(model)) {
    const w = Float64Array.from(await l.weight.data());
    const m = maxAbs(w);
    const eta = scaleOf(l);
    out.set(l.name, w.map((v) => (m > 0 ? (eta * v) / m : 0)));
  }
  return out;
}

/** BNSF (11), with the σ² typo read as BN's sqrt(var + ε) (§4.4). */
export async function bnsfScores(model: Module): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const l of prunableLayers(model)) {
    const w = Float64Array.from(await l.weight.data());
    const bn = l.followingBn;
    if (!bn) {
      out.set(l.name, w.map(Math.abs));
      continue;
    }
    const gamma = await bn.weight.data();
    const variance = await bn.runningVar.data();
    const perChannel = w.length / gamma.length;
    out.set(
      l.name,
      w.map((v, i) => {
        const j = Math.floor(i / perChannel);
        return (Math.abs(gamma[j]) * Math.abs(v)) / Math.sqrt(variance[j] + bn.eps);
      }),
    );
  }
  return out;
}

/** Raw scores of one metric (host, float64) by prunable layer name. */
export async function hostImportanceScores(
  metric: ImportanceScore,
  model: Module,
  batches: readonly LabelledBatch[],
  opts: ScoreOptions = {},
): Promise<Map<string, Float64Array>> {
  switch (metric) {
    case 'nis':
      return nisScores(model, batches, opts.nis);
    case 'erm':
      return ermScores(model);
    case 'ase':
      return aseScores(model, batches, opts.ase);
    case 'bnsf':
      return bnsfScores(model);
  }
}

/**
 * §4.5 [X]: I0 = η_l·I/max|I| per layer, mapping every metric to ERM's scale (ERM is unchanged).
 * Rankings inside a layer are kept; a layer scored all zero stays zero.
 */
export function normaliseScores(model: Module, raw: Map<string, Float64Array>): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const l of prunableLayers(model)) {
    const s = raw.get(l.name);
    if (!s) throw new Error(`normaliseScores: no score for layer '${l.name}'`);
    const m = maxAbs(s);
    const eta = scaleOf(l);
    out.set(l.name, s.map((v) => (m > 0 ? (eta * v) / m : 0)));
  }
  return out;
}

/** Host scores as GPU tensors of each weight's shape (owned by the caller). */
export function uploadScores(model: Module, scores: Map<string, Float64Array>): Map<string, Tensor> {
  return new Map(
    prunableLayers(model).map((l) => {
      const s = scores.get(l.name);
      if (!s) throw new Error(`uploadScores: no score for layer '${l.name}'`);
      return [l.name, Tensor.fromArray(Float32Array.from(s), l.weight.shape)];
    }),
  );
}

/**
 * The interface the pruning stage uses: model + data → normalised initial scores (§4 then §4.5),
 * one tensor of the weight's shape per prunable layer name.
 */
export async function initialScores(
  metric: ImportanceScore,
  model: Module,
  batches: readonly LabelledBatch[],
  opts: ScoreOptions = {},
): Promise<Map<string, Tensor>> {
  return uploadScores(model, normaliseScores(model, await hostImportanceScores(metric, model, batches, opts)));
}
