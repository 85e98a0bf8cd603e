/**
 * The Redis queue (serve --redis, worker) against a real redis-server and real worker processes:
 * many jobs on two workers (one with style masks), a worker killed mid-job, a cancel from another server, a server
 * restart, a Redis restart, and an unreachable or malformed Redis URL.
 *
 * The cases share one redis-server, data dir and pair of servers, and run in order, each worker
 * going on into the next case where it can: every worker process reads the weights and builds its
 * sessions (~3-4 CPU-s), so there are 6 instead of one or two a case (10).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
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
/** The lock of the worker that takes a killed worker's job over (it checks for stalled jobs every half of it). */
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
  // Redis with its default persistence, as a stock redis-server runs, for the Redis restart.
  let redis: TestRedis;
  let dataDir: string;
  let serverA: TestServer;
  let serverB: TestServer;
  /** Every worker started here, stopped (or killed) at the end. */
  const started: WorkerProcess[] = [];
  const worker = (lockSeconds?: number) => {
    const w = spawnWorker(redis.url, dataDir, { lockSeconds });
    started.push(w);
    return w;
  };
  /** The worker each case leaves running for the next. */
  let current: WorkerProcess;
  // One browser queues 12 jobs at once: above the per-browser and per-address quotas of waiting jobs.
  const serverOptions = () => ({ redis: redis.url, dataDir, limits: { maxQueuedPerBrowser: 12, maxQueuedPerAddress: 12 } });
  before(async () => {
    redis = await startRedis({ persist: true });
    dataDir = await tempDataDir();
    serverA = await startTestServer(serverOptions());
    serverB = await startTestServer(serverOptions());
  });
  after(async () => {
    for (const w of started.reverse()) await w.stop().catch(() => {});
    await serverB?.close().catch(() => {});
    await serverA?.close().catch(() => {});
    await redis?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('runs 12 jobs on 2 workers, each exactly once, with events on every server', async () => {
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
    // Server A hears of the jobs posted to B through Redis and ranks its wait list asynchronously
    // (bullmq-queue.ts refreshPositions): under load the last one was once listed before it had a
    // position. Wait (up to 10 s) until every queued job it lists has one.
    let listing: any[] = [];
    for (const until = performance.now() + 10_000; performance.now() < until; await sleep(50)) {
      listing = (await getJson(`${serverA.url}/api/jobs`)).body.jobs;
      if (listing.length === 12 && listing.every((j) => j.status !== 'queued' || j.position !== undefined)) break;
    }
    assert.equal(listing.length, 12);
    const positions = listing.filter((j: any) => j.status === 'queued').map((j: any) => j.position);
    assert.deepEqual(
      [...positions].sort((a, b) => a - b),
      positions.map((_: unknown, i: number) => i + 1),
      'queued jobs are numbered 1, 2, 3, … in queue order',
    );
    // The workers start now: one that took a job while the list was read left that job 'queued'
    // without a position (its record not yet 'running'), which failed the check above under load.
    const workers = [worker(), worker()];

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
    // The next case needs one worker, to be killed: the other stops (idle, it exits cleanly).
    assert.equal(await workers[1].stop(), 0);
    current = workers[0];
  });

  it('hands the job of a worker killed with SIGKILL to another worker, which resumes from its checkpoint', async (t) => {
    // The worker of the case before, with the default lock (30 s): the other worker takes the job
    // over once that has expired.
    const first = current;
    const { body } = await postJob(serverA.url, images, THREE_SCALES);
    const id = body.id;
    // Kill the worker in the middle of the second scale, once the first one's checkpoint is saved.
    await readEvents(`${serverA.url}/api/jobs/${id}/events`, (e) => e.type === 'iteration' && e.scale === 2 && e.iteration >= 5, 240_000);
    const checkpoint = path.join(dataDir, 'jobs', id, 'checkpoint.json');
    while (!existsSync(checkpoint)) await sleep(20);
    await first.kill();
    const killedAt = performance.now();
    assert.equal(JSON.parse(await readFile(checkpoint, 'utf8')).finished, 1);

    const second = worker(TAKEOVER_SECONDS);
    const events: any[] = [];
    const job = await waitForStatus(serverA.url, id, FINAL, 240_000);
    t.diagnostic(`killed → done on the other worker: ${((performance.now() - killedAt) / 1000).toFixed(1)} s (its lock 30 s)`);
    if (process.env.DEBUG_WORKERS) console.log(first.log(), '\n----\n', second.log());
    await readEvents(`${serverA.url}/api/jobs/${id}/events`, (e) => void events.push(e));
    assert.equal(job.status, 'done', JSON.stringify(job));
    assert.equal(job.attempts, 2, 'the job shows it took two attempts');
    await second.waitFor(new RegExp(`job ${id}: resuming after scale 1 of 3`));
    await waitForDoneLines([second], 1);
    assert.deepEqual(doneLines(second), [id], 'it finished once, on the second worker');
    assert.ok(!doneLines(first).includes(id), 'not on the killed one');
    // The chart keeps the first worker's scale 1 and has the second worker's scales 2 and 3.
    const history = events.find((e) => e.type === 'history').points;
    assert.deepEqual([...new Set(history.map((p: any) => p.scale))], [1, 2, 3]);
    assert.equal(history.filter((p: any) => p.scale === 2).length, 20, 'scale 2 was run once more from its start, not twice in the history');
    await pngOf(`${serverA.url}/api/jobs/${id}/result`);
    current = second;
  });

  it('cancels a running job from another server, which stops at its next iteration; a waiting job at once', async (t) => {
    const w = current;
    const long = (await postJob(serverA.url, images, { ...SMALL_JOB, iterations: 2000 })).body.id;
    const waiting = (await postJob(serverA.url, images, SMALL_JOB)).body.id;
    await readEvents(`${serverB.url}/api/jobs/${long}/events`, (e) => e.type === 'iteration' && e.iteration >= 3, 240_000);
    // On failure both records say what happened (a long job whose worker lost its lock shows more attempts).
    const seen = (await getJson(`${serverB.url}/api/jobs/${waiting}`)).body;
    assert.equal(seen.position, 1, `${JSON.stringify(seen)}; the long job: ${JSON.stringify((await getJson(`${serverB.url}/api/jobs/${long}`)).body)}`);

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
    await w.waitFor(new RegExp(`job ${long}: cancelled`));
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
    assert.ok(!w.log().includes(waiting), 'the cancelled waiting job never reached the worker');
    // The next case needs a worker with an hour's lock, alone: this one stops (idle, it exits cleanly).
    assert.equal(await w.stop(), 0);
  });

  it('puts the job of a worker stopped with SIGTERM back in the queue at once', async () => {
    // An hour's lock (the longest --lock-duration): only the hand-back can free the job for the
    // second worker within this test; nothing here depends on how quickly it happens.
    const first = worker(3600);
    const id = (await postJob(serverA.url, images, THREE_SCALES)).body.id;
    await readEvents(`${serverA.url}/api/jobs/${id}/events`, (e) => e.type === 'iteration' && e.scale === 2 && e.iteration >= 5, 240_000);
    assert.equal(await first.stop(), 0);
    assert.match(first.log(), new RegExp(`job ${id}: put back in the queue \\(worker stopping\\)`));
    assert.equal((await getJson(`${serverA.url}/api/jobs/${id}`)).body.result, false, 'no half-done image was kept as its result');

    // The second worker goes on into the next case.
    const second = worker();
    await second.waitFor(new RegExp(`job ${id}: started \\(attempt 2\\)`));
    const job = await expectDone(serverA.url, id, 240_000);
    assert.equal(job.attempts, 2);
    await waitForDoneLines([second], 1);
    assert.deepEqual(doneLines(second), [id]);
    current = second;
  });

  it('keeps jobs, queue positions and results across a server restart and a Redis restart (503 while Redis is down, recovery without a restart), and runs the jobs that waited', async () => {
    const w = current;
    const finished = (await postJob(serverA.url, images, SMALL_JOB)).body.id;
    await expectDone(serverA.url, finished, 120_000);
    const result = await pngOf(`${serverA.url}/api/jobs/${finished}/result`);
    // Redis hears of the end before the job folder does: the worker logs "done" after writing both.
    await w.waitFor(new RegExp(`job ${finished}: done`));
    const onDisk = JSON.parse(await readFile(path.join(dataDir, 'jobs', finished, 'status.json'), 'utf8'));
    assert.equal(onDisk.status, 'done', 'the data dir alone tells what became of the job');
    assert.equal(await w.stop(), 0);

    // The server restart.
    const queued = [(await postJob(serverA.url, images, SMALL_JOB)).body.id, (await postJob(serverA.url, images, SMALL_JOB)).body.id];
    await serverA.close();
    serverA = await startTestServer(serverOptions());
    assert.equal((await getJson(`${serverA.url}/api/jobs/${finished}`)).body.status, 'done');
    assert.deepEqual(await pngOf(`${serverA.url}/api/jobs/${finished}/result`), result);
    const replay = await readEvents(`${serverA.url}/api/jobs/${finished}/events`);
    assert.equal(replay.find((e) => e.type === 'history').points.length, SMALL_JOB.iterations, 'the loss history survived');
    for (const [i, id] of queued.entries()) {
      const job = (await getJson(`${serverA.url}/api/jobs/${id}`)).body;
      assert.equal(job.status, 'queued');
      assert.equal(job.position, i + 1);
    }

    // The Redis restart, with the servers running.
    const before = (await getJson(`${serverA.url}/api/jobs`)).body.jobs.map((j: any) => [j.id, j.status, j.position]);
    await redis.stop(); // SIGTERM: Redis saves its snapshot (its default persistence) and exits
    const down = await getJson(`${serverA.url}/api/jobs`);
    assert.equal(down.status, 503);
    assert.equal(down.body.error, `the job queue is unavailable (Redis at ${redis.url} cannot be reached); try again shortly`);
    assert.equal((await getJson(`${serverA.url}/api/jobs/${queued[0]}`)).status, 503);
    assert.equal((await postJob(serverA.url, images, SMALL_JOB)).status, 503);

    await redis.start();
    const deadline = Date.now() + 20_000;
    let up = await getJson(`${serverA.url}/api/jobs`);
    while (up.status !== 200 && Date.now() < deadline) {
      await sleep(100);
      up = await getJson(`${serverA.url}/api/jobs`);
    }
    assert.equal(up.status, 200, 'the server is back without a restart');
    const listed = up.body.jobs.map((j: any) => [j.id, j.status, j.position]);
    assert.deepEqual(listed, before, 'every job, its state and its place, as before Redis stopped');
    assert.deepEqual(
      listed.filter((j: any) => queued.includes(j[0])),
      [
        [queued[1], 'queued', 2],
        [queued[0], 'queued', 1],
      ],
    );

    worker();
    for (const id of queued) await expectDone(serverA.url, id, 120_000);
  });
});

describe('Redis URLs that cannot be used', () => {
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
