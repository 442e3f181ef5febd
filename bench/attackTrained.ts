// `node dist/bench/attackTrained.js --weights FILE [--model smallcnn] [--dataset fashion-mnist] [--count N] [--attack deepfool|pgd] [--out FILE]`:
// one attack over the first N test images in a single batch, timed on a trained checkpoint. An
// attack whose samples stop at different steps (DeepFool) costs what the trained model makes of
// it, which a random model in `npm run bench` cannot show. Prints (and with --out writes, with the
// command and the adapter) wall and process CPU seconds and the robust accuracy.

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { correctOnHost, moduleClassifier } from '../src/attacks/classifier.js';
import { deepfool, DEEPFOOL_DEFAULTS } from '../src/attacks/deepfool.js';
import { pgd } from '../src/attacks/pgd.js';
import { GpuDataset } from '../src/data/batches.js';
import { DATASET_NAMES, loadDatasetByName, type DatasetName } from '../src/data/byName.js';
import { adapterString } from '../src/engine/device.js';
import { init, runtime, shutdown } from '../src/engine/engine.js';
import type { Tensor } from '../src/engine/tensor.js';
import { loadStateDict } from '../src/io/checkpoint.js';
import { Generator } from '../src/ops/index.js';
import { buildModel, MODEL_NAMES, type ModelName } from '../src/training/models.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      weights: { type: 'string' },
      model: { type: 'string', default: 'smallcnn' },
      dataset: { type: 'string', default: 'fashion-mnist' },
      data: { type: 'string', default: '' },
      count: { type: 'string', default: '128' },
      attack: { type: 'string', default: 'deepfool' },
      eps: { type: 'string', default: '' },
      out: { type: 'string' },
    },
  });
  if (!values.weights) throw new Error('attackTrained: --weights FILE is required');
  if (!(MODEL_NAMES as readonly string[]).includes(values.model)) throw new Error(`attackTrained: --model must be one of ${MODEL_NAMES.join(', ')}`);
  if (!(DATASET_NAMES as readonly string[]).includes(values.dataset)) throw new Error(`attackTrained: --dataset must be one of ${DATASET_NAMES.join(', ')}`);
  if (values.attack !== 'deepfool' && values.attack !== 'pgd') throw new Error(`attackTrained: --attack must be deepfool or pgd, got '${values.attack}'`);
  const count = Number(values.count);
  if (!(Number.isInteger(count) && count > 0)) throw new Error(`attackTrained: --count must be a positive integer, got '${values.count}'`);

  await init();
  const test = await loadDatasetByName(values.dataset as DatasetName, 'test', values.data);
  const model = buildModel(values.model as ModelName, { width: 1, inChannels: test.shape[0], numClasses: test.classes, imageSize: test.shape[1], generator: new Generator(0) });
  const { masks } = await loadStateDict(values.weights, model);
  for (const m of masks.values()) m.dispose();
  model.eval();
  const data = GpuDataset.upload(test);
  const n = Math.min(count, data.size);
  const { x, y } = data.gather(Int32Array.from({ length: n }, (_, i) => i));
  const classifier = moduleClassifier(model);
  const eps = values.eps ? Number(values.eps) : values.attack === 'deepfool' ? 2 : 0.1;

  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let xAdv: Tensor;
  if (values.attack === 'deepfool') {
    const r = await deepfool(classifier, x, y, { eps, batchSize: n });
    r.distance.dispose();
    xAdv = r.xAdv;
  } else xAdv = pgd(classifier, x, y, { eps, stepSize: eps / 10, steps: 20, generator: new Generator(0), batchSize: n });
  const right = (await correctOnHost(classifier, xAdv, y, n)).filter(Boolean).length;
  const cpu = process.cpuUsage(cpu0);
  const result = {
    attack: values.attack === 'deepfool' ? `DeepFool-L2 (eps ${eps}, ${DEEPFOOL_DEFAULTS.steps} steps)` : `PGD-20 (eps ${eps})`,
    images: n,
    wall_s: Math.round((performance.now() - wall0) / 100) / 10,
    cpu_s: Math.round((cpu.user + cpu.system) / 1e5) / 10,
    accuracy: right / n,
  };
  console.log(JSON.stringify(result));
  if (values.out) {
    const command = `node dist/bench/attackTrained.js ${process.argv.slice(2).join(' ')}`;
    writeFileSync(values.out, JSON.stringify({ adapter: adapterString(runtime().adapterInfo), date: new Date().toISOString(), command, result }, null, 2) + '\n');
  }
  for (const t of [xAdv, x, y]) t.dispose();
  data.dispose();
  model.dispose();
  shutdown();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
