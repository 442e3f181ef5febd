import { defineConfig } from 'vitest/config';

// One worker process: every test file shares one WebGPU device (lavapipe uses the CPU cores itself,
// so parallel workers would only fight over them).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    isolate: false,
    fileParallelism: false,
    setupFiles: ['test/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
