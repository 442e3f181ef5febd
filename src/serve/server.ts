// The HTTP server behind `eed serve`: the browser bundle and page, the test images, and an
// ensemble folder, all read-only, on 127.0.0.1 only (the page needs a secure context for WebGPU,
// which localhost is, and nothing here is meant for other machines). node:http, no framework.
//
//   /                   the page (index.html of the bundle folder)
//   /<file>             the bundle's files (scripts, style sheet)
//   /samples.json       the test images (samplePayload.ts)
//   /ensemble/<file>    the ensemble folder: manifest.json and the member safetensors files

import { existsSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_FILE } from '../ensemble/manifest.js';
import { encodeSamples, SAMPLES_FILE, type SampleSet } from './samplePayload.js';

export const ENSEMBLE_PREFIX = '/ensemble/';

export interface ServeOptions {
  /** Folder with manifest.json and the members (absent: the page offers only the file picker). */
  ensembleDir?: string;
  /** The built page and bundle (default: dist/browser of this package, written by `npm run build`). */
  webDir?: string;
  samples?: SampleSet;
  /** 0 picks a free port. */
  port?: number;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
};

/** dist/browser above this file: sources run from <root>/src/serve/, compiled code from <root>/dist/src/serve/. */
export function defaultWebDir(): string {
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < 5; i++) {
    if (existsSync(new URL('package.json', dir))) return fileURLToPath(new URL('dist/browser/', dir));
    dir = new URL('../', dir);
  }
  throw new Error(`cannot find the package root above ${import.meta.url}`);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The file `rel` (URL path below a prefix, still percent-encoded) names inside `root`, or an
 * HttpError. Refuses `..` segments outright, and links that lead out of root after resolution.
 */
async function fileInside(root: string, rel: string): Promise<string> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    throw new HttpError(400, `bad percent-encoding in '${rel}'`);
  }
  const segments = decoded.split(/[\\/]/);
  if (decoded.includes('\0') || segments.some((s) => s === '..')) throw new HttpError(403, `'${decoded}' leaves the served folder`);
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(resolve(realRoot, ...segments.filter((s) => s !== '' && s !== '.')));
  } catch {
    throw new HttpError(404, `'${decoded}' not found`);
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) throw new HttpError(403, `'${decoded}' leaves the served folder`);
  if (!(await stat(real)).isFile()) throw new HttpError(404, `'${decoded}' is not a file`);
  return real;
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, head: boolean): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(head ? undefined : body);
}

export async function startServer(opts: ServeOptions = {}): Promise<RunningServer> {
  const webDir = opts.webDir ?? defaultWebDir();
  if (!existsSync(join(webDir, 'index.html')))
    throw new Error(`${join(webDir, 'index.html')} is missing: the browser bundle is not built (run \`npm run build\`)`);
  if (opts.ensembleDir !== undefined && !existsSync(join(opts.ensembleDir, MANIFEST_FILE)))
    throw new Error(`${join(opts.ensembleDir, MANIFEST_FILE)}: no ensemble manifest there`);
  const samplesBody = opts.samples ? encodeSamples(opts.samples) : null;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) throw new HttpError(405, `${req.method} is not served (read-only)`);
    // Binding to 127.0.0.1 keeps other machines out, but a web page elsewhere could still reach
    // the server through a DNS name rebound to 127.0.0.1; its requests carry that name as Host.
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (host !== '127.0.0.1' && host !== 'localhost') throw new HttpError(403, `host '${host}' is not served (use 127.0.0.1)`);
    // The raw path, not URL-normalised: normalising would quietly turn `/ensemble/../x` into `/x`
    // instead of refusing it.
    const path = (req.url ?? '/').split(/[?#]/)[0];
    if (!path.startsWith('/')) throw new HttpError(400, `bad request path '${path}'`);
    if (path === `/${SAMPLES_FILE}`) {
      if (!samplesBody) throw new HttpError(404, 'no test images are served');
      return send(res, 200, CONTENT_TYPES['.json'], samplesBody, head);
    }
    let file: string;
    if (path.startsWith(ENSEMBLE_PREFIX)) {
      if (opts.ensembleDir === undefined) throw new HttpError(404, 'no ensemble is served (start with --run or --ensemble)');
      file = await fileInside(opts.ensembleDir, path.slice(ENSEMBLE_PREFIX.length));
    } else {
      file = await fileInside(webDir, path === '/' ? 'index.html' : path.slice(1));
    }
    const body = await readFile(file);
    send(res, 200, CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', body, head);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (!res.headersSent) send(res, status, 'text/plain; charset=utf-8', `${status}: ${(e as Error).message}\n`, req.method === 'HEAD');
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((ok, fail) => {
        server.closeAllConnections();
        server.close((e) => (e ? fail(e) : ok()));
      }),
  };
}
