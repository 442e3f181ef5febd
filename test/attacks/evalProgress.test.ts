import { existsSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { AttackOutcome } from '../../src/attacks/suite.js';
import { EvalProgress, fileIdentity, resumableSuite } from '../../src/attacks/evalProgress.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { randomProblem } from './fixtures.js';

const pgdRow: AttackOutcome = { attack: 'pgd', label: 'PGD-20', accuracy: 0.61, count: 2000, seconds: 12 };

describe('eed eval progress file', () => {
  it('keeps finished rows for the same weights and options, and drops them for others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-evalprogress-'));
    const weights = join(dir, 'model.safetensors');
    writeFileSync(weights, 'w');
    const path = join(dir, 'eval.json.partial.json');
    const key = (o: unknown) => ({ weights: fileIdentity(weights), options: o });

    const first = await EvalProgress.open(path, key({ eps: 0.1 }));
    expect(first.row('pgd')).toBeUndefined();
    await first.record(pgdRow);

    const resumed = await EvalProgress.open(path, key({ eps: 0.1 }));
    expect(resumed.row('pgd')).toEqual(pgdRow);
    expect(resumed.row('clean')).toBeUndefined();

    expect((await EvalProgress.open(path, key({ eps: 0.2 }))).row('pgd')).toBeUndefined();
    // The same file reached by another path (another working folder, a symlink) is the same model.
    const elsewhere = { weights: { ...fileIdentity(weights), path: '/elsewhere/model.safetensors' }, options: { eps: 0.1 } };
    expect((await EvalProgress.open(path, elsewhere)).row('pgd')).toEqual(pgdRow);
    // A copy of the run (another modification time, as an unpacked archive gives) is the same model...
    utimesSync(weights, new Date(), new Date(Date.now() + 5000));
    expect((await EvalProgress.open(path, key({ eps: 0.1 }))).row('pgd')).toEqual(pgdRow);
    // ...and rewritten weights are another, even of the same size.
    writeFileSync(weights, 'v');
    expect((await EvalProgress.open(path, key({ eps: 0.1 }))).row('pgd')).toBeUndefined();

    writeFileSync(path, '{not json');
    expect((await EvalProgress.open(path, key({ eps: 0.1 }))).row('pgd')).toBeUndefined();
    resumed.remove();
    expect(existsSync(path)).toBe(false);
  });

  it('resumes files written under an older key (before it held the test data digest), then records the full key; other test data starts over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-evalprogress-older-'));
    const path = join(dir, 'eval.json.partial.json');
    const older = { options: 1 };
    const full = (digest: string) => ({ options: 1, testData: digest });
    await (await EvalProgress.open(path, older)).record(pgdRow);
    const xAdv = E.tensor([0.5, 1], [2, 1, 1, 1]);
    await (await EvalProgress.open(path, older)).recordAutoAttack({ cleanAccuracy: 1, steps: [], robust: [true, true], xAdv });
    xAdv.dispose();
    // Without the older key accepted, the file is another key's.
    expect((await EvalProgress.open(path, full('aaa'))).row('pgd')).toBeUndefined();
    const resumed = await EvalProgress.open(path, full('aaa'), [older]);
    expect(resumed.row('pgd')).toEqual(pgdRow);
    const state = await resumed.autoAttackState();
    expect(state?.robust).toEqual([true, true]);
    state?.xAdv.dispose();
    await resumed.record({ ...pgdRow, attack: 'clean', label: 'clean' });
    // Now written under the full key: other test data no longer matches it.
    expect((await EvalProgress.open(path, full('aaa'), [older])).row('clean')).toBeDefined();
    const other = await EvalProgress.open(path, full('bbb'), [older]);
    expect(other.row('pgd')).toBeUndefined();
    // Nor is AutoAttack's state (still under the older key) taken for the other data's.
    expect(await other.autoAttackState()).toBeUndefined();
    resumed.remove();
  });

  it('says whether an earlier invocation left work in it: finished attacks or AutoAttack\'s state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-evalprogress-earlier-'));
    const path = join(dir, 'row.partial.json');
    const fresh = await EvalProgress.open(path, { options: 1 });
    expect(await fresh.holdsEarlierWork()).toBe(false);
    await fresh.record(pgdRow);
    expect(await (await EvalProgress.open(path, { options: 1 })).holdsEarlierWork()).toBe(true);
    // Rows under another key are dropped, so they are no earlier work of this one.
    expect(await (await EvalProgress.open(path, { options: 2 })).holdsEarlierWork()).toBe(false);
    fresh.remove();
    const xAdv = E.tensor([0.5, 0.25], [2, 1, 1, 1]);
    try {
      await (await EvalProgress.open(path, { options: 1 })).recordAutoAttack({ cleanAccuracy: 1, steps: [], robust: [true, true], xAdv });
    } finally {
      xAdv.dispose();
    }
    expect(await (await EvalProgress.open(path, { options: 1 })).holdsEarlierWork()).toBe(true);
    // AutoAttack's state under another key is dropped when read, so it is no earlier work either.
    expect(await (await EvalProgress.open(path, { options: 2 })).holdsEarlierWork()).toBe(false);
  });

  it("keeps AutoAttack's state after each of its attacks, for the same key only", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-evalprogress-aa-'));
    const path = join(dir, 'eval.json.partial.json');
    const progress = await EvalProgress.open(path, { options: 1 });
    expect(await progress.autoAttackState()).toBeUndefined();
    const xAdv = E.tensor([0.25, 0.5, 0.75, 1, 0, 0.125], [3, 1, 1, 2]);
    const steps = [{ attack: 'APGD-CE', robustAccuracy: 2 / 3 }];
    await progress.recordAutoAttack({ cleanAccuracy: 1, steps, robust: [true, false, true], xAdv });
    xAdv.dispose();

    const state = await (await EvalProgress.open(path, { options: 1 })).autoAttackState();
    expect(state && [state.cleanAccuracy, state.steps, state.robust, state.xAdv.shape]).toEqual([1, steps, [true, false, true], [3, 1, 1, 2]]);
    expect(Array.from(await state!.xAdv.data())).toEqual([0.25, 0.5, 0.75, 1, 0, 0.125]);
    state!.xAdv.dispose();
    expect(await (await EvalProgress.open(path, { options: 2 })).autoAttackState()).toBeUndefined();
    const moved = await (await EvalProgress.open(path, { options: 1, path: '/elsewhere' })).autoAttackState();
    expect(moved?.robust).toEqual([true, false, true]);
    moved?.xAdv.dispose();

    progress.remove();
    expect(existsSync(progress.autoAttackPath)).toBe(false);
  });

  it("keeps AutoAttack's state inside an attack (and inside its stage); an incomplete one falls back to the finished attacks", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-evalprogress-within-'));
    const path = join(dir, 'eval.json.partial.json');
    const progress = await EvalProgress.open(path, { options: 1 });
    const xAdv = E.tensor([0.25, 0.5, 0.75], [3, 1, 1, 1]);
    const inner = E.tensor([0.375, 0.625], [2, 1, 1, 1]);
    const margins = E.tensor([0.5, -0.25], [2]);
    const steps = [{ attack: 'APGD-CE', robustAccuracy: 2 / 3 }];
    const within = { attack: 'Square', batch: 0, stage: 0, robust: [true, false], xAdv: inner, generatorPosition: 123, inStage: { step: 250, generatorPosition: 100, tensors: { marginMin: margins } } };
    await progress.recordAutoAttack({ cleanAccuracy: 1, steps, robust: [true, false, true], xAdv, within, seconds: 12.5 });
    const state = await (await EvalProgress.open(path, { options: 1 })).autoAttackState();
    expect(state?.seconds).toBe(12.5);
    const w = state?.within;
    expect(w && [w.attack, w.batch, w.stage, w.robust, w.generatorPosition, w.inStage?.step, w.inStage?.generatorPosition]).toEqual(['Square', 0, 0, [true, false], 123, 250, 100]);
    expect(Array.from(await w!.xAdv.data())).toEqual([0.375, 0.625]);
    expect(Array.from(await w!.inStage!.tensors.marginMin.data())).toEqual([0.5, -0.25]);
    for (const t of [state!.xAdv, w!.xAdv, w!.inStage!.tensors.marginMin]) t.dispose();

    // The state inside the attack must have a row per point robust before it (2 here): with 3 it
    // is dropped, and AutoAttack resumes after APGD-CE.
    const wrong = E.tensor([0.3, 0.7, 0.1], [3, 1, 1, 1]);
    await progress.recordAutoAttack({ cleanAccuracy: 1, steps, robust: [true, false, true], xAdv, within: { ...within, xAdv: wrong } });
    const fallback = await (await EvalProgress.open(path, { options: 1 })).autoAttackState();
    expect(fallback && [fallback.steps, fallback.robust, fallback.within]).toEqual([steps, [true, false, true], undefined]);
    fallback?.xAdv.dispose();
    for (const t of [xAdv, inner, margins, wrong]) t.dispose();
    progress.remove();
  });

  it('resumableSuite takes finished attacks from the file and resumes AutoAttack after its last finished attack', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eed-resumable-'));
    const path = join(dir, 'row.partial.json');
    const p = randomProblem('linear', 31, 6);
    const calls = { n: 0 };
    const counting: Classifier = {
      numClasses: p.classifier.numClasses,
      logits: (x) => {
        calls.n++;
        return p.classifier.logits(x);
      },
    };
    const options = {
      attacks: ['clean', 'pgd', 'autoattack'] as const,
      eps: 0.1,
      count: 6,
      aaCount: 6,
      batchSize: 6,
      pgd: { steps: 3, stepSize: 0.04 },
      autoAttack: { iterations: 3, queries: 20, targetClasses: 2 },
    };
    try {
      const whole = await resumableSuite(await EvalProgress.open(join(dir, 'whole.partial.json'), 'k'), p.classifier, { x: p.x, y: p.y }, { ...options, attacks: [...options.attacks] });
      expect(whole.rows.map((r) => r.attack)).toEqual(['clean', 'pgd', 'autoattack']);
      expect(whole.autoAttack).toBe(whole.rows[2]);

      // Stopped after AutoAttack's first attack (a session's end), with clean and PGD recorded.
      const stopped = await EvalProgress.open(path, 'k');
      await expect(
        resumableSuite(stopped, p.classifier, { x: p.x, y: p.y }, { ...options, attacks: [...options.attacks] }, {
          onProgress: (e) => {
            if (e.kind === 'autoattack-stage') throw new Error('session over');
          },
        }),
      ).rejects.toThrow(/session over/);
      expect(existsSync(stopped.autoAttackPath)).toBe(true);

      const lines: string[] = [];
      const resumed = await resumableSuite(await EvalProgress.open(path, 'k'), counting, { x: p.x, y: p.y }, { ...options, attacks: [...options.attacks] }, {}, (l) => lines.push(l));
      expect(lines.filter((l) => /^(clean|PGD-3): .* \(from /.test(l))).toHaveLength(2); // clean and PGD from the file
      expect(lines.some((l) => /AutoAttack: resuming after APGD-CE/.test(l))).toBe(true);
      expect(calls.n).toBeGreaterThan(0); // AutoAttack's remaining attacks ran
      expect(resumed.rows.map((r) => [r.attack, r.accuracy])).toEqual(whole.rows.map((r) => [r.attack, r.accuracy]));
      expect(resumed.autoAttack!.steps.map((st) => st.attack)).toEqual(['APGD-CE', 'APGD-T', 'FAB-T', 'Square']);

      // Stopped inside APGD-T, after its first target class (the safe point a Ctrl-C stops at).
      const insidePath = join(dir, 'inside.partial.json');
      let saves = 0;
      const stopInside = () => {
        if (++saves === 2) throw new Error('stopped inside');
      };
      const lines2: string[] = [];
      await expect(
        resumableSuite(await EvalProgress.open(insidePath, 'k'), p.classifier, { x: p.x, y: p.y }, { ...options, attacks: ['autoattack'] }, {}, (l) => lines2.push(l), () => {
          if (lines2.some((l) => /AutoAttack/.test(l))) stopInside();
        }),
      ).rejects.toThrow(/stopped inside/);
      expect(lines2.filter((l) => /AutoAttack/.test(l))).toEqual([
        expect.stringMatching(/after APGD-CE: /),
        expect.stringMatching(/AutoAttack, APGD-T: saved at batch 1, 1 stage \(target classes or restarts\) done; \d of its \d points still robust/),
      ]);
      const inside = await (await EvalProgress.open(insidePath, 'k')).autoAttackState();
      expect(inside?.within && [inside.within.batch, inside.within.stage, inside.within.xAdv.shape[0]]).toEqual([0, 1, inside!.robust.filter(Boolean).length]);
      // The time spent before the stop travels with the state, and the finished row counts it
      // (recorded again as if the earlier runs had taken 1000 s).
      expect(inside!.seconds).toBeGreaterThan(0);
      await (await EvalProgress.open(insidePath, 'k')).recordAutoAttack({ ...inside!, seconds: 1000 });
      inside?.xAdv.dispose();
      inside?.within?.xAdv.dispose();
      const lines3: string[] = [];
      const fromInside = await resumableSuite(await EvalProgress.open(insidePath, 'k'), p.classifier, { x: p.x, y: p.y }, { ...options, attacks: ['autoattack'] }, {}, (l) => lines3.push(l));
      expect(lines3[0]).toMatch(/AutoAttack: resuming after APGD-CE, inside APGD-T at batch 1, 1 stage \(target classes or restarts\) done/);
      expect(fromInside.autoAttack!.steps).toEqual(whole.autoAttack!.steps);
      expect(fromInside.autoAttack!.correct).toEqual(whole.autoAttack!.correct);
      expect(fromInside.autoAttack!.seconds).toBeGreaterThan(1000);

      // Everything recorded: nothing is attacked again.
      calls.n = 0;
      const again = await resumableSuite(await EvalProgress.open(path, 'k'), counting, { x: p.x, y: p.y }, { ...options, attacks: [...options.attacks] });
      expect(calls.n).toBe(0);
      expect(again.rows.map((r) => r.accuracy)).toEqual(whole.rows.map((r) => r.accuracy));

      // safePoint may stop between attacks (a Ctrl-C's safe point): what finished is kept.
      const early = await EvalProgress.open(join(dir, 'early.partial.json'), 'k');
      let started = 0;
      const stopSecond = () => {
        if (++started === 2) throw new Error('stop here');
      };
      await expect(resumableSuite(early, p.classifier, { x: p.x, y: p.y }, { ...options, attacks: [...options.attacks] }, {}, () => {}, stopSecond)).rejects.toThrow(/stop here/);
      const reopened = await EvalProgress.open(join(dir, 'early.partial.json'), 'k');
      expect(reopened.row('clean')).toBeDefined();
      expect(reopened.row('pgd')).toBeUndefined();
    } finally {
      p.dispose();
    }
  });
});
