/**
 * Restarts: everything a job produced is on disk, so a new server on the same data dir shows the
 * same jobs and results; a job that was running when the server stopped becomes `interrupted` with
 * its last preview as its result; a job still waiting is queued again.
 */
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { getJson, imageFile, postJob, readEvents, SMALL_JOB, startTestServer, tempDataDir, waitForStatus } from './helpers.js';

async function bytesOf(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Copy a finished job's folder under a new id with the given status, as if a server had died at that point. */
async function forgeJob(dataDir: string, fromId: string, status: string, files: { preview: boolean }): Promise<string> {
  const id = randomUUID();
  const from = path.join(dataDir, 'jobs', fromId);
  const to = path.join(dataDir, 'jobs', id);
  await cp(from, to, { recursive: true });
  for (const f of ['result.png', 'sheet.png', 'history.json', 'preview.png']) await rm(path.join(to, f), { force: true });
  if (files.preview) await cp(path.join(from, 'result.png'), path.join(to, 'preview.png'));
  const spec = JSON.parse(await readFile(path.join(to, 'job.json'), 'utf8'));
  await writeFile(path.join(to, 'job.json'), JSON.stringify({ ...spec, id, createdAt: new Date().toISOString() }));
  const st = JSON.parse(await readFile(path.join(to, 'status.json'), 'utf8'));
  await writeFile(path.join(to, 'status.json'), JSON.stringify({ id, status, createdAt: st.createdAt, result: false, previewVersion: files.preview ? 3 : 0 }));
  return id;
}

describe('persistence across restarts', () => {
  // One pair of servers (a runner each: ~3-4 CPU-s) for both ways a job is left unfinished: a server
  // stopped during a run, and the states a crash leaves behind (forged).
  it('keeps finished jobs, saves a job stopped with the server as interrupted with its last image, marks running ones interrupted, and queues waiting ones again', async () => {
    const dataDir = await tempDataDir();
    try {
      // 1. Finish a job; stop the server during a second one.
      let server = await startTestServer({ dataDir });
      const created = await postJob(server.url, [await imageFile('content', 'dog'), await imageFile('style', 'matisse')], SMALL_JOB);
      const id = created.body.id;
      assert.equal((await waitForStatus(server.url, id, ['done', 'failed'])).status, 'done');
      const result = await bytesOf(`${server.url}/api/jobs/${id}/result`);
      const sheet = await bytesOf(`${server.url}/api/jobs/${id}/sheet`);
      const long = (await postJob(server.url, [await imageFile('content', 'landscape'), await imageFile('style', 'monet')], { ...SMALL_JOB, iterations: 2000, previewEvery: 1 }))
        .body.id;
      await readEvents(`${server.url}/api/jobs/${long}/events`, (e) => e.type === 'preview');
      await server.close();
      const onDisk = JSON.parse(await readFile(path.join(dataDir, 'jobs', id, 'status.json'), 'utf8'));
      assert.equal(onDisk.status, 'done');
      assert.ok(await readFile(path.join(dataDir, 'jobs', id, 'content.img')));
      const stopped = JSON.parse(await readFile(path.join(dataDir, 'jobs', long, 'status.json'), 'utf8'));
      assert.equal(stopped.status, 'interrupted');
      assert.equal(stopped.result, true);

      // 2. Forge the states a crash would leave behind.
      const runningWithPreview = await forgeJob(dataDir, id, 'running', { preview: true });
      const runningWithout = await forgeJob(dataDir, id, 'running', { preview: false });
      const waiting = await forgeJob(dataDir, id, 'queued', { preview: false });
      await writeFile(path.join(dataDir, 'jobs', 'not-a-job.txt'), 'ignored');

      // 3. Start again on the same data dir.
      server = await startTestServer({ dataDir });
      try {
        const job = await getJson(`${server.url}/api/jobs/${id}`);
        assert.equal(job.body.status, 'done');
        assert.deepEqual(await bytesOf(`${server.url}/api/jobs/${id}/result`), result);
        assert.deepEqual(await bytesOf(`${server.url}/api/jobs/${id}/sheet`), sheet);
        const replay = await readEvents(`${server.url}/api/jobs/${id}/events`);
        assert.equal(replay.find((e) => e.type === 'history').points.length, 4, 'the loss history survived');

        const stoppedJob = (await getJson(`${server.url}/api/jobs/${long}`)).body;
        assert.equal(stoppedJob.status, 'interrupted');
        assert.ok(stoppedJob.progress.iteration >= 1 && stoppedJob.progress.iteration < 2000);
        assert.equal((await fetch(`${server.url}/api/jobs/${long}/result`)).status, 200);

        const interrupted = (await getJson(`${server.url}/api/jobs/${runningWithPreview}`)).body;
        assert.equal(interrupted.status, 'interrupted');
        assert.equal(interrupted.result, true);
        assert.equal(interrupted.error, 'the server stopped while this job was running');
        // Its result is its last preview frame (forged from the finished job's result above).
        assert.deepEqual(await bytesOf(`${server.url}/api/jobs/${runningWithPreview}/result`), result);
        // Its sheet is made on demand from the stored inputs and that frame.
        const partialSheet = await fetch(`${server.url}/api/jobs/${runningWithPreview}/sheet`);
        assert.equal(partialSheet.status, 200);

        const bare = (await getJson(`${server.url}/api/jobs/${runningWithout}`)).body;
        assert.equal(bare.status, 'interrupted');
        assert.equal(bare.result, false);
        assert.equal((await getJson(`${server.url}/api/jobs/${runningWithout}/result`)).status, 409);

        // The waiting job runs now.
        assert.equal((await waitForStatus(server.url, waiting, ['done', 'failed'])).status, 'done');
        const ids = (await getJson(`${server.url}/api/jobs`)).body.jobs.map((j: { id: string }) => j.id);
        assert.deepEqual(new Set(ids), new Set([id, long, runningWithPreview, runningWithout, waiting]));
      } finally {
        await server.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
