// Every test file shares one device (vitest runs them in one process, see vitest.config.ts).
import fc from 'fast-check';
import { beforeAll } from 'vitest';
import { init } from '../src/engine/engine.js';

// Property tests explore new random cases on every local run (a failure prints its seed). CI runs
// one fixed seed so that a submission's result is reproducible; override with FC_SEED.
const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : process.env.CI ? 20261126 : undefined;
if (seed !== undefined) fc.configureGlobal({ seed });

beforeAll(async () => {
  await init();
});
