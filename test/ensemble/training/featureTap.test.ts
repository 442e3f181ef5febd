import { describe, expect, it } from 'vitest';
import * as E from '../../../src/index.js';
import type { Module, Tensor } from '../../../src/index.js';

interface Case {
  name: string;
  build: () => Module & E.TappedModel;
  input: number[];
  layers: number;
  relus: number;
}

const gen = () => new E.Generator(11);
const cases: Case[] = [
  { name: 'SmallCNN', build: () => new E.SmallCNN({ width: 0.25, imageSize: 8, numClasses: 4, generator: gen() }), input: [2, 1, 8, 8], layers: 4, relus: 3 },
  { name: 'ResNet18', build: () => new E.ResNet18({ width: 1 / 16, numClasses: 3, generator: gen() }), input: [2, 3, 8, 8], layers: 18, relus: 17 },
  { name: 'VGG16Net', build: () => new E.VGG16Net({ width: 1 / 16, numClasses: 3, generator: gen() }), input: [2, 3, 32, 32], layers: 14, relus: 13 },
];

describe('feature taps', () => {
  for (const c of cases) {
    it(`${c.name}: the tapped pass computes forward's logits and reports ${c.layers} feature layers and ${c.relus} activations`, async () => {
      const model = c.build();
      model.eval();
      const live = E.liveTensorCount();
      await E.scopeAsync(async () => {
        const x = new E.Generator(3).uniform(c.input);
        const plain = E.noGrad(() => model.forward(x));
        const features: [number, Tensor][] = [];
        const acts: Tensor[] = [];
        const tapped = E.noGrad(() => model.forwardTapped(x, { feature: (l, t) => features.push([l, t]), activation: (a) => acts.push(a) }));
        expect(model.featureLayerCount()).toBe(c.layers);
        expect(features.map(([l]) => l)).toEqual(Array.from({ length: c.layers }, (_, i) => i + 1));
        expect(acts.length).toBe(c.relus);
        expect(Array.from(await tapped.data())).toEqual(Array.from(await plain.data()));
        expect(features[c.layers - 1][1]).toBe(tapped);
        // Features are taken before the ReLU, so some are negative; activations never are.
        expect(Math.min(...(await features[0][1].data()))).toBeLessThan(0);
        for (const a of acts) expect(Math.min(...(await a.data()))).toBeGreaterThanOrEqual(0);
        // stopAt returns that layer's feature and stops there.
        for (const l of [1, 2, c.layers - 1]) {
          const seen: number[] = [];
          const f = E.noGrad(() => model.forwardTapped(x, { stopAt: l, feature: (k) => seen.push(k) }));
          expect(seen[seen.length - 1]).toBe(l);
          expect(f.shape).toEqual(features[l - 1][1].shape);
          expect(Array.from(await f.data())).toEqual(Array.from(await features[l - 1][1].data()));
        }
        expect(() => model.forwardTapped(x, { stopAt: c.layers + 1 })).toThrow(/stopAt must be an integer feature layer in \[1, \d+\]/);
      });
      expect(E.liveTensorCount()).toBe(live);
      model.dispose();
    });
  }
});
