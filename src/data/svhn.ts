// SVHN "cropped digits" (format 2): {train,test,extra}_32x32.mat, MAT v5 files holding
//   X: 32×32×3×N uint8, MATLAB column-major, so X(row, col, channel, n) sits at
//      row + 32·col + 1024·channel + 3072·n (rows vary fastest; we transpose each plane to NCHW);
//   y: N×1 labels 1..10, where 10 stands for the digit 0 (mapped to label 0 here).

import { join } from 'node:path';
import type { Dataset } from './dataset.js';
import { readDataFile } from './fileBytes.js';
import { parseMatV5, type MatFile, type MatNumericArray } from './matv5.js';

const SIDE = 32;
const CHANNELS = 3;
const SVHN_SHAPE: [number, number, number] = [CHANNELS, SIDE, SIDE];

export type SvhnSplit = 'train' | 'test' | 'extra';

function variable(mat: MatFile, name: string, path: string, expected: string): MatNumericArray {
  const v = mat.variables.get(name);
  if (v) return v;
  const other = mat.skipped.get(name);
  if (other) throw new Error(`${path}: variable '${name}' is a ${other}, expected ${expected}`);
  const present = [...mat.variables.keys(), ...mat.skipped.keys()];
  const holds = present.length ? present.join(', ') : 'no variables';
  throw new Error(`${path}: no variable '${name}' (expected ${expected}); the file holds ${holds}`);
}

/** The SVHN Dataset held by a parsed .mat file. */
export function svhnFromMat(mat: MatFile, path: string): Dataset {
  const x = variable(mat, 'X', path, `${SIDE}×${SIDE}×${CHANNELS}×N uint8 images`);
  const y = variable(mat, 'y', path, 'N×1 labels in 1..10');
  // MATLAB drops trailing singleton dimensions, so a file of one image has X 32×32×3.
  const xDims = x.dims.length === 3 ? [...x.dims, 1] : x.dims;
  if (xDims.length !== 4 || xDims[0] !== SIDE || xDims[1] !== SIDE || xDims[2] !== CHANNELS)
    throw new Error(`${path}: X has dimensions ${x.dims.join('×')}, expected ${SIDE}×${SIDE}×${CHANNELS}×N`);
  if (x.imag) throw new Error(`${path}: X is complex, expected real uint8 images`);
  if (y.imag) throw new Error(`${path}: y is complex, expected real labels in 1..10`);
  const n = xDims[3];
  if (y.dims.length !== 2 || !y.dims.includes(1) || y.real.length !== n)
    throw new Error(`${path}: y has dimensions ${y.dims.join('×')}, expected ${n}×1 (one label per image in X)`);

  const plane = SIDE * SIDE;
  // uint8 (what SVHN ships) is used as is; other numeric classes must hold byte values.
  let bytes: Uint8Array;
  if (x.real instanceof Uint8Array) bytes = x.real;
  else {
    bytes = new Uint8Array(x.real.length);
    for (let i = 0; i < bytes.length; i++) {
      const v = Number(x.real[i]);
      if (!(Number.isInteger(v) && v >= 0 && v <= 255))
        throw new Error(`${path}: X value ${v} at linear index ${i} is not a byte (0..255)`);
      bytes[i] = v;
    }
  }
  // Column-major (row fastest) to row-major (column fastest), plane by plane.
  const images = new Uint8Array(bytes.length);
  for (let base = 0; base < bytes.length; base += plane)
    for (let col = 0; col < SIDE; col++)
      for (let row = 0; row < SIDE; row++) images[base + row * SIDE + col] = bytes[base + col * SIDE + row];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(y.real[i]);
    if (!(Number.isInteger(v) && v >= 1 && v <= 10))
      throw new Error(`${path}: label y(${i + 1}) = ${v} is outside 1..10 (SVHN uses 10 for the digit 0)`);
    labels[i] = v === 10 ? 0 : v;
  }
  return { images, labels, shape: [...SVHN_SHAPE], classes: 10, name: 'svhn' };
}

export function parseSvhnMat(bytes: Uint8Array, path: string): Dataset {
  return svhnFromMat(parseMatV5(bytes, path), path);
}

export async function loadSvhnFile(path: string): Promise<Dataset> {
  return parseSvhnMat(await readDataFile(path, 'an SVHN cropped-digits .mat file (X 32×32×3×N, y N×1)'), path);
}

/** SVHN from a folder holding {train,test,extra}_32x32.mat. */
export function loadSvhn(split: SvhnSplit, dir: string): Promise<Dataset> {
  return loadSvhnFile(join(dir, `${split}_32x32.mat`));
}
