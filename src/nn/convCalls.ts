// What a model's forward pass asks of each of its convolutions on a sample input: the input shape
// and the epilogue (Conv2d.forwardBatchNorm's ReLU and residual). PyTorch-style modules do not
// record data flow, so one forward pass, with no gradient, notes them on the way (own properties
// shadow the prototype's methods for that pass only). Timing and tuning code uses it to measure a
// layer doing what the model makes it do.

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { Conv2d } from './layers.js';
import type { Module } from './module.js';

export interface ConvEpilogue {
  relu: boolean;
  /** The residual's shape when one is added before the ReLU. */
  residual: number[] | null;
}

export interface ConvCallRecord {
  conv: Conv2d;
  input: number[];
  /** The conv's output shape (an epilogue keeps it). */
  output: number[];
  /** Absent when the model calls the conv's plain forward. */
  epilogue: ConvEpilogue | null;
}

/** Every Conv2d the forward pass of `model` on `sample` runs, by module path. */
export function recordConvCalls(model: Module, sample: Tensor): Map<string, ConvCallRecord> {
  const records = new Map<string, ConvCallRecord>();
  const convs = model.namedModules().filter((e): e is [string, Conv2d] => e[1] instanceof Conv2d);
  for (const [name, conv] of convs) {
    const forward = conv.forward.bind(conv);
    const forwardBatchNorm = conv.forwardBatchNorm.bind(conv);
    conv.forward = (x: Tensor) => {
      const y = forward(x);
      records.set(name, { conv, input: [...x.shape], output: [...y.shape], epilogue: records.get(name)?.epilogue ?? null });
      return y;
    };
    conv.forwardBatchNorm = (x, bn, relu, residual) => {
      // Noted before the call: forwardBatchNorm's own conv.forward then keeps this epilogue.
      records.set(name, { conv, input: [...x.shape], output: [], epilogue: { relu, residual: residual ? [...residual.shape] : null } });
      const y = forwardBatchNorm(x, bn, relu, residual);
      records.set(name, { ...records.get(name)!, output: [...y.shape] });
      return y;
    };
  }
  try {
    scope(() => void noGrad(() => model.forward(sample)));
  } finally {
    for (const [, conv] of convs) {
      delete (conv as { forward?: unknown }).forward;
      delete (conv as { forwardBatchNorm?: unknown }).forwardBatchNorm;
    }
  }
  return records;
}
