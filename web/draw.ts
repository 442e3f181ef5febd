// Canvas drawing of CHW images in [0, 1] and of ℓ∞ perturbations. Canvases hold the image at its
// own resolution; the style sheet enlarges them without smoothing.

function putPixels(canvas: HTMLCanvasElement, shape: readonly [number, number, number], value: (c: number, p: number) => number): void {
  const [channels, h, w] = shape;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('canvas: no 2d context');
  const img = ctx.createImageData(w, h);
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) img.data[4 * p + k] = Math.round(255 * Math.min(1, Math.max(0, value(channels === 3 ? k : 0, p))));
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Pixels `values` (CHW floats in [0, 1], one image) as they are. */
export function drawImage(canvas: HTMLCanvasElement, values: Float32Array, shape: readonly [number, number, number]): void {
  const plane = shape[1] * shape[2];
  putPixels(canvas, shape, (c, p) => values[c * plane + p]);
}

/** δ magnified to the full grey range: −ε black, 0 mid grey, +ε white. */
export function drawPerturbation(canvas: HTMLCanvasElement, delta: Float32Array, shape: readonly [number, number, number], eps: number): void {
  const plane = shape[1] * shape[2];
  const scale = eps > 0 ? 0.5 / eps : 0;
  putPixels(canvas, shape, (c, p) => 0.5 + delta[c * plane + p] * scale);
}
