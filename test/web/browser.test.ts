// The engine in a real browser: headless Chromium (Debian's /usr/bin/chromium, never a downloaded
// one) loads the page from `eed serve`'s server, runs the Dynamic Inference Ensemble on its
// WebGPU adapter and must agree with the Node engine, then attacks an image through the page.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moduleClassifier } from '../../src/attacks/classifier.js';
import { Tensor } from '../../src/engine/tensor.js';
import { dynamicEnsemble } from '../../src/ensemble/dynamicEnsemble.js';
import { loadEnsemble } from '../../src/ensemble/ensembleDir.js';
import { sampleFloats, type SampleSet } from '../../src/serve/samplePayload.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { buildWeb } from '../../web/build.js';
import type { PageApi } from '../../web/main.js';
import { EPS, testImages, writeTinyEnsemble } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
// Flags that give headless Chromium a WebGPU adapter on Linux (SwiftShader without a GPU) and keep
// it from reaching the network.
const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`test/web/browser.test.ts: skipped: ${CHROMIUM} is absent (tools/setup.sh installs the chromium package)`);

describe.skipIf(!haveChromium)('the engine in headless Chromium', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'eed-browser-'));
  let server: RunningServer;
  let context: BrowserContext;
  let samples: SampleSet;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const webDir = join(scratch, 'web');
    await buildWeb(webDir);
    await writeTinyEnsemble(join(scratch, 'ensemble'));
    const images = await testImages();
    samples = images.samples;
    console.log(`browser test: ${images.source}`);
    server = await startServer({ webDir, ensembleDir: join(scratch, 'ensemble'), samples });
    context = await chromium.launchPersistentContext(join(scratch, 'profile'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(server.url);
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('runs DIE on the page with the same predictions and sub-model counts as the Node engine', async () => {
    const state = await page.evaluate(() => window.eedPage.ready);
    const status = await page.evaluate(() => ({ message: window.eedPage.message, adapter: window.eedPage.adapter }));
    console.log(`browser test: Chromium's WebGPU adapter: ${status.adapter}`);
    expect(state, status.message).toBe('ready');
    expect(pageErrors).toEqual([]);
    const page_ = await page.evaluate(() => ({ results: window.eedPage.results, ensemble: window.eedPage.ensemble }));
    expect(page_.ensemble).toEqual({ label: 'ensemble', members: 2, eps: EPS });

    const node = await loadEnsemble(join(scratch, 'ensemble'));
    const n = samples.labels.length;
    const x = Tensor.fromArray(sampleFloats(samples.images), [n, ...samples.shape]);
    const want = await dynamicEnsemble(
      node.members.map((m) => moduleClassifier(m, 10)),
      x,
      node.manifest.die,
    );
    want.probabilities.dispose();
    x.dispose();
    node.dispose();
    const used = [...want.membersUsed];
    console.log(`browser test: DIE ran 1 sub-model for ${used.filter((u) => u === 1).length} of ${n} images, 2 for the rest`);
    // Both counts occur, so the comparison covers DIE's early stop and not only the full team.
    expect(new Set(used)).toEqual(new Set([1, 2]));
    expect(page_.results).toEqual({ labels: [...samples.labels], predictions: [...want.predictions], membersUsed: used });

    // The grid shows the same numbers.
    const shown = await page.$$eval('#grid figure', (figs) => figs.map((f) => [Number(f.dataset.prediction), Number(f.dataset.membersUsed)]));
    expect(shown).toEqual(used.map((u, i) => [want.predictions[i], u]));
  });

  it('attacks a clicked image with PGD step by step inside the ε-box', async () => {
    const index = 3;
    await page.click(`#grid figure[data-index="${index}"]`);
    await page.fill('#steps', '20');
    await page.click('#run-attack');
    await page.waitForSelector('#attack[data-state="done"], #attack[data-state="error"]', { timeout: 110_000 });
    const report = await page.evaluate(() => window.eedPage.lastAttack);
    const info = await page.textContent('#attack-info');
    expect(report, info ?? '').not.toBeNull();
    const r = report as NonNullable<PageApi['lastAttack']>;
    expect(r.index).toBe(index);
    expect(r.label).toBe(samples.labels[index]);
    expect(r.eps).toBe(EPS);
    expect(r.steps.map((s) => s.step)).toEqual(Array.from({ length: 21 }, (_, k) => k));
    expect(r.steps[0].linf).toBe(0);
    // f32 rounding of x ± ε may land a hair outside; more than that is a projection bug.
    for (const s of r.steps) expect(s.linf).toBeLessThanOrEqual(EPS + 1e-6);
    // The attack moved: the last iterate sits on (or next to) the box boundary.
    expect(r.linf).toBeGreaterThan(EPS / 2);
    expect(r.finalPrediction).toBe(r.steps[20].prediction);
    expect(await page.getAttribute('#attack', 'data-final-prediction')).toBe(String(r.finalPrediction));
    expect(await page.locator('#attack-log li').count()).toBe(21);
    expect(pageErrors).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'browser.png'), fullPage: true });
  });

  it('loads the same ensemble from picked files (manifest + members)', async () => {
    const before = await page.evaluate(() => window.eedPage.results);
    const dir = join(scratch, 'ensemble');
    await page.setInputFiles('#files', ['manifest.json', 'member-0.safetensors', 'member-1.safetensors'].map((f) => join(dir, f)));
    await page.waitForFunction(() => window.eedPage.ensemble?.label === 'picked files', undefined, { timeout: 60_000 });
    // The results are recomputed after the ensemble is swapped in; wait for the new object.
    await page.waitForFunction((old) => JSON.stringify(window.eedPage.results) === old, JSON.stringify(before), { timeout: 60_000 });
    expect(await page.textContent('#ensemble-info')).toMatch(/^picked files: 2 smallcnn sub-models/);

    // A missing member file is named.
    await page.setInputFiles('#files', [join(dir, 'manifest.json'), join(dir, 'member-0.safetensors')]);
    await page.waitForSelector('#ensemble-info.error');
    expect(await page.textContent('#ensemble-info')).toMatch(/'member-1\.safetensors', named by the manifest, was not selected/);
    expect(pageErrors).toEqual([]);
  });

  it('says so when the browser has no WebGPU or no adapter', async () => {
    const noGpu = await context.newPage();
    await noGpu.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await noGpu.goto(server.url);
    expect(await noGpu.evaluate(() => window.eedPage.ready)).toBe('no-webgpu');
    expect(await noGpu.getAttribute('#status', 'data-state')).toBe('no-webgpu');
    expect(await noGpu.textContent('#status')).toMatch(/no WebGPU \(navigator\.gpu is missing\)/);
    await noGpu.close();

    const noAdapter = await context.newPage();
    await noAdapter.addInitScript(() => {
      GPU.prototype.requestAdapter = () => Promise.resolve(null);
    });
    await noAdapter.goto(server.url);
    expect(await noAdapter.evaluate(() => window.eedPage.ready)).toBe('no-webgpu');
    expect(await noAdapter.textContent('#status')).toMatch(/gives no adapter .*requestAdapter\(\) returned null/);
    await noAdapter.close();
  });
});
