// The page: starts WebGPU, fetches the test images, loads the ensemble (served or picked), shows
// the Dynamic Inference Ensemble's prediction and cost per image, and attacks one image with PGD
// step by step. Everything it shows is also on `window.eedPage` (and the grid's data attributes),
// which the browser test reads.

import { decodeSamples, sampleFloats, SAMPLES_FILE, type SampleSet } from '../src/serve/samplePayload.js';
import { pgdSteps } from './attack.js';
import { drawImage, drawPerturbation } from './draw.js';
import { adapterString, averageEnsemble, dynamicEnsemble, init, moduleClassifier, NoAdapterError, Tensor } from './engine.js';
import { loadEnsemble, pickedSource, servedSource, type FileSource, type PageEnsemble } from './ensemble.js';

type PageState = 'starting' | 'no-webgpu' | 'ready' | 'error';

export interface DieResults {
  labels: number[];
  predictions: number[];
  membersUsed: number[];
}

export interface AttackReport {
  index: number;
  label: number;
  eps: number;
  stepSize: number;
  steps: { step: number; prediction: number; linf: number }[];
  cleanPrediction: number;
  finalPrediction: number;
  linf: number;
}

export interface PageApi {
  /** Settles once the page is ready, or has said why it cannot be. */
  ready: Promise<PageState>;
  state: PageState;
  message: string;
  adapter: string | null;
  ensemble: { label: string; members: number; eps: number } | null;
  results: DieResults | null;
  lastAttack: AttackReport | null;
  /** Attacks sample `index` (what the button does). */
  attack(index: number, steps?: number): Promise<AttackReport>;
}

declare global {
  interface Window {
    eedPage: PageApi;
  }
}

const CLASS_NAMES: Record<string, string[]> = {
  'fashion-mnist': ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
};

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: element #${id} is missing from index.html`);
  return e as T;
}

let samples: SampleSet | null = null;
let floats: Float32Array | null = null;
let ensemble: PageEnsemble | null = null;
let selected = -1;
let attacking = false;

const api: PageApi = {
  ready: Promise.resolve<PageState>('starting'),
  state: 'starting',
  message: '',
  adapter: null,
  ensemble: null,
  results: null,
  lastAttack: null,
  attack: (index, steps) => runAttack(index, steps ?? Number(el<HTMLInputElement>('steps').value)),
};
window.eedPage = api;

function setStatus(state: PageState, message: string): PageState {
  api.state = state;
  api.message = message;
  const s = el('status');
  s.dataset.state = state;
  s.textContent = message;
  return state;
}

function className(c: number): string {
  const names = ensemble?.manifest.classNames ?? (samples ? CLASS_NAMES[samples.dataset] : undefined);
  return names?.[c] ?? String(c);
}

function imageShape(): [number, number, number] {
  if (!samples) throw new Error('page: no test images');
  return samples.shape;
}

function imageAt(i: number): Float32Array {
  const per = imageShape().reduce((a, b) => a * b, 1);
  return floats!.subarray(i * per, (i + 1) * per);
}

async function fetchSamples(): Promise<SampleSet | null> {
  const res = await fetch(SAMPLES_FILE);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`${SAMPLES_FILE}: HTTP ${res.status}`);
  return decodeSamples(await res.text(), SAMPLES_FILE);
}

function renderGrid(): void {
  const grid = el('grid');
  grid.replaceChildren();
  if (!samples) return;
  samples.labels.forEach((label, i) => {
    const fig = document.createElement('figure');
    fig.dataset.index = String(i);
    fig.dataset.label = String(label);
    const canvas = document.createElement('canvas');
    drawImage(canvas, imageAt(i), imageShape());
    const cap = document.createElement('figcaption');
    cap.innerHTML = `<span class="label"></span><br><span class="pred">–</span>`;
    cap.querySelector('.label')!.textContent = `label ${className(label)}`;
    fig.append(canvas, cap);
    fig.addEventListener('click', () => select(i));
    grid.append(fig);
  });
}

function select(i: number): void {
  selected = i;
  for (const f of Array.from(el('grid').querySelectorAll<HTMLElement>('figure'))) f.classList.toggle('selected', f.dataset.index === String(i));
  drawImage(el<HTMLCanvasElement>('clean-canvas'), imageAt(i), imageShape());
  el('attack-info').textContent = `Image ${i} (label ${className(samples!.labels[i])}) selected.`;
  el<HTMLButtonElement>('run-attack').disabled = !ensemble || attacking;
}

async function runDie(): Promise<void> {
  if (!samples || !ensemble) return;
  const { manifest, members } = ensemble;
  const [c, h, w] = samples.shape;
  const want = manifest.inputShape;
  if (want[0] !== c || want[1] !== h || want[2] !== w)
    throw new Error(`the test images are ${c}×${h}×${w} (${samples.dataset}) but the ensemble's inputShape is ${want.join('×')}`);
  const n = samples.labels.length;
  const x = Tensor.fromArray(floats!, [n, c, h, w]);
  try {
    const team = members.map((m) => moduleClassifier(m, manifest.architecture.numClasses));
    const r = await dynamicEnsemble(team, x, manifest.die);
    r.probabilities.dispose();
    api.results = { labels: [...samples.labels], predictions: [...r.predictions], membersUsed: [...r.membersUsed] };
  } finally {
    x.dispose();
  }
  const { predictions, membersUsed, labels } = api.results;
  for (const fig of Array.from(el('grid').querySelectorAll<HTMLElement>('figure'))) {
    const i = Number(fig.dataset.index);
    fig.dataset.prediction = String(predictions[i]);
    fig.dataset.membersUsed = String(membersUsed[i]);
    fig.classList.toggle('wrong', predictions[i] !== labels[i]);
    fig.querySelector('.pred')!.textContent = `→ ${className(predictions[i])} · ${membersUsed[i]}/${members.length} used`;
  }
  const correct = predictions.filter((p, i) => p === labels[i]).length;
  const used = membersUsed.reduce((a, b) => a + b, 0) / n;
  el('die-summary').textContent =
    `DIE: ${correct}/${n} correct; on average ${used.toFixed(2)} of ${members.length} sub-models run per image. Click an image to attack it.`;
}

async function useEnsemble(source: FileSource): Promise<void> {
  const info = el('ensemble-info');
  info.classList.remove('error');
  info.textContent = `Loading ${source.label}…`;
  try {
    const next = await loadEnsemble(source);
    ensemble?.dispose();
    ensemble = next;
    const m = next.manifest;
    api.results = null; // until runDie has this ensemble's
    api.ensemble = { label: next.label, members: next.members.length, eps: m.eps };
    info.textContent =
      `${next.label}: ${m.members.length} ${m.architecture.model} sub-models (width ${m.architecture.width}), ` +
      `${m.dataset}, ε = ${m.eps}; members ${m.members.map((x) => `${x.name} (${x.prunableNonZero} weights)`).join(', ')}.`;
    await runDie();
    if (selected < 0 && samples) select(0);
    else if (selected >= 0) select(selected);
  } catch (e) {
    info.classList.add('error');
    info.textContent = (e as Error).message;
  }
}

async function runAttack(index: number, steps: number): Promise<AttackReport> {
  if (!ensemble || !samples) throw new Error('page: load an ensemble first');
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`page: steps must be a positive integer, got ${steps}`);
  if (attacking) throw new Error('page: an attack is already running');
  attacking = true;
  select(index);
  const section = el('attack');
  section.dataset.state = 'running';
  const log = el('attack-log');
  log.replaceChildren();
  const { manifest, members } = ensemble;
  const eps = manifest.eps;
  // Madry et al.'s step rule: 2.5·ε/K lets K steps cross the ε-box and back.
  const stepSize = (2.5 * eps) / steps;
  const label = samples.labels[index];
  const clean = imageAt(index);
  const shape = imageShape();
  const classifier = averageEnsemble(members.map((m) => moduleClassifier(m, manifest.architecture.numClasses)));
  const report: AttackReport = { index, label, eps, stepSize, steps: [], cleanPrediction: -1, finalPrediction: -1, linf: 0 };
  try {
    for await (const s of pgdSteps(classifier, clean, shape, label, { eps, stepSize, steps, seed: index })) {
      report.steps.push({ step: s.step, prediction: s.prediction, linf: s.linf });
      if (s.step === 0) report.cleanPrediction = s.prediction;
      report.finalPrediction = s.prediction;
      report.linf = s.linf;
      drawImage(el<HTMLCanvasElement>('adv-canvas'), s.image, shape);
      drawPerturbation(el<HTMLCanvasElement>('delta-canvas'), s.image.map((v, i) => v - clean[i]), shape, eps);
      el('adv-caption').textContent = `step ${s.step}: ${className(s.prediction)}`;
      const li = document.createElement('li');
      li.textContent = `${className(s.prediction).padEnd(12)} ‖δ‖∞ = ${s.linf.toFixed(4)}`;
      log.append(li);
    }
    const outcome =
      report.cleanPrediction !== label
        ? 'misclassified even before the attack'
        : report.finalPrediction !== label
          ? 'the attack succeeded'
          : 'still correct';
    el('attack-info').textContent =
      `PGD-${steps} (ε = ${eps}, step ${stepSize.toPrecision(3)}) on image ${index}, label ${className(label)}: ` +
      `${className(report.cleanPrediction)} → ${className(report.finalPrediction)} (${outcome}); ‖δ‖∞ = ${report.linf.toFixed(4)}.`;
    section.dataset.state = 'done';
    section.dataset.finalPrediction = String(report.finalPrediction);
    section.dataset.linf = String(report.linf);
    api.lastAttack = report;
    return report;
  } catch (e) {
    section.dataset.state = 'error';
    el('attack-info').textContent = `attack failed: ${(e as Error).message}`;
    throw e;
  } finally {
    attacking = false;
    el<HTMLButtonElement>('run-attack').disabled = false;
  }
}

async function start(): Promise<PageState> {
  if (!('gpu' in navigator) || !navigator.gpu)
    return setStatus(
      'no-webgpu',
      'This browser has no WebGPU (navigator.gpu is missing). Use a browser with WebGPU enabled: a recent Chrome or Edge; ' +
        'Chromium on Linux with --enable-unsafe-webgpu; the page must come from localhost or https.',
    );
  try {
    const rt = await init();
    api.adapter = adapterString(rt.adapterInfo);
  } catch (e) {
    if (e instanceof NoAdapterError)
      return setStatus('no-webgpu', `WebGPU is present but gives no adapter (${(e as Error).message}). Check the browser's GPU settings (chrome://gpu).`);
    return setStatus('error', `WebGPU device: ${(e as Error).message}`);
  }
  setStatus('starting', `WebGPU adapter: ${api.adapter}. Loading…`);
  try {
    samples = await fetchSamples();
    if (samples) floats = sampleFloats(samples.images);
    renderGrid();
    const files = el<HTMLInputElement>('files');
    files.disabled = false;
    files.addEventListener('change', () => {
      if (files.files?.length) void useEnsemble(pickedSource(Array.from(files.files)));
    });
    el('run-attack').addEventListener('click', () => {
      if (selected >= 0) runAttack(selected, Number(el<HTMLInputElement>('steps').value)).catch(() => undefined);
    });
    // `eed serve --run/--ensemble` publishes the folder; otherwise the picker is the way in.
    const probe = await fetch(`ensemble/manifest.json`, { method: 'HEAD' });
    if (probe.ok) await useEnsemble(servedSource('ensemble/'));
  } catch (e) {
    return setStatus('error', (e as Error).message);
  }
  const missing = samples ? '' : ' The server gives no test images.';
  return setStatus('ready', `WebGPU adapter: ${api.adapter}.${missing}`);
}

api.ready = start().catch((e: unknown) => setStatus('error', (e as Error).message));
