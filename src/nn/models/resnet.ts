// ResNet-18 for 32×32 inputs (the CIFAR variant used by HARP, HYDRA and EED: 3×3 stem, no
// max-pool, BasicBlocks [2, 2, 2, 2], 1×1 conv + BN shortcuts where the shape changes). Names match
// that PyTorch code: conv1, bn1, layer1.0.conv1, layer1.0.shortcut.0, ..., linear.
// 11,173,962 parameters for 3 input channels and 10 classes.
// Feature layers (featureTap.ts, algorithms.md §7): 1 is the stem conv+BN; each BasicBlock adds
// two, "after conv1+BN" and "block output after the residual add, before ReLU"; 18 is the logits.

import type { Tensor } from '../../engine/tensor.js';
import { add, relu } from '../../ops/elementwise.js';
import { BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, Sequential, type InitOptions } from '../layers.js';
import { Module } from '../module.js';
import { TapCursor, type FeatureTap, type TappedModel } from './featureTap.js';

export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly shortcut: Sequential;

  constructor(inPlanes: number, planes: number, stride: number, init: InitOptions) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inPlanes, planes, 3, { stride, padding: 1, ...init }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, ...init }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.shortcut = this.registerModule(
      'shortcut',
      stride !== 1 || inPlanes !== planes
        ? new Sequential(new Conv2d(inPlanes, planes, 1, { stride, ...init }), new BatchNorm2d(planes))
        : new Sequential(),
    );
  }

  forward(x: Tensor): Tensor {
    const y = this.conv1.forwardBatchNorm(x, this.bn1, true);
    return this.conv2.forwardBatchNorm(y, this.bn2, true, this.shortcut.forward(x));
  }

  /** forward with taps; when the cursor stops inside the block it returns the stop feature. */
  forwardTapped(x: Tensor, c: TapCursor): Tensor {
    const h = this.bn1.forward(this.conv1.forward(x));
    if (c.feature(h)) return h;
    const z = this.bn2.forward(this.conv2.forward(c.activation(relu(h))));
    const sum = add(z, this.shortcut.forward(x));
    if (c.feature(sum)) return sum;
    return c.activation(relu(sum));
  }
}

export interface ResNetOptions extends InitOptions {
  inChannels?: number;
  numClasses?: number;
  /** Channel multiplier (1/4 gives 16/32/64/128 channels). */
  width?: number;
}

export class ResNet18 extends Module implements TappedModel {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly pool = new GlobalAvgPool2d();
  readonly linear: Linear;

  constructor(opts: ResNetOptions = {}) {
    super();
    const w = opts.width ?? 1;
    const ch = (c: number) => Math.max(1, Math.round(c * w));
    const init = { generator: opts.generator };
    this.conv1 = this.registerModule('conv1', new Conv2d(opts.inChannels ?? 3, ch(64), 3, { padding: 1, ...init }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(ch(64)));
    let inPlanes = ch(64);
    const stage = (planes: number, stride: number) => {
      const blocks = [stride, 1].map((s) => {
        const b = new BasicBlock(inPlanes, planes, s, init);
        inPlanes = planes;
        return b;
      });
      return new Sequential(...blocks);
    };
    this.layer1 = this.registerModule('layer1', stage(ch(64), 1));
    this.layer2 = this.registerModule('layer2', stage(ch(128), 2));
    this.layer3 = this.registerModule('layer3', stage(ch(256), 2));
    this.layer4 = this.registerModule('layer4', stage(ch(512), 2));
    this.linear = this.registerModule('linear', new Linear(ch(512), opts.numClasses ?? 10, init));
  }

  forward(x: Tensor): Tensor {
    let y = this.conv1.forwardBatchNorm(x, this.bn1, true);
    y = this.layer4.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(y))));
    // Global average pooling equals the reference's 4×4 average pool at 32×32 and also works
    // for other input sizes.
    return this.linear.forward(this.pool.forward(y));
  }

  featureLayerCount(): number {
    return 2 + 2 * this.blocks().length;
  }

  private blocks(): BasicBlock[] {
    return [this.layer1, this.layer2, this.layer3, this.layer4].flatMap((s) => s.layers as BasicBlock[]);
  }

  forwardTapped(x: Tensor, tap: FeatureTap): Tensor {
    const c = new TapCursor(tap, this.featureLayerCount(), this.label);
    const stem = this.bn1.forward(this.conv1.forward(x));
    if (c.feature(stem)) return stem;
    let y = c.activation(relu(stem));
    for (const b of this.blocks()) {
      y = b.forwardTapped(y, c);
      if (c.reached) return c.reached;
    }
    const logits = this.linear.forward(this.pool.forward(y));
    c.feature(logits);
    return logits;
  }
}
