#!/usr/bin/env node
// The `eed` command. The TypeScript is compiled to dist/ by `npm ci` / `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('eed: dist/ is missing; run `npm run build` (or `bash tools/setup.sh`) first');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
