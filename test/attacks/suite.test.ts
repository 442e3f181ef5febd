// The evaluation suite as a library: any Classifier (a model or an ensemble), GpuDataset or
// tensors, the first `count` images in batches, per-attack seeds, progress events and option
// checks. Small linear models keep the attacks cheap on the software adapter.

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { averageEnsemble, moduleClassifier } from '../../src/attacks/classifier.js';
import { accuracyOf, evaluateSuite, resolveSuiteOptions, worstCaseAccuracy, type AttackOutcome, type SuiteProgress, type SuiteResult } from '../../src/attacks/suite.js';
import { GpuDataset } from '../../src/data/batches.js';
import { makeModel, randomProblem } from './fixtures.js';

// AutoAttack shrunk to a few iterations and queries: the bookkeeping is what is tested here.
const SMALL_AA = { iterations: 3, queries: 20, targetClasses: 2 };

describe('evaluateSuite', () => {
  it('runs every attack in suite order on the first images, in batches, and reports AutoAttack per component', async () => {
    const p = randomProblem('linear', 3, 7);
    try {
      const events: SuiteProgress[] = [];
      const r = await evaluateSuite(
        p.classifier,
        { x: p.x, y: p.y },
        { eps: 0.05, count: 100, aaCount: 4, batchSize: 3, pgd: { steps: 3, stepSize: 0.02 }, deepfool: { steps: 5, eps: 0.5 }, autoAttack: SMALL_AA },
        { onProgress: (e) => void events.push(e) },
      );
      expect(r.rows.map((row) => row.attack)).toEqual(['clean', 'fgsm', 'pgd', 'cw', 'deepfool', 'autoattack']);
      expect(r.rows.map((row) => row.label)).toEqual(['clean', 'FGSM', 'PGD-3', 'CW-inf', 'DeepFool-L2 (eps 0.5)', 'AutoAttack']);
      // count is capped at the 7 images there are; AutoAttack uses its own, smaller count.
      expect(r.rows.map((row) => row.count)).toEqual([7, 7, 7, 7, 7, 4]);
      // Labels are the model's own predictions.
      expect(accuracyOf(r, 'clean')).toBe(1);
      for (const row of r.rows) {
        expect(row.accuracy).toBeGreaterThanOrEqual(0);
        expect(row.accuracy).toBeLessThanOrEqual(1);
        expect(row.seconds).toBeGreaterThanOrEqual(0);
        // Per-image verdicts, one per image attacked, agree with the accuracy (AutoAttack's too:
        // its robust accuracy counts the classifier's verdict on the images it returns).
        expect(row.correct, row.label).toMatch(new RegExp(`^[01]{${row.count}}$`));
        expect([...row.correct!].filter((c) => c === '1').length / row.count, row.label).toBeCloseTo(row.accuracy, 12);
      }
      const aa = r.autoAttack;
      expect(aa).not.toBeNull();
      expect(aa!.suiteLabel).toBe('AA (APGD-CE + APGD-T + FAB-T + Square)');
      expect(aa!.steps.map((s) => s.attack)).toEqual(['APGD-CE', 'APGD-T', 'FAB-T', 'Square']);
      expect(aa!.steps[aa!.steps.length - 1].robustAccuracy).toBe(aa!.accuracy);
      for (let k = 1; k < aa!.steps.length; k++) expect(aa!.steps[k].robustAccuracy).toBeLessThanOrEqual(aa!.steps[k - 1].robustAccuracy);
      const pgdBatches = events.filter((e) => e.kind === 'batch' && e.attack === 'pgd').map((e) => (e.kind === 'batch' ? e.done : -1));
      expect(pgdBatches).toEqual([3, 6, 7]);
      expect(events.filter((e) => e.kind === 'attack').length).toBe(6);
      // The caller's tensors survive the suite.
      expect(p.x.isDisposed).toBe(false);
      expect(p.y.isDisposed).toBe(false);
    } finally {
      p.dispose();
    }
  });

  it('a result depends on its own settings and seed only, not on which attacks ran before it', async () => {
    const p = randomProblem('linear', 5, 6);
    try {
      const opts = { eps: 0.08, count: 6, batchSize: 4, seed: 11, pgd: { steps: 2, stepSize: 0.05 } };
      const alone = await evaluateSuite(p.classifier, { x: p.x, y: p.y }, { ...opts, attacks: ['cw'] });
      const after = await evaluateSuite(p.classifier, { x: p.x, y: p.y }, { ...opts, attacks: ['pgd', 'cw'] });
      expect(accuracyOf(after, 'cw')).toBe(accuracyOf(alone, 'cw'));
      expect(accuracyOf(alone, 'pgd')).toBeNull();
      expect(alone.autoAttack).toBeNull();
    } finally {
      p.dispose();
    }
  });

  it('evaluates ensembles, and a GpuDataset gives the same numbers as the same images as tensors', async () => {
    const a = makeModel('linear', 21).model;
    const b = makeModel('linear', 22).model;
    const team = averageEnsemble([moduleClassifier(a), moduleClassifier(b)]);
    const n = 5;
    const images = Uint8Array.from({ length: n * 32 }, (_, i) => (i * 37 + 11) % 256);
    const x = E.tensor(Array.from(images, (v) => v / 255), [n, 2, 4, 4]).keep();
    const pred = await E.predict(team, x).data();
    const labels = Int32Array.from(pred);
    const data = GpuDataset.upload({ images, labels, shape: [2, 4, 4], classes: 4, name: 'synthetic' });
    const y = E.tensor(labels, [n], 'i32').keep();
    try {
      const opts = { attacks: ['clean', 'fgsm', 'pgd'] as const, eps: 0.1, batchSize: 2, pgd: { steps: 2, stepSize: 0.05 } };
      const fromDataset = await evaluateSuite(team, data, opts);
      const fromTensors = await evaluateSuite(team, { x, y }, opts);
      expect(accuracyOf(fromDataset, 'clean')).toBe(1);
      expect(fromDataset.rows.map((r) => r.accuracy)).toEqual(fromTensors.rows.map((r) => r.accuracy));
    } finally {
      for (const t of [x, y]) t.dispose();
      data.dispose();
      a.dispose();
      b.dispose();
    }
  });

  it('a judge scores the attacked images instead of the attacked classifier, AutoAttack included', async () => {
    const p = randomProblem('linear', 8, 5);
    try {
      const seen: number[] = [];
      const everyOther = async (x: E.Tensor) => {
        seen.push(x.shape[0]);
        return Array.from({ length: x.shape[0] }, (_, i) => i % 2 === 0);
      };
      const r = await evaluateSuite(
        p.classifier,
        { x: p.x, y: p.y },
        { attacks: ['clean', 'fgsm', 'autoattack'], eps: 0.05, batchSize: 4, aaCount: 3, autoAttack: SMALL_AA },
        { judge: everyOther },
      );
      // Batches of 4 and 1 for clean and FGSM: 2 + 1 of 5 judged right; AutoAttack's 3 in one batch: 2 of 3.
      expect(r.rows.map((row) => row.accuracy)).toEqual([3 / 5, 3 / 5, 2 / 3]);
      expect(r.rows.map((row) => row.correct)).toEqual(['10101', '10101', '101']);
      expect(seen).toEqual([4, 1, 4, 1, 3]);
      // Each batch attack also reports its accuracy on AutoAttack's images alone (the first 3 of
      // the batch of 4: right, wrong, right).
      for (const row of r.rows.slice(0, 2)) expect(row.attack !== 'autoattack' && row.onAutoAttackImages).toEqual({ count: 3, accuracy: 2 / 3 });
      // AutoAttack's adversarial set is judged in the suite's batches too (a judge such as the
      // dynamic ensemble runs whole models on what it is given).
      seen.length = 0;
      const all = await evaluateSuite(
        p.classifier,
        { x: p.x, y: p.y },
        { attacks: ['autoattack'], eps: 0.05, batchSize: 2, aaCount: 5, autoAttack: SMALL_AA },
        { judge: everyOther },
      );
      expect(seen).toEqual([2, 2, 1]);
      expect(all.rows[0].accuracy).toBeCloseTo(3 / 5, 12);
      const short = async () => [true];
      await expect(evaluateSuite(p.classifier, { x: p.x, y: p.y }, { attacks: ['clean'] }, { judge: short })).rejects.toThrow(
        /hooks\.judge returned 1 flags for a batch of 5 images/,
      );
    } finally {
      p.dispose();
    }
  });

  it('worst case over two results: an image counts only if it survives both', () => {
    const result = (...rows: Partial<AttackOutcome>[]): SuiteResult => ({
      rows: rows.map((r) => ({ label: String(r.attack), count: 4, seconds: 0, ...r }) as AttackOutcome),
      autoAttack: null,
      options: resolveSuiteOptions(),
    });
    const a = result({ attack: 'pgd', accuracy: 0.5, correct: '1100' }, { attack: 'cw', accuracy: 0.75, correct: '1110' });
    const b = result({ attack: 'pgd', accuracy: 0.5, correct: '0110' });
    // Each alone keeps half; together only image 1 survives: 0.25, below the lower of the two.
    expect(worstCaseAccuracy(a, b, 'pgd')).toBe(0.25);
    expect(worstCaseAccuracy(a, b, 'cw')).toBe(0.75);
    expect(worstCaseAccuracy(a, null, 'pgd')).toBe(0.5);
    expect(worstCaseAccuracy(a, b, 'deepfool')).toBeNull();
    // Results saved without verdicts: the lower accuracy.
    expect(worstCaseAccuracy(a, result({ attack: 'pgd', accuracy: 0.25 }), 'pgd')).toBe(0.25);
    expect(worstCaseAccuracy(result({ attack: 'pgd', accuracy: 0.75 }), b, 'pgd')).toBe(0.5);
  });

  it('fills in defaults and names the field of a bad option', () => {
    const o = resolveSuiteOptions({ attacks: ['autoattack', 'clean'], pgd: { steps: 7, stepSize: 0.01 } });
    expect(o.attacks).toEqual(['clean', 'autoattack']);
    expect(o.cw).toEqual({ steps: 7, stepSize: 0.01, kappa: 50 });
    expect([o.eps, o.count, o.aaCount, o.batchSize, o.seed]).toEqual([8 / 255, 1000, 500, 250, 0]);
    expect(() => resolveSuiteOptions({ count: 0 })).toThrow(/count must be a positive integer, got 0/);
    expect(() => resolveSuiteOptions({ pgd: { steps: 2.5 } })).toThrow(/pgd\.steps must be a positive integer/);
    expect(() => resolveSuiteOptions({ deepfool: { overshoot: -1 } })).toThrow(/deepfool\.overshoot must be a finite number >= 0/);
    expect(() => resolveSuiteOptions({ eps: Number.NaN })).toThrow(/eps must be/);
    // @ts-expect-error: an attack name outside the suite
    expect(() => resolveSuiteOptions({ attacks: ['square'] })).toThrow(/attacks: unknown attack 'square'/);
  });

  it('refuses labels that do not match the images', async () => {
    const x = E.zeros([3, 1, 2, 2]).keep();
    const y = E.zeros([2], 'i32').keep();
    try {
      const c = { numClasses: 2, logits: (t: E.Tensor) => E.flatten(t, 1) };
      await expect(evaluateSuite(c, { x, y })).rejects.toThrow(/data\.y must be i32 \[3\]/);
    } finally {
      x.dispose();
      y.dispose();
    }
  });
});
