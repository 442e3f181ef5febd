// `eed` command-line entry: dispatches to subcommands; each has its own --help.

import { existsSync, readFileSync } from 'node:fs';
import { doctor, DOCTOR_HELP } from './doctor.js';
import { evalCommand } from './evaluate.js';
import { pruneCommand } from './prune.js';
import { serveCommand } from './serve.js';
import { runCommand } from './run.js';
import { trainCommand } from './train.js';
import { tune, TUNE_HELP } from './tune.js';

/** The version in the package's package.json (src/cli and dist/src/cli both sit two or three folders below it). */
function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    const url = new URL(up, import.meta.url);
    if (existsSync(url)) {
      const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'eed-webgpu' && pkg.version) return pkg.version;
    }
  }
  return 'unknown';
}

const HELP = `eed: Efficient Ensemble Defense on WebGPU

Usage: eed <command> [options]

Commands:
  doctor     Show the WebGPU adapter, its features and limits, and run a kernel self-check
  eval       Attack a trained model: clean, FGSM, PGD, C&W, DeepFool, AutoAttack
  prune      Prune a trained model for EED (score, HARP masks, fine-tune) into a sub-model
  serve      Serve the browser page: an ensemble's DIE predictions and a step-by-step PGD attack, on WebGPU
  run        The whole EED pipeline (pre-train, pool, team, ensemble, DIE, report), resumable
  train      Adversarially pre-train a model (Madry, TRADES, MART or clean) in a resumable run
  tune       Measure kernel variants on this adapter and cache the fastest

Run \`eed <command> --help\` for a command's options, \`eed --version\` for the version.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        console.log(HELP);
        return cmd === undefined ? 1 : 0;
      case '--version':
      case '-v':
        console.log(`eed ${packageVersion()}`);
        return 0;
      case 'doctor':
        if (rest.includes('--help') || rest.includes('-h')) {
          console.log(DOCTOR_HELP);
          return 0;
        }
        return await doctor(rest);
      case 'train':
        return await trainCommand(rest);
      case 'prune':
        return await pruneCommand(rest);
      case 'run':
        return await runCommand(rest);
      case 'eval':
        return await evalCommand(rest);
      case 'serve':
        return await serveCommand(rest);
      case 'tune':
        if (rest.includes('--help') || rest.includes('-h')) {
          console.log(TUNE_HELP);
          return 0;
        }
        return await tune(rest);
      default:
        console.error(`eed: unknown command '${cmd}'\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    console.error(`eed ${cmd}: ${(e as Error).message}`);
    return 1;
  }
}
