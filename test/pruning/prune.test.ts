// The pruning stage end to end on a tiny model and data set: scores → HARP → budget → fine-tune →
// baked masks → checkpoint with masks and layer rates.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { loadStateDict } from '../../src/io/checkpoint.js';
import { prunedCount } from '../../src/pruning/harp.js';
import { enforceKeepBudget, fineTuneRates, pruneAdversarially, savePrunedModel, scoringIndices, type PruneSettings } from '../../src/pruning/prune.js';
import { resolveOptions } from '../../src/cli/options.js';
import { PIPELINE_OPTIONS, PIPELINE_PRESETS } from '../../src/pipeline/config.js';
import { prunableLayers, prunableWeightCount } from '../../src/pruning/prunable.js';
import type { Dataset } from '../../src/data/dataset.js';
import { MaskedModel, type MaskedModelOptions } from '../../src/pruning/maskedModel.js';
import { tinyCnn } from './fixtures.js';

function tinyDataset(n: number): Dataset {
  const images = new Uint8Array(n * 64);
  const labels = new Int32Array(n);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  for (let i = 0; i < n; i++) {
    labels[i] = i % 4;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = Math.floor(rnd() * 128 + (Math.floor(p / 16) === labels[i] ? 127 : 0));
  }
  return { images, labels, shape: [1, 8, 8], classes: 4, name: 'tiny' };
}

/** A tiny CNN under masks scored by |w|, and how to free both. */
async function maskedTinyCnn(seed: number, opts: MaskedModelOptions): Promise<{ masked: MaskedModel; free: () => void }> {
  const base = tinyCnn(seed);
  const init = new Map(prunableLayers(base).map((l) => [l.name, E.abs(l.weight)]));
  const masked = await MaskedModel.create(base, init, opts);
  return {
    masked,
    free: () => {
      E.dispose([...init.values()]);
      masked.dispose();
    },
  };
}

const SETTINGS: PruneSettings = {
  score: 'bnsf', keepFraction: 0.2, alphaMin: 0.1, phi: 0.01, pruneEpochs: 2, finetuneEpochs: 1, batchSize: 8,
  pruneLr: 0.1, finetuneLr: 0.01, finetuneLrStages: 2, momentum: 0.9, weightDecay: 5e-4, eps: 0.1, stepSize: 0.05, attackSteps: 1,
  scoreSamples: 8, nisFrl: 'uniform', augment: false, seed: 3,
};

describe('pruning stage', () => {
  it('meets the keep budget, zeroes pruned weights and saves masks with layer rates', async () => {
    const base = tinyCnn(13);
    const validation = { data: tinyDataset(8), size: 8, steps: 1, stepSize: 0.05 };
    // A large φ reaches the target in the first epoch, so both pruning epochs are validated.
    const result = await pruneAdversarially(base, tinyDataset(16), { ...SETTINGS, phi: 5 }, { validation });
    const layers = prunableLayers(base);
    const total = prunableWeightCount(layers);
    expect(result.history.map((h) => h.stage)).toEqual(['prune', 'prune', 'finetune']);
    expect(result.history[0].compressionLoss).toBe(0);
    for (const h of result.history) expect(h.validationPgd).toBeGreaterThanOrEqual(0);
    const bestPrune = Math.max(result.history[0].validationPgd!, result.history[1].validationPgd!);
    expect(result.history[result.selectedEpochs.prune! - 1].validationPgd).toBe(bestPrune);
    expect(result.selectedEpochs.finetune).toBe(1);
    // Expected kept Σ n_l·k_l ≤ a_t·N after the safety net; the floor rule adds < 1 weight per layer.
    const expectedKept = layers.reduce((a, l) => a + l.weight.size * result.layerKeepRates.get(l.name)!, 0);
    expect(expectedKept).toBeLessThanOrEqual(SETTINGS.keepFraction * total * (1 + 1e-9));
    expect(result.model.keptCount()).toBeLessThan(expectedKept + layers.length);
    const count = await result.model.countNonZero();
    expect(count.prunableNonZero).toBeLessThanOrEqual(result.model.keptCount());
    for (const l of result.model.layers) {
      const w = await l.prunable.weight.data();
      expect(l.hostMask.every((m, i) => m === 1 || w[i] === 0)).toBe(true);
    }

    const dir = mkdtempSync(join(tmpdir(), 'eed-prune-'));
    try {
      const path = join(dir, 'sub.safetensors');
      await savePrunedModel(path, result, { score: 'bnsf' });
      const copy = tinyCnn(99);
      const loaded = await loadStateDict(path, copy);
      expect(loaded.masks.size).toBe(layers.length);
      const mask = await loaded.masks.get('conv2.weight')!.data();
      expect(Array.from(mask)).toEqual(Array.from(result.model.layers[1].hostMask));
      const rates = JSON.parse(loaded.metadata.layerKeepRates) as Record<string, number>;
      expect(Object.keys(rates)).toEqual(layers.map((l) => l.name));
      E.dispose([...loaded.masks.values()]);
      copy.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    result.model.dispose();
  });

  it('fine-tunes on the paper\'s multi-step rates: {0.01, 0.002} for CIFAR-10, {0.1, 0.02, 0.004} for SVHN', async () => {
    const preset = (name: string) => resolveOptions('run', PIPELINE_OPTIONS, PIPELINE_PRESETS, ['--preset', name]).config;
    const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 12));
    close(fineTuneRates(preset('cifar10-resnet18')), [0.01, 0.002]);
    close(fineTuneRates(preset('svhn-vgg16')), [0.1, 0.02, 0.004]);
    expect(fineTuneRates(preset('svhn-vgg16')).length).toBe(3);
    expect(() => fineTuneRates({ finetuneLr: 0.1, finetuneLrStages: 0 })).toThrow(/finetuneLrStages must be a positive integer/);
    // The fine-tuning epochs follow them: 3 epochs in 3 stages.
    const result = await pruneAdversarially(tinyCnn(19), tinyDataset(16), { ...SETTINGS, pruneEpochs: 0, finetuneEpochs: 3, finetuneLrStages: 3 });
    close(result.history.map((h) => h.lr), [0.01, 0.002, 0.0004]);
    result.model.dispose();
  });

  for (const score of ['nis', 'erm', 'ase', 'bnsf'] as const)
    it(`${score}: every layer's mask keeps exactly n − prunedCount(n, k) weights at its final rate, within the budget`, async () => {
      const result = await pruneAdversarially(tinyCnn(23), tinyDataset(16), { ...SETTINGS, score, phi: 5, pruneEpochs: 1, finetuneEpochs: 0 });
      let kept = 0;
      let total = 0;
      for (const l of result.model.layers) {
        const k = result.layerKeepRates.get(l.prunable.name)!;
        const n = l.hostMask.length;
        const ones = l.hostMask.reduce((a, v) => a + v, 0);
        expect(ones, `${score} ${l.prunable.name}`).toBe(n - prunedCount(n, k));
        expect(l.hostMask.every((v) => v === 0 || v === 1)).toBe(true);
        kept += ones;
        total += n;
      }
      // The budget a_t·N, up to the floor rule's less than one weight per layer.
      expect(kept).toBeLessThan(SETTINGS.keepFraction * total + result.model.layers.length);
      expect(kept).toBe(result.model.keptCount());
      result.model.dispose();
    });

  it('prunes and fine-tunes with the robust loss it is given (eq. 5: Madry, TRADES or MART)', async () => {
    const losses: number[] = [];
    for (const method of ['madry', 'trades', 'mart'] as const) {
      const result = await pruneAdversarially(tinyCnn(19), tinyDataset(16), { ...SETTINGS, pruneEpochs: 0, finetuneEpochs: 1, method });
      losses.push(result.history[0].loss);
      result.model.dispose();
    }
    // Same model, data and seed: only the loss differs (TRADES: clean CE + 6·KL; MART: boosted CE
    // + 5·weighted KL; Madry: CE on the PGD examples), and with it every value after the first step.
    expect(new Set(losses).size).toBe(3);
    expect(losses.every(Number.isFinite)).toBe(true);
  });

  it('scores on images spread over the whole subset, not its first ones (the shared chunk)', () => {
    // A capped pool subset of 200: C0's 100 images, then Cs's 100; 50 scoring images take 25 of each.
    const idx = Array.from(scoringIndices(200, 50));
    expect(idx.length).toBe(50);
    expect(idx.filter((i) => i < 100).length).toBe(25);
    expect(new Set(idx).size).toBe(50);
    expect(Array.from(scoringIndices(7, 100))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('the safety net shifts all rates by one constant down to the budget', async () => {
    const { masked, free } = await maskedTinyCnn(17, { target: 0.1, initialRateLogit: 2 });
    const before = await masked.keepRateValues();
    const shift = await enforceKeepBudget(masked);
    expect(shift).toBeLessThan(0);
    const after = await masked.keepRateValues();
    const sizes = masked.layers.map((l) => l.prunable.weight.size);
    const expected = after.reduce((a, k, i) => a + k * sizes[i], 0);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(expected).toBeLessThanOrEqual(0.1 * total * (1 + 1e-9));
    expect(expected).toBeGreaterThan(0.1 * total * 0.99);
    // What the masks keep, after their per-layer rounding, is within the budget and close to it.
    expect(masked.keptCount()).toBeLessThanOrEqual(Math.floor(0.1 * total));
    expect(masked.keptCount()).toBeGreaterThanOrEqual(Math.floor(0.1 * total) - masked.layers.length);
    expect(before.every((k, i) => after[i] < k)).toBe(true);
    free();
  });

  it("the 'scale' safety net takes the same fraction from every layer, where 'shift' takes it from the thin ones", async () => {
    // HARP's end state at 95% with 2 epochs, in small: one big layer saturated, the others thin
    // (layer sizes 72, 1152, 4608, 512).
    const logits = [-2.5, 5, -3, -2.5];
    const run = async (rule: 'shift' | 'scale') => {
      const { masked, free } = await maskedTinyCnn(17, { target: 0.1 });
      expect(masked.layers.length).toBe(logits.length);
      masked.layers.forEach((l, i) => l.rateLogit.assign(E.Tensor.fromArray([logits[i]], [1])));
      await masked.refreshMasks();
      const before = await masked.keepRateValues();
      const amount = await enforceKeepBudget(masked, rule);
      const after = await masked.keepRateValues();
      const sizes = masked.layers.map((l) => l.prunable.weight.size);
      const budget = Math.floor(0.1 * sizes.reduce((a, b) => a + b, 0));
      // Exactly within the budget, the masks as rounded per layer (at most one weight per layer short).
      expect(masked.keptCount()).toBeLessThanOrEqual(budget);
      expect(masked.keptCount()).toBeGreaterThanOrEqual(budget - masked.layers.length);
      free();
      return { before, after, amount };
    };
    const scale = await run('scale');
    expect(scale.amount).toBeGreaterThan(0);
    expect(scale.amount).toBeLessThan(1);
    // Every rate is the factor times its old value (none is at k_min here).
    scale.after.forEach((k, i) => expect(k).toBeCloseTo(scale.amount * scale.before[i], 6));
    const shift = await run('shift');
    expect(shift.amount).toBeLessThan(0);
    // The saturated layer gives up more under 'scale', the thin ones keep more.
    expect(scale.after[1]).toBeLessThan(shift.after[1]);
    for (const i of [0, 2, 3]) expect(scale.after[i]).toBeGreaterThan(shift.after[i]);
  });

  it('the safety net leaves rates within the budget as they are, under either rule', async () => {
    for (const rule of ['shift', 'scale'] as const) {
      const { masked, free } = await maskedTinyCnn(19, { target: 0.3, initialRateLogit: -2 });
      const before = await masked.keepRateValues();
      const masks = masked.layers.map((l) => l.mask);
      expect(await enforceKeepBudget(masked, rule)).toBe(rule === 'shift' ? 0 : 1);
      expect(await masked.keepRateValues()).toEqual(before);
      // Not even recomputed (refreshMasks replaces every mask tensor).
      masked.layers.forEach((l, i) => expect(l.mask).toBe(masks[i]));
      free();
    }
  });

  it('the safety net refuses a budget that k_min alone exceeds, naming it, under either rule', async () => {
    // k_min = a_t (alphaMin 1): each layer's rounding keeps a weight more than a_t·n (8 + 116 + 461 + 52 = 637 of a budget of 634).
    for (const rule of ['shift', 'scale'] as const) {
      const { masked, free } = await maskedTinyCnn(19, { target: 0.1, alphaMin: 1, initialRateLogit: 2 });
      await expect(enforceKeepBudget(masked, rule)).rejects.toThrow(/every layer at k_min = 0\.1 keeps 637 weights, over the budget of 634/);
      free();
    }
  });
});
