/**
 * The job API against a real server on a loopback port with the real library and weights: create a
 * job, follow it over server-sent events, fetch its preview, result and sheet, list jobs, and
 * cancel waiting and running jobs. Jobs are tiny (32 px, a few Adam steps).
 */
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeImageBytes } from '../../src/image/io.js';
import { BROWSER_COOKIE, getJson, imageFile, postJob, readEvents, SMALL_JOB as HELPERS_SMALL_JOB, startTestServer, waitForStatus, type TestServer } from './helpers.js';

/** The helpers' tiny job at 32 px (32x24 for the 4:3 pictures here). */
const SMALL_JOB = { ...HELPERS_SMALL_JOB, size: 32 };

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
    server = await startTestServer();
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
});
