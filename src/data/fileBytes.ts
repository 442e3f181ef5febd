// Reading a data file whole, with the errors the loaders want: a missing file names the path and
// what it should have been, and gzip is recognised by its magic bytes rather than by the file name
// (a renamed or already-decompressed file still loads).

import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

/** Reads `path`; `what` describes the file for the error when it is missing or unreadable. */
export async function readDataFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${path}: file not found (expected ${what})`);
    throw new Error(`${path}: cannot read ${what}: ${(e as Error).message}`);
  }
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The file's bytes, decompressed when they are gzip. */
export function gunzipIfNeeded(bytes: Uint8Array, path: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return new Uint8Array(gunzipSync(bytes));
  } catch (e) {
    throw new Error(`${path}: corrupt gzip stream (${(e as Error).message})`);
  }
}
