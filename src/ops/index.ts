// Every differentiable op, in one namespace.

import { gradHelpers } from '../engine/autograd.js';
import { onesLike, zerosLike } from './creation.js';
import { add } from './elementwise.js';

gradHelpers.add = add;
gradHelpers.onesLike = onesLike;
gradHelpers.zerosLike = zerosLike;

export * from './creation.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './shape.js';
export * from './matmul.js';
export * from './conv.js';
export * from './pool.js';
export * from './gather.js';
export * from './loss.js';
export * from './batchNorm.js';
export * from './random.js';
export * from './sparseConv.js';
export * from './maskedConv.js';
export * from './maskedLinear.js';
