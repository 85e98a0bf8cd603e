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
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { normaliseOptions } from '../../src/options.js';
import { plannedScales } from '../../src/jobs/checkpoint.js';
import { getJson, imageFile, postJob, readEvents, sharedImage, SMALL_JOB, startTestServer, tempDataDir, type FilePart, type TestServer } from './helpers.js';
import { spawnWorker, startRedis, type TestRedis, type WorkerProcess } from './redis-helpers.js';

const FINAL = ['done', 'failed', 'cancelled'];

/** Change a queued job's spec where a worker reads it: its record and BullMQ's job data. */
async function editSpec(client: Redis, id: string, change: (spec: any) => any): Promise<void> {
  const spec = change(JSON.parse((await client.hget(`st:record:${id}`, 'spec'))!));
  await client.hset(`st:record:${id}`, 'spec', JSON.stringify(spec));
  await client.hset(`st:jobs:${id}`, 'data', JSON.stringify({ spec }));
}

/** The job's states from its event stream until it ends, or until it starts running (a refused job never does). */
async function statesUntilEndOrRun(url: string, id: string): Promise<string[]> {
  const states: string[] = [];
  await readEvents(
    `${url}/api/jobs/${id}/events`,
    (e) => {
      if (e.type !== 'status') return false;
      states.push(e.status);
      return e.status === 'running' || FINAL.includes(e.status);
    },
    120_000,
  );
  return states;
}

describe('Redis and the shared data dir are inputs (issue 19)', () => {
  let redis: TestRedis;
  let client: Redis;
  let dataDir: string;
  let cleanup: (() => Promise<unknown>)[] = [];
  let images: FilePart[];
  beforeEach(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    dataDir = await tempDataDir();
    cleanup = [];
    images ??= [await imageFile('content', 'dog'), await imageFile('style', 'matisse')];
  });
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
    client.disconnect();
    await redis.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function server(lines: string[] = []): Promise<TestServer> {
    const started = await startTestServer({ redis: redis.url, dataDir, listAllJobs: true, log: (l) => lines.push(l) });
    cleanup.push(() => started.close());
    return started;
  }
  function worker(args: string[] = []): WorkerProcess {
    const started = spawnWorker(redis.url, dataDir, { args });
    cleanup.push(() => started.kill());
    return started;
  }

  it('a worker refuses a job whose data in Redis names a file outside its folder (finding 2)', async () => {
    const srv = await server();
    const secretDir = path.join(dataDir, '..', `st-secret-${randomUUID()}`);
    await mkdir(secretDir);
    cleanup.push(() => rm(secretDir, { recursive: true, force: true }));
    await copyFile(sharedImage('monet'), path.join(secretDir, 'private-photo.png'));
    const created = await postJob(srv.url, images, SMALL_JOB);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    await editSpec(client, id, (spec) => ({ ...spec, content: { ...spec.content, file: `../../../${path.basename(secretDir)}/private-photo.png` } }));
    const w = worker();
    assert.deepEqual(await statesUntilEndOrRun(srv.url, id), ['queued', 'failed']);
    const job = (await getJson(`${srv.url}/api/jobs/${id}`)).body;
    assert.match(job.error, /^refused: content\.file must be content\.img/);
    assert.equal(job.result, false);
    assert.doesNotMatch(w.log(), /private-photo.*done|done in/);
  });

  it('a worker refuses a job whose options in Redis exceed the limits, and keeps taking jobs (finding 2)', async () => {
    const srv = await server();
    const edited = await postJob(srv.url, images, SMALL_JOB);
    const fine = await postJob(srv.url, images, SMALL_JOB);
    await editSpec(client, edited.body.id, (spec) => ({ ...spec, options: { ...spec.options, iterations: 50000, tile: 16, memory: '64M' } }));
    const w = worker();
    assert.deepEqual(await statesUntilEndOrRun(srv.url, edited.body.id), ['queued', 'failed']);
    assert.match((await getJson(`${srv.url}/api/jobs/${edited.body.id}`)).body.error, /^refused: option (tile|memory) cannot be set through the server/);
    const states = await statesUntilEndOrRun(srv.url, fine.body.id);
    assert.ok(states.includes('running'), `the next job ran: ${states.join(', ')}`);
    await w.waitFor(new RegExp(`job ${fine.body.id}: done`));
  });

  it("a worker checks each job against its own limits (--max-work), not the server's (finding 2)", async () => {
    const srv = await server();
    const created = await postJob(srv.url, images, { ...SMALL_JOB, iterations: 400 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    worker(['--max-work', '1']);
    assert.deepEqual(await statesUntilEndOrRun(srv.url, created.body.id), ['queued', 'failed']);
    assert.match((await getJson(`${srv.url}/api/jobs/${created.body.id}`)).body.error, /^refused: the job is too large: .*this server allows at most 1:/);
  });

  it('a server starts, and a running one keeps answering, with a malformed record in Redis (finding 10)', async () => {
    const bad = randomUUID();
    await client.hset(`st:record:${bad}`, 'spec', '{bad json', 'status', '{}');
    await client.zadd('st:records', 1, bad);
    const lines: string[] = [];
    const srv = await server(lines);
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
  });

  it('a worker ignores a checkpoint over the pixel limit and runs the job from the start (finding 12)', async () => {
    const srv = await server();
    const options = { ...SMALL_JOB, size: 64, startSize: 32, scaleIterations: 4 };
    const created = await postJob(srv.url, images, options);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    const scales = plannedScales(normaliseOptions({ ...options, content: new Uint8Array(1), style: new Uint8Array(1) } as never), created.body.content);
    assert.ok(scales.length >= 2, 'the job has a scale to resume at');
    // 48 megapixels: under the library's own limit (100 MP), over the server's (40 MP).
    const big = { width: 8000, height: 6000 };
    const png = await sharp({ create: { ...big, channels: 3, background: { r: 90, g: 120, b: 150 } } })
      .png()
      .toBuffer();
    const dir = path.join(dataDir, 'jobs', id);
    await writeFile(path.join(dir, 'checkpoint.png'), png);
    await writeFile(path.join(dir, 'checkpoint.json'), JSON.stringify({ finished: 1, scales: scales.length, next: scales[1], iterations: 4, size: big }));
    const w = worker();
    const end = await readEvents(`${srv.url}/api/jobs/${id}/events`, (e) => e.type === 'status' && FINAL.includes(e.status), 120_000);
    assert.deepEqual(end.at(-1), { type: 'status', status: 'done', result: true }, w.log());
    assert.match(w.log(), new RegExp(`job ${id}: ignoring its checkpoint \\(.*too large.*the limit is .*\\); starting over`));
  });
});
