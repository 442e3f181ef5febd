// `eed doctor`: what WebGPU adapter the engine runs on, and whether the kernels compute correctly
// on it (a small matmul and conv checked against plain TypeScript).

import { parseArgs } from 'node:util';
import { adapterString } from '../engine/device.js';
import { init, shutdown } from '../engine/engine.js';
import { activeTuning } from '../../kernels/tuning.js';
import { scope } from '../engine/scope.js';
import { conv2d, Generator, matmul } from '../ops/index.js';

export const DOCTOR_HELP = `Usage: eed doctor [--json] [--short]

Prints the WebGPU adapter in use, its features and the limits the engine relies on, then runs a
small self-check of the matmul and conv kernels against a plain TypeScript computation.

  --json    machine-readable output
  --short   one line: the adapter description`;

function hostMatmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  return worst;
}

export async function doctor(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, short: { type: 'boolean' } } });
  const rt = await init();
  const adapter = adapterString(rt.adapterInfo);
  if (values.short) {
    console.log(`WebGPU adapter: ${adapter}${rt.adapterInfo.isSoftware ? ' (software)' : ''}`);
    shutdown();
    return 0;
  }
  const gen = new Generator(1);
  const [m, k, n] = [37, 53, 29];
  const { a, b, c, x, w, y } = scope(() => {
    const a = gen.uniform([m, k], -1, 1);
    const b = gen.uniform([k, n], -1, 1);
    const x = gen.uniform([1, 3, 9, 9], -1, 1);
    const w = gen.uniform([5, 3, 3, 3], -1, 1);
    return { a, b, c: matmul(a, b), x, w, y: conv2d(x, w, null, { padding: 1 }) };
  });
  const [ha, hb, hc] = [(await a.data()) as Float32Array, (await b.data()) as Float32Array, await c.data()];
  const matmulErr = maxRelErr(hc, hostMatmul(ha, hb, m, k, n));
  // conv as a matmul over explicit patches
  const [hx, hw, hy] = [await x.data(), await w.data(), await y.data()];
  const want = new Float64Array(5 * 81);
  for (let co = 0; co < 5; co++)
    for (let oy = 0; oy < 9; oy++)
      for (let ox = 0; ox < 9; ox++)
        for (let ci = 0; ci < 3; ci++)
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const iy = oy + ky - 1;
              const ix = ox + kx - 1;
              if (iy < 0 || iy >= 9 || ix < 0 || ix >= 9) continue;
              want[co * 81 + oy * 9 + ox] += hw[((co * 3 + ci) * 3 + ky) * 3 + kx] * hx[(ci * 9 + iy) * 9 + ix];
            }
  const convErr = maxRelErr(hy, want);
  for (const t of [a, b, c, x, w, y]) t.dispose();
  const ok = matmulErr < 1e-4 && convErr < 1e-4;
  const report = {
    adapter,
    info: rt.adapterInfo,
    runtime: rt.runtimeKind,
    features: rt.features,
    limits: rt.limits,
    tuning: activeTuning(),
    selfCheck: { matmulMaxRelErr: matmulErr, conv2dMaxRelErr: convErr, ok },
  };
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(`adapter:  ${adapter}${rt.adapterInfo.isSoftware ? ' (software: register-tiled kernels)' : ''}`);
    console.log(`runtime:  ${rt.runtimeKind}`);
    console.log(`features: ${rt.features.join(', ') || '(none)'}`);
    console.log('limits:');
    for (const [name, v] of Object.entries(rt.limits)) console.log(`  ${name.padEnd(42)} ${v}`);
    const t = activeTuning();
    if (t) console.log(`tuning:   ${t.source} (gemm workgroup ${t.gemmWorkgroup.join('x')}, ${Object.keys(t.conv).length} tuned conv shapes)`);
    console.log(`self-check: matmul max rel err ${matmulErr.toExponential(2)}, conv2d ${convErr.toExponential(2)}: ${ok ? 'ok' : 'FAILED'}`);
  }
  shutdown();
  return ok ? 0 : 1;
}
