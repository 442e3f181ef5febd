// `npm run bench [-- suite ...] [-- --time ms] [--filter regex] [--out dir]`: kernel and training-step benchmarks on whatever
// adapter is present. Each suite writes bench/results/<suite>.json:
//   {adapter, date, command, results: [{name, shape, ms_median, ms_min, gflops}]}
// Every iteration waits for the GPU (queue drained), so times are wall-clock per call.

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { adapterString } from '../src/engine/device.js';
import { init, runtime } from '../src/engine/engine.js';
import { SUITES, type BenchCase } from './suites.js';

export interface BenchResult {
  name: string;
  shape: string;
  ms_median: number;
  ms_min: number;
  gflops: number | null;
  /** Images per second for cases over a batch (the shape starts with b<batch>). */
  images_per_s: number | null;
  samples: number;
}

async function measure(c: BenchCase, timeMs: number): Promise<BenchResult> {
  const state = await c.setup();
  try {
    const rt = runtime();
    // Warm-up compiles pipelines and fills the buffer pool.
    for (let i = 0; i < 2; i++) {
      c.run(state);
      await rt.sync();
    }
    const bench = new Bench({ time: timeMs, iterations: 3, warmup: false });
    bench.add(c.name, async () => {
      c.run(state);
      await rt.sync();
    });
    await bench.run();
    const r = bench.tasks[0].result;
    if (!r || r.state !== 'completed') throw new Error(`benchmark ${c.name} did not complete`);
    const median = r.latency.p50;
    const min = r.latency.min;
    return {
      name: c.name,
      shape: c.shape,
      ms_median: round(median),
      ms_min: round(min),
      gflops: c.flops ? round(c.flops / (median * 1e6)) : null,
      images_per_s: /^b(\d+)/.test(c.shape) && !c.flops ? round(Number(/^b(\d+)/.exec(c.shape)![1]) / (median / 1000)) : null,
      samples: r.latency.samplesCount,
    };
  } finally {
    c.teardown(state);
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      time: { type: 'string', default: '2000' },
      out: { type: 'string', default: 'bench/results' },
      // Only the cases whose name matches (write them elsewhere with --out, or the suite's file
      // will hold only those).
      filter: { type: 'string' },
    },
  });
  const rt = await init();
  const adapter = adapterString(rt.adapterInfo);
  const names = positionals.length ? positionals : Object.keys(SUITES);
  mkdirSync(values.out!, { recursive: true });
  console.log(`adapter: ${adapter}`);
  for (const suite of names) {
    const cases = SUITES[suite];
    if (!cases) throw new Error(`unknown suite '${suite}' (have: ${Object.keys(SUITES).join(', ')})`);
    const results: BenchResult[] = [];
    const only = values.filter ? new RegExp(values.filter) : null;
    for (const c of cases().filter((k) => !only || only.test(k.name))) {
      const r = await measure(c, Number(values.time));
      results.push(r);
      console.log(
        `${suite.padEnd(10)} ${r.name.padEnd(34)} ${r.shape.padEnd(26)} median ${r.ms_median.toFixed(2).padStart(10)} ms` +
          (r.gflops !== null ? `  ${r.gflops.toFixed(2).padStart(8)} GFLOP/s` : ''),
      );
    }
    const file = `${values.out}/${suite}.json`;
    writeFileSync(
      file,
      JSON.stringify(
        { adapter, date: new Date().toISOString(), command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(), results },
        null,
        2,
      ) + '\n',
    );
  }
}

await main();
