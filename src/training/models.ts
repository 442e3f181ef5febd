// Model construction by name, for configs and checkpoints.

import { ResNet18 } from '../nn/models/resnet.js';
import { SmallCNN } from '../nn/models/smallCnn.js';
import { VGG16Net } from '../nn/models/vgg.js';
import type { Module } from '../nn/module.js';
import type { Generator } from '../ops/random.js';

export const MODEL_NAMES = ['smallcnn', 'resnet18', 'vgg16'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export function buildModel(name: ModelName, o: { width: number; inChannels: number; numClasses: number; imageSize?: number; generator: Generator }): Module {
  const opts = { width: o.width, inChannels: o.inChannels, numClasses: o.numClasses, generator: o.generator };
  switch (name) {
    case 'smallcnn':
      // The only architecture here whose classifier depends on the input size (flattened map).
      return new SmallCNN({ ...opts, imageSize: o.imageSize });
    case 'resnet18':
      return new ResNet18(opts);
    case 'vgg16':
      return new VGG16Net(opts);
  }
}
