/**
 * The job API against a real server on a loopback port with the real library and weights: create a
 * job, follow it over server-sent events, fetch its preview, result and sheet, list jobs, and
 * cancel waiting and running jobs. Jobs are tiny (32 px, a few Adam steps).
 *
 * Spatial control through the job API (issue 21), on the same server (one server and runner for the
 * file): a mask per style image as repeated `styleMask` file fields in style order. A masked job runs
 * on the real library and its two regions follow their own styles; the masks are stored in the job's
 * folder under the server's names and shown on the sheet; a wrong count, a file that is not an image
 * and a file over the size limit are refused with one line. The styles are flat red and flat blue
 * "paintings" on a grey content image, so which style a region took is a matter of its mean colour.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeImageBytes } from '../../src/image/io.js';
import {
  BLUE,
  BROWSER_COOKIE,
  colourDistance as dist,
  flatPng,
  getJson,
  halfMaskPng,
  halfMeans,
  imageFile,
  MASKED_JOB,
  postJob,
  readEvents,
  RED,
  SMALL_JOB as HELPERS_SMALL_JOB,
  startTestServer,
  waitForStatus,
  type FilePart,
  type TestServer,
} from './helpers.js';

/** The helpers' tiny job at 32 px (32x24 for the 4:3 pictures here). */
const SMALL_JOB = { ...HELPERS_SMALL_JOB, size: 32 };

const LIMIT = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function fetchPng(url: string) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: HTTP ${res.status}`);
  assert.equal(res.headers.get('content-type'), 'image/png');
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { res, bytes, image: await decodeImageBytes(bytes, url) };
}

describe('job API', () => {
  let server: TestServer;
  before(async () => {
    // A file limit of 1 MiB: the pictures (dog.jpg, the largest, 616 kB) pass, and a mask over it is cheap to make.
    server = await startTestServer({ limits: { maxFileBytes: LIMIT } });
  });
  after(async () => {
    await server.dispose();
  });

  it('binds to 127.0.0.1 by default', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('runs a job: 201 with an id, SSE progress with previews, then result and sheet', async () => {
    const created = await postJob(server.url, [await imageFile('content', 'dog'), await imageFile('style', 'matisse')], { ...SMALL_JOB, previewEvery: 1 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id: string = created.body.id;
    assert.match(id, UUID);
    assert.ok(['queued', 'running'].includes(created.body.status));
    assert.deepEqual(created.body.content, { name: 'dog.jpg', width: 1024, height: 768 });

    const events = await readEvents(`${server.url}/api/jobs/${id}/events`);
    const types = events.map((e) => e.type);
    assert.ok(
      events.slice(0, 3).some((e) => e.type === 'status'),
      'the current status comes first (after any replay)',
    );
    const last = events[events.length - 1];
    assert.deepEqual(last, { type: 'status', status: 'done', result: true }, 'the stream ends with the final status');
    for (const t of ['loading', 'scale', 'iteration', 'preview', 'done']) assert.ok(types.includes(t), `an event of type ${t} in ${types.join(',')}`);
    const iterations = events.filter((e) => e.type === 'iteration');
    // A subscriber can join after the first iterations: those come as the history replay instead.
    const replayed = events.find((e) => e.type === 'history')?.points.length ?? 0;
    assert.equal(replayed + iterations.length, 4);
    for (const e of iterations) {
      assert.equal(e.preview, undefined, 'no preview function on the wire');
      assert.equal(e.width, 32);
      assert.equal(e.height, 24);
      for (const k of ['loss', 'content', 'style', 'tv', 'eta', 'elapsed', 'ms']) assert.equal(typeof e[k], 'number', k);
    }
    const previews = events.filter((e) => e.type === 'preview');
    assert.deepEqual(
      previews.map((p) => p.version),
      previews.map((_, i) => previews[0].version + i),
      'preview versions count up',
    );
    const preview = await fetchPng(`${server.url}${previews[previews.length - 1].url}`);
    assert.equal(preview.res.headers.get('cache-control'), 'no-store');
    assert.deepEqual([preview.image.width, preview.image.height], [32, 24]);

    const job = await getJson(`${server.url}/api/jobs/${id}`);
    assert.equal(job.status, 200);
    assert.equal(job.body.status, 'done');
    assert.equal(job.body.result, true);
    assert.equal(job.body.progress.iteration, 4);
    assert.equal(job.body.position, undefined);

    const result = await fetchPng(`${server.url}/api/jobs/${id}/result`);
    assert.deepEqual([result.image.width, result.image.height], [32, 24]);
    // The last preview frame is the image after the last step; the result is that image clamped, so they agree closely.
    let diff = 0;
    for (let i = 0; i < result.image.data.length; i++) diff = Math.max(diff, Math.abs(result.image.data[i] - preview.image.data[i]));
    assert.ok(diff <= 1, `result vs last preview: max difference ${diff}`);
    const download = await fetch(`${server.url}/api/jobs/${id}/result?download=1`);
    assert.match(download.headers.get('content-disposition') ?? '', /^attachment; filename="style-transfer-[0-9a-f]{8}-result\.png"$/);

    const sheet = await fetchPng(`${server.url}/api/jobs/${id}/sheet`);
    // content | style | result side by side: far wider than tall.
    assert.ok(sheet.image.width > 2 * sheet.image.height, `sheet ${sheet.image.width}x${sheet.image.height}`);

    const list = await getJson(`${server.url}/api/jobs`);
    assert.equal(list.body.jobs[0].id, id);

    // A late subscriber to a finished job gets its state and loss history, and the stream ends.
    const replay = await readEvents(`${server.url}/api/jobs/${id}/events`);
    assert.deepEqual(replay[replay.length - 1], { type: 'status', status: 'done', result: true });
    assert.equal(replay.find((e) => e.type === 'preview').version, previews[previews.length - 1].version);
    const history = replay.find((e) => e.type === 'history');
    assert.equal(history.points.length, 4);
    assert.deepEqual(
      history.points.map((p: { iteration: number }) => p.iteration),
      [1, 2, 3, 4],
    );
    assert.ok(history.points[3].loss < history.points[0].loss, 'the loss went down');
  });

  it('queues jobs with positions, cancels a waiting and a running job', async () => {
    const files = [await imageFile('content', 'landscape'), await imageFile('style', 'monet')];
    // At 64 px, as before: iterations slow enough that the cancel lands well within the 100 below.
    const long = await postJob(server.url, files, { ...HELPERS_SMALL_JOB, iterations: 2000, previewEvery: 1 });
    const second = await postJob(server.url, files, SMALL_JOB);
    const third = await postJob(server.url, files, SMALL_JOB);
    assert.equal(long.status, 201);
    assert.equal(second.body.status, 'queued');
    assert.equal(second.body.position, 1);
    assert.equal(third.body.position, 2);

    // A result of a job that has none yet is a 409 with a message, not a missing file.
    const early = await getJson(`${server.url}/api/jobs/${second.body.id}/result`);
    assert.equal(early.status, 409);
    assert.match(early.body.error, /has no result yet \(status queued\)/);
    const noPreview = await getJson(`${server.url}/api/jobs/${second.body.id}/preview`);
    assert.equal(noPreview.status, 404);

    const cancelledWaiting = await getJson(`${server.url}/api/jobs/${second.body.id}`, { method: 'DELETE' });
    assert.equal(cancelledWaiting.status, 200);
    assert.equal(cancelledWaiting.body.status, 'cancelled');
    assert.equal((await getJson(`${server.url}/api/jobs/${third.body.id}`)).body.position, 1, 'the third job moved up');

    // Cancel the running job once it is iterating; its event stream ends with `cancelled`.
    let cancelSent = false;
    const events = await readEvents(`${server.url}/api/jobs/${long.body.id}/events`, (e) => {
      if (e.type === 'iteration' && !cancelSent) {
        cancelSent = true;
        void fetch(`${server.url}/api/jobs/${long.body.id}`, { method: 'DELETE', headers: { cookie: BROWSER_COOKIE } });
      }
    });
    assert.deepEqual(events[events.length - 1], { type: 'status', status: 'cancelled', error: 'cancelled', result: true });
    const iterations = events.filter((e) => e.type === 'iteration').length;
    assert.ok(iterations < 100, `stopped soon after the cancel (${iterations} iterations)`);
    // The cancelled run keeps its last image.
    const partial = await fetch(`${server.url}/api/jobs/${long.body.id}/result`);
    assert.equal(partial.status, 200);
    assert.equal((await decodeImageBytes(new Uint8Array(await partial.arrayBuffer()), 'partial')).width, 64);

    // Issue 9 finding 4: a cancelled job drops its uploads (its sheet was made first, while they were there).
    const folder = path.join(server.dataDir, 'jobs', long.body.id);
    assert.deepEqual(
      (await readdir(folder)).filter((f) => f.endsWith('.img')),
      [],
      'no uploaded image is left',
    );
    assert.equal((await fetch(`${server.url}/api/jobs/${long.body.id}/sheet`)).status, 200);

    // DELETE of a finished job removes it with its files.
    const deleted = await getJson(`${server.url}/api/jobs/${long.body.id}`, { method: 'DELETE' });
    assert.deepEqual(deleted, { status: 200, body: { id: long.body.id, deleted: true } });
    assert.equal((await getJson(`${server.url}/api/jobs/${long.body.id}`)).status, 404);
    await assert.rejects(stat(folder), /ENOENT/);

    const done = await waitForStatus(server.url, third.body.id, ['done', 'failed']);
    assert.equal(done.status, 'done');
  });

  describe('style masks', () => {
    const W = 64;
    const H = 48;
    const png = (field: string, name: string, bytes: Buffer): FilePart => ({ field, name, bytes, type: 'image/png' });
    const flat = (rgb: readonly number[]) => flatPng(rgb, W, H);
    const halfMask = (left: boolean, width = W, height = H) => halfMaskPng(left, width, height);
    let inputs: FilePart[];
    before(async () => {
      inputs = [png('content', 'grey.png', await flat([128, 128, 128])), png('style', 'red.png', await flat(RED)), png('style', 'blue.png', await flat(BLUE))];
    });

    it('runs a masked job: each half follows its own style, the masks are kept in the job folder and tinted on the sheet', async () => {
      // At 40x30 (MASKED_JOB's 64 px made the halves no clearer), the masks at another size (the
      // library stretches them), as an upload may be.
      const masks = [png('styleMask', 'left.png', await halfMask(true, 32, 24)), png('styleMask', 'right.png', await halfMask(false, 32, 24))];
      const created = await postJob(server.url, [...inputs, ...masks], { ...MASKED_JOB, size: 40, maskPropagation: 'inside' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id: string = created.body.id;
      assert.deepEqual(created.body.masks, [
        { name: 'left.png', width: 32, height: 24 },
        { name: 'right.png', width: 32, height: 24 },
      ]);
      const events = await readEvents(`${server.url}/api/jobs/${id}/events`, () => {}, 120_000);
      assert.deepEqual(events.at(-1), { type: 'status', status: 'done', result: true });

      const result = await decodeImageBytes(new Uint8Array(await (await fetch(`${server.url}/api/jobs/${id}/result`)).arrayBuffer()), 'result');
      assert.deepEqual([result.width, result.height], [40, 30]);
      const { left, right } = halfMeans(result);
      assert.ok(dist(left, RED) < dist(left, BLUE), `left half ${left.map(Math.round)} is closer to red than to blue`);
      assert.ok(dist(right, BLUE) < dist(right, RED), `right half ${right.map(Math.round)} is closer to blue than to red`);

      const dir = path.join(server.dataDir, 'jobs', id);
      const files = await readdir(dir);
      for (const f of ['mask-1.img', 'mask-2.img']) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
      assert.deepEqual(await readFile(path.join(dir, 'mask-1.img')), masks[0].bytes);
      const spec = JSON.parse(await readFile(path.join(dir, 'job.json'), 'utf8'));
      assert.deepEqual(
        spec.masks.map((m: { file: string }) => m.file),
        ['mask-1.img', 'mask-2.img'],
      );
      assert.equal(spec.options.maskPropagation, 'inside');

      // The sheet's first panel is the grey content tinted red on the left and blue on the right.
      const sheet = await decodeImageBytes(new Uint8Array(await (await fetch(`${server.url}/api/jobs/${id}/sheet`)).arrayBuffer()), 'sheet');
      const at = (x: number, y: number) => [0, 1, 2].map((c) => sheet.data[(y * sheet.width + x) * 3 + c]);
      // Sample inside the content panel: it starts at the sheet's left margin, as tall as the sheet's panels.
      const y = Math.round(sheet.height / 2);
      const row = Array.from({ length: sheet.width }, (_, x) => at(x, y));
      const redish = row.findIndex((p) => p[0] > p[2] + 40);
      const blueish = row.findIndex((p) => p[2] > p[0] + 40);
      assert.ok(redish >= 0 && blueish > redish, `the content panel is tinted red, then blue (first red at x=${redish}, first blue at x=${blueish})`);
    });

    it('refuses a wrong number of masks, a mask that is not an image, and one over the size limit, with one line each', async () => {
      const jobsBefore = (await getJson(`${server.url}/api/jobs`)).body.jobs.length;
      const one = await postJob(server.url, [...inputs, png('styleMask', 'left.png', await halfMask(true))], MASKED_JOB);
      assert.equal(one.status, 400);
      assert.match(one.body.error, /^1 style masks for 2 style images: send one styleMask per style image/);

      const text = await postJob(
        server.url,
        [...inputs, png('styleMask', 'left.png', await halfMask(true)), { field: 'styleMask', name: 'notes.txt', bytes: Buffer.from('not an image') }],
        MASKED_JOB,
      );
      assert.equal(text.status, 422);
      assert.match(text.body.error, /mask of style image 2 notes\.txt/);
      assert.doesNotMatch(text.body.error, /\n/);

      const noise = Buffer.alloc(640 * 640 * 3);
      for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
      const big = await sharp(noise, { raw: { width: 640, height: 640, channels: 3 } })
        .png({ compressionLevel: 0 })
        .toBuffer();
      assert.ok(big.length > LIMIT);
      const tooBig = await postJob(server.url, [...inputs, png('styleMask', 'big.png', big), png('styleMask', 'right.png', await halfMask(false))], MASKED_JOB);
      assert.equal(tooBig.status, 413);
      assert.match(tooBig.body.error, /^style mask big\.png is larger than the limit of/);

      const bad = await postJob(server.url, inputs, { ...MASKED_JOB, maskPropagation: 'outside' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /maskPropagation/);

      // Nothing was queued, and no upload was left behind.
      const { body } = await getJson(`${server.url}/api/jobs`);
      assert.equal(body.jobs.length, jobsBefore);
      assert.deepEqual(await readdir(path.join(server.dataDir, 'uploads')), []);
    });
  });
});
