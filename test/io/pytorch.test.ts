// Interop with Python (test/io/pytorch_interop.py). Where numpy is installed: numpy reads and
// writes our safetensors files, and a float64 numpy SmallCNN (the PyTorch module's eval-mode
// computation) matches our logits. Where Debian's python3-torch is installed too: PyTorch's
// SmallCNN gives the same logits as ours for the same weights, both ways. Each skip is announced.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { loadStateDict, saveStateDict } from '../../src/io/checkpoint.js';
import { readSafetensors, tensorRecord, toFloat32, toInt32, writeSafetensors } from '../../src/io/safetensors.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./pytorch_interop.py', import.meta.url));

function pythonHas(module: string): boolean {
  return spawnSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

const hasNumpy = pythonHas('numpy');
const hasTorch = hasNumpy && pythonHas('torch');
if (!hasNumpy) console.warn(`pytorch.test.ts: skipping the numpy interop test: ${PYTHON} cannot import numpy`);
if (!hasTorch)
  console.warn(`pytorch.test.ts: skipping the PyTorch logits comparison: ${PYTHON} cannot import torch (apt-get install python3-torch)`);

function runPython(...args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${PYTHON} ${SCRIPT} ${args[0]} failed (status ${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/** max |a − b| / max |b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

const scratch = mkdtempSync(join(tmpdir(), 'eed-py-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('Python interop', () => {
  it.skipIf(!hasNumpy)('numpy reads our checkpoint and writes one we read back unchanged', async () => {
    const m = new E.SmallCNN({ generator: new E.Generator(21) });
    E.scope(() => m.train().forward(new E.Generator(22).uniform([2, 1, 28, 28])));
    const ours = join(scratch, 'ours.safetensors');
    const theirs = join(scratch, 'theirs.safetensors');
    await saveStateDict(ours, m, { metadata: { note: 'interop' } });

    const summary = JSON.parse(runPython('numpy-rewrite', ours, theirs)) as Record<string, [string, number[], number]>;
    const mine = await readSafetensors(ours);
    expect(Object.keys(summary)).toEqual([...mine.tensors.keys()]);
    for (const [name, rec] of mine.tensors) {
      const values = rec.dtype === 'F32' ? toFloat32(rec, name) : toInt32(rec, name);
      const sum = Array.from(values).reduce((s, v) => s + v, 0);
      expect(summary[name][0], name).toBe(rec.dtype);
      expect(summary[name][1], name).toEqual(rec.shape);
      expect(Math.abs(summary[name][2] - sum), name).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(sum)));
    }

    const back = await readSafetensors(theirs);
    expect(back.metadata).toEqual({ format: 'pt', note: 'interop', writer: 'pytorch_interop.py' });
    for (const [name, rec] of mine.tensors) expect(back.tensors.get(name), name).toEqual(rec);
    expect([...toFloat32(back.tensors.get('py.f16')!, 'py.f16')]).toEqual([1, -2, 0.5]);
    const i64 = back.tensors.get('py.i64')!;
    expect(i64.dtype).toBe('I64');
    expect([...new BigInt64Array(i64.data.slice().buffer)]).toEqual([-3n, 2n ** 40n]);
    m.dispose();
  });

  it.skipIf(!hasNumpy)('a float64 numpy SmallCNN on our exported weights gives our logits', async () => {
    const m = new E.SmallCNN({ generator: new E.Generator(41) });
    const gen = new E.Generator(42);
    E.scope(() => m.train().forward(gen.uniform([8, 1, 28, 28]))); // move the BN statistics
    const x = gen.uniform([3, 1, 28, 28]);
    const [weights, input, logits] = ['np-weights', 'np-input', 'np-logits'].map((f) => join(scratch, `${f}.safetensors`));
    await saveStateDict(weights, m);
    await writeSafetensors(input, [['x', tensorRecord((await x.data()) as Float32Array, x.shape)]]);
    runPython('numpy-forward', weights, input, logits);
    const ours = E.scope(() => m.eval().forward(x));
    const reference = (await readSafetensors(logits)).tensors.get('logits')!;
    expect(reference.dtype).toBe('F64');
    expect(relativeError(await ours.data(), toFloat32(reference, 'logits'))).toBeLessThanOrEqual(1e-4);
    E.dispose([x, ours]);
    m.dispose();
  });

  it.skipIf(!hasTorch)('PyTorch and eed-webgpu give the same SmallCNN logits for the same weights, both ways', async () => {
    // eed-webgpu → PyTorch: our weights (BN statistics moved by a train-mode pass), our input.
    const m = new E.SmallCNN({ generator: new E.Generator(31) });
    const gen = new E.Generator(32);
    E.scope(() => m.train().forward(gen.uniform([8, 1, 28, 28])));
    const x = gen.uniform([4, 1, 28, 28]);
    const paths = {
      tsWeights: join(scratch, 'ts-weights.safetensors'),
      tsInput: join(scratch, 'ts-input.safetensors'),
      torchLogits: join(scratch, 'torch-logits.safetensors'),
      torchWeights: join(scratch, 'torch-weights.safetensors'),
      torchIo: join(scratch, 'torch-io.safetensors'),
    };
    await saveStateDict(paths.tsWeights, m);
    await writeSafetensors(paths.tsInput, [['x', tensorRecord((await x.data()) as Float32Array, x.shape)]]);
    runPython('torch', paths.tsWeights, paths.tsInput, paths.torchLogits, paths.torchWeights, paths.torchIo);

    const ours = E.scope(() => m.eval().forward(x));
    const theirs = toFloat32((await readSafetensors(paths.torchLogits)).tensors.get('logits')!, 'logits');
    expect(relativeError(await ours.data(), theirs)).toBeLessThanOrEqual(1e-4);

    // PyTorch → eed-webgpu: its weights (int64 num_batches_tracked) in a fresh model, its input.
    const fresh = new E.SmallCNN();
    await loadStateDict(paths.torchWeights, fresh);
    expect(await fresh.stateDict().get('bn1.num_batches_tracked')!.item()).toBe(2);
    const io = await readSafetensors(paths.torchIo);
    const tx = E.tensor(toFloat32(io.tensors.get('x')!, 'x'), io.tensors.get('x')!.shape);
    const mine = E.scope(() => fresh.eval().forward(tx));
    expect(relativeError(await mine.data(), toFloat32(io.tensors.get('logits')!, 'logits'))).toBeLessThanOrEqual(1e-4);
    E.dispose([x, ours, tx, mine]);
    m.dispose();
    fresh.dispose();
  });
});
