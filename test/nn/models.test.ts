import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';

describe('model architectures', () => {
  it('SmallCNN has 155,626 parameters and PyTorch-style names', () => {
    const m = new E.SmallCNN();
    expect(m.numParameters()).toBe(155_626);
    expect(m.linear.weight.shape).toEqual([10, 128 * 7 * 7]);
    const keys = [...m.stateDict().keys()];
    expect(keys.slice(0, 7)).toEqual([
      'conv1.weight',
      'bn1.weight',
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.num_batches_tracked',
      'conv2.weight',
    ]);
    expect(keys[keys.length - 1]).toBe('linear.bias');
    m.dispose();
  });

  it('ResNet-18 (3 channels, 10 classes) has 11,173,962 parameters', () => {
    const m = new E.ResNet18();
    expect(m.numParameters()).toBe(11_173_962);
    const keys = [...m.stateDict().keys()];
    expect(keys).toContain('layer1.0.conv1.weight');
    expect(keys).toContain('layer2.0.shortcut.0.weight');
    expect(keys).toContain('layer2.0.shortcut.1.running_var');
    expect(keys).not.toContain('layer1.0.shortcut.0.weight'); // identity shortcut in stage 1
    expect(m.layer3.path).toBe('layer3');
    expect(m.stateDict().get('layer4.1.bn2.weight')?.name).toBe('layer4.1.bn2.weight');
    // no conv biases
    expect(keys.filter((k) => /conv\d?\.bias$|shortcut\.0\.bias$/.test(k))).toEqual([]);
    m.dispose();
  });

  it('VGG-16 (3 channels, 10 classes) has 14,728,266 parameters with conv biases', () => {
    const m = new E.VGG16Net();
    expect(m.numParameters()).toBe(14_728_266);
    const keys = [...m.stateDict().keys()];
    expect(keys.slice(0, 7)).toEqual([
      'features.0.weight',
      'features.0.bias',
      'features.1.weight',
      'features.1.bias',
      'features.1.running_mean',
      'features.1.running_var',
      'features.1.num_batches_tracked',
    ]);
    // kuangliu's layout: conv, BN, ReLU per layer, one index per max-pool; the 13th conv is
    // features.40 and its batch norm features.41.
    const sd = m.stateDict();
    expect(sd.get('features.40.weight')!.shape).toEqual([512, 512, 3, 3]);
    expect(sd.get('features.41.running_var')!.shape).toEqual([512]);
    expect(keys).not.toContain('features.43.weight'); // the last max-pool
    expect(keys[keys.length - 2]).toBe('classifier.weight');
    m.dispose();
  });

  it('width multiplier and input/class options change the shapes', async () => {
    const m = new E.ResNet18({ width: 0.25, inChannels: 1, numClasses: 7 });
    expect(m.conv1.weight.shape).toEqual([16, 1, 3, 3]);
    expect(m.linear.weight.shape).toEqual([7, 128]);
    const y = E.scope(() => m.eval().forward(E.zeros([2, 1, 32, 32])));
    expect(y.shape).toEqual([2, 7]);
    expect((await y.data()).every(Number.isFinite)).toBe(true);
    y.dispose();
    m.dispose();
  });

  it('forward passes give [N, classes] for all three models', async () => {
    const gen = new E.Generator(3);
    for (const make of [() => new E.VGG16Net({ width: 0.125 }), () => new E.SmallCNN({ inChannels: 3, imageSize: 32 })]) {
      const m = make();
      const y = E.scope(() => m.forward(gen.uniform([2, 3, 32, 32])));
      expect(y.shape).toEqual([2, 10]);
      y.dispose();
      m.dispose();
    }
  });

  it('a wrong input shape names the layer and both shapes', () => {
    const m = new E.ResNet18({ width: 0.25 });
    expect(() => E.scope(() => m.forward(E.zeros([2, 1, 32, 32])))).toThrow(
      /Conv2d 'conv1': expected input \[N, 3, H, W\], got \[2, 1, 32, 32\]/,
    );
    const block = m.layer2.layers[0] as E.BasicBlock;
    expect(() => E.scope(() => block.forward(E.zeros([1, 5, 8, 8])))).toThrow(
      /Conv2d 'layer2\.0\.conv1': expected input \[N, 16, H, W\], got \[1, 5, 8, 8\]/,
    );
    const cnn = new E.SmallCNN({ width: 0.25 });
    expect(() => E.scope(() => cnn.forward(E.zeros([2, 1, 32, 32])))).toThrow(/SmallCNN: built for 28×28 images \(imageSize 28\), got input \[2, 1, 32, 32\]/);
    expect(() => new E.SmallCNN({ imageSize: 0 })).toThrow(/imageSize must be a positive integer, got 0/);
    cnn.dispose();
    const lin = new E.Linear(4, 3);
    expect(() => E.scope(() => lin.forward(E.zeros([2, 5])))).toThrow(/Linear: expected input \[N, 4\], got \[2, 5\]/);
    m.dispose();
    lin.dispose();
  });

  it('loadStateDict copies weights and rejects mismatched shapes and names', async () => {
    const a = new E.SmallCNN({ generator: new E.Generator(1) });
    const b = new E.SmallCNN({ generator: new E.Generator(2) });
    b.loadStateDict(a.stateDict());
    expect(await b.conv2.weight.data()).toEqual(await a.conv2.weight.data());
    const wide = new E.SmallCNN({ width: 0.5 });
    expect(() => b.loadStateDict(wide.stateDict())).toThrow(/'conv1.weight' is f32 \[16, 1, 3, 3\] but the model expects f32 \[32, 1, 3, 3\]/);
    const partial = new Map(a.stateDict());
    partial.delete('bn2.running_mean');
    partial.set('extra.weight', a.conv1.weight);
    expect(() => b.loadStateDict(partial)).toThrow(/missing keys bn2.running_mean; unexpected keys extra.weight/);
    b.loadStateDict(partial, { strict: false });
    for (const m of [a, b, wide]) m.dispose();
  });

  it('train() and eval() switch BatchNorm between batch and running statistics', async () => {
    const bn = new E.BatchNorm2d(2);
    const x = E.tensor([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
    const yTrain = E.scope(() => bn.train().forward(x));
    expect(await bn.stateDict().get('num_batches_tracked')!.data()).toEqual(new Int32Array([1]));
    const rm = await bn.runningMean.data();
    expect(rm[0]).toBeCloseTo(0.25, 5); // 0.9·0 + 0.1·2.5
    expect(rm[1]).toBeCloseTo(2.5, 5);
    const yEval = E.scope(() => bn.eval().forward(x));
    const t = await yTrain.data();
    const e = await yEval.data();
    expect(Math.abs(t[0] + t[3])).toBeLessThan(1e-4); // batch-normalised: symmetric around 0
    expect(e[3]).toBeGreaterThan(e[0]);
    expect(Math.abs(e[0] - t[0])).toBeGreaterThan(0.1);
    for (const z of [x, yTrain, yEval]) z.dispose();
    bn.dispose();
  });
});
