// A pruning run stopped after any epoch (inside the pruning stage, at the boundary between the
// stages, inside fine-tuning) and resumed from its run directory must end exactly where an
// uninterrupted in-memory run ends: weights, BN state, masks, layer rates, selected epochs and
// every number of the history.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Dataset } from '../../src/data/dataset.js';
import { pruneAdversarially, type PruneEpochMetrics, type PruneResult, type PruneSettings } from '../../src/pruning/prune.js';
import { RunDir } from '../../src/training/runDir.js';
import { TrainingInterrupted } from '../../src/training/trainer.js';

/** Fashion-MNIST-shaped images (1×28×28, 10 classes) whose class brightens one band of rows. */
function fmnistLike(n: number, seed: number): Dataset {
  const images = new Uint8Array(n * 784);
  const labels = new Int32Array(n);
  let state = seed;
  const rnd = () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  for (let i = 0; i < n; i++) {
    labels[i] = i % 10;
    for (let p = 0; p < 784; p++) images[i * 784 + p] = Math.floor(rnd() * 128 + (Math.floor(p / 28 / 3) === labels[i] ? 127 : 0));
  }
  return { images, labels, shape: [1, 28, 28], classes: 10, name: 'fmnist-like' };
}

// φ = 5 reaches the target in the first epoch, so the best-epoch tracker holds a snapshot at every
// commit of both stages.
const SETTINGS: PruneSettings = {
  score: 'bnsf', keepFraction: 0.2, alphaMin: 0.1, phi: 5, pruneEpochs: 2, finetuneEpochs: 2, batchSize: 16,
  pruneLr: 0.1, finetuneLr: 0.01, finetuneLrStages: 2, momentum: 0.9, weightDecay: 5e-4, eps: 0.1, stepSize: 0.05, attackSteps: 1,
  scoreSamples: 16, nisFrl: 'uniform', augment: false, seed: 7,
};
const CONFIG = { ...SETTINGS } as unknown as Record<string, unknown>;

const train = fmnistLike(64, 1);
const validation = { data: fmnistLike(16, 2), size: 16, steps: 1, stepSize: 0.05 };
const baseModel = (seed = 5) => new E.SmallCNN({ width: 0.25, inChannels: 1, numClasses: 10, generator: new E.Generator(seed) });

interface Outcome {
  state: [string, number[]][];
  masks: number[][];
  layerKeepRates: [string, number][];
  selectedEpochs: PruneResult['selectedEpochs'];
  history: Omit<PruneEpochMetrics, 'seconds'>[];
}

/** Everything a resumed run must reproduce, read back to the host (and the model freed). */
async function outcome(r: PruneResult): Promise<Outcome> {
  const state: [string, number[]][] = [];
  for (const [k, t] of r.model.base.stateDict()) state.push([k, Array.from(await t.data())]);
  const out: Outcome = {
    state,
    masks: r.model.layers.map((l) => Array.from(l.hostMask)),
    layerKeepRates: [...r.layerKeepRates],
    selectedEpochs: r.selectedEpochs,
    history: r.history.map(({ seconds: _seconds, ...m }) => m),
  };
  r.model.dispose();
  return out;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('resumable pruning runs', () => {
  let reference: Outcome;

  it('an uninterrupted run completes both stages', async () => {
    reference = await outcome(await pruneAdversarially(baseModel(), train, SETTINGS, { validation }));
    expect(reference.history.map((h) => `${h.stage} ${h.epoch}`)).toEqual(['prune 1', 'prune 2', 'finetune 1', 'finetune 2']);
    expect(reference.history.every((h) => h.validationPgd !== null)).toBe(true);
  });

  for (const stopAfter of [1, 2, 3]) {
    it(`stopped after epoch ${stopAfter} of 4 and resumed, it ends bit-identical to the uninterrupted run`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'eed-prune-resume-'));
      dirs.push(dir);
      const signal = { aborted: false };
      let epochs = 0;
      const first = baseModel();
      const stopped = pruneAdversarially(first, train, SETTINGS, {
        validation,
        run: await RunDir.open(dir, CONFIG),
        signal,
        onEpoch: () => (signal.aborted = ++epochs === stopAfter),
      });
      const error = await stopped.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TrainingInterrupted);
      expect((error as TrainingInterrupted).completedEpochs).toBe(stopAfter);
      first.dispose();

      const run = await RunDir.open(dir, CONFIG);
      expect(run.resumed?.epoch).toBe(stopAfter);
      expect(run.resumed?.extra.stage).toBe(stopAfter < SETTINGS.pruneEpochs ? 'prune' : 'finetune');
      // Other initial weights: the checkpoint must supersede the caller's model entirely.
      const resumed = await outcome(await pruneAdversarially(baseModel(99), train, SETTINGS, { validation, run }));
      expect(resumed).toEqual(reference);
      const log = readFileSync(join(dir, 'log.txt'), 'utf8');
      expect(log.match(/initial bnsf scores/g)).toHaveLength(1);
      expect(log).toContain(`resumed after epoch ${stopAfter} of 4`);

      if (stopAfter === 3) {
        // A finished run directory gives the same result again without training.
        const again = await RunDir.open(dir, CONFIG);
        expect(again.resumed?.epoch).toBe(4);
        expect(await outcome(await pruneAdversarially(baseModel(98), train, SETTINGS, { validation, run: again }))).toEqual(reference);
      }
    });
  }

  // Four steps per epoch: inside the first pruning epoch (no epoch finished yet) and inside the
  // first fine-tuning epoch, checkpointed only when interrupted.
  for (const [epoch, step] of [
    [1, 2],
    [3, 3],
  ]) {
    it(`stopped after step ${step} of global epoch ${epoch} and resumed, it ends bit-identical too`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'eed-prune-resume-step-'));
      dirs.push(dir);
      const signal = { aborted: false };
      const first = baseModel();
      const error = await pruneAdversarially(first, train, SETTINGS, {
        validation,
        run: await RunDir.open(dir, CONFIG),
        signal,
        checkpointSeconds: 1e9,
        onStep: (e, b) => (signal.aborted = e === epoch && b === step),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TrainingInterrupted);
      expect([(error as TrainingInterrupted).completedEpochs, (error as TrainingInterrupted).stepsIntoNext]).toEqual([epoch - 1, step]);
      first.dispose();

      const run = await RunDir.open(dir, CONFIG);
      expect(run.resumed?.epoch).toBe(epoch - 1);
      expect((run.resumed?.extra.partial as { step: number }).step).toBe(step);
      const resumed = await outcome(await pruneAdversarially(baseModel(99), train, SETTINGS, { validation, run }));
      expect(resumed).toEqual(reference);
      expect(readFileSync(join(dir, 'log.txt'), 'utf8')).toContain(`resumed after epoch ${epoch - 1} of 4 and ${step} steps`);
    });
  }

  it('a checkpoint whose state does not fit the settings is refused, naming the file and field', async () => {
    const dir = dirs[0];
    const statePath = join(dir, 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { extra: Record<string, unknown> };
    state.extra.stage = 'prune';
    writeFileSync(statePath, JSON.stringify(state));
    const base = baseModel();
    await expect(pruneAdversarially(base, train, SETTINGS, { run: await RunDir.open(dir, CONFIG) })).rejects.toThrow(
      /state\.json: extra\.stage is "prune", expected 'finetune' after epoch 4/,
    );
    base.dispose();
  });
});
