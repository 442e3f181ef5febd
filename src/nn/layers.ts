// Layers with PyTorch's parameter names, default initialisation and input checks that name the
// layer and both shapes.

import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { full, intAffine, ones, zeros } from '../ops/creation.js';
import { batchNorm2d, batchNormAddRelu, batchNormFold, batchNormRelu } from '../ops/batchNorm.js';
import { conv2d } from '../ops/conv.js';
import { maskedConv2d } from '../ops/maskedConv.js';
import { sparseConv2d, sparseConv2dFused, type SparseConv2d } from '../ops/sparseConv.js';
import { isRecording } from '../engine/autograd.js';
import { maskedLinear } from '../ops/maskedLinear.js';
import { relu } from '../ops/elementwise.js';
import { linear } from '../ops/matmul.js';
import { avgPool2d, globalAvgPool2d, maxPool2d } from '../ops/pool.js';
import { defaultGenerator, type Generator } from '../ops/random.js';
import { flatten } from '../ops/shape.js';
import { Module } from './module.js';

export interface InitOptions {
  /** Source of the initial weights (defaults to the global generator). */
  generator?: Generator;
}

/** PyTorch's default for conv and linear layers: U(−1/√fan_in, 1/√fan_in) (kaiming_uniform, a = √5). */
function uniformInit(shape: number[], fanIn: number, gen: Generator): Tensor {
  const bound = 1 / Math.sqrt(Math.max(1, fanIn));
  return gen.uniform(shape, -bound, bound);
}

function expectInput(layer: Module, x: Tensor, expected: (number | string)[], ok: boolean): void {
  if (!ok)
    throw new Error(
      `${layer.label}: expected input [${expected.join(', ')}], got ${shapeStr(x.shape)}`,
    );
}

export interface Conv2dLayerOptions extends InitOptions {
  stride?: number;
  padding?: number;
  /** Off by default: every conv in this project is followed by BatchNorm. */
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  /**
   * A fixed pruning mask (f32 0/1, the weight's shape) or null. When set, forward computes with
   * w ⊙ mask inside the conv kernels (no masked copy of the weights) and pruned weights get zero
   * gradient; pruning code sets it for fine-tuning and inference.
   */
  weightMask: Tensor | null = null;
  /**
   * The pruned weights compressed for inference (src/pruning/sparseInference.ts) or null. Used
   * whenever no gradient is recorded, and in eval mode also when one is (an attack's input
   * gradient, whose backward pass then skips the zeros too); training mode takes the masked path
   * unless sparseWeightTrainable vouches for the copy, and otherwise asking for the weights'
   * gradient through it is refused. It is a snapshot: recompress after the weights change.
   */
  sparseWeight: SparseConv2d | null = null;
  /**
   * Set while sparseWeight is known to be current (src/pruning/sparseInference.ts withSparseKernels,
   * which compresses before a step and drops the copy before the update): training passes then run
   * it too, and the weights get their gradient through the kept ones only (a straight-through mask,
   * HARP's, gets its own from the dense GEMM's gradient).
   */
  sparseWeightTrainable = false;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dLayerOptions = {},
  ) {
    super();
    const gen = opts.generator ?? defaultGenerator;
    const fanIn = inChannels * kernelSize * kernelSize;
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.weight = this.registerParameter('weight', uniformInit([outChannels, inChannels, kernelSize, kernelSize], fanIn, gen));
    this.bias = opts.bias ? this.registerParameter('bias', uniformInit([outChannels], fanIn, gen)) : null;
  }

  forward(x: Tensor): Tensor {
    expectInput(this, x, ['N', this.inChannels, 'H', 'W'], x.ndim === 4 && x.shape[1] === this.inChannels);
    const opts = { stride: this.stride, padding: this.padding };
    return this.labelled(() => {
      if (this.sparseWeight && this.usesSparse())
        return sparseConv2d(x, this.sparseWeight, this.bias, { ...opts, weight: this.weight, mask: this.weightMask, trainable: this.sparseWeightTrainable });
      return this.weightMask ? maskedConv2d(x, this.weight, this.weightMask, this.bias, opts) : conv2d(x, this.weight, this.bias, opts);
    });
  }

  /**
   * bn(forward(x)), then ReLU (after adding `residual` when given): what the models' forward paths
   * write as bn.forwardRelu(conv.forward(x)) or bn.forwardAddRelu(conv.forward(x), shortcut).
   * When the conv runs its compressed copy (see sparseWeight) and the norm is in eval mode, the
   * norm is folded into the sparse kernel's store (batchNormFold), so no second pass reads the
   * conv's output (the fold is recorded, so a gradient asked of the norm's parameters is refused,
   * not lost); otherwise it is exactly forward, then the fused BN op.
   */
  forwardBatchNorm(x: Tensor, bn: BatchNorm2d, relu: boolean, residual?: Tensor): Tensor {
    if (residual && !relu) throw new Error(`${this.label}: forwardBatchNorm adds a residual only before a ReLU (as batchNormAddRelu)`);
    if (bn.numFeatures !== this.outChannels)
      throw new Error(`${this.label}: ${bn.label} normalises ${bn.numFeatures} channels, the conv gives ${this.outChannels}`);
    const sparse = this.sparseWeight;
    if (!sparse || !this.usesSparse() || bn.training) {
      const y = this.forward(x);
      if (residual) return bn.forwardAddRelu(y, residual);
      return relu ? bn.forwardRelu(y) : bn.forward(y);
    }
    expectInput(this, x, ['N', this.inChannels, 'H', 'W'], x.ndim === 4 && x.shape[1] === this.inChannels);
    return this.labelled(() => {
      const { scale, shift } = batchNormFold(bn.runningMean, bn.runningVar, bn.weight, bn.bias, bn.eps, this.bias);
      return sparseConv2dFused(x, sparse, { scale, shift, residual, relu }, {
        stride: this.stride,
        padding: this.padding,
        weight: this.weight,
        mask: this.weightMask,
        trainable: this.sparseWeightTrainable,
      });
    });
  }

  /** Whether a forward pass now runs the compressed copy (see sparseWeight and sparseWeightTrainable). */
  private usesSparse(): boolean {
    return !isRecording() || !this.training || this.sparseWeightTrainable;
  }
}

export interface LinearOptions extends InitOptions {
  bias?: boolean;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** A fixed pruning mask or null, as Conv2d.weightMask. */
  weightMask: Tensor | null = null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    const gen = opts.generator ?? defaultGenerator;
    this.weight = this.registerParameter('weight', uniformInit([outFeatures, inFeatures], inFeatures, gen));
    this.bias = (opts.bias ?? true) ? this.registerParameter('bias', uniformInit([outFeatures], inFeatures, gen)) : null;
  }

  forward(x: Tensor): Tensor {
    expectInput(this, x, ['N', this.inFeatures], x.ndim === 2 && x.shape[1] === this.inFeatures);
    return this.labelled(() =>
      this.weightMask ? maskedLinear(x, this.weight, this.weightMask, this.bias) : linear(x, this.weight, this.bias ?? undefined),
    );
  }
}

export interface BatchNormLayerOptions {
  eps?: number;
  momentum?: number;
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly eps: number;
  /** Mutable so that BN re-estimation can use a cumulative average (src/pruning/bnRecalibration.ts). */
  momentum: number;

  constructor(
    readonly numFeatures: number,
    opts: BatchNormLayerOptions = {},
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    this.weight = this.registerParameter('weight', ones([numFeatures]));
    this.bias = this.registerParameter('bias', zeros([numFeatures]));
    this.registerBuffer('running_mean', zeros([numFeatures]));
    this.registerBuffer('running_var', ones([numFeatures]));
    this.registerBuffer('num_batches_tracked', full([], 0, 'i32'));
  }

  get runningMean(): Tensor {
    return this.getBuffer('running_mean');
  }

  get runningVar(): Tensor {
    return this.getBuffer('running_var');
  }

  forward(x: Tensor): Tensor {
    return this.apply(x, false, null);
  }

  /** relu(forward(x)) in one fused op (src/ops/batchNorm.ts batchNormRelu): for forward paths that do not tap the pre-ReLU value. */
  forwardRelu(x: Tensor): Tensor {
    return this.apply(x, true, null);
  }

  /** relu(forward(x) + residual) in one fused op (batchNormAddRelu): a residual block's output. */
  forwardAddRelu(x: Tensor, residual: Tensor): Tensor {
    return this.apply(x, true, residual);
  }

  private apply(x: Tensor, withRelu: boolean, residual: Tensor | null): Tensor {
    expectInput(this, x, ['N', this.numFeatures, 'H', 'W'], x.ndim === 4 && x.shape[1] === this.numFeatures);
    return this.labelled(() => {
      if (this.training) this.setBuffer('num_batches_tracked', intAffine(this.getBuffer('num_batches_tracked'), 1, 1));
      const opts = { training: this.training, momentum: this.momentum, eps: this.eps };
      if (residual) return batchNormAddRelu(x, residual, this.runningMean, this.runningVar, this.weight, this.bias, opts);
      return (withRelu ? batchNormRelu : batchNorm2d)(x, this.runningMean, this.runningVar, this.weight, this.bias, opts);
    });
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return flatten(x, 1);
  }
}

/** Shared geometry of the pooling layers (stride defaults to the kernel size, as in PyTorch). */
abstract class Pool2d extends Module {
  constructor(
    readonly kernelSize: number,
    readonly stride: number = kernelSize,
    readonly padding = 0,
  ) {
    super();
  }

  protected abstract pool(x: Tensor): Tensor;

  forward(x: Tensor): Tensor {
    expectInput(this, x, ['N', 'C', 'H', 'W'], x.ndim === 4);
    return this.labelled(() => this.pool(x));
  }
}

export class MaxPool2d extends Pool2d {
  protected pool(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }
}

export class AvgPool2d extends Pool2d {
  protected pool(x: Tensor): Tensor {
    // A 1×1 average pool with stride 1 is the identity (VGG-16's last "pool" in the reference).
    if (this.kernelSize === 1 && this.stride === 1 && this.padding === 0) return x;
    return avgPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }
}

/** Mean over H, W and flatten: [N, C, H, W] → [N, C] (AdaptiveAvgPool2d(1) + flatten). */
export class GlobalAvgPool2d extends Module {
  forward(x: Tensor): Tensor {
    expectInput(this, x, ['N', 'C', 'H', 'W'], x.ndim === 4);
    return globalAvgPool2d(x);
  }
}

/** Children named "0", "1", ... as in torch.nn.Sequential. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.layers.length; i++) {
      const m = this.layers[i];
      const next = this.layers[i + 1];
      // Conv → BN (→ ReLU) runs as Conv2d.forwardBatchNorm, BN → ReLU as one fused op (the ReLU
      // module has no state to skip).
      if (m instanceof Conv2d && next instanceof BatchNorm2d) {
        const relu = this.layers[i + 2] instanceof ReLU;
        y = m.forwardBatchNorm(y, next, relu);
        i += relu ? 2 : 1;
      } else if (m instanceof BatchNorm2d && next instanceof ReLU) {
        y = m.forwardRelu(y);
        i++;
      } else y = m.forward(y);
    }
    return y;
  }
}
