import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { applyMasks, buildArchitecture, disposeSubModel } from '../../src/ensemble/subModel.js';
import { BatchNorm2d, Conv2d } from '../../src/nn/layers.js';
import { prunableLayers, weightKey } from '../../src/pruning/prunable.js';
import { compressForInference, decompress, withSparseKernels } from '../../src/pruning/sparseInference.js';
import { MaskedModel } from '../../src/pruning/maskedModel.js';
import { inputGradient } from '../../src/attacks/inputGradient.js';
import { galLoss } from '../../src/ensemble/training/galLoss.js';

/**
 * A SmallCNN (or ResNet-18 at width 1/8) whose conv/linear weights keep a fraction `keep` (every
 * layer), with running statistics and affine parameters far from a fresh batch norm's, so that
 * folding them into the sparse kernels' store is really tested.
 */
function pruned(seed: number, keep: number, model: 'smallcnn' | 'resnet18' = 'smallcnn'): E.Module {
  const m =
    model === 'smallcnn'
      ? buildArchitecture({ model, width: 0.5, inChannels: 1, numClasses: 10, imageSize: 28 }, seed)
      : buildArchitecture({ model, width: 0.125, inChannels: 3, numClasses: 10, imageSize: 32 }, seed);
  let state = seed * 7919 + 1;
  const next = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
  const masks = new Map<string, E.Tensor>();
  for (const l of prunableLayers(m))
    masks.set(weightKey(l), E.Tensor.fromArray(Float32Array.from({ length: l.weight.size }, () => (next() < keep ? 1 : 0)), l.weight.shape));
  applyMasks(m, masks);
  const stats = new Map<string, E.Tensor>();
  const ranges = { running_mean: [-0.5, 0.5], running_var: [0.3, 2], weight: [0.5, 1.5], bias: [-0.3, 0.3] } as const;
  for (const [name, bn] of m.namedModules())
    if (bn instanceof BatchNorm2d)
      for (const [key, [lo, hi]] of Object.entries(ranges))
        stats.set(`${name}.${key}`, E.Tensor.fromArray(Float32Array.from({ length: bn.numFeatures }, () => lo + (hi - lo) * next()), [bn.numFeatures]));
  m.loadStateDict(stats, { strict: false });
  for (const t of stats.values()) t.dispose();
  return m.eval();
}

describe('sparse inference (compressForInference)', () => {
  it('gives the masked model’s logits', async () => {
    const m = pruned(3, 0.1);
    const x = new E.Generator(9).uniform([5, 1, 28, 28]);
    const dense = await E.noGrad(() => m.forward(x)).data();
    const summary = await compressForInference(m);
    // Layer sparsities of ~90% are compressed; the tiny 9-weight-per-filter first conv may not be.
    expect(Object.keys(summary.compressed).length).toBeGreaterThanOrEqual(2);
    for (const s of Object.values(summary.compressed)) expect(s).toBeGreaterThanOrEqual(0.8);
    const convs = m.namedModules().filter(([, c]) => c instanceof Conv2d) as [string, Conv2d][];
    expect(convs.filter(([, c]) => c.sparseWeight).length).toBe(Object.keys(summary.compressed).length);
    const sparse = await E.noGrad(() => m.forward(x)).data();
    for (let i = 0; i < dense.length; i++) expect(sparse[i]).toBeCloseTo(dense[i], 4);
    // With a gradient recorded (an attack, in eval mode), the sparse kernels run too: same values.
    const recorded = await E.scope(() => m.forward(x).keep()).data();
    for (let i = 0; i < dense.length; i++) expect(recorded[i]).toBeCloseTo(dense[i], 4);
    decompress(m);
    expect(convs.every(([, c]) => c.sparseWeight === null)).toBe(true);
    x.dispose();
    disposeSubModel(m);
  });

  it('folds each batch norm, shortcut and ReLU into the sparse kernels of a ResNet-18 (the masked model’s logits)', async () => {
    const m = pruned(6, 0.1, 'resnet18');
    const x = new E.Generator(4).uniform([3, 3, 32, 32]);
    const dense = await E.noGrad(() => m.forward(x)).data();
    const summary = await compressForInference(m);
    // Every 3×3 conv and the 1×1 shortcuts: 17 convs of 8–64 channels at about 90% sparsity.
    expect(Object.keys(summary.compressed).length).toBeGreaterThanOrEqual(15);
    const sparse = await E.noGrad(() => m.forward(x)).data();
    let scale = 0;
    for (const v of dense) scale = Math.max(scale, Math.abs(v));
    expect(scale).toBeGreaterThan(0.1);
    for (let i = 0; i < dense.length; i++) expect(Math.abs(sparse[i] - dense[i])).toBeLessThan(1e-4 * Math.max(1, scale));
    // In training mode the batch statistics apply, so nothing is folded: still the masked model's values.
    m.train();
    const trainDense = await E.noGrad(() => {
      decompress(m);
      return m.forward(x);
    }).data();
    await compressForInference(m);
    const trainSparse = await E.noGrad(() => m.forward(x)).data();
    for (let i = 0; i < trainDense.length; i++) expect(trainSparse[i]).toBeCloseTo(trainDense[i], 4);
    x.dispose();
    disposeSubModel(m);
  });

  for (const model of ['smallcnn', 'resnet18'] as const)
  it(`gives an attack the masked ${model}’s input gradient through the sparse kernels, and training the masked path`, async () => {
    const m = pruned(8, 0.1, model);
    const x = new E.Generator(5).uniform(model === 'smallcnn' ? [4, 1, 28, 28] : [2, 3, 32, 32]);
    const y = E.Tensor.fromArray(model === 'smallcnn' ? [1, 7, 3, 0] : [2, 9], [x.shape[0]], 'i32');
    const classifier = E.moduleClassifier(m);
    const attackGradient = async () => {
      const g = inputGradient(classifier, x, (z) => E.crossEntropy(z, y, { reduction: 'none' }));
      const [grad, loss] = [await g.grad.data(), await g.loss.data()];
      g.grad.dispose();
      g.loss.dispose();
      g.logits.dispose();
      return { grad, loss };
    };
    const convs = m.namedModules().filter(([, c]) => c instanceof Conv2d) as [string, Conv2d][];
    const calls = { sparse: 0 };
    const dense = await attackGradient();
    await compressForInference(m);
    expect(convs.filter(([, c]) => c.sparseWeight).length).toBeGreaterThanOrEqual(2);
    // Both input-gradient paths read the weights transposed (kernels/sparseConv.ts).
    const proto = E.SparseConv2d.prototype;
    const { transposed, transposedGroups } = proto;
    proto.transposed = function (this: E.SparseConv2d) {
      calls.sparse++;
      return transposed.call(this);
    };
    proto.transposedGroups = function (this: E.SparseConv2d, sh: number, sw: number) {
      calls.sparse++;
      return transposedGroups.call(this, sh, sw);
    };
    let sparse: Awaited<ReturnType<typeof attackGradient>>;
    try {
      sparse = await attackGradient();
    } finally {
      Object.assign(proto, { transposed, transposedGroups });
    }
    // The backward pass went through the compressed layers' transposed weights.
    expect(calls.sparse).toBeGreaterThanOrEqual(2);
    let scale = 0;
    for (const v of dense.grad) scale = Math.max(scale, Math.abs(v));
    expect(scale).toBeGreaterThan(0);
    for (let i = 0; i < dense.grad.length; i++) expect(Math.abs(sparse.grad[i] - dense.grad[i])).toBeLessThan(1e-4 * scale);
    for (let i = 0; i < dense.loss.length; i++) expect(sparse.loss[i]).toBeCloseTo(dense.loss[i], 4);
    // The weights' gradient through the compressed copy is refused, not silently missing...
    expect(() => E.scope(() => E.backward(E.crossEntropy(m.forward(x), y)))).toThrow(/no gradient for the compressed weights/);
    // ...and in training mode the masked dense path runs, so the weights get theirs.
    m.train();
    const first = convs[0][1];
    E.scope(() => E.backward(E.crossEntropy(m.forward(x), y)));
    expect(first.weight.grad).not.toBeNull();
    for (const p of m.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
    x.dispose();
    y.dispose();
    disposeSubModel(m);
  });

  it('leaves layers that are too dense to gain on the dense kernels', async () => {
    const m = pruned(4, 0.6);
    const summary = await compressForInference(m);
    expect(Object.keys(summary.compressed)).toEqual([]);
    expect(Object.values(summary.dense).every((s) => s < 0.8 && s > 0.2)).toBe(true);
    disposeSubModel(m);
  });

  it("times each layer with the epilogue the model gives it (ReLU, and ResNet's residual)", async () => {
    const m = pruned(6, 0.1, 'resnet18');
    const x = new E.Generator(3).uniform([2, 3, 32, 32]);
    const calls: { relu: boolean; residual: boolean }[] = [];
    const original = Conv2d.prototype.forwardBatchNorm;
    Conv2d.prototype.forwardBatchNorm = function (this: Conv2d, input, bn, relu, residual) {
      calls.push({ relu, residual: residual !== undefined });
      return original.call(this, input, bn, relu, residual);
    };
    try {
      await compressForInference(m, { sample: x, repeats: 1 });
    } finally {
      Conv2d.prototype.forwardBatchNorm = original;
    }
    // One forward pass of the model makes 8 residual calls (each block's conv2); every timed layer
    // then runs 4 more calls (warm-up and repeat, dense and sparse) with its own epilogue.
    const withResidual = calls.filter((c) => c.residual).length;
    expect(withResidual).toBe(8 + 8 * 4);
    expect(calls.filter((c) => !c.relu && !c.residual).length).toBe(3 + 3 * 4); // the shortcuts' batch norms
    x.dispose();
    disposeSubModel(m);
  });

  it('with a sample input keeps the sparse kernel only where it measured faster', async () => {
    const m = pruned(5, 0.05);
    const x = new E.Generator(2).uniform([16, 1, 28, 28]);
    const before = await E.noGrad(() => m.forward(x)).data();
    const summary = await compressForInference(m, { sample: x, repeats: 1 });
    const timed = Object.entries(summary.timings);
    expect(timed.length).toBeGreaterThanOrEqual(2);
    for (const [name, t] of timed) {
      expect(t.dense).toBeGreaterThan(0);
      expect(name in summary.compressed).toBe(t.sparse < t.dense);
      expect(name in summary.dense).toBe(!(t.sparse < t.dense));
    }
    // The forward pass is unchanged whichever kernels won, and the layers' forward methods are restored.
    const after = await E.noGrad(() => m.forward(x)).data();
    decompress(m);
    const again = await E.noGrad(() => m.forward(x)).data();
    for (let i = 0; i < before.length; i++) {
      expect(after[i]).toBeCloseTo(before[i], 4);
      expect(again[i]).toBeCloseTo(before[i], 4);
    }
    for (const [, c] of m.namedModules()) expect(Object.hasOwn(c, 'forward') || Object.hasOwn(c, 'forwardBatchNorm')).toBe(false);
    x.dispose();
    disposeSubModel(m);
  });

  it('withSparseKernels compresses for one step only (a MaskedModel with the masks it applies in forward), and releases on errors', async () => {
    const m = pruned(9, 0.1);
    const base = buildArchitecture({ model: 'smallcnn', width: 0.5, inChannels: 1, numClasses: 10, imageSize: 28 }, 2).eval();
    // Rate logits at their floor keep about 1% of every layer: the MaskedModel's masks, which it sets on the convs only in forward.
    const init = new Map(prunableLayers(base).map((l) => [l.name, E.abs(l.weight)]));
    const masked = await MaskedModel.create(base, init, { target: 0.1, initialRateLogit: -20 });
    const convsOf = (model: E.Module) => model.namedModules().flatMap(([, c]) => (c instanceof Conv2d ? [c] : []));
    const x = new E.Generator(3).uniform([2, 1, 28, 28]);
    const denseLogits = await E.noGrad(() => masked.forward(x)).data();
    let seen = { plain: 0, masked: 0 };
    let inside: Float32Array | null = null;
    const result = await withSparseKernels([m, masked], async () => {
      seen = { plain: convsOf(m).filter((c) => c.sparseWeight).length, masked: convsOf(base).filter((c) => c.sparseWeight).length };
      inside = (await E.noGrad(() => masked.forward(x)).data()) as Float32Array;
      return 7;
    }, true);
    expect(result).toBe(7);
    expect(seen.plain).toBeGreaterThanOrEqual(2);
    // The masks were the MaskedModel's: its convs were compressed at its ~99% sparsity, and the
    // compressed forward gives its masked forward.
    expect(seen.masked).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < denseLogits.length; i++) expect(inside![i]).toBeCloseTo(denseLogits[i], 4);
    // Released after the step (the update would make the copies stale), also when the step throws.
    expect([...convsOf(m), ...convsOf(base)].every((c) => c.sparseWeight === null)).toBe(true);
    await expect(withSparseKernels([m], () => {
      throw new Error('step failed');
    }, true)).rejects.toThrow('step failed');
    expect(convsOf(m).every((c) => c.sparseWeight === null)).toBe(true);
    // Disabled (a GPU adapter): nothing is compressed.
    await withSparseKernels([m], () => {
      expect(convsOf(m).every((c) => c.sparseWeight === null)).toBe(true);
    }, false);
    E.dispose([x, [...init.values()]]);
    masked.dispose();
    disposeSubModel(m);
  });

  it('withSparseKernels trains through the sparse kernels with the masked path’s gradients: fixed masks, and HARP’s straight-through ones', async () => {
    const x = new E.Generator(4).uniform([4, 1, 28, 28]);
    const y = E.Tensor.fromArray([3, 1, 4, 1], [4], 'i32');
    const proto = E.SparseConv2d.prototype;
    const { denseIndexGpu, transposedGroups } = proto;
    let weightGradients = 0;
    let inputGradients = 0;
    proto.denseIndexGpu = function (this: E.SparseConv2d) {
      weightGradients++;
      return denseIndexGpu.call(this);
    };
    proto.transposedGroups = function (this: E.SparseConv2d, sh: number, sw: number) {
      inputGradients++;
      return transposedGroups.call(this, sh, sw);
    };
    /** Every gradient of one training pass of `model` w.r.t. `params`, on the host. */
    const gradients = (model: E.Module, params: E.Tensor[]) =>
      E.scopeAsync(async () => {
        const gs = E.grad(E.crossEntropy(model.forward(x), y), params, { allowUnused: true });
        return Promise.all(gs.map(async (g) => Float32Array.from(await g.data())));
      });
    const expectSame = (got: Float32Array[], want: Float32Array[], what: string, rtol = 1e-4) => {
      for (const [k, w] of want.entries()) {
        const scale = Math.max(1e-9, ...Array.from(w, Math.abs));
        for (let i = 0; i < w.length; i++) expect(Math.abs(got[k][i] - w[i]), `${what}, parameter ${k}, entry ${i}`).toBeLessThan(rtol * scale);
      }
    };
    try {
      // Fine-tuning and ensemble training: the masks (Conv2d.weightMask) are constants.
      const m = pruned(11, 0.1).train();
      const params = m.parameters();
      const masked = await gradients(m, params);
      const sparse = await withSparseKernels([m], () => gradients(m, params), true);
      expect(weightGradients).toBeGreaterThanOrEqual(2);
      expectSame(sparse, masked, 'fixed masks');
      // Pruned weights got exactly zero.
      const [, first] = m.namedModules().find(([, c]) => c instanceof Conv2d) as [string, Conv2d];
      const mask = await first.weightMask!.data();
      const g = sparse[params.indexOf(first.weight)];
      expect(g.some((v) => v !== 0)).toBe(true);
      for (let i = 0; i < g.length; i++) if (mask[i] === 0) expect(g[i]).toBe(0);
      disposeSubModel(m);

      // HARP's pruning stage: the scores reach the convs through a straight-through mask, whose
      // gradient needs ∂L/∂(w ⊙ M) at every weight: the dense GEMM's, while the forward and the
      // input gradient still run the sparse kernels.
      const base = buildArchitecture({ model: 'smallcnn', width: 0.5, inChannels: 1, numClasses: 10, imageSize: 28 }, 5).train();
      const init = new Map(prunableLayers(base).map((l) => [l.name, E.abs(l.weight)]));
      const harp = await MaskedModel.create(base, init, { target: 0.1, initialRateLogit: -20 });
      // Scores, rates and BN (what HARP trains), and the frozen weights' gradient (w.r.t. w: ⊙ M) too.
      const trainable = [...harp.trainableParameters(), ...prunableLayers(base).map((l) => l.weight)];
      const [beforeWeight, beforeInput] = [weightGradients, inputGradients];
      const plain = await gradients(harp, trainable);
      const inside = await withSparseKernels([harp], () => gradients(harp, trainable), true);
      expect(weightGradients).toBe(beforeWeight);
      expect(inputGradients).toBeGreaterThan(beforeInput);
      // (Summation orders differ through five layers of sparse kernels: float32 noise of ~1e-4.)
      expectSame(inside, plain, 'straight-through masks', 1e-3);
      expect(inside.some((g) => g.some((v) => v !== 0))).toBe(true);
      E.dispose([...init.values()]);
      harp.dispose();
    } finally {
      Object.assign(proto, { denseIndexGpu, transposedGroups });
      E.dispose([x, y]);
    }
  });

  it('withSparseKernels trains a loss on input gradients (GAL) with the masked path’s gradients, and a conv without a mask on the dense path', async () => {
    const members = [pruned(12, 0.1).train(), pruned(13, 0.1).train()];
    const x = new E.Generator(6).uniform([3, 1, 28, 28]);
    const y = E.Tensor.fromArray([2, 5, 9], [3], 'i32');
    const params = members.flatMap((m) => m.parameters());
    const gradients = () =>
      E.scopeAsync(async () => {
        const loss = galLoss(members.map((m) => (v: E.Tensor) => m.forward(v)), x, y);
        return Promise.all(E.grad(loss, params, { allowUnused: true }).map(async (g) => Float32Array.from(await g.data())));
      });
    const masked = await gradients();
    const sparse = await withSparseKernels(members, () => {
      expect(members[0].namedModules().some(([, c]) => c instanceof Conv2d && c.sparseWeightTrainable)).toBe(true);
      return gradients();
    }, true);
    for (const [k, w] of masked.entries()) {
      const scale = Math.max(1e-6, ...Array.from(w, Math.abs));
      for (let i = 0; i < w.length; i++) expect(Math.abs(sparse[k][i] - w[i]), `parameter ${k}, entry ${i}`).toBeLessThan(1e-3 * scale);
    }
    members.forEach(disposeSubModel);
    // Compressed from its non-zero weights alone (no mask), a conv's zeros still train: not trainable.
    const conv = new Conv2d(4, 8, 3, { padding: 1 });
    const w = await conv.weight.data();
    conv.weight.assign(E.Tensor.fromArray(Float32Array.from(w, (v, i) => (i % 10 === 0 ? v : 0)), conv.weight.shape));
    await withSparseKernels([conv], () => {
      expect(conv.sparseWeight).not.toBeNull();
      expect(conv.sparseWeightTrainable).toBe(false);
    }, true);
    E.dispose([x, y]);
    conv.dispose();
  });

  it("refuses the gradient of a compressed conv's straight-through mask in eval mode (Conv2d passes its mask)", async () => {
    const conv = new Conv2d(2, 3, 3, { padding: 1 }).eval();
    conv.weightMask = E.variable(E.onesLike(conv.weight));
    conv.sparseWeight = await E.SparseConv2d.fromTensors(conv.weight);
    try {
      E.scope(() => {
        const x = E.variable(new E.Generator(1).uniform([1, 2, 5, 5]));
        expect(() => E.grad(E.sum(conv.forward(x)), [conv.weightMask!])).toThrow(/their mask/);
        expect(E.grad(E.sum(conv.forward(x)), [x])[0].shape).toEqual([1, 2, 5, 5]);
      });
    } finally {
      decompress(conv);
      conv.weightMask.dispose();
      conv.dispose();
    }
  });
});
