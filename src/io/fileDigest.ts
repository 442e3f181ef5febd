// A file's content as a cache key. Evaluation rows and eed eval's progress files name the model
// files they were computed from; by content, so that a run folder copied to another machine (or
// unpacked from an archive, which keeps whole seconds of a modification time at best) keeps its
// finished rows, and a file rewritten with other weights is another model whatever its time says.

import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

// Hashing a ResNet-18 checkpoint (45 MB) takes a tenth of a second; an evaluation asks for the
// same files many times, so digests are kept while a file's size, times and inode stay the same
// (an atomic rewrite is a new inode, whatever time it sets).
const known = new Map<string, { size: number; modified: number; changed: number; inode: number; digest: string }>();

/** SHA-256 of the file's bytes (hex). */
export function fileDigest(path: string): string {
  const st = statSync(path);
  const hit = known.get(path);
  if (hit && hit.size === st.size && hit.modified === st.mtimeMs && hit.changed === st.ctimeMs && hit.inode === st.ino) return hit.digest;
  const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
  known.set(path, { size: st.size, modified: st.mtimeMs, changed: st.ctimeMs, inode: st.ino, digest });
  return digest;
}
