import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { convGeometry } from '../../kernels/conv2d.js';
import { subgroupGemmSupported } from '../../kernels/matmul.js';
import { autotune, tuneConvForward } from '../../src/engine/autotune.js';
import { activeTuning, convKey, defaultTuning, loadTuning, saveTuning, setTuning, tuningCachePath, TUNING_VERSION, type Tuning } from '../../kernels/tuning.js';

describe('per-adapter tuning', () => {
  let saved: Tuning | null;
  const prevDir = process.env.EED_CACHE_DIR;
  beforeAll(() => {
    saved = activeTuning();
    process.env.EED_CACHE_DIR = mkdtempSync(join(tmpdir(), 'eed-tune-'));
  });
  afterAll(() => {
    if (saved) setTuning(saved);
    if (prevDir === undefined) delete process.env.EED_CACHE_DIR;
    else process.env.EED_CACHE_DIR = prevDir;
  });

  it('the table default applies when nothing is cached, and a saved result is loaded back', () => {
    const info = E.runtime().adapterInfo;
    expect(loadTuning(info).source).toBe('table');
    const t: Tuning = { ...defaultTuning(info), source: 'autotune', gemmWorkgroup: [16, 1], conv: { 'forward b1 1x4x4->4 k3x3 s1x1 p1x1': 'direct' } };
    const path = saveTuning(t);
    expect(path).toBe(tuningCachePath(t.adapter));
    const back = loadTuning(info);
    expect(back.source).toBe('autotune');
    expect(back.gemmWorkgroup).toEqual([16, 1]);
    expect(back.conv).toEqual(t.conv);
    expect(back.gemmKernel).toBe(defaultTuning(info).gemmKernel);
    // A saved kernel choice is kept; a cache written before the choice existed gets the table's.
    saveTuning({ ...t, gemmKernel: 'register' });
    expect(loadTuning(info).gemmKernel).toBe('register');
    const { gemmKernel: _dropped, ...old } = t;
    writeFileSync(path!, JSON.stringify(old));
    expect(loadTuning(info).source).toBe('autotune');
    expect(loadTuning(info).gemmKernel).toBe(defaultTuning(info).gemmKernel);
    // A conv entry this version does not know is dropped (its shape gets the default rule).
    const split = 'weight b2 8x4x4->8 k3x3 s1x1 p1x1';
    writeFileSync(path!, JSON.stringify({ ...t, version: TUNING_VERSION, conv: { ...t.conv, [split]: 'gemm-split', 'input b2 8x4x4->8 k3x3 s1x1 p1x1': 'winograd' } }));
    expect(loadTuning(info).conv).toEqual({ ...t.conv, [split]: 'gemm-split' });
    // A cache from before 'gemm-split' was raced: its weight-pass choices are dropped, the rest kept.
    writeFileSync(path!, JSON.stringify({ ...t, conv: { ...t.conv, [split]: 'gemm' } }));
    expect(loadTuning(info).conv).toEqual(t.conv);
  });

  it('a damaged or foreign cache file falls back to the table', () => {
    const info = E.runtime().adapterInfo;
    const path = tuningCachePath(defaultTuning(info).adapter)!;
    writeFileSync(path, '{ not json');
    expect(loadTuning(info).source).toBe('table');
    writeFileSync(path, JSON.stringify({ ...defaultTuning(info), adapter: 'another GPU', gemmWorkgroup: [16, 1] }));
    expect(loadTuning(info).source).toBe('table');
    writeFileSync(path, JSON.stringify({ ...defaultTuning(info), gemmWorkgroup: [64, 64] }));
    expect(loadTuning(info).source).toBe('table');
  });

  it('a tuned conv strategy and GEMM workgroup are what actually runs', async () => {
    const rt = E.runtime();
    const x = E.tensor(Array.from({ length: 2 * 3 * 4 * 4 }, (_, i) => Math.sin(i)), [2, 3, 4, 4]);
    const w = E.tensor(Array.from({ length: 8 * 3 * 9 }, (_, i) => Math.cos(i)), [8, 3, 3, 3]);
    const g = convGeometry(x.shape, w.shape, [1, 1], [1, 1]);
    const shaders: string[] = [];
    const orig = rt.dispatch.bind(rt);
    rt.dispatch = (name, spec, b, p, wg) => {
      shaders.push(`${spec.shader}:${JSON.stringify(spec.constants ?? {})}`);
      orig(name, spec, b, p, wg);
    };
    try {
      const info = rt.adapterInfo;
      setTuning({ ...defaultTuning(info), gemmKernel: 'register', gemmWorkgroup: [16, 1], conv: {} });
      const yGemm = E.conv2d(x, w, null, { padding: 1 });
      expect(shaders.some((s) => s.startsWith('im2col'))).toBe(true);
      expect(shaders.some((s) => s.startsWith('matmul_vec4') && s.includes('"WG_X":16'))).toBe(true);
      shaders.length = 0;
      setTuning({ ...defaultTuning(info), gemmKernel: 'subgroup', conv: {} });
      const ySub = E.conv2d(x, w, null, { padding: 1 });
      const gemms = shaders.filter((s) => s.startsWith('matmul'));
      expect(gemms.length).toBe(1);
      expect(gemms[0].startsWith(subgroupGemmSupported() ? 'matmul_subgroup' : 'matmul_vec4')).toBe(true);
      shaders.length = 0;
      setTuning({ ...defaultTuning(info), conv: { [convKey('forward', g)]: 'direct' } });
      const yDirect = E.conv2d(x, w, null, { padding: 1 });
      expect(shaders.map((s) => s.split(':')[0])).toEqual(['conv2d_forward']);
      const [a, b, c] = [await yGemm.data(), await yDirect.data(), await ySub.data()];
      a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 4));
      c.forEach((v, i) => expect(v).toBeCloseTo(b[i], 4));
      // The weight gradient: summed inside one GEMM, or per item and reduced afterwards.
      const gy = E.tensor(Array.from({ length: 2 * 8 * 4 * 4 }, (_, i) => Math.sin(0.3 * i)), [2, 8, 4, 4]);
      const weightGrad = async (strategy: 'gemm' | 'gemm-split') => {
        setTuning({ ...defaultTuning(info), conv: { [convKey('weight', g)]: strategy } });
        shaders.length = 0;
        const gw = E.convGradWeight(x, gy, g);
        const names = shaders.map((s) => s.split(':')[0]);
        const values = await gw.data();
        gw.dispose();
        return { names, values };
      };
      const summed = await weightGrad('gemm');
      const split = await weightGrad('gemm-split');
      expect(summed.names).not.toContain('reduce');
      expect(split.names).toContain('reduce');
      split.values.forEach((v, i) => expect(v).toBeCloseTo(summed.values[i], 4));
      for (const t of [x, w, gy, yGemm, yDirect, ySub]) t.dispose();
    } finally {
      rt.dispatch = orig;
    }
  });

  it('tuneConvForward races the forward strategy of shapes not yet tuned, keeping everything else', async () => {
    const info = E.runtime().adapterInfo;
    const known = 'forward b9 1x1x1->1 k1x1 s1x1 p0x0';
    setTuning({ ...defaultTuning(info), gemmWorkgroup: [16, 1], conv: { [known]: 'direct' } });
    const call = { input: [3, 4, 6, 6], weight: [8, 4, 3, 3], stride: 1, padding: 1 };
    expect(await tuneConvForward([call, call])).toBe(1);
    const g = convGeometry(call.input, call.weight, [1, 1], [1, 1]);
    const t = activeTuning()!;
    expect(['direct', 'gemm']).toContain(t.conv[convKey('forward', g)]);
    expect(t.conv[known]).toBe('direct');
    expect(t.gemmWorkgroup).toEqual([16, 1]);
    expect(await tuneConvForward([call])).toBe(0);
  });

  it('autotune picks a GEMM kernel, a col2im kernel and a strategy per conv pass (small shapes)', async () => {
    const lines: string[] = [];
    const t = await autotune({
      save: false,
      gemms: [[1, 32, 32, 32], [2, 8, 36, 16]],
      shapes: [{ batch: 2, cin: 4, cout: 8, hw: 6, kernel: 3, stride: 2, padding: 1 }],
      log: (l) => lines.push(l),
    });
    expect(t.cachePath).toBeNull();
    expect(subgroupGemmSupported() ? ['register', 'subgroup', 'shared'] : ['register', 'shared']).toContain(t.gemmKernel);
    expect(['positions', 'lanes']).toContain(t.col2imKernel);
    expect(['positions', 'lanes']).toContain(t.im2colKernel);
    expect(lines.some((l) => l.includes("im2col 'lanes'"))).toBe(true);
    expect(Object.keys(t.conv)).toHaveLength(3);
    expect(lines.some((l) => l.startsWith('weight ') && l.includes('gemm-split '))).toBe(true);
    expect(lines.some((l) => l.startsWith('gemm kernel register'))).toBe(true);
    expect(lines.some((l) => l.startsWith('gemm kernel shared'))).toBe(true);
    expect(lines.some((l) => l.includes("col2im 'lanes'"))).toBe(true);
  }, 120_000);
});
