import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as E from '../../../src/index.js';
import type { Module, Tensor } from '../../../src/index.js';
import { RunDir } from '../../../src/training/runDir.js';
import { TrainingInterrupted } from '../../../src/training/trainer.js';
import { quadrants } from '../../training/quadrants.js';


const settings = E.ensembleTrainSettings({
  epochs: 3,
  batchSize: 16,
  lrValues: [0.05, 0.02],
  eps: 0.1,
  stepSize: 0.05,
  attackSteps: 2,
  distillEps: 0.05,
  distillStep: 0.02,
  distillSteps: 2,
  augment: false,
  seed: 3,
});

/** A pruned member as the ensemble stage gets it: half of every conv/linear weight masked and zero. */
function prunedMember(seed: number): Module {
  const m = new E.SmallCNN({ width: 0.25, imageSize: 8, numClasses: 4, generator: new E.Generator(seed) });
  const masks = new Map<string, Tensor>();
  E.prunableLayers(m).forEach((l, i) => {
    const mask = E.scope(() => E.cast(E.gt(new E.Generator(100 + seed).fork(i).uniform(l.weight.shape), 0.5), 'f32'));
    E.noGrad(() => l.weight.assign(E.scope(() => E.mul(l.weight, mask))));
    masks.set(`${l.name}.weight`, mask);
  });
  E.applyMasks(m, masks);
  return m;
}

const team = () => [prunedMember(1), prunedMember(2)];

async function weights(ms: Module[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const m of ms) for (const t of m.stateDict().values()) if (t.dtype === 'f32') out.push((await t.data()) as Float32Array);
  return out;
}

const quiet = { log: () => undefined };

describe('ensemble training', () => {
  it('lowers the loss, keeps pruned weights at zero, and a resumed run ends bit-identical to an uninterrupted one', async () => {
    const train = quadrants(64, 1);
    const base = mkdtempSync(join(tmpdir(), 'eed-ens-'));
    const config = { ...settings } as unknown as Record<string, unknown>;

    const a = team();
    const resA = await E.trainEnsemble(a, train, settings, await RunDir.open(join(base, 'a'), config), quiet);
    expect(resA.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    // Without a validation split the last epoch is kept, and nothing is checked.
    expect([resA.selectedEpoch, resA.initialValidationPgd, resA.history.some((m) => m.validationPgd !== undefined)]).toEqual([3, undefined, false]);
    const h = resA.history;
    expect(h[2].loss).toBeLessThan(h[0].loss);
    expect(h[2].ce).toBeLessThan(h[0].ce);
    expect(h.map((m) => m.lr)).toEqual([0.05, 0.05, 0.02]);
    for (const m of h) {
      expect(m.layer).toBeGreaterThanOrEqual(1);
      expect(m.layer).toBeLessThanOrEqual(4);
      expect(m.activationDensity).toBeGreaterThan(0);
      expect(m.activationDensity).toBeLessThanOrEqual(1);
      expect(Number.isFinite(m.complexityRatio)).toBe(true);
      expect(m.diversityLoss).toBeGreaterThan(0);
    }
    for (const m of a)
      for (const l of E.prunableLayers(m)) {
        const [w, mask] = [await l.weight.data(), await l.layer.weightMask!.data()];
        let moved = 0;
        mask.forEach((k, i) => {
          if (k === 0) expect(Math.abs(w[i]), `${l.name}.weight[${i}] is pruned`).toBe(0);
          else if (w[i] !== 0) moved++;
        });
        expect(moved).toBeGreaterThan(0);
      }

    const b1 = team();
    const signal = { aborted: false };
    const runB = await RunDir.open(join(base, 'b'), config);
    await expect(
      E.trainEnsemble(b1, train, settings, runB, { ...quiet, signal, onEpoch: (m) => (signal.aborted = m.epoch === 1) }),
    ).rejects.toBeInstanceOf(TrainingInterrupted);
    b1.forEach(E.disposeSubModel);

    // Then inside epoch 2 (4 steps per epoch): a checkpoint after every step, stopped after step 2.
    const b2 = team();
    const runB2 = await RunDir.open(join(base, 'b'), config);
    expect(runB2.resumed?.epoch).toBe(1);
    const signal2 = { aborted: false };
    const stopped = await E.trainEnsemble(b2, train, settings, runB2, {
      ...quiet,
      signal: signal2,
      checkpointSeconds: 0,
      onStep: (done) => (signal2.aborted = done === 2),
    }).catch((e: unknown) => e);
    expect(stopped).toBeInstanceOf(TrainingInterrupted);
    expect((stopped as TrainingInterrupted).stepsIntoNext).toBe(2);
    b2.forEach(E.disposeSubModel);

    const b3 = team();
    const runB3 = await RunDir.open(join(base, 'b'), config);
    expect([runB3.resumed?.epoch, (runB3.resumed?.extra.partial as { step: number }).step]).toEqual([1, 2]);
    const resB = await E.trainEnsemble(b3, train, settings, runB3, quiet);
    expect(resB.history.map((m) => m.epoch)).toEqual([1, 2, 3]);
    // The resumed epoch's means include the steps taken before the interruption.
    expect(resB.history[1].loss).toBe(resA.history[1].loss);
    expect(resB.history[2].loss).toBe(resA.history[2].loss);
    const [wa, wb] = [await weights(a), await weights(b3)];
    expect(wb.length).toBe(wa.length);
    wa.forEach((w, i) => expect(Array.from(wb[i])).toEqual(Array.from(w)));
    a.forEach(E.disposeSubModel);
    b3.forEach(E.disposeSubModel);
  });

  it('with a validation split, ends with its best epoch (0: the team as given) and a resumed run makes the same choice', async () => {
    // A split the training makes worse: its labels are shifted by one class, so the better the team
    // learns the quadrants, the lower its "accuracy" there, and the team before training wins.
    const held = quadrants(32, 9);
    held.labels = held.labels.map((y) => (y + 1) % 4);
    const s = { ...settings, epochs: 2 };
    const validation = { data: held, size: 32, steps: 2, stepSize: 0.05, combiner: 'average' as const };
    const config = { ...s, validation: { size: 32, steps: 2, stepSize: 0.05, combiner: 'average' } } as unknown as Record<string, unknown>;
    const train = quadrants(64, 1);
    const base = mkdtempSync(join(tmpdir(), 'eed-ens-val-'));
    const lines: string[] = [];
    const a = team();
    const resA = await E.trainEnsemble(a, train, s, await RunDir.open(join(base, 'a'), config), { log: (l) => lines.push(l), validation });
    const scores = [resA.initialValidationPgd!, ...resA.history.map((h) => h.validationPgd!)];
    expect(scores.every((v) => v >= 0 && v <= 1)).toBe(true);
    // The best, the later of equals.
    expect(resA.selectedEpoch).toBe(scores.lastIndexOf(Math.max(...scores)));
    expect(resA.selectedEpoch).toBe(0);
    expect(scores[2]).toBeLessThan(scores[0]);
    expect(lines.some((l) => l.includes('kept the members of epoch 0 (the team before training)'))).toBe(true);
    // Epoch 0's members are the team as built: weights and batch-norm state.
    const fresh = team();
    const [wa, w0] = [await weights(a), await weights(fresh)];
    wa.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(w0[i])));
    fresh.forEach(E.disposeSubModel);

    // Interrupted after epoch 1, the best so far (epoch 0's members) travels in the checkpoint.
    const b1 = team();
    const signal = { aborted: false };
    await expect(
      E.trainEnsemble(b1, train, s, await RunDir.open(join(base, 'b'), config), { ...quiet, validation, signal, onEpoch: (m) => (signal.aborted = m.epoch === 1) }),
    ).rejects.toBeInstanceOf(TrainingInterrupted);
    b1.forEach(E.disposeSubModel);
    const b2 = team();
    const resB = await E.trainEnsemble(b2, train, s, await RunDir.open(join(base, 'b'), config), { ...quiet, validation });
    expect([resB.selectedEpoch, resB.initialValidationPgd, resB.history.map((h) => h.validationPgd)]).toEqual([
      resA.selectedEpoch,
      resA.initialValidationPgd,
      resA.history.map((h) => h.validationPgd),
    ]);
    const wb = await weights(b2);
    wa.forEach((w, i) => expect(Array.from(wb[i])).toEqual(Array.from(w)));
    // Finished, a rerun takes the best members from the last checkpoint again (the stage writes
    // them out after training: a process ended in between must still write the best).
    const b3 = team();
    const resB3 = await E.trainEnsemble(b3, train, s, await RunDir.open(join(base, 'b'), config), { ...quiet, validation });
    expect(resB3.selectedEpoch).toBe(0);
    const w3 = await weights(b3);
    wa.forEach((w, i) => expect(Array.from(w3[i])).toEqual(Array.from(w)));
    // A checkpoint without the best epoch cannot belong to a validated run.
    const statePath = join(base, 'b', 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { extra: Record<string, unknown> };
    writeFileSync(statePath, JSON.stringify({ ...state, extra: { ...state.extra, best: null } }));
    const b4 = team();
    await expect(E.trainEnsemble(b4, train, s, await RunDir.open(join(base, 'b'), config), { ...quiet, validation })).rejects.toThrow(
      /state\.json: the checkpoint has no best epoch .*--fresh/,
    );
    b4.forEach(E.disposeSubModel);
    a.forEach(E.disposeSubModel);
    b2.forEach(E.disposeSubModel);
    b3.forEach(E.disposeSubModel);
  });

  it('warns when γ·L_C / L_E is outside 0.1–1 at the first step, and reports every step', async () => {
    const lines: string[] = [];
    const steps: [number, number][] = [];
    const s = { ...settings, epochs: 1, gamma: 1000, diversity: 'none' as const, omega: 0 };
    const members = team();
    const run = await RunDir.open(join(mkdtempSync(join(tmpdir(), 'eed-ens-')), 'w'), { ...s });
    const res = await E.trainEnsemble(members, quadrants(32, 4), s, run, { log: (l) => lines.push(l), onStep: (d, t) => steps.push([d, t]) });
    expect(res.history[0].complexityRatio).toBeGreaterThan(1);
    expect(lines.some((l) => /warning: γ·L_C \/ L_E = [\d.]+ at the first step, outside 0.1–1/.test(l) && l.includes('lambda1'))).toBe(true);
    expect(steps).toEqual([
      [1, 2],
      [2, 2],
    ]);
    members.forEach(E.disposeSubModel);
  });

  it('draws the distillation layer per epoch from the seed, and SoE starts with DVERGE', () => {
    const layers = Array.from({ length: 40 }, (_, e) => E.distillationLayer(3, e, 4));
    expect(layers).toEqual(Array.from({ length: 40 }, (_, e) => E.distillationLayer(3, e, 4)));
    expect(new Set(layers)).toEqual(new Set([1, 2, 3, 4]));
    const soe = E.ensembleTrainSettings({ epochs: 10, diversity: 'soe' });
    expect(soe.soeWarmupEpochs).toBe(5);
    expect([0, 4, 5, 9].map((e) => E.diversityAt(soe, e))).toEqual(['dverge', 'dverge', 'soe', 'soe']);
  });

  it('checks its settings, naming the field', () => {
    expect(() => E.checkEnsembleTrainSettings({ ...settings, diversity: 'bagging' as E.Diversity })).toThrow(/diversity must be one of dverge, adp, gal, soe, none/);
    expect(() => E.checkEnsembleTrainSettings({ ...settings, lrValues: [] })).toThrow(/lrValues must be a non-empty list/);
    expect(() => E.checkEnsembleTrainSettings({ ...settings, omega: -1 })).toThrow(/omega must be a finite number ≥ 0, got -1/);
  });
});

describe('one batch of every diversity setting', () => {
  for (const diversity of E.DIVERSITIES) {
    it(`${diversity}: finite loss terms, finite gradients for every parameter, nothing left allocated`, async () => {
      const members = team();
      const params = members.flatMap((m) => m.parameters());
      const gen = new E.Generator(8);
      const xs = gen.uniform([8, 1, 8, 8]);
      const xt = gen.uniform([8, 1, 8, 8]);
      const y = E.tensor([0, 1, 2, 3, 0, 1, 2, 3], [8], 'i32');
      const live = E.liveTensorCount();
      const out = E.scope(() => {
        const t = E.ensembleLoss(members, xs, y, xt, { settings: { ...settings, diversity }, layer: 2, diversity, generator: gen });
        const gs = E.grad(t.total, params, { allowUnused: true });
        const gradAbs = E.stack(gs.map((g) => E.sum(E.abs(g))), 0);
        return { terms: E.stack([t.total, t.ce, t.diversity, t.robust, t.complexity, t.activationDensity].map(E.detach), 0), gradAbs };
      });
      const [terms, g] = [Array.from(await out.terms.data()), Array.from(await out.gradAbs.data())];
      E.dispose(out);
      // The BN buffers count each train-mode pass, so only compare what is not a module buffer.
      expect(E.liveTensorCount()).toBe(live);
      expect(terms.every(Number.isFinite), `terms ${terms.join(', ')}`).toBe(true);
      expect(g.every(Number.isFinite)).toBe(true);
      if (diversity === 'none') expect(terms[2]).toBe(0);
      else expect(terms[2]).not.toBe(0);
      expect(members.every((m) => m.training)).toBe(true);
      E.dispose([xs, xt, y]);
      members.forEach(E.disposeSubModel);
    });
  }
});
