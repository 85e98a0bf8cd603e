/**
 * The network for the page's browser mode, served by the server itself (src/server/network.ts):
 * weights.json describes the file the server's jobs use (its SHA-256 computed here independently),
 * the file comes with exactly those bytes, and a server with nothing usable answers 404 with why.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedWeights } from '../helpers.js';
import { startTestServer, type TestServer } from './helpers.js';

describe('the network for browser mode', () => {
  let server: TestServer;
  let pthServer: TestServer;
  before(async () => {
    server = await startTestServer();
    // A .pth works for the server's own jobs but not in the browser.
    const pth = path.join(server.dataDir, 'net.pth');
    await writeFile(pth, 'not really a pth, but .pth all the same');
    pthServer = await startTestServer({ weights: pth });
  });
  after(async () => {
    await server.dispose();
    await pthServer.dispose();
  });

  it('serves weights.json and the file it names, with its SHA-256, and the isolation headers', async () => {
    const bytes = await readFile(sharedWeights);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const res = await fetch(`${server.url}/weights.json`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const manifest = (await res.json()) as { url: string; sha256: string; bytes: number; name: string };
    assert.deepEqual(manifest, { url: `weights/vgg19-caffe-q8-${sha256.slice(0, 12)}.safetensors`, sha256, bytes: bytes.length, name: 'vgg19-caffe-q8' });

    const file = await fetch(`${server.url}/${manifest.url}`);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-length'), String(bytes.length));
    assert.equal(
      createHash('sha256')
        .update(new Uint8Array(await file.arrayBuffer()))
        .digest('hex'),
      sha256,
    );

    const other = await fetch(`${server.url}/weights/vgg19-caffe-q8-000000000000.safetensors`);
    assert.equal(other.status, 404);
    assert.match(((await other.json()) as { error: string }).error, /^no such network file/);
  });

  it('answers 404 with the reason when its network cannot run in a browser', async () => {
    const res = await fetch(`${pthServer.url}/weights.json`);
    assert.equal(res.status, 404);
    const { error } = (await res.json()) as { error: string };
    assert.match(error, /^this server has no network for the browser: net\.pth/);
    assert.ok(!error.includes(server.dataDir), 'the file is named, not where it lives on the server');
  });
});
