// The first test images of a dataset, as `eed serve` shows them on the page (Node: reads the
// dataset files).

import { DATASET_NAMES, loadDatasetByName, type DatasetName } from '../data/byName.js';
import { datasetSize, selectSamples } from '../data/dataset.js';
import type { SampleSet } from './samplePayload.js';

export async function loadTestSamples(dataset: string, dataDir: string, count: number): Promise<SampleSet> {
  if (!(DATASET_NAMES as readonly string[]).includes(dataset))
    throw new Error(`test images: dataset '${dataset}' is not one of ${DATASET_NAMES.join(', ')}`);
  if (!Number.isInteger(count) || count < 1) throw new Error(`test images: count must be a positive integer, got ${count}`);
  const ds = await loadDatasetByName(dataset as DatasetName, 'test', dataDir);
  const n = Math.min(count, datasetSize(ds));
  const first = selectSamples(ds, Array.from({ length: n }, (_, i) => i));
  return { dataset, shape: first.shape, images: first.images, labels: first.labels };
}
