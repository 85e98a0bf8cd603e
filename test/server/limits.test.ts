/**
 * What the server refuses, and how: every limit and every kind of bad upload gets its 4xx status
 * and a one-line `{"error": …}` that names the problem. Only the queue-full case runs real jobs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getJson, imageFile, postJob, SMALL_JOB, startTestServer, waitForStatus, type FilePart, type TestServer } from './helpers.js';

const LIMITS = { maxFileBytes: 400_000, maxStyles: 2, maxPixels: 1_000_000, maxQueuedJobs: 1, maxSize: 128, maxIterations: 5000 };

describe('server limits and bad requests', () => {
  let server: TestServer;
  let content: FilePart;
  let style: FilePart;
  before(async () => {
    server = await startTestServer({ limits: LIMITS });
    content = await imageFile('content', 'landscape'); // 254 kB, 960x631
    style = await imageFile('style', 'matisse'); // 165 kB, 833x610
  });
  after(async () => {
    await server.dispose();
  });

  /** POST and expect an error status with a message matching `pattern`, on one line. */
  async function refused(files: FilePart[], options: unknown, status: number, pattern: RegExp): Promise<void> {
    const res = await postJob(server.url, files, options);
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body), ['error']);
    assert.match(res.body.error, pattern);
    assert.doesNotMatch(res.body.error, /\n/);
  }

  it('refuses a file that is not an image with 422 and the ImageError message', async () => {
    const text = { field: 'content', name: 'notes.txt', bytes: new TextEncoder().encode('hello, not a picture\n') };
    await refused([text, style], SMALL_JOB, 422, /^content image notes\.txt is not an image in a supported format \(JPEG, PNG/);
  });

  it('refuses a truncated JPEG with 422', async () => {
    const cut = { field: 'style', name: 'cut.jpg', bytes: style.bytes.subarray(0, Math.floor(style.bytes.length / 2)) };
    await refused([content, cut], SMALL_JOB, 422, /^style image cut\.jpg is (truncated or corrupt|a corrupt JPEG file)/);
  });

  it('refuses an empty file with 422', async () => {
    await refused([{ field: 'content', name: 'empty.png', bytes: new Uint8Array(0) }, style], SMALL_JOB, 422, /^content image empty\.png is empty \(0 bytes\)$/);
  });

  it('refuses an image with too many pixels with 422', async () => {
    // Many pixels in few bytes: a flat PNG compresses to almost nothing.
    const sharp = (await import('sharp')).default;
    const big = await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    assert.ok(big.length < LIMITS.maxFileBytes);
    await refused(
      [content, { field: 'style', name: 'big.png', bytes: big }],
      SMALL_JOB,
      422,
      /^style image big\.png is too large: 1200x1000 = 1\.2 megapixels, the limit is 1 megapixels/,
    );
  });

  it('refuses a file over the size limit with 413', async () => {
    await refused([await imageFile('content', 'dog'), style], SMALL_JOB, 413, /^content image dog\.jpg is larger than the limit of 390\.6 KiB$/);
  });

  it('refuses more style images than allowed with 400', async () => {
    await refused([content, style, style, style], SMALL_JOB, 400, /^too many style images: at most 2 per job$/);
  });

  it('refuses missing images and unknown form fields with 400', async () => {
    await refused([style], SMALL_JOB, 400, /^missing the content image \(form field content\)$/);
    await refused([content], SMALL_JOB, 400, /^missing a style image \(form field style\)$/);
    await refused([content, style, { ...style, field: 'init' }], SMALL_JOB, 400, /^unknown file field "init"; expected content, style or styleMask$/);
    await refused([content, content, style], SMALL_JOB, 400, /^only one content image may be sent$/);
  });

  it('refuses options a remote user must not set, and bad values, with 400', async () => {
    await refused([content, style], { weights: '/etc/passwd' }, 400, /^option weights cannot be set through the server; allowed: preset, size, /);
    await refused([content, style], { threads: 64 }, 400, /^option threads cannot be set through the server/);
    await refused([content, style], { maxPixels: 1e10 }, 400, /^option maxPixels cannot be set/);
    await refused([content, style], { model: 'vgg19' }, 400, /^option model cannot be set/);
    await refused([content, style], { init: '/etc/hosts' }, 400, /^option init: expected one of content, noise, style, received "\/etc\/hosts"$/);
    // The library's own validation, with its own messages.
    await refused([content, style], { size: 'big' }, 400, /^option size: expected an integer between 16 and 65536, received "big"$/);
    await refused([content, style], { optimizer: 'sgd' }, 400, /^option optimizer: expected one of lbfgs, adam, received "sgd"$/);
    await refused([content, style], { styleBlend: [1, 2] }, 400, /^option styleBlend: expected 1 weights \(one per style image\)/);
    await refused([content, style], { previewEvery: 0 }, 400, /^option previewEvery: expected an integer between 1 and 10000, received 0$/);
    await refused([content, style], '{"size": 64', 400, /^options is not valid JSON/);
    await refused([content, style], '[1, 2]', 400, /^options must be a JSON object$/);
  });

  it('caps the output size and iterations on the server with 400', async () => {
    await refused([content, style], { size: 256 }, 400, /^option size: the output would be 256x168; this server allows at most 128 px on the longer side$/);
    // recipe sizes the shorter side: 128 short is 194 long (truncated, like torchvision) for a 960x631 photo.
    await refused([content, style], { preset: 'recipe', size: 128 }, 400, /^option size: the output would be 194x128;/);
    await refused([content, style], { size: 128, styleScale: 4 }, 400, /^option styleScale: the style image would be 512 px; this server allows at most 256$/);
    await refused([content, style], { iterations: 5001 }, 400, /^option iterations: expected an integer|^option iterations: at most 5000 on this server, received 5001$/);
  });

  it('refuses a body that is not multipart with 415', async () => {
    const res = await getJson(`${server.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 415);
    assert.match(res.body.error, /multipart\/form-data/);
  });

  it('answers bad and unknown job ids, and unknown paths, with 404 JSON', async () => {
    for (const bad of ['not-an-id', '..%2F..%2Fetc%2Fpasswd', '..', 'ffffffff-ffff-4fff-bfff-ffffffffffff']) {
      for (const suffix of ['', '/result', '/sheet', '/preview', '/events']) {
        const res = await getJson(`${server.url}/api/jobs/${bad}${suffix}`);
        assert.equal(res.status, 404, `${bad}${suffix}`);
        assert.match(res.body.error, /^no such (job|endpoint)/, `${bad}${suffix}`);
      }
    }
    const traversal = await fetch(`${server.url}/..%2F..%2Fpackage.json`);
    assert.notEqual(traversal.status, 200);
    const unknown = await getJson(`${server.url}/api/nothing`);
    assert.deepEqual(unknown, { status: 404, body: { error: 'no such endpoint: GET /api/nothing' } });
  });

  it('refuses a job when the queue is full with 429', async () => {
    const running = await postJob(server.url, [content, style], { ...SMALL_JOB, iterations: 5000 });
    assert.equal(running.status, 201);
    await waitForStatus(server.url, running.body.id, ['running']);
    const waiting = await postJob(server.url, [content, style], SMALL_JOB);
    assert.equal(waiting.body.status, 'queued');
    await refused([content, style], SMALL_JOB, 429, /^the queue is full \(1 jobs waiting\); try again later$/);
    // Room again once the waiting job is cancelled.
    await getJson(`${server.url}/api/jobs/${waiting.body.id}`, { method: 'DELETE' });
    await getJson(`${server.url}/api/jobs/${running.body.id}`, { method: 'DELETE' });
    const next = await postJob(server.url, [content, style], { ...SMALL_JOB, iterations: 1 });
    assert.equal(next.status, 201);
    assert.equal((await waitForStatus(server.url, next.body.id, ['done', 'failed'])).status, 'done');
  });

  it('serves a one-line hint when the page is not built', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'st-web-'));
    const bare = await startTestServer({ webDir: empty });
    try {
      const res = await fetch(`${bare.url}/`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await res.text(), /The web page is not built: run <code>npm run build:web<\/code>/);
    } finally {
      await bare.dispose();
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('serves the built page from webDir', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'st-web-'));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>built page</title>');
    const withPage = await startTestServer({ webDir: dir });
    try {
      const res = await fetch(`${withPage.url}/`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), await readFile(path.join(dir, 'index.html'), 'utf8'));
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    } finally {
      await withPage.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
