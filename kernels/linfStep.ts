// Launcher for shaders/linf_step.wgsl: the ℓ∞ attack step x ← P(x + a·sign(g)) and the projection
// P alone (random starts, APGD's momentum step), each one pass over the images instead of the five
// elementwise kernels (sign, affine, maximum, minimum, clamp) they would otherwise take.

import { runtime } from '../src/engine/engine.js';
import { sameShape, shapeStr } from '../src/engine/shape.js';
import { Tensor } from '../src/engine/tensor.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;
const MODES = { step: 0, project: 1 } as const;

function check(what: string, x: Tensor, others: Record<string, Tensor>): void {
  for (const [name, t] of Object.entries({ x, ...others })) {
    if (t.dtype !== 'f32') throw new Error(`${what}: ${name} must be f32, got ${t.dtype}`);
    if (name !== 'stepSize' && !sameShape(t.shape, x.shape))
      throw new Error(`${what}: ${name} ${shapeStr(t.shape)} does not match x ${shapeStr(x.shape)}`);
  }
  if (x.ndim < 1) throw new Error(`${what}: x must have a batch axis, got ${shapeStr(x.shape)}`);
}

function launch(mode: keyof typeof MODES, x: Tensor, g: Tensor, x0: Tensor, stepSize: Tensor, eps: number): Tensor {
  const y = Tensor.empty(x.shape);
  if (y.size === 0) return y;
  const groups = grid1d(y.size, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  runtime().dispatch(
    mode === 'step' ? 'linf_step' : 'linf_project',
    { shader: 'linf_step', constants: { MODE: MODES[mode] }, bindings: ['read', 'read', 'read', 'read', 'write'] },
    [x.binding(), g.binding(), x0.binding(), stepSize.binding(), y.binding()],
    new Params()
      .u(y.size, groups[0] * WG, y.size / x.shape[0], 0)
      .f(eps)
      .u(0, 0, 0)
      .build(),
    groups,
  );
  return y;
}

/**
 * clamp(min(max(x + s·sign(g), x0 − ε), x0 + ε), 0, 1), where s is stepSize[n] for sample n of
 * the batch (a [N] tensor).
 */
export function linfStepKernel(x: Tensor, g: Tensor, x0: Tensor, eps: number, stepSize: Tensor): Tensor {
  check('linfStep', x, { g, x0, stepSize });
  if (stepSize.size !== x.shape[0])
    throw new Error(`linfStep: stepSize ${shapeStr(stepSize.shape)} needs one value per sample of x ${shapeStr(x.shape)}`);
  return launch('step', x, g, x0, stepSize, eps);
}

/** clamp(min(max(x, x0 − ε), x0 + ε), 0, 1). */
export function linfProjectKernel(x: Tensor, x0: Tensor, eps: number): Tensor {
  check('linfProject', x, { x0 });
  // The shader's g and step bindings are not read in this mode; x fills them (read-only aliasing).
  return launch('project', x, x, x0, x, eps);
}
