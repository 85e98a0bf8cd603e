/**
 * Throughput of the Redis queue (not run in CI): 24 small jobs (128 px, 30 iterations, one scale)
 * through one server and its workers, on a redis-server started here, with
 *   - 1 worker × 2 threads, and
 *   - 2 workers × 1 thread,
 * printing jobs per minute for each, and the per-job overhead: the time from enqueue (POST) to the
 * job's first iteration event, measured on jobs sent one at a time to idle workers, in three steps:
 * a worker runs it (the queue's overhead), its images are read and the first scale starts, its
 * first iteration ends (the targets and the first optimiser step: compute, not overhead).
 *
 *   npm run bench:scale [-- --jobs 24 --size 128 --iterations 30 --json]
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../src/server/server.js';
import { startRedis } from '../test/server/redis-helpers.js';
import { tempDataDir } from '../test/server/helpers.js';
import { repo, sampleImage, weightsPath as weights } from './paths.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '24' },
    size: { type: 'string', default: '128' },
    iterations: { type: 'string', default: '30' },
    probes: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
});
const jobOptions = { size: Number(values.size), iterations: Number(values.iterations), scaleIterations: 0 };
const inputs = await Promise.all(['dog', 'matisse'].map((n) => readFile(sampleImage(n))));

async function post(url: string): Promise<string> {
  const form = new FormData();
  form.append('content', new Blob([inputs[0]]), 'dog.jpg');
  form.append('style', new Blob([inputs[1]]), 'matisse.jpg');
  form.append('options', JSON.stringify(jobOptions));
  const res = await fetch(`${url}api/jobs`, { method: 'POST', body: form });
  if (res.status !== 201) throw new Error(`POST: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

interface Timeline {
  /** A worker took the job (its `running` status reached the server). */
  running: number;
  /** The worker has read the images and starts the first scale. */
  scale: number;
  /** The first iteration event (after the targets and the first optimiser step). */
  firstIteration: number;
  end: number;
  status: string;
}

/** Milliseconds from t0 until the job's milestones, as a client of the server sees them. */
async function follow(url: string, id: string, t0: number): Promise<Timeline> {
  const res = await fetch(`${url}api/jobs/${id}/events`);
  const decoder = new TextDecoder();
  let buffer = '';
  const seen: Partial<Timeline> = {};
  const mark = (key: 'running' | 'scale' | 'firstIteration') => (seen[key] ??= performance.now() - t0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    const cut = buffer.lastIndexOf('\n');
    for (const line of buffer
      .slice(0, cut + 1)
      .split('\n')
      .filter((l) => l.startsWith('data:'))) {
      const event = JSON.parse(line.slice(5));
      if (event.type === 'status' && event.status === 'running') mark('running');
      if (event.type === 'scale') mark('scale');
      if (event.type === 'iteration') mark('firstIteration');
      if (event.type === 'status' && ['done', 'failed', 'cancelled'].includes(event.status)) {
        return { running: NaN, scale: NaN, firstIteration: NaN, ...seen, end: performance.now() - t0, status: event.status };
      }
    }
    buffer = buffer.slice(cut + 1);
  }
  throw new Error(`job ${id}: the event stream ended early`);
}

function startWorkers(redisUrl: string, dataDir: string, count: number, threads: number) {
  return Array.from({ length: count }, () => {
    const proc = spawn(
      process.execPath,
      [path.join(repo, 'bin/style-transfer.js'), 'worker', '--redis', redisUrl, '--data-dir', dataDir, '--weights', weights, '--threads', String(threads)],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const ready = new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (c) => {
        out += c;
        if (out.includes('running jobs from')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    });
    return { proc, ready };
  });
}

async function run(workers: number, threads: number) {
  const redis = await startRedis();
  const dataDir = await tempDataDir();
  const server = await startServer({ port: 0, dataDir, redis: redis.url, limits: { maxQueuedJobs: 100, maxQueuedPerBrowser: 100, maxQueuedPerAddress: 100 } });
  const procs = startWorkers(redis.url, dataDir, workers, threads);
  try {
    await Promise.all(procs.map((p) => p.ready));
    // Overhead: one job at a time on idle workers (the first one is not counted).
    const probes: Timeline[] = [];
    for (let i = 0; i <= Number(values.probes); i++) {
      const t0 = performance.now();
      const id = await post(server.url);
      const timeline = await follow(server.url, id, t0);
      if (i > 0) probes.push(timeline);
    }
    const median = (key: 'running' | 'scale' | 'firstIteration') => {
      const sorted = probes.map((p) => p[key]).sort((x, y) => x - y);
      return sorted[(sorted.length - 1) >> 1];
    };
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < Number(values.jobs); i++) ids.push(await post(server.url));
    const results = await Promise.all(ids.map((id) => follow(server.url, id, t0)));
    const seconds = Math.max(...results.map((r) => r.end)) / 1000;
    const failed = results.filter((r) => r.status !== 'done').length;
    // Medians over the probes, in ms after the POST.
    return {
      workers,
      threads,
      jobs: ids.length,
      failed,
      seconds,
      jobsPerMinute: (ids.length / seconds) * 60,
      toRunning: median('running'),
      toFirstScale: median('scale'),
      toFirstIteration: median('firstIteration'),
    };
  } finally {
    for (const p of procs) p.proc.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.proc.exitCode !== null ? r(null) : p.proc.once('exit', r)))));
    await server.close();
    await redis.dispose();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const load = loadavg()[0];
const rows = [await run(1, 2), await run(2, 1)];
if (values.json) {
  for (const row of rows) console.log(JSON.stringify({ ...row, size: jobOptions.size, iterations: jobOptions.iterations, cores: cpus().length, load }));
} else {
  console.log(`${values.jobs} jobs of ${jobOptions.size} px, ${jobOptions.iterations} iterations; ${cpus().length} cores, load ${load.toFixed(1)} at the start`);
  console.log(`workers × threads | jobs/min | wall s | after the POST, median of ${values.probes} jobs on idle workers (ms): running | first scale | first iteration`);
  for (const r of rows) {
    const ms = (v: number) => String(Math.round(v)).padStart(6);
    const head = `${r.workers} × ${r.threads}             | ${r.jobsPerMinute.toFixed(1).padStart(8)} | ${r.seconds.toFixed(1).padStart(6)}`;
    console.log(`${head} | ${ms(r.toRunning)} | ${ms(r.toFirstScale)} | ${ms(r.toFirstIteration)}${r.failed ? `  ${r.failed} FAILED` : ''}`);
  }
}
