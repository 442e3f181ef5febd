import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { dynamicEnsembleMacs, layerPositions, macCount } from '../../src/ensemble/macs.js';
import { buildArchitecture, type ArchitectureSpec } from '../../src/ensemble/subModel.js';

const spec: ArchitectureSpec = { model: 'smallcnn', width: 1, inChannels: 1, numClasses: 10, imageSize: 28 };

describe('multiply-accumulates (§11.5 FLOP ratio)', () => {
  it('counts each conv weight once per output position and each linear weight once', async () => {
    const positions = layerPositions(spec);
    // SmallCNN: 28×28 at stride 1, then 14×14 and 7×7 at stride 2, and the linear head.
    expect([...positions]).toEqual([['conv1', 784], ['conv2', 196], ['conv3', 49], ['linear', 1]]);
    const model = buildArchitecture(spec);
    const dense = 32 * 9 * 784 + 64 * 32 * 9 * 196 + 128 * 64 * 9 * 49 + 10 * 6272;
    expect(await macCount(model, positions)).toEqual({ dense, nonZero: dense });
    // A mask dropping conv2's first 10 output channels, and one zeroed conv3 weight.
    const mask = Float32Array.from({ length: 64 * 32 * 9 }, (_, i) => (i < 10 * 32 * 9 ? 0 : 1));
    const layers = new Map(model.namedModules());
    (layers.get('conv2') as E.Conv2d).weightMask = E.tensor(mask, [64, 32, 3, 3]);
    const w3 = await (layers.get('conv3') as E.Conv2d).weight.data();
    w3[5] = 0;
    (layers.get('conv3') as E.Conv2d).weight.assign(E.tensor(w3, [128, 64, 3, 3]));
    expect((await macCount(model, positions)).nonZero).toBe(dense - 10 * 32 * 9 * 196 - 49);
    (layers.get('conv2') as E.Conv2d).weightMask!.dispose();
    (layers.get('conv2') as E.Conv2d).weightMask = null;
    model.dispose();
  });

  it('a dynamic ensemble costs, per image, the members it ran, in order', () => {
    // Two images stop after the first member, one after the second, one runs all three.
    expect(dynamicEnsembleMacs([10, 20, 30], [2, 1, 1])).toBe((2 * 10 + 30 + 60) / 4);
    expect(dynamicEnsembleMacs([10, 20, 30], [0, 0, 5])).toBe(60);
    expect(() => dynamicEnsembleMacs([10, 20], [1, 1, 1])).toThrow(/histogram of 3 for 2 members/);
    expect(() => dynamicEnsembleMacs([10], [0])).toThrow(/no images/);
  });
});
