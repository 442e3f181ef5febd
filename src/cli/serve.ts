// `eed serve`: the browser page (web/) with an ensemble and test images, on 127.0.0.1. Needs no
// GPU here: the page runs the engine on the browser's WebGPU.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readManifest } from '../ensemble/ensembleDir.js';
import { MANIFEST_FILE } from '../ensemble/manifest.js';
import { startServer } from '../serve/server.js';
import { loadTestSamples } from '../serve/testSamples.js';

export const SERVE_HELP = `Usage: eed serve [--run DIR | --ensemble DIR] [--port N] [--data DIR] [--samples N]

Serves the browser page on http://127.0.0.1:<port>/ : it loads an EED ensemble (the served one, or
manifest.json + member files picked in the page), shows test images with the Dynamic Inference
Ensemble's prediction and how many sub-models it ran for each, and runs PGD against the static
average ensemble step by step. The browser needs WebGPU (Chromium on Linux: --enable-unsafe-webgpu).

  --run DIR        a run folder holding an ensemble (DIR/ensemble/manifest.json or DIR/manifest.json)
  --ensemble DIR   an ensemble folder (manifest.json + member safetensors)
  --port N         port on 127.0.0.1 [default: 8080; 0 picks a free one]
  --data DIR       dataset folder for the test images [default: the dataset's standard location]
  --samples N      how many test images the page shows [default: 64]`;

/** The ensemble folder of --run (DIR/ensemble or DIR itself) or --ensemble. */
function ensembleFolder(run: string | undefined, ensemble: string | undefined): string | undefined {
  if (run !== undefined && ensemble !== undefined) throw new Error('give --run or --ensemble, not both');
  if (ensemble !== undefined) return ensemble;
  if (run === undefined) return undefined;
  for (const dir of [join(run, 'ensemble'), run]) if (existsSync(join(dir, MANIFEST_FILE))) return dir;
  throw new Error(`--run ${run}: no ensemble there (looked for ${join(run, 'ensemble', MANIFEST_FILE)} and ${join(run, MANIFEST_FILE)})`);
}

function positiveInt(flag: string, text: string, min: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`${flag} expects an integer >= ${min}, got '${text}'`);
  return v;
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      run: { type: 'string' },
      ensemble: { type: 'string' },
      port: { type: 'string', default: '8080' },
      data: { type: 'string', default: '' },
      samples: { type: 'string', default: '64' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const port = positiveInt('--port', values.port, 0);
  if (port > 65535) throw new Error(`--port expects a port number, got ${port}`);
  const ensembleDir = ensembleFolder(values.run, values.ensemble);
  // The manifest names the dataset the team was trained on; without one the page picks files
  // itself, and Fashion-MNIST (the default dataset) supplies the images.
  const dataset = ensembleDir !== undefined ? (await readManifest(ensembleDir)).dataset : 'fashion-mnist';
  const samples = await loadTestSamples(dataset, values.data, positiveInt('--samples', values.samples, 1));
  const server = await startServer({ ensembleDir, samples, port });
  console.log(`eed serve: ${server.url} (${ensembleDir ?? 'no ensemble: pick its files in the page'}; ${samples.labels.length} ${dataset} test images)`);
  console.log('Ctrl-C stops the server.');
  await new Promise<void>((stop) => {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
