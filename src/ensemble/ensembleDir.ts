// An ensemble folder on disk: manifest.json plus one safetensors file per member (manifest.ts).
// Written atomically file by file, the manifest last, so a reader never sees a manifest whose
// members are not all there.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { Module } from '../nn/module.js';
import { MANIFEST_FILE, parseManifest, serializeManifest, type EnsembleManifest } from './manifest.js';
import { disposeSubModel } from './subModel.js';
import { loadSubModel, saveSubModel } from './subModelFile.js';

export async function readManifest(dir: string): Promise<EnsembleManifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read the ensemble manifest (${(e as Error).message})`);
  }
  return parseManifest(text, path);
}

export interface LoadedEnsemble {
  manifest: EnsembleManifest;
  /** Members in manifest (= DIE) order, masks applied, in eval mode. */
  members: Module[];
  dispose(): void;
}

export async function loadEnsemble(dir: string): Promise<LoadedEnsemble> {
  const manifest = await readManifest(dir);
  const members: Module[] = [];
  const release = () => members.forEach(disposeSubModel);
  try {
    for (const m of manifest.members) members.push((await loadSubModel(join(dir, m.file), manifest.architecture)).module.eval());
  } catch (e) {
    release();
    throw e;
  }
  return { manifest, members, dispose: release };
}

/** Writes the members' files (weights + masks), then the manifest. */
export async function writeEnsemble(dir: string, manifest: EnsembleManifest, members: readonly Module[]): Promise<void> {
  if (members.length !== manifest.members.length)
    throw new Error(`writeEnsemble: ${members.length} modules for ${manifest.members.length} manifest members`);
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < members.length; i++)
    await saveSubModel(join(dir, manifest.members[i].file), members[i], { member: manifest.members[i].name });
  // Round-trip through the parser so a bad manifest fails here, not in a reader.
  const text = serializeManifest(manifest);
  parseManifest(text, join(dir, MANIFEST_FILE));
  await writeFileAtomic(join(dir, MANIFEST_FILE), new TextEncoder().encode(text));
}
