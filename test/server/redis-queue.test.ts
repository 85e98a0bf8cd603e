/**
 * The Redis queue (serve --redis, worker) against a real redis-server and real worker processes:
 * many jobs on two workers (one with style masks), a worker killed mid-job, a cancel from another server, a server
 * restart, a Redis restart, and an unreachable or malformed Redis URL.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, before, beforeEach, describe, it } from 'node:test';
import { runServeCommand } from '../../src/cli/serve-command.js';
import { runWorkerCommand } from '../../src/cli/worker-command.js';
import { decodeImageBytes } from '../../src/image/io.js';
import {
  BLUE,
  colourDistance,
  flatPng,
  halfMaskPng,
  halfMeans,
  MASKED_JOB,
  RED,
  getJson,
  imageFile,
  postJob,
  readEvents,
  SMALL_JOB,
  startTestServer,
  tempDataDir,
  waitForStatus,
  type FilePart,
  type TestServer,
} from './helpers.js';
import { freePort, sleep, spawnWorker, startRedis, type TestRedis, type WorkerProcess } from './redis-helpers.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];
/** Three scales (32, 45, 64 px), long enough at each to kill a worker in the middle of one. */
const THREE_SCALES = { size: 64, startSize: 32, scaleIterations: 20, iterations: 20, optimizer: 'adam', learningRate: 2 };
const FINAL = ['done', 'failed', 'cancelled'];
/** The killed worker's lock lasts this long: then the other worker takes its job over. */
const TAKEOVER_SECONDS = 5;

let images: FilePart[];
before(async () => {
  images = [await imageFile('content', 'dog'), await imageFile('style', 'matisse')];
});

async function pngOf(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  assert.deepEqual([...bytes.subarray(0, 4)], PNG_SIGNATURE);
  return bytes;
}

/** Lines `job <id>: done` a worker printed, by job id. */
function doneLines(worker: WorkerProcess): string[] {
  return [...worker.log().matchAll(/^job ([0-9a-f-]{36}): done in/gm)].map((m) => m[1]);
}

/** Wait until the workers have printed `count` done lines (a worker prints its line just after the record says done). */
async function waitForDoneLines(workers: WorkerProcess[], count: number): Promise<void> {
  const deadline = Date.now() + 60_000; // then the caller's count shows what is missing
  while (workers.flatMap(doneLines).length < count && Date.now() < deadline) await sleep(25);
}

/** Wait for the job's end and check that it is done (the message shows the job when it is not). */
async function expectDone(url: string, id: string, timeoutMs: number): Promise<any> {
  const job = await waitForStatus(url, id, FINAL, timeoutMs);
  assert.equal(job.status, 'done', JSON.stringify(job));
  return job;
}

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c) => (text += c));
  return { stream, text: () => text };
}

describe('jobs on Redis (BullMQ) with worker processes', () => {
  // Each test has its own redis-server, servers and workers, all stopped at its end (a worker left
  // running would take the next test's jobs from another data dir).
  let redis: TestRedis;
  let cleanup: (() => Promise<unknown>)[] = [];
  beforeEach(async () => {
    redis = await startRedis();
    cleanup = [];
  });
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
    await redis.dispose();
  });

  it('runs 12 jobs on 2 workers, each exactly once, with events on every server', async () => {
    const dataDir = await tempDataDir();
    // One browser queues all 12 at once: above the per-browser and per-address quotas of waiting jobs.
    const prefix = { redis: redis.url, dataDir, limits: { maxQueuedPerBrowser: 12, maxQueuedPerAddress: 12 } };
    const serverA = await startTestServer(prefix);
    const serverB = await startTestServer(prefix);
    cleanup.push(
      () => serverB.close(),
      () => serverA.dispose(),
    );
    const workers = [spawnWorker(redis.url, dataDir), spawnWorker(redis.url, dataDir)];
    cleanup.push(...workers.map((w) => () => w.stop()));

    // The last job has style masks (issue 21): flat red and blue styles on the left and right halves
    // of a grey photo. Its masks travel as job files in the shared data dir, never through Redis.
    const png = (field: string, name: string, bytes: Buffer): FilePart => ({ field, name, bytes, type: 'image/png' });
    const masked = [
      png('content', 'grey.png', await flatPng([128, 128, 128], 64, 48)),
      png('style', 'red.png', await flatPng(RED, 64, 48)),
      png('style', 'blue.png', await flatPng(BLUE, 64, 48)),
      png('styleMask', 'left.png', await halfMaskPng(true, 64, 48)),
      png('styleMask', 'right.png', await halfMaskPng(false, 64, 48)),
    ];
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const created = await postJob((i % 2 ? serverB : serverA).url, ...((i === 11 ? [masked, MASKED_JOB] : [images, SMALL_JOB]) as [FilePart[], object]));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids.push(created.body.id);
    }
    // Server B streams a job that server A accepted: the worker's events reach every server.
    const streamed = readEvents(`${serverB.url}/api/jobs/${ids[10]}/events`, () => false, 240_000);
    const listing = (await getJson(`${serverA.url}/api/jobs`)).body.jobs;
    assert.equal(listing.length, 12);
    const positions = listing.filter((j: any) => j.status === 'queued').map((j: any) => j.position);
    assert.deepEqual(
      [...positions].sort((a, b) => a - b),
      positions.map((_: unknown, i: number) => i + 1),
      'queued jobs are numbered 1, 2, 3, … in queue order',
    );

    for (const id of ids) await expectDone(serverA.url, id, 240_000);
    for (const id of ids) {
      const job = (await getJson(`${serverB.url}/api/jobs/${id}`)).body;
      assert.equal(job.status, 'done');
      assert.equal(job.attempts, 1);
      assert.equal(job.result, true);
      await pngOf(`${serverB.url}/api/jobs/${id}/result`);
    }
    const { left, right } = halfMeans(await decodeImageBytes(await pngOf(`${serverA.url}/api/jobs/${ids[11]}/result`), 'masked result'));
    assert.ok(colourDistance(left, RED) < colourDistance(left, BLUE), `masked job: left half ${left.map(Math.round)} is closer to red`);
    assert.ok(colourDistance(right, BLUE) < colourDistance(right, RED), `masked job: right half ${right.map(Math.round)} is closer to blue`);
    const events = await streamed;
    assert.ok(events.filter((e) => e.type === 'iteration').length >= 1, 'iteration events reached server B');
    assert.deepEqual(events.at(-1), { type: 'status', status: 'done', result: true });

    await waitForDoneLines(workers, 12);
    await sleep(500); // a duplicate run would print its line too
    const done = workers.flatMap(doneLines);
    assert.equal(done.length, 12, `each job finished once: ${done.join(' ')}`);
    assert.deepEqual([...new Set(done)].sort(), [...ids].sort());
    for (const w of workers) assert.ok(doneLines(w).length > 0, 'both workers took jobs');
  });

  it('hands the job of a worker killed with SIGKILL to another worker, which resumes from its checkpoint', async (t) => {
    const dataDir = await tempDataDir();
    const server = await startTestServer({ redis: redis.url, dataDir });
    cleanup.push(() => server.dispose());
    const first = spawnWorker(redis.url, dataDir, { lockSeconds: TAKEOVER_SECONDS });
    cleanup.push(() => first.kill());

    const { body } = await postJob(server.url, images, THREE_SCALES);
    const id = body.id;
    // Kill the worker in the middle of the second scale, once the first one's checkpoint is saved.
    await readEvents(`${server.url}/api/jobs/${id}/events`, (e) => e.type === 'iteration' && e.scale === 2 && e.iteration >= 5, 240_000);
    const checkpoint = path.join(dataDir, 'jobs', id, 'checkpoint.json');
    while (!existsSync(checkpoint)) await sleep(20);
    await first.kill();
    const killedAt = performance.now();
    assert.equal(JSON.parse(await readFile(checkpoint, 'utf8')).finished, 1);

    const second = spawnWorker(redis.url, dataDir, { lockSeconds: TAKEOVER_SECONDS });
    cleanup.push(() => second.stop());
    const events: any[] = [];
    const job = await waitForStatus(server.url, id, FINAL, 240_000);
    t.diagnostic(`killed → done on the other worker: ${((performance.now() - killedAt) / 1000).toFixed(1)} s (lock ${TAKEOVER_SECONDS} s)`);
    if (process.env.DEBUG_WORKERS) console.log(first.log(), '\n----\n', second.log());
    await readEvents(`${server.url}/api/jobs/${id}/events`, (e) => void events.push(e));
    assert.equal(job.status, 'done', JSON.stringify(job));
    assert.equal(job.attempts, 2, 'the job shows it took two attempts');
    await second.waitFor(new RegExp(`job ${id}: resuming after scale 1 of 3`));
    await waitForDoneLines([second], 1);
    assert.deepEqual(doneLines(second), [id], 'it finished once, on the second worker');
    assert.deepEqual(doneLines(first), []);
    // The chart keeps the first worker's scale 1 and has the second worker's scales 2 and 3.
    const history = events.find((e) => e.type === 'history').points;
    assert.deepEqual([...new Set(history.map((p: any) => p.scale))], [1, 2, 3]);
    assert.equal(history.filter((p: any) => p.scale === 2).length, 20, 'scale 2 was run once more from its start, not twice in the history');
    await pngOf(`${server.url}/api/jobs/${id}/result`);
  });

  it('puts the job of a worker stopped with SIGTERM back in the queue at once', async () => {
    const dataDir = await tempDataDir();
    const server = await startTestServer({ redis: redis.url, dataDir });
    cleanup.push(() => server.dispose());
    // An hour's lock (the longest --lock-duration): only the hand-back can free the job for the
    // second worker within this test; nothing here depends on how quickly it happens.
    const first = spawnWorker(redis.url, dataDir, { lockSeconds: 3600 });
    cleanup.push(() => first.kill());
    const id = (await postJob(server.url, images, THREE_SCALES)).body.id;
    await readEvents(`${server.url}/api/jobs/${id}/events`, (e) => e.type === 'iteration' && e.scale === 2 && e.iteration >= 5, 240_000);
    assert.equal(await first.stop(), 0);
    assert.match(first.log(), new RegExp(`job ${id}: put back in the queue \\(worker stopping\\)`));
    assert.equal((await getJson(`${server.url}/api/jobs/${id}`)).body.result, false, 'no half-done image was kept as its result');

    const second = spawnWorker(redis.url, dataDir);
    cleanup.push(() => second.stop());
    await second.waitFor(new RegExp(`job ${id}: started \\(attempt 2\\)`));
    const job = await expectDone(server.url, id, 240_000);
    assert.equal(job.attempts, 2);
    await waitForDoneLines([second], 1);
    assert.deepEqual(doneLines(second), [id]);
  });

  it('cancels a running job from another server, which stops at its next iteration; a waiting job at once', async (t) => {
    const dataDir = await tempDataDir();
    const serverA = await startTestServer({ redis: redis.url, dataDir });
    const serverB = await startTestServer({ redis: redis.url, dataDir });
    cleanup.push(
      () => serverB.close(),
      () => serverA.dispose(),
    );
    const worker = spawnWorker(redis.url, dataDir);
    cleanup.push(() => worker.stop());

    const long = (await postJob(serverA.url, images, { ...SMALL_JOB, iterations: 2000 })).body.id;
    const waiting = (await postJob(serverA.url, images, SMALL_JOB)).body.id;
    await readEvents(`${serverB.url}/api/jobs/${long}/events`, (e) => e.type === 'iteration' && e.iteration >= 3, 240_000);
    assert.equal((await getJson(`${serverB.url}/api/jobs/${waiting}`)).body.position, 1);

    const cancelledWaiting = await getJson(`${serverB.url}/api/jobs/${waiting}`, { method: 'DELETE' });
    assert.equal(cancelledWaiting.body.status, 'cancelled', JSON.stringify(cancelledWaiting.body));
    assert.equal(cancelledWaiting.body.error, 'cancelled before it started');

    const t0 = performance.now();
    const cancelled = await getJson(`${serverB.url}/api/jobs/${long}`, { method: 'DELETE' });
    const ms = performance.now() - t0;
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    // How long it took is reported, not asserted (it depends on the machine's load); what must hold
    // is the order: the DELETE answers once the worker has stopped, and no iteration comes after.
    t.diagnostic(`DELETE → cancelled on the worker: ${Math.round(ms)} ms`);
    const stoppedAt = cancelled.body.progress.iteration;
    assert.ok(stoppedAt < 2000, `stopped at iteration ${stoppedAt} of 2000`);
    // Server A hears of it through Redis a moment later.
    await waitForStatus(serverA.url, long, ['cancelled'], 5000);
    await pngOf(`${serverA.url}/api/jobs/${long}/result`); // the last image it got to
    await worker.waitFor(new RegExp(`job ${long}: cancelled`));
    const replay = await readEvents(`${serverA.url}/api/jobs/${long}/events`);
    assert.deepEqual([replay.at(-1).type, replay.at(-1).status], ['status', 'cancelled'], 'the stream ends with the cancel');
    const iterations = replay.find((e) => e.type === 'history').points.map((p: any) => p.iteration);
    assert.equal(Math.max(...iterations), stoppedAt, 'no iteration ran after the one the DELETE answered with');

    // DELETE of a finished job deletes it: its record, its files, and every server forgets it.
    assert.deepEqual((await getJson(`${serverA.url}/api/jobs/${long}`, { method: 'DELETE' })).body, { id: long, deleted: true });
    assert.ok(!existsSync(path.join(dataDir, 'jobs', long)));
    const deadline = Date.now() + 60_000; // a guard against a hang, not a bound
    while ((await getJson(`${serverB.url}/api/jobs/${long}`)).status !== 404 && Date.now() < deadline) await sleep(25);
    assert.equal((await getJson(`${serverB.url}/api/jobs/${long}`)).status, 404);

    // The worker lives on and takes the next job.
    const next = (await postJob(serverA.url, images, SMALL_JOB)).body.id;
    await expectDone(serverA.url, next, 120_000);
    assert.ok(!worker.log().includes(waiting), 'the cancelled waiting job never reached the worker');
  });

  it('keeps jobs, queue positions and results across a server restart', async () => {
    const dataDir = await tempDataDir();
    let server: TestServer = await startTestServer({ redis: redis.url, dataDir });
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const worker = spawnWorker(redis.url, dataDir);
    cleanup.push(() => worker.stop());
    const finished = (await postJob(server.url, images, SMALL_JOB)).body.id;
    await expectDone(server.url, finished, 120_000);
    const result = await pngOf(`${server.url}/api/jobs/${finished}/result`);
    // Redis hears of the end before the job folder does: the worker logs "done" after writing both.
    await worker.waitFor(new RegExp(`job ${finished}: done`));
    const onDisk = JSON.parse(await readFile(path.join(dataDir, 'jobs', finished, 'status.json'), 'utf8'));
    assert.equal(onDisk.status, 'done', 'the data dir alone tells what became of the job');
    assert.equal(await worker.stop(), 0);

    const queued = [(await postJob(server.url, images, SMALL_JOB)).body.id, (await postJob(server.url, images, SMALL_JOB)).body.id];
    await server.close();

    server = await startTestServer({ redis: redis.url, dataDir });
    cleanup.push(() => server.close());
    assert.equal((await getJson(`${server.url}/api/jobs/${finished}`)).body.status, 'done');
    assert.deepEqual(await pngOf(`${server.url}/api/jobs/${finished}/result`), result);
    const replay = await readEvents(`${server.url}/api/jobs/${finished}/events`);
    assert.equal(replay.find((e) => e.type === 'history').points.length, SMALL_JOB.iterations, 'the loss history survived');
    for (const [i, id] of queued.entries()) {
      const job = (await getJson(`${server.url}/api/jobs/${id}`)).body;
      assert.equal(job.status, 'queued');
      assert.equal(job.position, i + 1);
    }
    const again = spawnWorker(redis.url, dataDir);
    cleanup.push(() => again.stop());
    for (const id of queued) await expectDone(server.url, id, 120_000);
  });
});

describe('Redis restarts and outages', () => {
  it('answers 503 while Redis is down, recovers without a restart, and runs the jobs that waited', async () => {
    const redis = await startRedis({ persist: true });
    const dataDir = await tempDataDir();
    const server = await startTestServer({ redis: redis.url, dataDir });
    let worker: WorkerProcess | undefined;
    try {
      const ids = [(await postJob(server.url, images, SMALL_JOB)).body.id, (await postJob(server.url, images, SMALL_JOB)).body.id];
      await redis.stop(); // SIGTERM: Redis saves its snapshot (its default persistence) and exits

      const down = await getJson(`${server.url}/api/jobs`);
      assert.equal(down.status, 503);
      assert.equal(down.body.error, `the job queue is unavailable (Redis at ${redis.url} cannot be reached); try again shortly`);
      assert.equal((await getJson(`${server.url}/api/jobs/${ids[0]}`)).status, 503);
      assert.equal((await postJob(server.url, images, SMALL_JOB)).status, 503);

      await redis.start();
      const deadline = Date.now() + 20_000;
      let up = await getJson(`${server.url}/api/jobs`);
      while (up.status !== 200 && Date.now() < deadline) {
        await sleep(100);
        up = await getJson(`${server.url}/api/jobs`);
      }
      assert.equal(up.status, 200, 'the server is back without a restart');
      assert.deepEqual(
        up.body.jobs.map((j: any) => [j.id, j.status, j.position]),
        [
          [ids[1], 'queued', 2],
          [ids[0], 'queued', 1],
        ],
      );

      worker = spawnWorker(redis.url, dataDir);
      for (const id of ids) await expectDone(server.url, id, 120_000);
    } finally {
      await worker?.stop();
      await server.dispose();
      await redis.dispose();
    }
  });

  it('refuses to start when Redis cannot be reached or the URL is not a Redis URL: one line, exit 1 or 2', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const dataDir = await tempDataDir();
    try {
      for (const [run, args] of [
        [runServeCommand, ['--port', '0', '--data-dir', dataDir, '--redis', url]],
        [runWorkerCommand, ['--data-dir', dataDir, '--redis', url]],
      ] as const) {
        const out = capture();
        const err = capture();
        assert.equal(await run([...args], { stdout: out.stream, stderr: err.stream }), 1);
        assert.equal(err.text(), `error: cannot reach Redis at ${url}: ECONNREFUSED\n`);
      }
      for (const [run, name] of [
        [runServeCommand, 'serve'],
        [runWorkerCommand, 'worker'],
      ] as const) {
        const err = capture();
        assert.equal(await run(['--redis', 'http://127.0.0.1:6379'], { stdout: capture().stream, stderr: err.stream }), 2, name);
        assert.equal(err.text(), 'error: --redis: expected a Redis URL such as redis://host:6379, received "http://127.0.0.1:6379"\n');
      }
      const err = capture();
      assert.equal(await runWorkerCommand([], { stdout: capture().stream, stderr: err.stream }), 2);
      assert.equal(err.text(), 'error: --redis: expected the Redis the servers queue jobs on, e.g. redis://host:6379, received undefined\n');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
