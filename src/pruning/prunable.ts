// Which layers EED scores and prunes (algorithms.md §4 header, [C:harp models/layers.py]): every
// Conv2d and Linear weight tensor, the first conv, the ResNet 1×1 shortcut convs and the final
// linear layer included. BN parameters and biases are never pruned and do not count towards the
// prunable total or the sparsity.
//
// BNSF (§4.4) and NIS (§4.1) also need the BatchNorm that follows each conv. PyTorch-style modules
// do not record data flow, so the pairing is read from the structure that every model in
// src/nn/models/ (and any Sequential) follows: a BatchNorm2d registered right after a Conv2d in the
// same parent, with the matching channel count, normalises that conv's output. This covers
// conv1→bn1, layerX.Y.convZ→bnZ, shortcut.0→shortcut.1 and VGG features.i→features.i+1.

import type { Tensor } from '../engine/tensor.js';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';

export interface PrunableLayer {
  /** Module path ('layer1.0.conv1'); the weight's state-dict name is `${name}.weight`. */
  name: string;
  layer: Conv2d | Linear;
  weight: Tensor;
  /** in_channels·k_h·k_w for convs, in_features for linear layers (the η of eq. 9 uses it). */
  fanIn: number;
  /** The BatchNorm2d normalising this layer's output, if any (never for Linear). */
  followingBn: BatchNorm2d | null;
}

/** The state-dict key of a prunable layer's weight (and, with `.mask`, of its mask). */
export function weightKey(layer: PrunableLayer): string {
  return layer.name ? `${layer.name}.weight` : 'weight';
}

/** Prunable layers in registration (= forward) order. */
export function prunableLayers(model: Module): PrunableLayer[] {
  const modules = model.namedModules();
  const out: PrunableLayer[] = [];
  modules.forEach(([name, m], i) => {
    if (m instanceof Conv2d) {
      out.push({
        name,
        layer: m,
        weight: m.weight,
        fanIn: m.inChannels * m.kernelSize * m.kernelSize,
        followingBn: followingBatchNorm(modules, i, m),
      });
    } else if (m instanceof Linear) {
      out.push({ name, layer: m, weight: m.weight, fanIn: m.inFeatures, followingBn: null });
    }
  });
  return out;
}

function parentPath(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

/**
 * The next sibling module after the conv (in its parent's registration order) when it is a
 * BatchNorm2d over the conv's output channels. namedModules() lists a module's subtree right after
 * it, and convs have no children, so the next entry is the next sibling if one exists.
 */
function followingBatchNorm(modules: [string, Module][], convIndex: number, conv: Conv2d): BatchNorm2d | null {
  const next = modules[convIndex + 1];
  if (!next) return null;
  const [nextName, nextModule] = next;
  if (parentPath(nextName) !== parentPath(modules[convIndex][0])) return null;
  if (!(nextModule instanceof BatchNorm2d) || nextModule.numFeatures !== conv.outChannels) return null;
  return nextModule;
}

/** The layer's weights that are non-zero and not masked out by `mask` (default: its own; read back from the device). */
export async function keptWeightCount(l: PrunableLayer, mask: Tensor | null = l.layer.weightMask ?? null): Promise<number> {
  const w = await l.weight.data();
  const m = mask ? await mask.data() : null;
  let kept = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0 && (!m || m[i] !== 0)) kept++;
  return kept;
}

/** Number of prunable weights (the denominator of every sparsity in §3 and §5). */
export function prunableWeightCount(layers: readonly PrunableLayer[]): number {
  return layers.reduce((n, l) => n + l.weight.size, 0);
}
