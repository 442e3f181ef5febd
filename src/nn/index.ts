export { Module } from './module.js';
export * from './layers.js';
export { SmallCNN, type SmallCnnOptions } from './models/smallCnn.js';
export { ResNet18, BasicBlock, type ResNetOptions } from './models/resnet.js';
export { VGG16Net, type VggOptions } from './models/vgg.js';
export { isTapped, tappedModel, TapCursor, type FeatureTap, type TappedModel } from './models/featureTap.js';
