/**
 * Issue 19, findings 2, 10 and 12: what Redis and the shared data dir hold is input to a worker
 * and a server, not trusted state. A job whose data was edited in Redis (an input outside its
 * folder, options past the limits) is refused by the worker as `failed` before it runs; one
 * malformed record neither stops a server from starting nor takes a running one's API down; a
 * checkpoint over the pixel limit is ignored and the job runs from the start.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { normaliseOptions } from '../../src/options.js';
import { plannedScales } from '../../src/jobs/checkpoint.js';
import { getJson, imageFile, postJob, readEvents, sharedImage, SMALL_JOB, startTestServer, tempDataDir, type TestServer } from './helpers.js';
import { spawnWorker, startRedis, type TestRedis, type WorkerProcess } from './redis-helpers.js';

const FINAL = ['done', 'failed', 'cancelled'];

/** Change a queued job's spec where a worker reads it: its record and BullMQ's job data. */
async function editSpec(client: Redis, id: string, change: (spec: any) => any): Promise<void> {
  const spec = change(JSON.parse((await client.hget(`st:record:${id}`, 'spec'))!));
  await client.hset(`st:record:${id}`, 'spec', JSON.stringify(spec));
  await client.hset(`st:jobs:${id}`, 'data', JSON.stringify({ spec }));
}

/** The job's distinct states from its event stream until it ends, or until it starts running (a refused job never does). */
async function statesUntilEndOrRun(url: string, id: string): Promise<string[]> {
  const states: string[] = [];
  await readEvents(
    `${url}/api/jobs/${id}/events`,
    (e) => {
      if (e.type !== 'status') return false;
      // A queued job hears 'queued' again as the jobs ahead of it leave (its place in the queue): one entry.
      if (states.at(-1) !== e.status) states.push(e.status);
      return e.status === 'running' || FINAL.includes(e.status);
    },
    120_000,
  );
  return states;
}

describe('Redis and the shared data dir are inputs to a worker (issue 19, findings 2 and 12)', () => {
  // One Redis, server and worker for these tests (each worker process reads the weights and builds
  // its sessions: ~3-4 CPU-s). A worker takes a job as soon as it is queued, so every job below is
  // queued (and edited where Redis holds it) in `before`, its event stream opened, and only then is
  // the worker started; it takes them in order, and each test checks its own.
  let redis: TestRedis;
  let client: Redis;
  let dataDir: string;
  let srv: TestServer;
  let w: WorkerProcess;
  const cleanup: (() => Promise<unknown>)[] = [];
  /** A job's states from its event stream, read from before the worker started. */
  const watch = <T>(promise: Promise<T>): Promise<T> => (promise.catch(() => {}), promise);
  let outside: { id: string; states: Promise<string[]> };
  let edited: { id: string; states: Promise<string[]> };
  let fine: { id: string; states: Promise<string[]> };
  let tooLarge: { id: string; states: Promise<string[]> };
  let checkpointed: { id: string; end: Promise<any[]> };

  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    dataDir = await tempDataDir();
    const images = [await imageFile('content', 'dog'), await imageFile('style', 'matisse')];
    srv = await startTestServer({ redis: redis.url, dataDir, listAllJobs: true });

    // Finding 2: an input outside the job's folder.
    const secretDir = path.join(dataDir, '..', `st-secret-${randomUUID()}`);
    await mkdir(secretDir);
    cleanup.push(() => rm(secretDir, { recursive: true, force: true }));
    await copyFile(sharedImage('monet'), path.join(secretDir, 'private-photo.png'));
    const created = await postJob(srv.url, images, SMALL_JOB);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await editSpec(client, created.body.id, (spec) => ({ ...spec, content: { ...spec.content, file: `../../../${path.basename(secretDir)}/private-photo.png` } }));
    outside = { id: created.body.id, states: watch(statesUntilEndOrRun(srv.url, created.body.id)) };

    // Finding 2: options past the limits, and a fine job after it.
    const editedJob = await postJob(srv.url, images, SMALL_JOB);
    const fineJob = await postJob(srv.url, images, SMALL_JOB);
    await editSpec(client, editedJob.body.id, (spec) => ({ ...spec, options: { ...spec.options, iterations: 50000, tile: 16, memory: '64M' } }));
    edited = { id: editedJob.body.id, states: watch(statesUntilEndOrRun(srv.url, editedJob.body.id)) };
    fine = { id: fineJob.body.id, states: watch(statesUntilEndOrRun(srv.url, fineJob.body.id)) };

    // Finding 2: the worker's own limits (it runs with --max-work 1; the server allows far more).
    const large = await postJob(srv.url, images, { ...SMALL_JOB, iterations: 400 });
    assert.equal(large.status, 201, JSON.stringify(large.body));
    tooLarge = { id: large.body.id, states: watch(statesUntilEndOrRun(srv.url, large.body.id)) };

    // Finding 12: a checkpoint over the pixel limit.
    const options = { ...SMALL_JOB, size: 64, startSize: 32, scaleIterations: 4 };
    const withCheckpoint = await postJob(srv.url, images, options);
    assert.equal(withCheckpoint.status, 201, JSON.stringify(withCheckpoint.body));
    const id = withCheckpoint.body.id;
    const scales = plannedScales(normaliseOptions({ ...options, content: new Uint8Array(1), style: new Uint8Array(1) } as never), withCheckpoint.body.content);
    assert.ok(scales.length >= 2, 'the job has a scale to resume at');
    // 48 megapixels: under the library's own limit (100 MP), over the server's (40 MP).
    const big = { width: 8000, height: 6000 };
    const png = await sharp({ create: { ...big, channels: 3, background: { r: 90, g: 120, b: 150 } } })
      .png()
      .toBuffer();
    const dir = path.join(dataDir, 'jobs', id);
    await writeFile(path.join(dir, 'checkpoint.png'), png);
    await writeFile(path.join(dir, 'checkpoint.json'), JSON.stringify({ finished: 1, scales: scales.length, next: scales[1], iterations: 4, size: big }));
    checkpointed = { id, end: watch(readEvents(`${srv.url}/api/jobs/${id}/events`, (e) => e.type === 'status' && FINAL.includes(e.status), 120_000)) };

    w = spawnWorker(redis.url, dataDir, { args: ['--max-work', '1'] });
  });
  after(async () => {
    await w?.kill();
    await srv?.close();
    for (const step of cleanup.reverse()) await step().catch(() => {});
    client?.disconnect();
    await redis?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('a worker refuses a job whose data in Redis names a file outside its folder (finding 2)', async () => {
    assert.deepEqual(await outside.states, ['queued', 'failed']);
    const job = (await getJson(`${srv.url}/api/jobs/${outside.id}`)).body;
    assert.match(job.error, /^refused: content\.file must be content\.img/);
    assert.equal(job.result, false);
    assert.doesNotMatch(w.log(), new RegExp(`private-photo.*done|job ${outside.id}: done`));
  });

  it('a worker refuses a job whose options in Redis exceed the limits, and keeps taking jobs (finding 2)', async () => {
    assert.deepEqual(await edited.states, ['queued', 'failed']);
    assert.match((await getJson(`${srv.url}/api/jobs/${edited.id}`)).body.error, /^refused: option (tile|memory) cannot be set through the server/);
    const states = await fine.states;
    assert.ok(states.includes('running'), `the next job ran: ${states.join(', ')}`);
    await w.waitFor(new RegExp(`job ${fine.id}: done`));
  });

  it("a worker checks each job against its own limits (--max-work), not the server's (finding 2)", async () => {
    assert.deepEqual(await tooLarge.states, ['queued', 'failed']);
    assert.match((await getJson(`${srv.url}/api/jobs/${tooLarge.id}`)).body.error, /^refused: the job is too large: .*this server allows at most 1:/);
  });

  it('a worker ignores a checkpoint over the pixel limit and runs the job from the start (finding 12)', async () => {
    const end = await checkpointed.end;
    assert.deepEqual(end.at(-1), { type: 'status', status: 'done', result: true }, w.log());
    assert.match(w.log(), new RegExp(`job ${checkpointed.id}: ignoring its checkpoint \\(.*too large.*the limit is .*\\); starting over`));
  });
});

describe('Redis is an input to a server (issue 19, finding 10)', () => {
  it('a server starts, and a running one keeps answering, with a malformed record in Redis', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url);
    const dataDir = await tempDataDir();
    const lines: string[] = [];
    let srv: TestServer | undefined;
    try {
      const images = [await imageFile('content', 'dog'), await imageFile('style', 'matisse')];
      const bad = randomUUID();
      await client.hset(`st:record:${bad}`, 'spec', '{bad json', 'status', '{}');
      await client.zadd('st:records', 1, bad);
      srv = await startTestServer({ redis: redis.url, dataDir, listAllJobs: true, log: (l) => lines.push(l) });
      const listed = await getJson(`${srv.url}/api/jobs`);
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.deepEqual(listed.body.jobs, []);
      assert.equal(lines.filter((l) => l.includes(bad)).length, 1, lines.join('\n'));

      // A second bad record appears while the server runs; the server's connection drops and it reloads every record.
      const later = randomUUID();
      await client.hset(`st:record:${later}`, 'spec', JSON.stringify({ id: later }), 'status', '{"status":"queued"}');
      await client.zadd('st:records', 2, later);
      const created = await postJob(srv.url, images, SMALL_JOB);
      assert.equal(created.status, 201);
      await client.client('KILL', 'SKIPME', 'yes', 'TYPE', 'normal');
      const deadline = Date.now() + 20_000;
      while (!lines.some((l) => /connected to Redis .* again|cannot reload/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      const after = await getJson(`${srv.url}/api/jobs`);
      assert.equal(after.status, 200, `${JSON.stringify(after.body)}\n${lines.join('\n')}`);
      assert.deepEqual(
        after.body.jobs.map((j: { id: string }) => j.id),
        [created.body.id],
      );
      assert.equal(lines.filter((l) => l.includes(later)).length, 1, lines.join('\n'));
    } finally {
      await srv?.close();
      client.disconnect();
      await redis.dispose();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
