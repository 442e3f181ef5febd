// safetensors files on disk (Node): the codec (safetensorsCodec.ts, which the browser bundle uses
// without this file) plus reading and atomic writing.

import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomicWrite.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsContent, type TensorRecord } from './safetensorsCodec.js';

export * from './safetensorsCodec.js';

export async function readSafetensors(path: string): Promise<SafetensorsContent> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new Error(`${path}: cannot read the safetensors file (${(e as Error).message})`);
  }
  return decodeSafetensors(bytes, path);
}

/** Writes atomically: a reader sees the old file or the complete new one, never a partial one. */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<[string, TensorRecord]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
