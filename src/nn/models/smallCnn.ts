// SmallCNN for 28×28 grey images (Fashion-MNIST): three conv-BN-ReLU stages (the last two with
// stride 2) and a linear classifier over the flattened 7×7 feature map; 155,626 parameters at
// width 1. The classifier reads the whole map, not its global average: Fashion-MNIST's classes
// (shirt, T-shirt, pullover, coat) differ in where things are, and the first version, with global
// average pooling (94,186 parameters), stopped at 77.5% clean accuracy after issue 5's 5 epochs of
// PGD training. It is therefore built for one input size (`imageSize`), as TRADES' SmallCNN is;
// the architecture is this project's own (algorithms.md does not define one), not TRADES' four
// unpadded convs with a 1024-200-200-10 head, so TRADES checkpoints do not load into it.
// Feature layers (featureTap.ts): 1–3 are the conv+BN outputs (before ReLU), 4 the logits, the
// same pattern as VGG-16's list in algorithms.md §7.

import type { Tensor } from '../../engine/tensor.js';
import { relu } from '../../ops/elementwise.js';
import { shapeStr } from '../../engine/shape.js';
import { flatten } from '../../ops/shape.js';
import { BatchNorm2d, Conv2d, Linear, type InitOptions } from '../layers.js';
import { Module } from '../module.js';
import { TapCursor, type FeatureTap, type TappedModel } from './featureTap.js';

export interface SmallCnnOptions extends InitOptions {
  inChannels?: number;
  numClasses?: number;
  width?: number;
  /** Height and width of the (square) input images; 28 unless given. */
  imageSize?: number;
}

/** Side of the last feature map: two stride-2, padding-1, 3×3 convolutions. */
const featureSide = (imageSize: number): number => {
  const half = (s: number) => Math.floor((s - 1) / 2) + 1;
  return half(half(imageSize));
};

export class SmallCNN extends Module implements TappedModel {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly linear: Linear;
  readonly imageSize: number;

  constructor(opts: SmallCnnOptions = {}) {
    super();
    const w = opts.width ?? 1;
    const [c1, c2, c3] = [32, 64, 128].map((c) => Math.max(1, Math.round(c * w)));
    const init = { generator: opts.generator };
    this.imageSize = opts.imageSize ?? 28;
    if (!Number.isInteger(this.imageSize) || this.imageSize < 1)
      throw new Error(`SmallCNN: imageSize must be a positive integer, got ${opts.imageSize}`);
    const side = featureSide(this.imageSize);
    this.conv1 = this.registerModule('conv1', new Conv2d(opts.inChannels ?? 1, c1, 3, { padding: 1, ...init }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(c1));
    this.conv2 = this.registerModule('conv2', new Conv2d(c1, c2, 3, { stride: 2, padding: 1, ...init }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(c2));
    this.conv3 = this.registerModule('conv3', new Conv2d(c2, c3, 3, { stride: 2, padding: 1, ...init }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(c3));
    this.linear = this.registerModule('linear', new Linear(c3 * side * side, opts.numClasses ?? 10, init));
  }

  private checkInput(x: Tensor): void {
    const s = this.imageSize;
    if (x.ndim !== 4 || x.shape[2] !== s || x.shape[3] !== s)
      throw new Error(`${this.label}: built for ${s}×${s} images (imageSize ${s}), got input ${shapeStr(x.shape)}`);
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    let y = this.conv1.forwardBatchNorm(x, this.bn1, true);
    y = this.conv2.forwardBatchNorm(y, this.bn2, true);
    y = this.conv3.forwardBatchNorm(y, this.bn3, true);
    return this.linear.forward(flatten(y));
  }

  featureLayerCount(): number {
    return 4;
  }

  forwardTapped(x: Tensor, tap: FeatureTap): Tensor {
    this.checkInput(x);
    const c = new TapCursor(tap, this.featureLayerCount(), this.label);
    let y = x;
    for (const [conv, bn] of [
      [this.conv1, this.bn1],
      [this.conv2, this.bn2],
      [this.conv3, this.bn3],
    ] as const) {
      const z = bn.forward(conv.forward(y));
      if (c.feature(z)) return z;
      y = c.activation(relu(z));
    }
    const logits = this.linear.forward(flatten(y));
    c.feature(logits);
    return logits;
  }
}
