// Loading an EED ensemble in the page: the manifest and each member's safetensors bytes come from
// the server (`eed serve`) or from files the user picked; both end in the same decode and build.

import {
  decodeSafetensors,
  disposeSubModel,
  MANIFEST_FILE,
  parseManifest,
  subModelFromContent,
  type EnsembleManifest,
  type Module,
} from './engine.js';

/** Where the ensemble's files come from; `read` takes a name as the manifest writes it. */
export interface FileSource {
  /** Names the origin in error messages (a URL prefix or "picked files"). */
  readonly label: string;
  read(name: string): Promise<Uint8Array>;
}

export interface PageEnsemble {
  manifest: EnsembleManifest;
  /** In manifest (= DIE) order, masks applied, eval mode. */
  members: Module[];
  label: string;
  dispose(): void;
}

export async function loadEnsemble(source: FileSource): Promise<PageEnsemble> {
  const where = `${source.label}/${MANIFEST_FILE}`;
  const manifest = parseManifest(new TextDecoder().decode(await source.read(MANIFEST_FILE)), where);
  const members: Module[] = [];
  try {
    for (const m of manifest.members) {
      const name = `${source.label}/${m.file}`;
      members.push(subModelFromContent(decodeSafetensors(await source.read(m.file), name), name, manifest.architecture).module.eval());
    }
  } catch (e) {
    members.forEach(disposeSubModel);
    throw e;
  }
  return { manifest, members, label: source.label, dispose: () => members.forEach(disposeSubModel) };
}

/** The folder `eed serve` publishes under `prefix` (relative to the page). */
export function servedSource(prefix: string): FileSource {
  return {
    label: prefix.replace(/\/$/, ''),
    async read(name) {
      const url = prefix + name.split('/').map(encodeURIComponent).join('/');
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${(await res.text()).trim()}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

/** Files from a file picker, matched by base name (a manifest may name `sub/member.safetensors`). */
export function pickedSource(files: readonly File[]): FileSource {
  const byName = new Map(files.map((f) => [f.name, f]));
  const jsons = files.filter((f) => f.name.endsWith('.json'));
  // A renamed manifest is fine as long as it is the only JSON file picked.
  const manifest = byName.get(MANIFEST_FILE) ?? (jsons.length === 1 ? jsons[0] : undefined);
  return {
    label: 'picked files',
    async read(name) {
      const base = name.split('/').pop() ?? name;
      const file = name === MANIFEST_FILE ? manifest : byName.get(base);
      if (!file)
        throw new Error(
          name === MANIFEST_FILE
            ? `picked files: select the ensemble's ${MANIFEST_FILE} (found ${jsons.length} .json files) together with its member files`
            : `picked files: '${base}', named by the manifest, was not selected (select ${MANIFEST_FILE} and every member file)`,
        );
      return new Uint8Array(await file.arrayBuffer());
    },
  };
}
