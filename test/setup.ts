// Every test file shares one device (vitest runs them in one process, see vitest.config.ts).
import { beforeAll } from 'vitest';
import { init } from '../src/engine/engine.js';

beforeAll(async () => {
  await init();
});
