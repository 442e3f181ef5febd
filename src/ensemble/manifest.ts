// The ensemble manifest: what a trained EED team is, in one small JSON file beside its members'
// safetensors files. Node (ensembleDir.ts) and the browser page read the same format, so this
// file only parses and checks; it touches no file system.
//
//   {
//     "format": "eed-ensemble", "version": 1,
//     "architecture": { "model": "smallcnn", "width": 1, "inChannels": 1, "numClasses": 10, "imageSize": 28 },
//     "inputShape": [1, 28, 28], "dataset": "fashion-mnist", "eps": 0.1,
//     "members": [ { "name": "erm-2", "file": "member-0.safetensors", "score": "erm", "subset": 2,
//                    "prunableNonZero": 4512, "validationPgd": 0.61 }, ... ],   // §6 order = DIE order
//     "die": { "dieRule": "argmax", "dieSoft": false, "instabilityThreshold": 0.05, "haltThreshold": 0.5, "combiner": "average" }
//   }

import { resolveHaltingOptions, type HaltingOptions } from './haltingRule.js';
import { checkArchitecture, type ArchitectureSpec } from './subModel.js';

export const MANIFEST_FILE = 'manifest.json';

export interface ManifestMember {
  name: string;
  /** Safetensors file (weights + `<param>.mask`), relative to the manifest. */
  file: string;
  /** Importance score and subset the member was pruned with (absent for a dense member). */
  score?: string;
  subset?: number;
  prunableNonZero: number;
  /** PGD accuracy on the held-out split, which orders the team (§6). */
  validationPgd?: number;
}

export interface EnsembleManifest {
  format: 'eed-ensemble';
  version: 1;
  architecture: ArchitectureSpec;
  /** [channels, height, width] of one input image in [0, 1]. */
  inputShape: [number, number, number];
  dataset: string;
  /** ℓ∞ radius the team was trained and evaluated at. */
  eps: number;
  classNames?: string[];
  members: ManifestMember[];
  die: Required<HaltingOptions>;
}

function fail(source: string, field: string, expected: string, got: unknown): never {
  throw new Error(`${source}: '${field}' must be ${expected}, got ${JSON.stringify(got)}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks a manifest; every error names the source and the field. */
export function parseManifest(text: string, source: string): EnsembleManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) fail(source, '(root)', 'an object', raw);
  if (raw.format !== 'eed-ensemble') fail(source, 'format', '"eed-ensemble"', raw.format);
  if (raw.version !== 1) fail(source, 'version', '1', raw.version);
  if (!isObject(raw.architecture)) fail(source, 'architecture', 'an object', raw.architecture);
  const shape = raw.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0))
    fail(source, 'inputShape', '[channels, height, width] of positive integers', shape);
  // Manifests written before SmallCNN's classifier depended on the image size lack imageSize.
  const architecture = { imageSize: shape[1], ...raw.architecture } as unknown as ArchitectureSpec;
  checkArchitecture(architecture, `${source}: architecture`);
  if (shape[1] !== architecture.imageSize || shape[2] !== architecture.imageSize)
    fail(source, 'inputShape', `[channels, ${architecture.imageSize}, ${architecture.imageSize}] (architecture.imageSize)`, shape);
  if (shape[0] !== architecture.inChannels) fail(source, 'inputShape[0]', `architecture.inChannels (${architecture.inChannels})`, shape[0]);
  if (typeof raw.dataset !== 'string') fail(source, 'dataset', 'a string', raw.dataset);
  if (typeof raw.eps !== 'number' || !(raw.eps >= 0)) fail(source, 'eps', 'a non-negative number', raw.eps);
  if (raw.classNames !== undefined) {
    const names = raw.classNames;
    if (!Array.isArray(names) || names.length !== architecture.numClasses || !names.every((n) => typeof n === 'string'))
      fail(source, 'classNames', `${architecture.numClasses} strings`, names);
  }
  if (!Array.isArray(raw.members) || raw.members.length === 0) fail(source, 'members', 'a non-empty array', raw.members);
  const members = raw.members.map((m: unknown, i: number): ManifestMember => {
    const f = `members[${i}]`;
    if (!isObject(m)) fail(source, f, 'an object', m);
    if (typeof m.name !== 'string' || !m.name) fail(source, `${f}.name`, 'a non-empty string', m.name);
    if (typeof m.file !== 'string' || !m.file || m.file.includes('..') || m.file.startsWith('/'))
      fail(source, `${f}.file`, 'a file name inside the ensemble folder', m.file);
    if (!Number.isInteger(m.prunableNonZero) || (m.prunableNonZero as number) < 0)
      fail(source, `${f}.prunableNonZero`, 'a non-negative integer', m.prunableNonZero);
    if (m.score !== undefined && typeof m.score !== 'string') fail(source, `${f}.score`, 'a string', m.score);
    if (m.subset !== undefined && !Number.isInteger(m.subset)) fail(source, `${f}.subset`, 'an integer', m.subset);
    if (m.validationPgd !== undefined && typeof m.validationPgd !== 'number') fail(source, `${f}.validationPgd`, 'a number', m.validationPgd);
    return m as unknown as ManifestMember;
  });
  if (!isObject(raw.die)) fail(source, 'die', 'an object', raw.die);
  let die: Required<HaltingOptions>;
  try {
    die = resolveHaltingOptions(raw.die as HaltingOptions);
  } catch (e) {
    throw new Error(`${source}: 'die': ${(e as Error).message}`);
  }
  return {
    format: 'eed-ensemble',
    version: 1,
    architecture,
    inputShape: shape as [number, number, number],
    dataset: raw.dataset,
    eps: raw.eps,
    ...(raw.classNames ? { classNames: raw.classNames as string[] } : {}),
    members,
    die,
  };
}

export function serializeManifest(m: EnsembleManifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}
