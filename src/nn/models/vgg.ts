// VGG-16 for 32×32 inputs (the variant whose 14.7M parameters EED reports): 13 conv3×3 (with
// bias) + BN + ReLU, five 2×2 max-pools, a final 1×1 average pool (identity, kept so indices match),
// and Linear(512, classes). Names match PyTorch: features.0.weight, features.1.running_mean, ...,
// classifier.weight. 14,728,266 parameters for 3 input channels and 10 classes.
// Feature layers (featureTap.ts, algorithms.md §7): 1–13 are the conv+BN outputs (before ReLU),
// 14 the logits.

import type { Tensor } from '../../engine/tensor.js';
import { flatten } from '../../ops/shape.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential, type InitOptions } from '../layers.js';
import { Module } from '../module.js';
import { TapCursor, type FeatureTap, type TappedModel } from './featureTap.js';

const VGG16 = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'] as const;

export interface VggOptions extends InitOptions {
  inChannels?: number;
  numClasses?: number;
  width?: number;
}

export class VGG16Net extends Module implements TappedModel {
  readonly features: Sequential;
  readonly classifier: Linear;

  constructor(opts: VggOptions = {}) {
    super();
    const w = opts.width ?? 1;
    const init = { generator: opts.generator };
    const layers: Module[] = [];
    let c = opts.inChannels ?? 3;
    for (const v of VGG16) {
      if (v === 'M') layers.push(new MaxPool2d(2, 2));
      else {
        const out = Math.max(1, Math.round(v * w));
        layers.push(new Conv2d(c, out, 3, { padding: 1, bias: true, ...init }), new BatchNorm2d(out), new ReLU());
        c = out;
      }
    }
    layers.push(new AvgPool2d(1, 1));
    this.features = this.registerModule('features', new Sequential(...layers));
    this.classifier = this.registerModule('classifier', new Linear(c, opts.numClasses ?? 10, init));
  }

  forward(x: Tensor): Tensor {
    return this.classifier.forward(flatten(this.features.forward(x), 1));
  }

  featureLayerCount(): number {
    return this.features.layers.filter((m) => m instanceof BatchNorm2d).length + 1;
  }

  forwardTapped(x: Tensor, tap: FeatureTap): Tensor {
    const c = new TapCursor(tap, this.featureLayerCount(), this.label);
    let y = x;
    for (const m of this.features.layers) {
      y = m.forward(y);
      if (m instanceof BatchNorm2d && c.feature(y)) return y;
      if (m instanceof ReLU) c.activation(y);
    }
    const logits = this.classifier.forward(flatten(y, 1));
    c.feature(logits);
    return logits;
  }
}
