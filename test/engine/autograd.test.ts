// Autograd semantics (src/engine/autograd.ts) and memory scopes (src/engine/scope.ts): gradOutput,
// allowUnused, gradients with respect to intermediates, noGrad, backward() accumulation, fan-out,
// createGraph, scope/dispose bookkeeping and the use-after-dispose error.

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { expectClose, readNumbers } from '../ops/helpers.js';

describe('grad', () => {
  it('a non-scalar output needs gradOutput (and it must match the output size)', async () => {
    const x = E.variable(E.tensor([1, 2, 3]));
    const y = E.mul(x, x);
    expect(() => E.grad(y, [x])).toThrow(/gradOutput/);
    expect(() => E.grad(y, [x], { gradOutput: E.ones([2]) })).toThrow(/gradOutput/);
    const [g] = E.grad(y, [x], { gradOutput: E.tensor([1, 10, 100]) });
    expect(await readNumbers(g)).toEqual([2, 40, 600]);
  });

  it('a scalar output defaults to gradOutput 1', async () => {
    const x = E.variable(E.tensor([1, 2, 3]));
    const [g] = E.grad(E.sum(E.mul(x, x)), [x]);
    expect(await readNumbers(g)).toEqual([2, 4, 6]);
  });

  it('an input the output does not depend on throws unless allowUnused, which gives zeros', async () => {
    const x = E.variable(E.tensor([1, 2]));
    const unused = E.variable(E.tensor([5, 6, 7]));
    const y = E.sum(E.exp(x));
    expect(() => E.grad(y, [x, unused])).toThrow(/allowUnused/);
    const [gx, gu] = E.grad(y, [x, unused], { allowUnused: true });
    expectClose(await readNumbers(gx), [Math.exp(1), Math.exp(2)], { rtol: 1e-6 });
    expect(gu.shape).toEqual([3]);
    expect(await readNumbers(gu)).toEqual([0, 0, 0]);
    // Nothing reachable at all: an error without allowUnused, zeros with it.
    const c = E.sum(E.tensor([1, 2]));
    expect(() => E.grad(c, [x])).toThrow(/does not depend/);
    const [z] = E.grad(c, [x], { allowUnused: true });
    expect(await readNumbers(z)).toEqual([0, 0]);
  });

  it('differentiates with respect to an intermediate tensor and to the inputs (dL/dx through it)', async () => {
    const xs = [0.5, -1, 2];
    const x = E.variable(E.tensor(xs));
    const h = E.mul(x, x); // h = x²
    const y = E.sum(E.exp(h)); // y = Σ exp(x²)
    const [gh] = E.grad(y, [h]);
    expectClose(await readNumbers(gh), xs.map((v) => Math.exp(v * v)), { rtol: 1e-6, label: 'dy/dh' });
    const [gx, gh2] = E.grad(y, [x, h]);
    expectClose(await readNumbers(gx), xs.map((v) => 2 * v * Math.exp(v * v)), { rtol: 1e-6, label: 'dy/dx' });
    expectClose(await readNumbers(gh2), xs.map((v) => Math.exp(v * v)), { rtol: 1e-6, label: 'dy/dh (with x)' });
  });

  it('a tensor used on several paths gets the sum of all of them', async () => {
    const x = E.variable(E.tensor([1, -2, 3]));
    // y = Σ (x·x + 3x + exp(x)) → dy/dx = 2x + 3 + exp(x)
    const y = E.sum(E.add(E.add(E.mul(x, x), E.mul(x, 3)), E.exp(x)));
    const [g] = E.grad(y, [x]);
    expectClose(await readNumbers(g), [1, -2, 3].map((v) => 2 * v + 3 + Math.exp(v)), { rtol: 1e-6 });
    // The same tensor twice as operands of one op, and broadcast against itself.
    const z = E.variable(E.tensor([1, 2, 3, 4], [2, 2]));
    const [gz] = E.grad(E.sum(E.add(z, E.sum(z, 0, { keepDims: true }))), [z]);
    expect(await readNumbers(gz)).toEqual([3, 3, 3, 3]);
  });

  it('createGraph records the gradient so it can be differentiated again', async () => {
    const x = E.variable(E.tensor([0.5, 2]));
    const y = E.sum(E.pow(x, 3)); // dy/dx = 3x², d²y/dx² = 6x
    const [g] = E.grad(y, [x], { createGraph: true });
    expect(g.requiresGrad).toBe(true);
    expectClose(await readNumbers(g), [0.75, 12], { rtol: 1e-6 });
    const [h] = E.grad(E.sum(g), [x]);
    expectClose(await readNumbers(h), [3, 12], { rtol: 1e-6 });
    // Without createGraph the gradient is a plain tensor.
    const [plain] = E.grad(E.sum(E.pow(x, 3)), [x]);
    expect(plain.requiresGrad).toBe(false);
  });

  it('leaves the caller\'s gradOutput alive', async () => {
    const x = E.variable(E.tensor([1, 2]));
    const seed = E.tensor([3, 4]);
    E.grad(E.add(E.mul(x, 2), 1), [x], { gradOutput: seed });
    expect(seed.isDisposed).toBe(false);
    expect(await readNumbers(seed)).toEqual([3, 4]);
  });
});

describe('noGrad', () => {
  it('records nothing: results do not require grad and grad() finds no path', () => {
    const x = E.variable(E.tensor([1, 2]));
    const y = E.noGrad(() => E.sum(E.mul(x, x)));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(E.isRecording()).toBe(true);
    expect(() => E.grad(y, [x])).toThrow(/does not depend/);
    // Recording resumes afterwards, even when fn throws.
    expect(() =>
      E.noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(E.isRecording()).toBe(true);
    expect(E.sum(E.mul(x, x)).requiresGrad).toBe(true);
  });

  it('detach cuts the graph but shares the values', async () => {
    const x = E.variable(E.tensor([1, 2]));
    const d = E.detach(E.mul(x, 3));
    expect(d.requiresGrad).toBe(false);
    expect(await readNumbers(d)).toEqual([3, 6]);
    const [g] = E.grad(E.sum(E.add(E.mul(x, x), d)), [x]);
    expect(await readNumbers(g)).toEqual([2, 4]);
  });
});

describe('backward', () => {
  it('accumulates into .grad of every leaf across two calls', async () => {
    const a = E.variable(E.tensor([1, 2, 3]));
    const b = E.variable(E.tensor([-1, 0.5, 4]));
    const c = E.tensor([7, 7, 7]); // no requiresGrad: gets no .grad
    const loss = () => E.sum(E.mul(E.mul(a, b), c));
    E.backward(loss());
    expect(await readNumbers(a.grad!)).toEqual([-7, 3.5, 28]);
    expect(await readNumbers(b.grad!)).toEqual([7, 14, 21]);
    E.backward(loss());
    expect(await readNumbers(a.grad!)).toEqual([-14, 7, 56]);
    expect(await readNumbers(b.grad!)).toEqual([14, 28, 42]);
    expect(c.grad).toBeNull();
    // Accumulated gradients are kept: they survive scopes.
    expect(a.grad!.kept).toBe(true);
  });

  it('takes a gradOutput for non-scalar outputs', async () => {
    const a = E.variable(E.tensor([1, 2]));
    E.backward(E.mul(a, a), E.tensor([1, -1]));
    expect(await readNumbers(a.grad!)).toEqual([2, -4]);
  });

  it('throws when nothing requires a gradient', () => {
    expect(() => E.backward(E.sum(E.tensor([1, 2])))).toThrow(/requires a gradient/);
  });
});

describe('scope and dispose', () => {
  it('scope frees every intermediate; returned tensors survive, live count returns to its start', async () => {
    const start = E.liveTensorCount();
    const x = E.variable(E.tensor([1, 2, 3]));
    const afterInputs = E.liveTensorCount();
    expect(afterInputs - start).toBe(2); // the upload and its variable view
    const { out, pair } = E.scope(() => {
      const h = E.exp(E.mul(x, 2));
      const loss = E.sum(E.square(h));
      const [g] = E.grad(loss, [x]);
      expect(E.liveTensorCount()).toBeGreaterThan(afterInputs + 3);
      return { out: g, pair: [E.mul(x, 10), 'not a tensor'] as const };
    });
    expect(E.liveTensorCount()).toBe(afterInputs + 2);
    expect(await readNumbers(pair[0])).toEqual([10, 20, 30]);
    expectClose(await readNumbers(out), [1, 2, 3].map((v) => 4 * Math.exp(4 * v)), { rtol: 1e-5 });
    E.dispose([out, pair]);
    expect(E.liveTensorCount()).toBe(afterInputs);
    E.dispose(x);
    expect(E.liveTensorCount()).toBe(afterInputs - 1);
  });

  it('nested scopes hand returned tensors to the enclosing scope; kept tensors survive all', () => {
    const start = E.liveTensorCount();
    let kept: E.Tensor | null = null;
    E.scope(() => {
      const inner = E.scope(() => {
        kept = E.ones([2]).keep();
        E.zeros([4]);
        return E.full([3], 2);
      });
      expect(inner.isDisposed).toBe(false);
      expect(E.liveTensorCount()).toBe(start + 2);
    });
    expect(E.liveTensorCount()).toBe(start + 1);
    expect(kept!.isDisposed).toBe(false);
    kept!.dispose();
    expect(E.liveTensorCount()).toBe(start);
  });

  it('a scope whose fn throws still frees what it created', () => {
    const start = E.liveTensorCount();
    expect(() =>
      E.scope(() => {
        E.ones([8]);
        throw new Error('fail inside');
      }),
    ).toThrow('fail inside');
    expect(E.liveTensorCount()).toBe(start);
  });

  it('returns GPU buffers to the pool', () => {
    const before = E.runtime().pool.snapshot();
    E.scope(() => {
      const x = E.variable(E.ones([64, 64]));
      E.grad(E.sum(E.matmul(x, x)), [x]);
    });
    const after = E.runtime().pool.snapshot();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  it('using a disposed tensor throws an error that mentions dispose', async () => {
    const t = E.tensor([1, 2, 3]);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(() => E.add(t, t)).toThrow(/dispose/);
    await expect(t.data()).rejects.toThrow(/dispose/);
    const escaped = E.scope(() => {
      const inner = E.tensor([4]);
      return { s: 'only a string', keep: inner.shape };
    });
    expect(escaped.keep).toEqual([1]);
    let leaked: E.Tensor | null = null;
    E.scope(() => {
      leaked = E.tensor([5]);
    });
    expect(() => E.exp(leaked!)).toThrow(/dispose/);
    t.dispose(); // disposing twice is harmless
  });
});

// Defects found by a review of the engine (each case failed before its fix).
describe('engine edge cases', () => {
  it('two targets that receive the same gradient get tensors of their own', async () => {
    const a = E.variable(E.tensor([1, 2], [2]));
    const b = E.variable(E.tensor([3, 4], [2]));
    const [ga, gb] = E.grad(E.sum(E.add(a, b)), [a, b]);
    expect(ga).not.toBe(gb);
    ga.dispose();
    expect(await readNumbers(gb)).toEqual([1, 1]);
    E.backward(E.sum(E.add(a, b)));
    a.grad!.dispose(); // as SGD.zeroGrad does
    a.grad = null;
    expect(await readNumbers(b.grad!)).toEqual([1, 1]);
    E.dispose([gb, b.grad, a, b]);
  });

  it('backward through a tensor that was disposed throws instead of treating it as a leaf', () => {
    const x = E.variable(E.tensor([1, -2, 3], [3]));
    const y = E.scope(() => E.sum(E.relu(E.mul(x, 2))));
    expect(() => E.backward(y)).toThrow(/was disposed but .* still needs it/);
    expect(() => E.grad(y, [x])).toThrow(/was disposed/);
    E.dispose([x, y]);
  });

  it('hvp records the loss even under noGrad, and refuses a parameter without a gradient', async () => {
    const w = E.variable(E.tensor([1, 2, 3], [3]));
    const v = E.tensor([1, 1, 1], [3]);
    // L = Σ w³: H = diag(6w), H·1 = 6w.
    const [hv] = E.noGrad(() => E.hvp(() => E.sum(E.pow(w, 3)), [w], [v]));
    expect(await readNumbers(hv)).toEqual([6, 12, 18]);
    const plain = E.tensor([1, 2, 3], [3]);
    expect(() => E.hvp(() => E.sum(E.pow(plain, 3)), [plain], [v])).toThrow(/does not require a gradient/);
    E.dispose([w, v, hv, plain]);
  });

  it('scope(async fn) frees what fn made before refusing it; noGrad(async fn) is refused', () => {
    const before = E.liveTensorCount();
    expect(() =>
      E.scope(async () => {
        E.tensor([1], [1]);
      }),
    ).toThrow(/use scopeAsync/);
    expect(E.liveTensorCount()).toBe(before);
    expect(() => E.noGrad(async () => 1)).toThrow(/returned a Promise/);
    expect(E.isRecording()).toBe(true);
  });

  it('assign checks the shape, and assigning a tensor to itself keeps it', async () => {
    const t = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    t.assign(t);
    expect(t.isDisposed).toBe(false);
    expect(await readNumbers(t)).toEqual([1, 2, 3, 4, 5, 6]);
    const flat = E.tensor([0, 0, 0, 0, 0, 0], [6]);
    expect(() => t.assign(flat)).toThrow(/expected f32 \[2, 3\], got f32 \[6\]/);
    E.dispose([t, flat]);
  });

  it('a buffer released past the pool cap is destroyed only after the commands recorded on it run', async () => {
    const pool = E.runtime().pool;
    const cap = pool.maxPooledBytes;
    pool.maxPooledBytes = 0;
    try {
      const a = E.tensor([1, 2], [2]);
      const b = E.add(a, a);
      a.dispose();
      expect(await readNumbers(b)).toEqual([2, 4]);
      b.dispose();
    } finally {
      pool.maxPooledBytes = cap;
    }
  });
});
