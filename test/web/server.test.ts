import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSamples, encodeSamples, type SampleSet } from '../../src/serve/samplePayload.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';

const scratch = mkdtempSync(join(tmpdir(), 'eed-serve-'));
const web = join(scratch, 'web');
const ens = join(scratch, 'ens');
const samples: SampleSet = { dataset: 'fashion-mnist', shape: [1, 2, 2], images: Uint8Array.from([0, 1, 254, 255, 7, 8, 9, 10]), labels: Int32Array.from([3, 9]) };
let server: RunningServer;

/** A raw request: fetch() would normalise the `..` segments away before they reach the server. */
function get(path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const url = new URL(server.url);
  return new Promise((ok, fail) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  for (const d of [web, ens]) rmSync(d, { recursive: true, force: true });
  mkdirSync(web, { recursive: true });
  mkdirSync(ens, { recursive: true });
  writeFileSync(join(web, 'index.html'), '<p>page</p>');
  writeFileSync(join(web, 'main.js'), 'export {};');
  writeFileSync(join(ens, 'manifest.json'), '{}');
  writeFileSync(join(ens, 'member-0.safetensors'), 'weights');
  writeFileSync(join(scratch, 'secret.txt'), 'secret');
  symlinkSync(join(scratch, 'secret.txt'), join(ens, 'link.txt'));
  server = await startServer({ webDir: web, ensembleDir: ens, samples });
});
afterAll(async () => {
  await server.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('eed serve', () => {
  it('listens on 127.0.0.1 and serves the page, the bundle, the images and the ensemble folder', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(await get('/')).toEqual({ status: 200, body: '<p>page</p>' });
    expect((await get('/main.js')).body).toBe('export {};');
    expect((await get('/ensemble/member-0.safetensors')).body).toBe('weights');
    const res = await fetch(new URL('ensemble/manifest.json', server.url));
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const back = decodeSamples((await get('/samples.json')).body, 'samples.json');
    expect(back).toEqual(samples);
  });

  it('refuses path traversal, links out of the folder, writes, foreign host names and missing files', async () => {
    for (const p of ['/ensemble/../secret.txt', '/ensemble/%2e%2e/secret.txt', '/ensemble/..%2fsecret.txt', '/..%2f..%2fetc/passwd', '/ensemble/link.txt'])
      expect((await get(p)).status, p).toBe(403);
    expect((await get('/ensemble/%zz')).status).toBe(400);
    expect((await get('/ensemble/nope.safetensors')).status).toBe(404);
    expect((await get('/ensemble/')).status).toBe(404); // a folder, not a file
    expect((await get('/ensemble/member-0.safetensors', 'PUT')).status).toBe(405);
    expect((await get('/ensemble/member-0.safetensors', 'DELETE')).status).toBe(405);
    // A DNS-rebinding page reaches 127.0.0.1 under its own host name.
    expect(await get('/ensemble/member-0.safetensors', 'GET', { host: `evil.example:${new URL(server.url).port}` })).toEqual({
      status: 403,
      body: "403: host 'evil.example' is not served (use 127.0.0.1)\n",
    });
    expect((await get('/', 'GET', { host: `localhost:${new URL(server.url).port}` })).status).toBe(200);
  });

  it('says what is missing: no bundle, no manifest, no images', async () => {
    await expect(startServer({ webDir: join(scratch, 'none') })).rejects.toThrow(/index\.html is missing: the browser bundle is not built \(run `npm run build`\)/);
    await expect(startServer({ webDir: web, ensembleDir: web })).rejects.toThrow(/manifest\.json: no ensemble manifest there/);
    const bare = await startServer({ webDir: web });
    try {
      const url = new URL(bare.url);
      const res = await fetch(`http://${url.host}/samples.json`);
      expect(res.status).toBe(404);
      expect(await (await fetch(`http://${url.host}/ensemble/manifest.json`)).text()).toMatch(/no ensemble is served/);
    } finally {
      await bare.close();
    }
  });

  it('sample documents name the field they get wrong', () => {
    const good = JSON.parse(encodeSamples(samples)) as Record<string, unknown>;
    const bad = (edit: Record<string, unknown>) => () => decodeSamples(JSON.stringify({ ...good, ...edit }), 's.json');
    expect(bad({ format: 'x' })).toThrow(/s\.json: 'format' must be "eed-samples"/);
    expect(bad({ shape: [1, 2] })).toThrow(/'shape' must be \[channels, height, width\]/);
    expect(bad({ labels: [1, 2, 3] })).toThrow(/'pixels' must be 3 images of 1×2×2 bytes \(12\), got "8 bytes"/);
    expect(bad({ pixels: '!!' })).toThrow(/'pixels' must be valid base64/);
  });
});
