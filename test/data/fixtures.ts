// Access to the committed fixtures (tools/make-fixtures.py) and their manifest, plus scratch
// copies for the corruption tests.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface ExpectedDataset {
  name: string;
  files: string[];
  shape: [number, number, number];
  count: number;
  classes: number;
  labels: number[];
  images_nchw_base64: string;
}

export interface ExpectedMatVariable {
  class: string;
  dims: number[];
  logical: boolean;
  /** int64/uint64 values are decimal strings. */
  real: (number | string)[];
  imag: (number | string)[] | null;
}

export interface Manifest {
  [dataset: string]: unknown;
  matv5: { files: Record<'compressed' | 'uncompressed', string>; variables: Record<string, ExpectedMatVariable>; skipped: Record<string, string> };
  'svhn-bad': Record<string, string>;
}

export const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Manifest;

export function fixture(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

export function expectedDataset(key: string): ExpectedDataset {
  const e = manifest[key] as ExpectedDataset | undefined;
  if (!e) throw new Error(`manifest.json has no entry '${key}' (rerun tools/make-fixtures.py)`);
  return e;
}

/** Asserts that a loaded dataset holds exactly what the generator wrote. */
export function expectDatasetMatches(ds: Dataset, key: string): void {
  const e = expectedDataset(key);
  expect(ds.name).toBe(e.name);
  expect(ds.shape).toEqual(e.shape);
  expect(ds.classes).toBe(e.classes);
  expect(ds.labels.length).toBe(e.count);
  expect([...ds.labels]).toEqual(e.labels);
  const images = new Uint8Array(Buffer.from(e.images_nchw_base64, 'base64'));
  expect(ds.images.length).toBe(images.length);
  // Compare as one buffer (fast) and name the first mismatch when it differs.
  const first = ds.images.findIndex((v, i) => v !== images[i]);
  expect(first, `first differing pixel at NCHW offset ${first}`).toBe(-1);
}

/** A scratch folder removed by the returned cleanup. */
export function scratchDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'eed-data-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `bytes` (or an edited copy of a fixture) under `dir` and returns the path. */
export function writeScratch(dir: string, name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

export function fixtureBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(fixture(...parts)));
}

/** A copy of `bytes` with `edit` applied. */
export function edited(bytes: Uint8Array, edit: (b: Uint8Array) => void): Uint8Array {
  const copy = bytes.slice();
  edit(copy);
  return copy;
}
