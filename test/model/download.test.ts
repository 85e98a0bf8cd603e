import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AbortError, DownloadError } from '../../src/errors.js';
import { downloadFile, type DownloadProgress } from '../../src/model/download.js';
import { closedPort, FileServer } from './http-fixture.js';

const blob = randomBytes(3 * 1024 * 1024 + 123);
const sha = createHash('sha256').update(blob).digest('hex');
const server = new FileServer();
let base = '';
let dir = '';

before(async () => {
  base = await server.start();
  dir = await mkdtemp(join(tmpdir(), 'st-download-'));
});
after(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

function serve(name: string, extra: Partial<import('./http-fixture.js').ServedFile> = {}) {
  server.files.set(`/${name}`, { body: blob, ...extra });
  return `${base}/${name}`;
}
const requestsFor = (name: string) => server.requests.filter((r) => r.path === `/${name}`);

test('downloads into place with progress events and the hash checked by prefix', async () => {
  const url = serve('plain.bin');
  const dest = join(dir, 'plain.bin');
  const events: DownloadProgress[] = [];
  const result = await downloadFile(url, dest, { sha256: sha.slice(0, 8), onProgress: (e) => events.push(e) });
  assert.equal(result.sha256, sha);
  assert.equal(result.size, blob.length);
  assert.ok((await readFile(dest)).equals(blob));
  assert.ok(!existsSync(`${dest}.part`));
  assert.ok(events.length >= 2);
  assert.ok(events.every((e, i) => e.type === 'download' && e.url === url && e.total === blob.length && (i === 0 || e.received > events[i - 1].received)));
  assert.equal(events.at(-1)!.received, blob.length);
});

test('a connection cut mid-body is resumed with a Range request', async () => {
  const url = serve('cut.bin', { cutAfter: 1024 * 1024 });
  const dest = join(dir, 'cut.bin');
  await downloadFile(url, dest, { sha256: sha });
  const reqs = requestsFor('cut.bin');
  assert.equal(reqs.length, 2);
  assert.equal(reqs[0].range, undefined);
  const from = Number(/^bytes=(\d+)-$/.exec(reqs[1].range ?? '')?.[1]);
  assert.ok(from > 0 && from <= 1024 * 1024, `second request range ${reqs[1].range}`);
  assert.ok((await readFile(dest)).equals(blob));
});

test('a .part file left by an earlier run is continued from its end', async () => {
  const url = serve('partial.bin');
  const dest = join(dir, 'partial.bin');
  await writeFile(`${dest}.part`, blob.subarray(0, 777_777));
  const events: DownloadProgress[] = [];
  await downloadFile(url, dest, { sha256: sha, onProgress: (e) => events.push(e) });
  assert.deepEqual(
    requestsFor('partial.bin').map((r) => r.range),
    ['bytes=777777-'],
  );
  assert.ok(events[0].received > 777_777);
  assert.ok((await readFile(dest)).equals(blob));
});

test('a server that ignores Range makes the download start over (stale .part bytes are discarded)', async () => {
  const url = serve('norange.bin', { ignoreRange: true });
  const dest = join(dir, 'norange.bin');
  await writeFile(`${dest}.part`, Buffer.alloc(500_000, 0xab)); // wrong bytes: would corrupt the file if appended to
  await downloadFile(url, dest, { sha256: sha });
  assert.deepEqual(
    requestsFor('norange.bin').map((r) => r.range),
    ['bytes=500000-'],
  );
  assert.ok((await readFile(dest)).equals(blob));
});

test('a wrong hash is a DownloadError naming both hashes, and nothing is left behind', async () => {
  const url = serve('wrong.bin');
  const sub = await mkdtemp(join(dir, 'wrong-'));
  const dest = join(sub, 'wrong.bin');
  await assert.rejects(downloadFile(url, dest, { sha256: '00000000' }), (err: unknown) => {
    assert.ok(err instanceof DownloadError);
    assert.match(err.message, new RegExp(`SHA-256 is ${sha}, expected 00000000`));
    return true;
  });
  assert.deepEqual(await readdir(sub), []);
});

test('offline (connection refused) gives the one-line how-to-fix message', async () => {
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}/models/vgg19-dcbb9e9d.pth`;
  const dest = join(dir, 'vgg19-dcbb9e9d.pth');
  await assert.rejects(downloadFile(url, dest, { sha256: 'dcbb9e9d' }), (err: unknown) => {
    assert.ok(err instanceof DownloadError);
    assert.equal(err.message, `could not download ${url}: connection refused (offline?); download it by hand and put it at ${dest}, or pass { weights: FILE }`);
    return true;
  });
});

test('HTTP errors are DownloadErrors with the status', async () => {
  await assert.rejects(downloadFile(`${base}/missing.bin`, join(dir, 'missing.bin'), { sha256: 'abcdef' }), /could not download .*missing\.bin: HTTP 404 Not Found$/);
});

test('a connection cut every time gives up with a resumable DownloadError', async () => {
  const url = serve('flaky.bin', { cutAfter: 100_000, cutTimes: 100 });
  const dest = join(dir, 'flaky.bin');
  await assert.rejects(downloadFile(url, dest, { sha256: sha, maxAttempts: 3 }), /connection was cut .*tried 3 times.*run the command again to resume/);
  assert.equal(requestsFor('flaky.bin').length, 3);
  assert.ok(existsSync(`${dest}.part`) && !existsSync(dest));
});

test('an AbortSignal cancels the download with an AbortError', async () => {
  const url = serve('abort.bin', { cutAfter: 200_000, cutTimes: 1 });
  const controller = new AbortController();
  const dest = join(dir, 'abort.bin');
  await assert.rejects(downloadFile(url, dest, { sha256: sha, signal: controller.signal, onProgress: () => controller.abort() }), (err: unknown) => err instanceof AbortError);
  assert.ok(!existsSync(dest));
});
