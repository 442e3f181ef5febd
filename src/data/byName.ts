// Datasets by name, as configs and the CLI refer to them.

import { loadCifar10, loadCifar100 } from './cifar.js';
import type { Dataset } from './dataset.js';
import { FASHION_MNIST_DIR, loadFashionMnist, loadMnist } from './idx.js';
import { loadSvhn } from './svhn.js';

export const DATASET_NAMES = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'svhn'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** `dir` '' means the default location (only Fashion-MNIST has one: the Debian package). */
export async function loadDatasetByName(name: DatasetName, split: 'train' | 'test', dir: string): Promise<Dataset> {
  const need = (what: string) => {
    if (!dir) throw new Error(`dataset ${name}: pass --data <folder with ${what}>`);
    return dir;
  };
  switch (name) {
    case 'fashion-mnist':
      return loadFashionMnist(split, dir || FASHION_MNIST_DIR);
    case 'mnist':
      return loadMnist(split, need('the MNIST IDX files'));
    case 'cifar10':
      return loadCifar10(split, need('data_batch_1..5.bin and test_batch.bin'));
    case 'cifar100':
      return loadCifar100(split, need('train.bin and test.bin'));
    case 'svhn':
      return loadSvhn(split, need('train_32x32.mat and test_32x32.mat'));
  }
}
