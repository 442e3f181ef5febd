// The test images `eed serve` hands to the browser page: one small JSON document (a few dozen
// images as base64 bytes) that the server writes and the page reads. No file system here: the
// page bundles this file.

export const SAMPLES_FILE = 'samples.json';

export interface SampleSet {
  /** Dataset the images come from (the ensemble manifest's `dataset`). */
  dataset: string;
  /** [C, H, W] of one image. */
  shape: [number, number, number];
  /** N×C×H×W bytes (pixel value × 255), as the dataset loaders keep them. */
  images: Uint8Array;
  labels: Int32Array;
}

interface SamplePayload {
  format: 'eed-samples';
  version: 1;
  dataset: string;
  shape: [number, number, number];
  labels: number[];
  /** base64 of the image bytes. */
  pixels: string;
}

// btoa/atob exist in browsers and in Node ≥ 16, so one codec serves both sides.
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000; // String.fromCharCode takes its arguments on the stack
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function encodeSamples(s: SampleSet): string {
  const payload: SamplePayload = {
    format: 'eed-samples',
    version: 1,
    dataset: s.dataset,
    shape: s.shape,
    labels: [...s.labels],
    pixels: toBase64(s.images),
  };
  return JSON.stringify(payload);
}

/** Parses and checks a samples document; errors name `source` and the field. */
export function decodeSamples(text: string, source: string): SampleSet {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new Error(`${source}: '${field}' must be ${expected}, got ${JSON.stringify(got)?.slice(0, 80)}`);
  };
  let raw: Partial<SamplePayload>;
  try {
    raw = JSON.parse(text) as Partial<SamplePayload>;
  } catch (e) {
    throw new Error(`${source}: not JSON (${(e as Error).message})`);
  }
  if (raw.format !== 'eed-samples') fail('format', '"eed-samples"', raw.format);
  if (raw.version !== 1) fail('version', '1', raw.version);
  if (typeof raw.dataset !== 'string') fail('dataset', 'a string', raw.dataset);
  const shape = raw.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0))
    fail('shape', '[channels, height, width] of positive integers', shape);
  if (!Array.isArray(raw.labels) || !raw.labels.every((l) => Number.isInteger(l) && l >= 0)) fail('labels', 'an array of class indices', raw.labels);
  if (typeof raw.pixels !== 'string') fail('pixels', 'a base64 string', raw.pixels);
  let images: Uint8Array;
  try {
    images = fromBase64(raw.pixels as string);
  } catch {
    return fail('pixels', 'valid base64', (raw.pixels as string).slice(0, 20));
  }
  const [c, h, w] = shape as [number, number, number];
  const labels = Int32Array.from(raw.labels as number[]);
  if (images.length !== labels.length * c * h * w)
    fail('pixels', `${labels.length} images of ${c}×${h}×${w} bytes (${labels.length * c * h * w})`, `${images.length} bytes`);
  return { dataset: raw.dataset as string, shape: [c, h, w], images, labels };
}

/** Image bytes as the [0, 1] floats models take (byte/255, as the training batches upload them). */
export function sampleFloats(images: Uint8Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = images[i] / 255;
  return out;
}
