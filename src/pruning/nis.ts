// NIS, NISP importance (algorithms.md §4.1, eqs. 7–8): channel/neuron scores propagated backwards
// from the final response layer as absolute values, I^(i) = |w^(i+1)|ᵀ·I^(i+1), then one score per
// weight, I_NIS(w_{j,k,u,v}) = |w_{j,k,u,v}|·s_out[j] [X].
//
// Propagation rules (host, float64):
//   Linear      s_x[k] = Σ_j |W_jk|·s_y[j]
//   Conv2d      s_x[k] = Σ_j (Σ_{u,v} |W_jkuv|)·s_y[j]   (spatial multiplicity ignored)
//   BatchNorm2d s_in[c] = |γ_c|/sqrt(var_c + ε)·s_out[c]  [X] (BN folded as a linear map)
//   ReLU, pooling, flatten of C×1×1, identity: unchanged
//   flatten of C×H×W (SmallCNN's classifier reads its 7×7 map) [X, ours]: channel c gets the sum of
//               its H·W neurons' scores, as the conv rule sums a filter over its positions
//   residual    both branches get the block output's score; the block input, feeding both the
//               conv path and the shortcut, gets the sum
// and every score vector is rescaled to max 1 after each layer (all maps are positive-linear,
// so rankings are unchanged; this only avoids overflow).
//
// The data flow is read from the model's structure: Sequential in order, and the known models of
// src/nn/models (SmallCNN, ResNet18 with BasicBlock, VGG16Net). A module with parameters that is
// none of these is refused rather than guessed at.
//
// FRL (the input of the final linear layer): the logits get uniform importance, so the final
// layer's weight score is |w_cj|; the FRL score is Inf-FS of the FRL responses on clean data
// (infFs.ts), or with nisFrl = 'uniform' simply |W_last|ᵀ·1.

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { BatchNorm2d, Conv2d, Linear, Sequential } from '../nn/layers.js';
import { BasicBlock, ResNet18 } from '../nn/models/resnet.js';
import { SmallCNN } from '../nn/models/smallCnn.js';
import { VGG16Net } from '../nn/models/vgg.js';
import type { Module } from '../nn/module.js';
import { clone } from '../ops/creation.js';
import { inEvalMode } from '../attacks/classifier.js';
import { infFsImportance } from './infFs.js';
import { prunableLayers } from './prunable.js';

export type NisFrl = 'inffs' | 'uniform';

export interface NisOptions {
  /** FRL importance: Inf-FS (default) or the uniform fallback. */
  frl?: NisFrl;
  /** Most clean samples whose FRL responses feed Inf-FS (default 5,000). */
  maxFrlSamples?: number;
}

export interface LabelledBatch {
  x: Tensor;
  y: Tensor;
}

function rescaledToMaxOne(s: Float64Array): Float64Array {
  let m = 0;
  for (const v of s) m = Math.max(m, v);
  return m > 0 ? s.map((v) => v / m) : s;
}

/** A propagation step must receive one score per output unit; a mismatch means a data-flow rule is missing. */
function expectScores(m: Module, sOut: Float64Array, units: number): void {
  if (sOut.length !== units)
    throw new Error(`NIS: ${m.label} has ${units} outputs but received ${sOut.length} scores (a flatten or reshape without a propagation rule?)`);
}

/** Scores of a flattened C×H×W map's neurons (channel-major) summed per channel, rescaled to max 1. */
function channelSums(s: Float64Array, channels: number, label: string): Float64Array {
  if (s.length % channels !== 0) throw new Error(`NIS: ${label} flattens ${channels} channels but its classifier reads ${s.length} features`);
  const per = s.length / channels;
  const out = new Float64Array(channels);
  for (let i = 0; i < s.length; i++) out[Math.floor(i / per)] += s[i];
  return rescaledToMaxOne(out);
}

/** Host copies of what the propagation reads: weights, BN γ and running variances. */
class HostParams {
  private readonly cache = new Map<Tensor, Float64Array>();

  async load(model: Module): Promise<void> {
    for (const t of model.parameters()) this.cache.set(t, Float64Array.from(await t.data()));
    for (const [, m] of model.namedModules())
      if (m instanceof BatchNorm2d) this.cache.set(m.runningVar, Float64Array.from(await m.runningVar.data()));
  }

  get(t: Tensor): Float64Array {
    const v = this.cache.get(t);
    if (!v) throw new Error(`NIS: ${t.name ?? 'a tensor'} was not loaded`);
    return v;
  }
}

/** The backward pass of absolute values over one model, recording each prunable weight's score. */
class NisPropagation {
  readonly weightScores = new Map<Module, Float64Array>();

  constructor(
    private readonly host: HostParams,
    private readonly finalLinear: Linear,
    private readonly frlScores: Float64Array | null,
  ) {}

  /** Scores of `m`'s input channels given the scores of its output channels. */
  back(m: Module, sOut: Float64Array): Float64Array {
    if (m instanceof Linear) return this.linear(m, sOut);
    if (m instanceof Conv2d) return this.conv(m, sOut);
    if (m instanceof BatchNorm2d) return this.batchNorm(m, sOut);
    if (m instanceof Sequential) return this.chain(m.layers, sOut);
    if (m instanceof BasicBlock) return this.basicBlock(m, sOut);
    if (m instanceof SmallCNN) {
      const features = this.back(m.linear, sOut);
      return this.chain([m.conv1, m.bn1, m.conv2, m.bn2, m.conv3, m.bn3], channelSums(features, m.conv3.outChannels, m.label));
    }
    if (m instanceof ResNet18) return this.chain([m.conv1, m.bn1, m.layer1, m.layer2, m.layer3, m.layer4, m.linear], sOut);
    if (m instanceof VGG16Net) return this.chain([m.features, m.classifier], sOut);
    if (m.parameters().length === 0) return sOut; // ReLU, pooling, flatten, identity
    throw new Error(`NIS: no propagation rule for ${m.label}; it has parameters and an unknown data flow`);
  }

  private chain(layers: readonly Module[], sOut: Float64Array): Float64Array {
    let s = sOut;
    for (let i = layers.length - 1; i >= 0; i--) s = this.back(layers[i], s);
    return s;
  }

  private basicBlock(b: BasicBlock, sOut: Float64Array): Float64Array {
    const main = this.chain([b.conv1, b.bn1, b.conv2, b.bn2], sOut);
    const short = this.back(b.shortcut, sOut);
    return rescaledToMaxOne(main.map((v, k) => v + short[k]));
  }

  private linear(l: Linear, sOut: Float64Array): Float64Array {
    const w = this.host.get(l.weight);
    const [J, K] = [l.outFeatures, l.inFeatures];
    expectScores(l, sOut, J);
    this.record(l, w, sOut, K);
    if (l === this.finalLinear && this.frlScores) return rescaledToMaxOne(this.frlScores);
    const sIn = new Float64Array(K);
    for (let j = 0; j < J; j++) for (let k = 0; k < K; k++) sIn[k] += Math.abs(w[j * K + k]) * sOut[j];
    return rescaledToMaxOne(sIn);
  }

  private conv(c: Conv2d, sOut: Float64Array): Float64Array {
    const w = this.host.get(c.weight);
    const [J, K, uv] = [c.outChannels, c.inChannels, c.kernelSize * c.kernelSize];
    expectScores(c, sOut, J);
    this.record(c, w, sOut, K * uv);
    const sIn = new Float64Array(K);
    for (let j = 0; j < J; j++)
      for (let k = 0; k < K; k++) {
        let a = 0;
        for (let t = 0; t < uv; t++) a += Math.abs(w[(j * K + k) * uv + t]);
        sIn[k] += a * sOut[j];
      }
    return rescaledToMaxOne(sIn);
  }

  private batchNorm(bn: BatchNorm2d, sOut: Float64Array): Float64Array {
    const gamma = this.host.get(bn.weight);
    const variance = this.host.get(bn.runningVar);
    expectScores(bn, sOut, bn.numFeatures);
    return rescaledToMaxOne(sOut.map((s, c) => (Math.abs(gamma[c]) / Math.sqrt(variance[c] + bn.eps)) * s));
  }

  /** I(w_{j,…}) = |w_{j,…}|·s_out[j], rows of `perRow` weights per output unit j. */
  private record(m: Module, w: Float64Array, sOut: Float64Array, perRow: number): void {
    this.weightScores.set(
      m,
      w.map((v, i) => Math.abs(v) * sOut[Math.floor(i / perRow)]),
    );
  }
}

/** The last Linear layer of the model: its input is the FRL. */
function finalLinearOf(model: Module): Linear {
  const linears = model.namedModules().filter((e): e is [string, Linear] => e[1] instanceof Linear);
  if (!linears.length) throw new Error(`NIS: ${model.label} has no final linear layer`);
  return linears[linears.length - 1][1];
}

/** FRL responses (n×d, row-major, float64) of the model in eval mode on up to maxSamples images. */
export async function frlResponses(model: Module, batches: readonly LabelledBatch[], maxSamples: number): Promise<{ x: Float64Array; n: number; d: number }> {
  const last = finalLinearOf(model);
  const d = last.inFeatures;
  const rows: Float32Array[] = [];
  let n = 0;
  // Capture the final layer's input by wrapping its forward for the duration of the pass.
  const original = last.forward;
  for (const b of batches) {
    if (n >= maxSamples) break;
    let captured: Tensor | null = null;
    last.forward = (x: Tensor) => {
      captured = noGrad(() => clone(x)).keep();
      return original.call(last, x);
    };
    try {
      noGrad(() => scope(() => inEvalMode(model, () => model.forward(b.x))));
    } finally {
      last.forward = original;
    }
    const frl = captured as Tensor | null;
    if (!frl) throw new Error(`NIS: the final linear layer of ${model.label} was not called`);
    const values = (await frl.data()) as Float32Array;
    frl.dispose();
    const take = Math.min(frl.shape[0], maxSamples - n);
    rows.push(values.subarray(0, take * d));
    n += take;
  }
  const x = new Float64Array(n * d);
  let at = 0;
  for (const r of rows) {
    x.set(r, at);
    at += r.length;
  }
  return { x, n, d };
}

/** Per-weight NIS scores (host, float64) by prunable layer name. */
export async function nisScores(model: Module, batches: readonly LabelledBatch[], opts: NisOptions = {}): Promise<Map<string, Float64Array>> {
  const host = new HostParams();
  await host.load(model);
  const last = finalLinearOf(model);
  let frl: Float64Array | null = null;
  if ((opts.frl ?? 'inffs') === 'inffs') {
    const r = await frlResponses(model, batches, opts.maxFrlSamples ?? 5000);
    if (r.n < 2) throw new Error(`NIS: Inf-FS needs at least 2 samples, got ${r.n}`);
    frl = infFsImportance(r.x, r.n, r.d);
  }
  const propagation = new NisPropagation(host, last, frl);
  propagation.back(model, new Float64Array(last.outFeatures).fill(1));
  const out = new Map<string, Float64Array>();
  for (const p of prunableLayers(model)) {
    const s = propagation.weightScores.get(p.layer);
    if (!s) throw new Error(`NIS: layer '${p.name}' was not reached by the propagation`);
    out.set(p.name, s);
  }
  return out;
}
