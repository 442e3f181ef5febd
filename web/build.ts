// Builds the browser page into one folder: the engine and the page as ES modules (esbuild, with a
// shared chunk), index.html and the style sheet. The WGSL sources are read here, at build time,
// and compiled into the engine bundle. `npm run build` runs this after tsc, into dist/browser/ (not
// dist/web/, where tsc puts this script); the browser test builds into a folder of its own.

import { build } from 'esbuild';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from web/ (sources) or dist/web/ (compiled). */
function packageRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.replace(/[\\/]dist[\\/]web[\\/]?$/, '').replace(/[\\/]web[\\/]?$/, '');
}

export async function shaderSources(root: string): Promise<Record<string, string>> {
  const dir = join(root, 'shaders');
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) if (f.endsWith('.wgsl')) out[f.slice(0, -'.wgsl'.length)] = await readFile(join(dir, f), 'utf8');
  if (!Object.keys(out).length) throw new Error(`${dir}: no .wgsl files`);
  return out;
}

export async function buildWeb(outDir: string, root = packageRoot()): Promise<void> {
  const web = join(root, 'web');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    absWorkingDir: root,
    entryPoints: { engine: join(web, 'engine.ts'), main: join(web, 'main.ts') },
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    // 'browser' makes any node:* import a build error, which keeps Node-only files out.
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    define: { __EED_SHADERS__: JSON.stringify(await shaderSources(root)) },
  });
  for (const f of ['index.html', 'style.css']) await copyFile(join(web, f), join(outDir, f));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? join(packageRoot(), 'dist', 'browser');
  await buildWeb(out);
  console.log(`web: built ${out}`);
}
