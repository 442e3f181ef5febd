import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import {
  applyMasks,
  buildArchitecture,
  countParameters,
  disposeSubModel,
  loadEnsemble,
  MANIFEST_FILE,
  parseManifest,
  serializeManifest,
  writeEnsemble,
  type ArchitectureSpec,
  type EnsembleManifest,
} from '../../src/ensemble/index.js';
import { prunableLayers, weightKey } from '../../src/pruning/prunable.js';

const scratch = mkdtempSync(join(tmpdir(), 'eed-ens-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const spec: ArchitectureSpec = { model: 'smallcnn', width: 0.25, inChannels: 1, numClasses: 10, imageSize: 28 };

/** A sub-model whose every conv/linear weight keeps one element in `keepEvery`. */
function prunedModel(seed: number, keepEvery: number): E.Module {
  const m = buildArchitecture(spec, seed);
  const masks = new Map<string, E.Tensor>();
  for (const l of prunableLayers(m)) {
    const bits = Float32Array.from({ length: l.weight.size }, (_, i) => ((i + seed) % keepEvery === 0 ? 1 : 0));
    masks.set(weightKey(l), E.Tensor.fromArray(bits, l.weight.shape));
  }
  applyMasks(m, masks);
  return m;
}

function manifestFor(n: number): EnsembleManifest {
  return {
    format: 'eed-ensemble',
    version: 1,
    architecture: spec,
    inputShape: [1, 28, 28],
    dataset: 'fashion-mnist',
    eps: 0.1,
    members: Array.from({ length: n }, (_, i) => ({ name: `erm-${i + 1}`, file: `member-${i}.safetensors`, score: 'erm', subset: i + 1, prunableNonZero: 0 })),
    die: E.resolveHaltingOptions({}),
  };
}

describe('ensemble folders', () => {
  it('round-trip members with their masks: same logits, same non-zero count', async () => {
    const members = [prunedModel(1, 5), prunedModel(2, 3)];
    const manifest = manifestFor(2);
    for (let i = 0; i < 2; i++) manifest.members[i].prunableNonZero = (await countParameters(members[i])).prunableNonZero;
    const dir = join(scratch, 'a');
    await writeEnsemble(dir, manifest, members);
    const loaded = await loadEnsemble(dir);
    expect(loaded.manifest).toEqual(manifest);
    const x = new E.Generator(7).uniform([3, 1, 28, 28]);
    for (let i = 0; i < 2; i++) {
      const before = await E.noGrad(() => members[i].eval().forward(x)).data();
      const after = await E.noGrad(() => loaded.members[i].forward(x)).data();
      expect([...after]).toEqual([...before]);
      const count = await countParameters(loaded.members[i]);
      expect(count.prunableNonZero).toBe(manifest.members[i].prunableNonZero);
      // The masks really hold: about 1/5 and 1/3 of the weights survive.
      expect(count.prunableNonZero / count.prunableTotal).toBeCloseTo(i === 0 ? 1 / 5 : 1 / 3, 1);
    }
    x.dispose();
    loaded.dispose();
    members.forEach(disposeSubModel);
  });

  it('name the field a bad manifest gets wrong', () => {
    const good = serializeManifest(manifestFor(1));
    const bad = (edit: (m: Record<string, unknown>) => void) => {
      const m = JSON.parse(good) as Record<string, unknown>;
      edit(m);
      return () => parseManifest(JSON.stringify(m), 'x/manifest.json');
    };
    expect(parseManifest(good, 'x')).toEqual(manifestFor(1));
    expect(() => parseManifest('{', 'x/manifest.json')).toThrow(/x\/manifest.json: not JSON/);
    expect(bad((m) => (m.format = 'other'))).toThrow(/'format' must be "eed-ensemble"/);
    expect(bad((m) => (m.members = []))).toThrow(/'members' must be a non-empty array/);
    expect(bad((m) => ((m.members as { file: string }[])[0].file = '../../etc/passwd'))).toThrow(/members\[0\]\.file/);
    expect(bad((m) => (m.inputShape = [3, 28, 28]))).toThrow(/inputShape\[0\]/);
    expect(bad((m) => ((m.architecture as { model: string }).model = 'resnet50'))).toThrow(/architecture: model 'resnet50'/);
    expect(bad((m) => ((m.die as { combiner: string }).combiner = 'median'))).toThrow(/'die'.*median/);
  });

  it('name the missing member file', async () => {
    const dir = join(scratch, 'b');
    const m = prunedModel(3, 2);
    await writeEnsemble(dir, manifestFor(1), [m]);
    disposeSubModel(m);
    const manifest = manifestFor(2);
    writeFileSync(join(dir, MANIFEST_FILE), serializeManifest(manifest));
    await expect(loadEnsemble(dir)).rejects.toThrow(/member-1\.safetensors/);
  });
});
