// Launcher for shaders/sgd_step.wgsl: the fused SGD update of one parameter.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;

export interface SgdStepSettings {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** New parameter values and (with momentum) the new momentum buffer; inputs are not modified. */
export function sgdStepKernel(p: Tensor, g: Tensor, buf: Tensor | null, s: SgdStepSettings): { p: Tensor; buf: Tensor | null } {
  if (g.size !== p.size || (buf && buf.size !== p.size))
    throw new Error(`sgd step: parameter ${p.name ?? ''} has ${p.size} values, gradient ${g.size}${buf ? `, buffer ${buf.size}` : ''}`);
  const momentum = s.momentum !== 0;
  const pOut = Tensor.empty(p.shape);
  const bufOut = momentum ? Tensor.empty(p.shape) : null;
  if (p.size === 0) return { p: pOut, buf: bufOut };
  const groups = grid1d(p.size, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  // WebGPU forbids two writable bindings of one buffer, so without momentum the (never written)
  // buffer output gets a scratch word of its own.
  const scratch = bufOut ? null : Tensor.empty([1]);
  runtime().dispatch(
    'sgd_step',
    {
      shader: 'sgd_step',
      constants: { MOMENTUM: momentum ? 1 : 0, NESTEROV: s.nesterov ? 1 : 0, FIRST: buf ? 0 : 1 },
      bindings: ['read', 'read', 'read', 'write', 'write'],
    },
    // Without a previous buffer the gradient is bound in its place (and never read).
    [p.binding(), g.binding(), (buf ?? g).binding(), pOut.binding(), (bufOut ?? scratch!).binding()],
    new Params().u(p.size, groups[0] * WG).f(s.lr, s.momentum, s.dampening, s.weightDecay).u(0, 0).build(),
    groups,
  );
  scratch?.dispose();
  return { p: pOut, buf: bufOut };
}
