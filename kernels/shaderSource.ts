// Finds WGSL sources by name. In Node they are read from the package's `shaders/` folder; a browser
// bundle registers them up front with `registerShaderSources`. `//#include "name"` pulls in another
// file once, so shared helpers (index math, the random generator) live in one place.

const registered = new Map<string, string>();
const resolved = new Map<string, string>();

export function registerShaderSources(sources: Record<string, string>): void {
  for (const [name, text] of Object.entries(sources)) registered.set(name, text);
  resolved.clear();
}

interface FsLike {
  readFileSync(path: string | URL, enc: 'utf8'): string;
  existsSync(path: string | URL): boolean;
}

let shaderDir: URL | undefined;

function nodeFs(): FsLike | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (n: string) => unknown } }).process;
  return p?.getBuiltinModule?.('node:fs') as FsLike | undefined;
}

function findShaderDir(fs: FsLike): URL {
  if (shaderDir) return shaderDir;
  // Sources run from <root>/kernels/, compiled code from <root>/dist/kernels/.
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < 5; i++) {
    const candidate = new URL('shaders/', dir);
    if (fs.existsSync(new URL('package.json', dir)) && fs.existsSync(candidate)) {
      shaderDir = candidate;
      return candidate;
    }
    dir = new URL('../', dir);
  }
  throw new Error(`cannot find the shaders/ folder above ${import.meta.url}`);
}

function rawSource(name: string): string {
  const r = registered.get(name);
  if (r !== undefined) return r;
  const fs = nodeFs();
  if (!fs) throw new Error(`shader '${name}' is not registered (call registerShaderSources in the browser build)`);
  const url = new URL(`${name}.wgsl`, findShaderDir(fs));
  if (!fs.existsSync(url)) throw new Error(`shader file not found: ${url.pathname}`);
  const text = fs.readFileSync(url, 'utf8');
  registered.set(name, text);
  return text;
}

export function shaderSource(name: string): string {
  const hit = resolved.get(name);
  if (hit !== undefined) return hit;
  const seen = new Set<string>();
  const expand = (n: string): string => {
    if (seen.has(n)) return '';
    seen.add(n);
    return rawSource(n).replace(/^\/\/#include "([\w/]+)"\s*$/gm, (_m, inc: string) => expand(inc));
  };
  const text = expand(name);
  resolved.set(name, text);
  return text;
}
