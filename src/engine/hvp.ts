// Exact Hessian-vector products by double backward (reverse-over-reverse):
//   H·v = ∇_θ ( ∇_θ L(θ) · v ).
// The first gradient is computed with createGraph, so it is itself a differentiable function of
// θ; every op's backward is built from differentiable ops (conv adjoints differentiate into each
// other, max-pool gather/scatter likewise), so no finite differences are involved anywhere.

import { grad, withRecording } from './autograd.js';
import { scope } from './scope.js';
import type { Tensor } from './tensor.js';
import { add, mul, sum } from '../ops/index.js';

export function hvp(lossFn: () => Tensor, params: readonly Tensor[], v: readonly Tensor[]): Tensor[] {
  if (params.length !== v.length) throw new Error(`hvp: ${params.length} parameters but ${v.length} vectors`);
  params.forEach((p, i) => {
    if (p.size !== v[i].size) throw new Error(`hvp: vector ${i} has ${v[i].size} elements, parameter has ${p.size}`);
    if (!p.requiresGrad) throw new Error(`hvp: parameter ${p.name ?? i} does not require a gradient (its H·v would be silently zero)`);
  });
  // The loss is recorded whatever the caller's setting: under noGrad every H·v would be zero.
  return withRecording(true, () => scope(() => {
    const loss = lossFn();
    const gs = grad(loss, params, { createGraph: true, allowUnused: true });
    let dot: Tensor | null = null;
    gs.forEach((g, i) => {
      const term = sum(mul(g, v[i].shape.length === g.shape.length ? v[i] : v[i].view(g.shape)));
      dot = dot ? add(dot, term) : term;
    });
    return grad(dot!, params, { allowUnused: true });
  }));
}
