// eed-webgpu public API.

export { init, shutdown, runtime, isInitialized } from './engine/engine.js';
export { acquireDevice, adapterString, NoAdapterError } from './engine/device.js';
export type { AdapterDescription, DeviceOptions } from './engine/device.js';
export { Tensor, liveTensorCount } from './engine/tensor.js';
export type { DType } from './engine/tensor.js';
export { scope, scopeAsync, dispose } from './engine/scope.js';
export { grad, backward, noGrad, isRecording } from './engine/autograd.js';
export { hvp } from './engine/hvp.js';
export * from './ops/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './attacks/index.js';
export * from './pruning/index.js';
export * from './ensemble/index.js';
