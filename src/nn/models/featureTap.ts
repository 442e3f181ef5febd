// Feature taps: a second forward path of the models in this folder that reports intermediate
// tensors, for losses that read inside a network (DVERGE's feature distillation, algorithms.md §7,
// needs member j's layer-l features; the activation-sparsity term L_A needs every post-ReLU
// activation). `forward` stays untouched as the fast path; `forwardTapped` must compute the same
// function (a test compares them for every model).
//
// Feature layers are numbered 1..featureLayerCount() in forward order. Each is taken after BN and
// before the ReLU (DVERGE's `before_relu=True`), and the last one is the logits (§7 lists ResNet-18
// and VGG-16; each model file documents its own list).

import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../module.js';

export interface FeatureTap {
  /** Receives feature layer `layer` (1-based). The tensor is part of the graph; do not dispose it. */
  feature?(layer: number, t: Tensor): void;
  /** Receives every post-ReLU activation, in forward order. */
  activation?(t: Tensor): void;
  /**
   * Stop once this feature layer is computed; forwardTapped then returns it instead of the
   * logits, so feature distillation does not pay for the layers above l.
   */
  stopAt?: number;
}

/** A model with feature taps. */
export interface TappedModel {
  forwardTapped(x: Tensor, tap: FeatureTap): Tensor;
  featureLayerCount(): number;
}

export function isTapped(m: Module): m is Module & TappedModel {
  const t = m as Partial<TappedModel>;
  return typeof t.forwardTapped === 'function' && typeof t.featureLayerCount === 'function';
}

/** The model's taps, or an error naming the model when it has none. */
export function tappedModel(m: Module, who: string): Module & TappedModel {
  if (!isTapped(m)) throw new Error(`${who}: ${m.label} has no feature taps (forwardTapped/featureLayerCount); use SmallCNN, ResNet18 or VGG16Net`);
  return m;
}

/**
 * Book-keeping of one tapped pass: numbers the feature layers as they are produced and remembers
 * the one to stop at, so nested modules (ResNet blocks) can report and stop without knowing the
 * global numbering.
 */
export class TapCursor {
  private layer = 0;
  /** The stop feature once reached; callers return it as soon as it is set. */
  reached: Tensor | null = null;

  constructor(
    private readonly tap: FeatureTap,
    readonly layerCount: number,
    who: string,
  ) {
    const s = tap.stopAt;
    if (s !== undefined && !(Number.isInteger(s) && s >= 1 && s <= layerCount))
      throw new Error(`${who}: stopAt must be an integer feature layer in [1, ${layerCount}], got ${s}`);
  }

  /** Reports the next feature layer; true when the pass should stop here. */
  feature(t: Tensor): boolean {
    this.layer++;
    this.tap.feature?.(this.layer, t);
    if (this.tap.stopAt === this.layer) {
      this.reached = t;
      return true;
    }
    return false;
  }

  /** Reports a post-ReLU activation and passes it through. */
  activation(t: Tensor): Tensor {
    this.tap.activation?.(t);
    return t;
  }
}
