// A model whose prunable layers (prunable.ts) compute with w ⊙ M instead of w: during forward each
// Conv2d/Linear gets the mask as its `weightMask`, which the masked conv kernels apply as they read
// w (src/ops/maskedConv.ts; no masked copy of the weights), and loses it afterwards. The weights
// themselves are never replaced, so checkpoints, optimizers and loadStateDict see the dense model.
//
// Two modes (algorithms.md §5, §5.4, §12):
//   'prune'    — weights and biases frozen; scores S, rate logits r and BN γ/β train. The mask is
//                the straight-through op of harp.ts (its gradient ∂L/∂(w ⊙ M) ⊙ w comes from the
//                masked kernels' weight gradient), recomputed from S and r by refreshMasks()
//                (call it after every optimizer step: S and r change only there, so this equals
//                HARP's "recompute on every forward").
//   'finetune' — S and r frozen, so the masks are fixed constants; weights, biases and BN train.
//                Pruned weights get the gradient ∂L/∂w_eff ⊙ M = 0 and stay where they are.
//
// The MaskedModel presents the base model's modules, parameters and state dict as its own, so
// attacks (moduleClassifier), adversarialLoss and the checkpoint code work on it unchanged.

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import { Tensor } from '../engine/tensor.js';
import { BatchNorm2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { clone } from '../ops/creation.js';
import { mul } from '../ops/elementwise.js';
import { compressForInference } from './sparseInference.js';
import { compressionLoss, keepRate, keepRateOf, minimumKeepRate, selectKeptMask, straightThroughMask, uniformRateLogit } from './harp.js';
import { prunableLayers, prunableWeightCount, weightKey, type PrunableLayer } from './prunable.js';

export type MaskMode = 'prune' | 'finetune';

export interface MaskedLayer {
  prunable: PrunableLayer;
  /** S, the weight's shape (a kept leaf that requires a gradient). */
  scores: Tensor;
  /** r, shape [1]. */
  rateLogit: Tensor;
  /** The current mask on the host (1 kept, 0 pruned). */
  hostMask: Float32Array;
  /** The same mask on the GPU (kept; replaced by refreshMasks). */
  mask: Tensor;
}

export interface MaskedModelOptions {
  /** a_t: the kept fraction the compression loss aims at (0.05 for c_r = 95%). */
  target: number;
  /** α_min of k_min = α_min·a_t (default 0.1). */
  alphaMin?: number;
  /** Initial rate logit of every layer (default: uniform at the target, §5 [X default]). */
  initialRateLogit?: number;
}

export interface NonZeroCount {
  /** Non-zero entries of w ⊙ M over the prunable weights. */
  prunableNonZero: number;
  prunableTotal: number;
  /** Biases and BN parameters (never pruned, not part of the sparsity). */
  otherParameters: number;
}

export class MaskedModel extends Module {
  readonly layers: MaskedLayer[];
  readonly target: number;
  readonly kMin: number;
  private modeValue: MaskMode = 'prune';

  private constructor(
    readonly base: Module,
    layers: MaskedLayer[],
    target: number,
    kMin: number,
  ) {
    super();
    this.layers = layers;
    this.target = target;
    this.kMin = kMin;
  }

  /**
   * Wraps `base`; every prunable layer needs an initial score tensor (by layer name, the weight's
   * shape; the model's own weights are not copied). Starts in 'prune' mode with fresh masks.
   */
  static async create(base: Module, initialScores: Map<string, Tensor>, opts: MaskedModelOptions): Promise<MaskedModel> {
    if (!(opts.target > 0 && opts.target <= 1)) throw new Error(`MaskedModel: target keep fraction must be in (0, 1], got ${opts.target}`);
    const kMin = minimumKeepRate(opts.target, opts.alphaMin ?? 0.1);
    const r0 = opts.initialRateLogit ?? uniformRateLogit(opts.target, kMin);
    const layers = prunableLayers(base).map((p): MaskedLayer => {
      const init = initialScores.get(p.name);
      if (!init) throw new Error(`MaskedModel: no initial score for layer '${p.name}'`);
      if (init.size !== p.weight.size) throw new Error(`MaskedModel: score for '${p.name}' has ${init.size} entries, the weight ${p.weight.size}`);
      const scores = noGrad(() => clone(init.shape.length === p.weight.shape.length ? init : init.view(p.weight.shape)));
      scores.requiresGrad = true;
      scores.keep().name = `${p.name}.scores`;
      const rateLogit = Tensor.fromArray([r0], [1]);
      rateLogit.requiresGrad = true;
      rateLogit.keep().name = `${p.name}.rate`;
      const hostMask = new Float32Array(p.weight.size).fill(1);
      return { prunable: p, scores, rateLogit, hostMask, mask: Tensor.fromArray(hostMask, p.weight.shape).keep() };
    });
    const model = new MaskedModel(base, layers, opts.target, kMin);
    await model.refreshMasks();
    return model;
  }

  get mode(): MaskMode {
    return this.modeValue;
  }

  /** Switches mode; in 'finetune' the current masks stay fixed (refreshMasks is refused). */
  setMode(mode: MaskMode): void {
    this.modeValue = mode;
  }

  /** Host keep-rate k_l of each layer, from the current rate logits (one read-back each). */
  async keepRateValues(): Promise<number[]> {
    const out: number[] = [];
    for (const l of this.layers) out.push(keepRateOf((await l.rateLogit.data())[0], this.kMin));
    return out;
  }

  /** Recomputes every mask from the current S and r ('prune' mode; masks are fixed otherwise). */
  async refreshMasks(): Promise<void> {
    if (this.modeValue !== 'prune') throw new Error("MaskedModel.refreshMasks: masks are fixed in 'finetune' mode");
    const rates = await this.keepRateValues();
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      l.hostMask = selectKeptMask(await l.scores.data(), rates[i]);
      // Views of the old mask still in a recorded graph keep its storage alive.
      l.mask.dispose();
      l.mask = Tensor.fromArray(l.hostMask, l.prunable.weight.shape).keep();
    }
  }

  /**
   * Puts back masks saved with masks() (by weight state-dict name; `source` names the file in
   * errors), in either mode. A resumed run takes the masks that were in use rather than recomputing
   * them: in 'finetune' they are fixed, and refreshMasks is refused there.
   */
  async restoreMasks(masks: Map<string, Tensor>, source: string): Promise<void> {
    const host: Float32Array[] = [];
    for (const l of this.layers) {
      const key = weightKey(l.prunable);
      const t = masks.get(key);
      if (!t) throw new Error(`${source}: no mask '${key}'`);
      if (t.size !== l.prunable.weight.size) throw new Error(`${source}: mask '${key}' has ${t.size} entries, the weight ${l.prunable.weight.size}`);
      const values = Float32Array.from(await t.data());
      const bad = values.findIndex((v) => v !== 0 && v !== 1);
      if (bad >= 0) throw new Error(`${source}: mask '${key}' holds ${values[bad]} at ${bad}; masks must be 0 or 1`);
      host.push(values);
    }
    // Checked in full first, so a bad file leaves the model as it was.
    this.layers.forEach((l, i) => {
      l.hostMask = host[i];
      l.mask.dispose();
      l.mask = Tensor.fromArray(host[i], l.prunable.weight.shape).keep();
    });
  }

  /** What the optimizer updates in the current mode. */
  trainableParameters(): Tensor[] {
    if (this.modeValue === 'finetune') return this.base.parameters();
    const bn = this.base
      .namedModules()
      .filter(([, m]) => m instanceof BatchNorm2d)
      .flatMap(([, m]) => [(m as BatchNorm2d).weight, (m as BatchNorm2d).bias]);
    return [...this.layers.flatMap((l) => [l.scores, l.rateLogit]), ...bn];
  }

  /** k_l of every layer as differentiable GPU scalars ([1]). */
  keepRates(): Tensor[] {
    return this.layers.map((l) => keepRate(l.rateLogit, this.kMin));
  }

  /** L_p of eq. (25) at the current rates. */
  compressionLoss(): Tensor {
    return compressionLoss(this.keepRates(), this.layers.map((l) => l.prunable.weight.size), this.target);
  }

  forward(x: Tensor): Tensor {
    // 'finetune': fixed masks. 'prune': the mask is a function of the scores and rates, so it is
    // the differentiable straight-through op (its value is still l.mask).
    this.layers.forEach((l) => {
      l.prunable.layer.weightMask =
        this.modeValue === 'prune' ? straightThroughMask(l.scores, keepRate(l.rateLogit, this.kMin), l.mask) : l.mask;
    });
    try {
      return this.base.forward(x);
    } finally {
      this.layers.forEach((l) => (l.prunable.layer.weightMask = null));
    }
  }

  /**
   * Compresses the pruned convs with their current masks (compressForInference), for the attacks
   * and the training pass of one step (sparseInference.ts withSparseKernels). Within a step the
   * masks' values are constants in both modes (in 'prune' the straight-through mask's value is
   * l.mask until refreshMasks, which runs after the step), so the copy equals w ⊙ M throughout.
   */
  async compressForStep(): Promise<void> {
    this.layers.forEach((l) => (l.prunable.layer.weightMask = l.mask));
    try {
      await compressForInference(this.base);
    } finally {
      this.layers.forEach((l) => (l.prunable.layer.weightMask = null));
    }
  }

  /** Masks by weight state-dict name (fresh f32 tensors owned by the caller), for saveStateDict. */
  masks(): Map<string, Tensor> {
    return new Map(this.layers.map((l) => [weightKey(l.prunable), Tensor.fromArray(l.hostMask, l.prunable.weight.shape)]));
  }

  /** Kept weights per the masks (what the compression target counts). */
  keptCount(): number {
    return this.layers.reduce((n, l) => n + l.hostMask.reduce((a, v) => a + v, 0), 0);
  }

  /** Counts the non-zeros of w ⊙ M (reads every prunable weight back). */
  async countNonZero(): Promise<NonZeroCount> {
    let nonZero = 0;
    for (const l of this.layers) {
      const w = await l.prunable.weight.data();
      for (let i = 0; i < w.length; i++) if (w[i] !== 0 && l.hostMask[i] !== 0) nonZero++;
    }
    const prunableTotal = prunableWeightCount(this.layers.map((l) => l.prunable));
    return { prunableNonZero: nonZero, prunableTotal, otherParameters: this.base.numParameters() - prunableTotal };
  }

  /** w ← w ⊙ M for every layer (§5.4: after fine-tuning the pruned weights are stored as zeros). */
  bakeMasks(): void {
    noGrad(() =>
      scope(() => {
        for (const l of this.layers) l.prunable.weight.assign(mul(l.prunable.weight, l.mask));
      }),
    );
  }

  // The base model's structure, parameters and state stand for this wrapper's (see file comment).
  override namedModules(prefix = ''): [string, Module][] {
    return [[prefix, this], ...this.base.namedModules(prefix)];
  }

  override namedParameters(prefix = ''): [string, Tensor][] {
    return this.base.namedParameters(prefix);
  }

  override namedBuffers(prefix = ''): [string, Tensor][] {
    return this.base.namedBuffers(prefix);
  }

  override stateDict(prefix = ''): Map<string, Tensor> {
    return this.base.stateDict(prefix);
  }

  /** Frees the scores, rates and masks; the base model stays alive (it is the caller's). */
  disposeMasking(): void {
    for (const l of this.layers) {
      l.scores.dispose();
      l.rateLogit.dispose();
      l.mask.dispose();
    }
  }

  override dispose(): void {
    this.disposeMasking();
    this.base.dispose();
  }
}
