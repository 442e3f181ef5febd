// `eed tune`: measure kernel candidates on this adapter and cache the winners.

import { parseArgs } from 'node:util';
import { autotune } from '../engine/autotune.js';
import { init, shutdown } from '../engine/engine.js';

export const TUNE_HELP = `Usage: eed tune [--quiet]

Times the register GEMM's workgroup shapes, the register against the subgroup GEMM kernel, and,
for the ResNet-18 and SmallCNN convolution shapes, the direct and im2col+GEMM strategies of each
pass (the forward's with both im2col kernels, the input gradient's with both col2im kernels), then caches the winners for this adapter (in
$EED_CACHE_DIR, else ~/.cache/eed-webgpu). Every later run on the same adapter uses them. Takes
about a minute on a software adapter.`;

export async function tune(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { quiet: { type: 'boolean' } } });
  await init();
  const t = await autotune({ log: values.quiet ? undefined : (l) => console.log(l) });
  console.log(`tuning for ${t.adapter}: gemm workgroup ${t.gemmWorkgroup.join('x')}, gemm kernel ${t.gemmKernel}, im2col ${t.im2colKernel ?? 'positions'}, col2im ${t.col2imKernel ?? 'positions'}, ${Object.keys(t.conv).length} conv choices`);
  console.log(t.cachePath ? `cached in ${t.cachePath}` : 'not cached (no file system)');
  shutdown();
  return 0;
}
