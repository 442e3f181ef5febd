// `eed eval`: the attack suite against a trained model, as a table and report.json.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { moduleClassifier } from '../attacks/classifier.js';
import { SUITE_ATTACKS, type SuiteAttack, type SuiteOptions, type SuiteResult } from '../attacks/suite.js';
import { EvalProgress, fileIdentity, legacyFileIdentity, resumableSuite } from '../attacks/evalProgress.js';
import { classifierPredictor, measureThroughput } from '../attacks/throughput.js';
import { loadDatasetByName, DATASET_NAMES, type DatasetName } from '../data/byName.js';
import { GpuDataset } from '../data/batches.js';
import { datasetDigest } from '../data/datasetDigest.js';
import { adapterString } from '../engine/device.js';
import { init, runtime, shutdown } from '../engine/engine.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { loadStateDict } from '../io/checkpoint.js';
import { Generator } from '../ops/random.js';
import { buildModel, MODEL_NAMES, type ModelName } from '../training/models.js';
import { keptWeightCount, prunableLayers, prunableWeightCount, weightKey } from '../pruning/prunable.js';
import { optionHelp, resolveOptions, type OptionTable } from './options.js';
import { onInterrupt } from './interrupt.js';
import { compressForInference, decompress, sparseKernelsPay } from '../pruning/sparseInference.js';

const ATTACKS = SUITE_ATTACKS;

export const EVAL_OPTIONS = {
  run: { type: 'string', default: '', help: 'run directory of `eed train` (model, dataset and weights come from it)' },
  weights: { type: 'string', default: '', help: 'safetensors weights (instead of --run)' },
  dataset: { type: 'enum', values: DATASET_NAMES, default: 'fashion-mnist', help: 'dataset (with --weights)' },
  data: { type: 'string', default: '', help: 'dataset folder' },
  model: { type: 'enum', values: MODEL_NAMES, default: 'smallcnn', help: 'architecture (with --weights)' },
  width: { type: 'number', default: 1, min: 0.01, help: 'width multiplier (with --weights)' },
  attacks: { type: 'string', default: ATTACKS.join(','), help: `comma-separated subset of ${ATTACKS.join(',')}` },
  eps: { type: 'number', default: 8 / 255, min: 0, max: 1, help: 'ℓ∞ radius of FGSM, PGD, C&W and AutoAttack' },
  pgdSteps: { type: 'number', default: 20, min: 1, integer: true, help: 'PGD and C&W steps' },
  pgdStep: { type: 'number', default: 2 / 255, min: 0, help: 'PGD and C&W step size' },
  dfEps: { type: 'number', default: 0.5, min: 0, help: 'ℓ2 budget of DeepFool' },
  count: { type: 'number', default: 1000, min: 1, integer: true, help: 'first N test images for clean, FGSM, PGD, C&W, DeepFool' },
  aaCount: { type: 'number', default: 500, min: 0, integer: true, help: 'first N test images for AutoAttack' },
  batchSize: { type: 'number', default: 250, min: 1, integer: true, help: 'attack batch size' },
  seed: { type: 'number', default: 0, min: 0, integer: true, help: 'seed of the random starts' },
  out: { type: 'string', default: '', help: 'report file (default: <run>/eval.json, else eval.json)' },
} satisfies OptionTable;

export const EVAL_PRESETS = {
  // Issue 5's Fashion-MNIST protocol: ε = 0.1, PGD-20 with step 0.01 on 2000 images, AA on 500.
  'fmnist-smallcnn': { eps: 0.1, pgdSteps: 20, pgdStep: 0.01, count: 2000, aaCount: 500, dfEps: 2 },
};

export const EVAL_HELP = `Usage: eed eval (--run DIR | --weights FILE --model NAME --dataset NAME) [options]

Attacks a trained model on the first test images and prints accuracy under each attack: clean,
FGSM, PGD-K (cross-entropy, random start), C&W-ℓ∞ (PGD on the margin loss, κ = 50), DeepFool-ℓ2
and AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square; a point is robust only if all fail).
Writes the numbers, the parameter count and clean throughput to a JSON report.

Presets: ${Object.keys(EVAL_PRESETS).join(', ')}

Options:
${optionHelp(EVAL_OPTIONS)}`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { config: c, help } = resolveOptions('eval', EVAL_OPTIONS, EVAL_PRESETS, argv);
  if (help) {
    console.log(EVAL_HELP);
    return 0;
  }
  const chosen: SuiteAttack[] = [];
  for (const a of c.attacks.split(',').map((s) => s.trim()).filter(Boolean)) {
    const known = ATTACKS.find((k) => k === a);
    if (!known) throw new Error(`eed eval: unknown attack '${a}' (have ${ATTACKS.join(', ')})`);
    chosen.push(known);
  }
  let dataset = c.dataset as DatasetName;
  let modelName = c.model as ModelName;
  let width = c.width;
  let dataDir = c.data;
  let weights = c.weights;
  if (c.run) {
    const cfgPath = join(c.run, 'config.json');
    if (!existsSync(cfgPath)) throw new Error(`--run ${c.run}: no config.json (not a run directory of eed train)`);
    const rc = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    dataset = rc.dataset as DatasetName;
    modelName = rc.model as ModelName;
    width = Number(rc.width);
    dataDir = dataDir || String(rc.data ?? '');
    weights = join(c.run, 'model.safetensors');
  }
  if (!weights) throw new Error('eed eval: pass --run DIR or --weights FILE');
  if (!existsSync(weights)) throw new Error(`eed eval: weights file ${weights} does not exist${c.run ? ' (has the run finished?)' : ''}`);

  await init();
  const adapter = adapterString(runtime().adapterInfo);
  const test = await loadDatasetByName(dataset, 'test', dataDir);
  const model = buildModel(modelName, { width, inChannels: test.shape[0], numClasses: test.classes, imageSize: test.shape[1], generator: new Generator(0) });
  const { masks } = await loadStateDict(weights, model);
  model.eval();
  // Parameters as EED counts them (§11.5): non-zeros of the prunable (conv and linear) weights,
  // after the masks of a pruned checkpoint.
  const layers = prunableLayers(model);
  let nonZero = 0;
  for (const l of layers) nonZero += await keptWeightCount(l, masks.get(weightKey(l)) ?? null);
  for (const m of masks.values()) m.dispose();
  const prunableTotal = prunableWeightCount(layers);
  const classifier = moduleClassifier(model);
  const data = GpuDataset.upload(test);
  const out = c.out || (c.run ? join(c.run, 'eval.json') : 'eval.json');
  const suiteOptions: SuiteOptions = {
    eps: c.eps,
    count: c.count,
    aaCount: c.aaCount,
    batchSize: c.batchSize,
    seed: c.seed,
    pgd: { steps: c.pgdSteps, stepSize: c.pgdStep },
    deepfool: { eps: c.dfEps },
  };
  try {
    // A pruned model's attacks on the sparse kernels where they pay (the weights hold their zeros;
    // layers from 80% sparsity are compressed, so a dense model is left as it is).
    if (sparseKernelsPay()) {
      const { compressed } = await compressForInference(model);
      const names = Object.keys(compressed);
      if (names.length) console.error(`eed eval: ${names.length} pruned layer(s) on the sparse kernels (${names.join(', ')})`);
    }
    // One attack at a time, each finished row kept in <out>.partial.json: AutoAttack alone runs
    // for an hour on a CPU adapter, and a rerun of the same command skips what is done.
    // The test split's digest too: the same dataset name in another folder may hold other images.
    // Files from before the key held it resume as they did (the next write records it), and so do
    // files from before weights were named by content, while the file's time and size still match.
    const identity = fileIdentity(weights);
    const testData = datasetDigest(test);
    const legacy = legacyFileIdentity(weights);
    const partial = await EvalProgress.open(
      `${out}.partial.json`,
      { weights: identity, dataset, testData, options: suiteOptions },
      [{ weights: identity, dataset, options: suiteOptions }, { weights: legacy, dataset, testData, options: suiteOptions }, { weights: legacy, dataset, options: suiteOptions }],
    );
    const log = (line: string) => console.error(line);
    // Ctrl-C stops at the next attack or saved AutoAttack state; the same command resumes there.
    const { signal, release } = onInterrupt('interrupting at the next saved state (Ctrl-C again to quit at once; the same command resumes from there)');
    let suite: SuiteResult;
    try {
      suite = await resumableSuite(
        partial,
        classifier,
        data,
        { ...suiteOptions, attacks: chosen },
        {
          onProgress: (e) => {
            if (e.kind === 'attack') log(`${e.outcome.label}: ${(e.outcome.accuracy * 100).toFixed(2)}% (${e.outcome.seconds.toFixed(1)} s)`);
          },
        },
        log,
        () => {
          if (signal.aborted) throw new EvalInterrupted();
        },
      );
    } catch (e) {
      if (!(e instanceof EvalInterrupted)) throw e;
      console.error(`eed eval: interrupted; finished attacks are in ${partial.path} (AutoAttack's state in ${partial.autoAttackPath}); rerun the same command to resume`);
      return 130;
    } finally {
      release();
    }
    const outcomes = suite.rows;
    const autoAttackLabel = suite.autoAttack?.suiteLabel ?? null;
    // PGD again on AutoAttack's images alone (issue 5: AutoAttack must not be weaker than PGD there).
    const rows = outcomes.flatMap((r) => {
      // Per-image verdicts where the attack recorded them (rows resumed from older progress files have none).
      const row = { attack: r.label, accuracy: r.accuracy, images: r.count, seconds: r.seconds as number | null, ...(r.correct === undefined ? {} : { correct: r.correct }) };
      const sub = r.attack === 'pgd' && chosen.includes('autoattack') ? r.onAutoAttackImages : undefined;
      return sub ? [row, { attack: `${r.label} (first ${sub.count})`, accuracy: sub.accuracy, images: sub.count, seconds: null }] : [row];
    });
    // Clean throughput (images/s) of one forward pass over a batch.
    const { x } = data.gather(Int32Array.from({ length: Math.min(c.batchSize, data.size) }, (_, i) => i));
    const { imagesPerSecond } = await measureThroughput(classifierPredictor(classifier, x), { images: x.shape[0], warmup: 1, repeats: 3 });
    x.dispose();

    console.log(`\nmodel ${modelName} (width ${width}) on ${dataset}, ε = ${c.eps.toFixed(4)}, adapter ${adapter}`);
    console.log(`${'attack'.padEnd(28)}${'accuracy'.padStart(10)}${'images'.padStart(8)}${'seconds'.padStart(10)}`);
    for (const r of rows)
      console.log(`${r.attack.padEnd(28)}${(r.accuracy * 100).toFixed(2).padStart(9)}%${String(r.images).padStart(8)}${(r.seconds === null ? '' : r.seconds.toFixed(1)).padStart(10)}`);
    console.log(
      `parameters ${model.numParameters()} (conv/linear non-zeros ${nonZero} of ${prunableTotal}), clean throughput ${imagesPerSecond.toFixed(1)} images/s`,
    );
    const report = {
      command: `eed eval ${argv.join(' ')}`.trim(),
      adapter,
      weights,
      model: modelName,
      width,
      dataset,
      eps: c.eps,
      autoAttackLabel,
      results: rows,
      parameters: model.numParameters(),
      prunableNonZero: nonZero,
      prunableTotal,
      imagesPerSecond,
    };
    await writeFileAtomic(out, new TextEncoder().encode(JSON.stringify(report, null, 2) + '\n'));
    partial.remove();
    console.log(`report: ${out}`);
  } finally {
    data.dispose();
    decompress(model);
    model.dispose();
    shutdown();
  }
  return 0;
}

class EvalInterrupted extends Error {}
