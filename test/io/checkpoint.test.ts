import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { loadStateDict, MASK_SUFFIX, saveStateDict, stateDictRecords } from '../../src/io/checkpoint.js';
import { readSafetensors, writeSafetensors, type TensorRecord } from '../../src/io/safetensors.js';

const scratch = mkdtempSync(join(tmpdir(), 'eed-ckpt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every state-dict tensor's bytes, by name. */
async function snapshot(m: E.Module): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [name, t] of m.stateDict()) out.set(name, [...(await t.data())]);
  return out;
}

/** A SmallCNN whose BN statistics and counters have moved away from their initial values. */
function trainedModel(seed: number): E.SmallCNN {
  const m = new E.SmallCNN({ generator: new E.Generator(seed) });
  E.scope(() => {
    const gen = new E.Generator(seed + 100);
    m.train().forward(gen.uniform([4, 1, 28, 28]));
    m.forward(gen.uniform([4, 1, 28, 28]));
  });
  return m;
}

describe('checkpoints (safetensors state dicts)', () => {
  it('a SmallCNN state dict and its masks survive save → load into a fresh model, bit for bit', async () => {
    const original = trainedModel(1);
    const mask = E.tensor(Array.from({ length: 32 * 9 }, (_, i) => (i * 7) % 3 === 0 ? 0 : 1), [32, 1, 3, 3]);
    const path = join(scratch, 'smallcnn.safetensors');
    await saveStateDict(path, original, { masks: new Map([['conv1.weight', mask]]), metadata: { dataset: 'fashion-mnist' } });

    const fresh = new E.SmallCNN({ generator: new E.Generator(2) });
    const before = await snapshot(fresh);
    const { masks, metadata } = await loadStateDict(path, fresh);
    const want = await snapshot(original);
    expect(await snapshot(fresh)).toEqual(want);
    expect(before.get('conv1.weight')).not.toEqual(want.get('conv1.weight')); // the load really changed it
    expect(want.get('bn1.num_batches_tracked')).toEqual([2]);
    expect(metadata).toEqual({ format: 'pt', dataset: 'fashion-mnist' });
    expect([...masks.keys()]).toEqual(['conv1.weight']);
    expect([...(await masks.get('conv1.weight')!.data())]).toEqual([...(await mask.data())]);

    // Same weights, same logits.
    const x = new E.Generator(9).uniform([2, 1, 28, 28]);
    const [a, b] = [original, fresh].map((m) => E.scope(() => m.eval().forward(x)));
    expect([...(await b.data())]).toEqual([...(await a.data())]);
    E.dispose([x, a, b, mask, masks]);
    original.dispose();
    fresh.dispose();
  });

  it('stores PyTorch dtypes: F32 weights, I64 num_batches_tracked, U8 masks named <param>.mask', async () => {
    const m = trainedModel(3);
    const path = join(scratch, 'dtypes.safetensors');
    const mask = E.ones([10, 6272]);
    await saveStateDict(path, m, { masks: new Map([['linear.weight', mask]]) });
    const file = await readSafetensors(path);
    const keys = [...file.tensors.keys()];
    expect(keys).toEqual([...m.stateDict().keys(), `linear.weight${MASK_SUFFIX}`]);
    expect(file.tensors.get('conv1.weight')).toMatchObject({ dtype: 'F32', shape: [32, 1, 3, 3] });
    const nbt = file.tensors.get('bn2.num_batches_tracked')!;
    expect(nbt).toMatchObject({ dtype: 'I64', shape: [] });
    expect(new BigInt64Array(nbt.data.slice().buffer)[0]).toBe(2n);
    expect(file.tensors.get('linear.weight.mask')).toMatchObject({ dtype: 'U8', shape: [10, 6272] });
    mask.dispose();
    m.dispose();
  });

  it('loads F16 and I32 tensors into f32 and i32 model tensors', async () => {
    const m = trainedModel(4);
    const records = await stateDictRecords(m);
    const halves = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0, 0x4200, 0xbc00, 0x3400, 0x4400, 0x3a00, 0xb400]); // 1 −2 .5 0 3 −1 .25 4 .75 −.25
    records.set('linear.bias', { dtype: 'F16', shape: [10], data: new Uint8Array(halves.buffer) });
    records.set('bn1.num_batches_tracked', { dtype: 'I32', shape: [], data: new Uint8Array(Int32Array.from([41]).buffer) });
    const path = join(scratch, 'f16.safetensors');
    await writeSafetensors(path, records);
    await loadStateDict(path, m);
    expect([...(await m.linear.bias!.data())]).toEqual([1, -2, 0.5, 0, 3, -1, 0.25, 4, 0.75, -0.25]);
    expect(await m.stateDict().get('bn1.num_batches_tracked')!.item()).toBe(41);
    m.dispose();
  });

  it('loads a file without num_batches_tracked, as PyTorch does, keeping the model its own counts', async () => {
    const donor = trainedModel(7);
    const records = await stateDictRecords(donor);
    for (const k of [...records.keys()]) if (k.endsWith('.num_batches_tracked')) records.delete(k);
    const path = join(scratch, 'no-counters.safetensors');
    await writeSafetensors(path, records);
    const target = new E.SmallCNN({ generator: new E.Generator(8) });
    await loadStateDict(path, target);
    expect(await target.stateDict().get('bn1.num_batches_tracked')!.item()).toBe(0);
    expect([...(await target.stateDict().get('bn2.running_mean')!.data())]).toEqual([...(await donor.stateDict().get('bn2.running_mean')!.data())]);
    // Any other missing key is still refused (the 'missing' case below).
    donor.dispose();
    target.dispose();
  });

  describe('refuses files that do not fit the model, naming the file, and leaves the model as it was', () => {
    const withRecords = async (name: string, edit: (r: Map<string, TensorRecord>) => void): Promise<string> => {
      const donor = trainedModel(5);
      const records = await stateDictRecords(donor);
      donor.dispose();
      edit(records);
      const path = join(scratch, name);
      await writeSafetensors(path, records);
      return path;
    };
    const cases: [string, (r: Map<string, TensorRecord>) => void, RegExp][] = [
      ['missing.safetensors', (r) => r.delete('bn1.running_mean'), /does not match SmallCNN: missing bn1\.running_mean/],
      ['unexpected.safetensors', (r) => r.set('extra.weight', r.get('linear.bias')!), /does not match SmallCNN: unexpected extra\.weight/],
      [
        'shape.safetensors',
        (r) => r.set('linear.bias', { dtype: 'F32', shape: [5], data: new Uint8Array(20) }),
        /'linear\.bias' is F32 \[5\] but SmallCNN expects \[10\]/,
      ],
      [
        'dtype.safetensors',
        (r) => r.set('bn3.num_batches_tracked', { dtype: 'F32', shape: [], data: new Uint8Array(4) }),
        /'bn3\.num_batches_tracked': dtype F32 is not an integer type/,
      ],
      [
        'nan.safetensors',
        (r) => r.set('linear.bias', { dtype: 'F32', shape: [10], data: new Uint8Array(Float32Array.from([0, 1, NaN, 3, 4, 5, 6, 7, 8, 9]).buffer) }),
        /'linear\.bias' holds NaN at index 2; checkpoints hold finite values only/,
      ],
      [
        'inf.safetensors',
        (r) => r.set('bn2.running_var', { dtype: 'F32', shape: [64], data: new Uint8Array(Float32Array.from({ length: 64 }, (_, i) => (i === 5 ? Infinity : 1)).buffer) }),
        /'bn2\.running_var' holds Infinity at index 5/,
      ],
      [
        'mask.safetensors',
        (r) => r.set('conv2.weight.mask', { dtype: 'U8', shape: [64, 32, 3, 3], data: new Uint8Array(64 * 32 * 9).fill(2) }),
        /mask 'conv2\.weight\.mask' holds 2 at 0; masks must be 0 or 1/,
      ],
    ];
    for (const [name, edit, pattern] of cases)
      it(name, async () => {
        const path = await withRecords(name, edit);
        const target = new E.SmallCNN({ generator: new E.Generator(6) });
        const before = await snapshot(target);
        const err = await loadStateDict(path, target).then(
          () => null,
          (e: Error) => e,
        );
        expect(err, `${name} was accepted`).not.toBeNull();
        expect(err!.message).toMatch(pattern);
        expect(err!.message.startsWith(`${path}: `)).toBe(true);
        expect(await snapshot(target)).toEqual(before);
        target.dispose();
      });

    it('saving a diverged model (a NaN weight) fails and leaves the file as it was', async () => {
      const m = trainedModel(8);
      const path = join(scratch, 'diverged.safetensors');
      await saveStateDict(path, m);
      const good = await readSafetensors(path);
      const nan = E.full([64, 32, 3, 3], NaN);
      m.loadStateDict({ 'conv2.weight': nan }, { strict: false });
      await expect(saveStateDict(path, m)).rejects.toThrow(/saveStateDict: 'conv2\.weight' holds NaN at index 0/);
      expect([...(await readSafetensors(path)).tensors.get('conv2.weight')!.data]).toEqual([...good.tensors.get('conv2.weight')!.data]);
      E.dispose([m, nan]);
    });

    it('a wider model (shape mismatch in the first layer)', async () => {
      const m = trainedModel(7);
      const path = join(scratch, 'small.safetensors');
      await saveStateDict(path, m);
      const wide = new E.SmallCNN({ width: 0.5 });
      await expect(loadStateDict(path, wide)).rejects.toThrow(/'conv1\.weight' is F32 \[32, 1, 3, 3\] but SmallCNN expects \[16, 1, 3, 3\]/);
      E.dispose([m, wide]);
    });

    it('masks that are not 0/1 or name no parameter are refused on save', async () => {
      const m = trainedModel(8);
      const path = join(scratch, 'bad-mask.safetensors');
      const half = E.full([10], 0.5);
      await expect(saveStateDict(path, m, { masks: new Map([['linear.bias', half]]) })).rejects.toThrow(/mask 'linear\.bias' holds 0\.5/);
      await expect(saveStateDict(path, m, { masks: new Map([['bn1.running_mean', half]]) })).rejects.toThrow(/not a parameter of SmallCNN/);
      half.dispose();
      m.dispose();
    });
  });
});
