// The engine's browser entry point: the same tensors, kernels, models and attacks as in Node, with
// the WGSL sources compiled in (Node reads them from shaders/). Only files without Node imports
// are reachable from here: the bundle build fails on any node:* import. Device acquisition picks
// navigator.gpu by itself (src/engine/device.ts).

import { registerShaderSources } from '../kernels/shaderSource.js';

/** shaders/*.wgsl by name, substituted by the bundler (web/build.ts). */
declare const __EED_SHADERS__: Record<string, string>;
registerShaderSources(__EED_SHADERS__);

// Loaded for its side effect too: it hands autograd the ops it needs (add, onesLike, zerosLike)
// without an import cycle; attacks differentiate through the models.
import '../src/ops/index.js';

export { init, runtime, shutdown, isInitialized } from '../src/engine/engine.js';
export { adapterString, NoAdapterError } from '../src/engine/device.js';
export { noGrad } from '../src/engine/autograd.js';
export { scope } from '../src/engine/scope.js';
export { Tensor } from '../src/engine/tensor.js';
export { Generator } from '../src/ops/random.js';
export { argmax } from '../src/ops/reduce.js';
export { add } from '../src/ops/elementwise.js';
export { decodeSafetensors, type SafetensorsContent } from '../src/io/safetensorsCodec.js';
export { applyStateDict } from '../src/io/stateDict.js';
export { parseManifest, MANIFEST_FILE, type EnsembleManifest } from '../src/ensemble/manifest.js';
export { subModelFromContent, disposeSubModel, type ArchitectureSpec } from '../src/ensemble/subModel.js';
export { dynamicEnsemble, type DynamicEnsembleResult } from '../src/ensemble/dynamicEnsemble.js';
export { averageEnsemble, moduleClassifier, type Classifier } from '../src/attacks/classifier.js';
export { pgd } from '../src/attacks/pgd.js';
export { inputGradient } from '../src/attacks/inputGradient.js';
export { crossEntropyLoss } from '../src/attacks/losses.js';
export { linfProject, linfStep } from '../src/attacks/project.js';
export type { Module } from '../src/nn/module.js';
