/**
 * How responsive the web server stays while a job runs: starts `style-transfer serve` in its own
 * process (shared weights, a temporary data dir), submits a 512 px job (dog × matisse, the quality
 * preset), waits until it iterates, then times `GET /api/jobs` from this process for a while and
 * prints p50/p99/max. The job is cancelled and the server stopped at the end.
 *
 *   npm run bench:server-latency [-- --seconds 30 --interval 50 --size 512 --json]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repo, sampleImage, weightsPath as weights } from './paths.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    interval: { type: 'string', default: '50' },
    size: { type: 'string', default: '512' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const intervalMs = Number(values.interval);

const dataDir = await mkdtemp(path.join(tmpdir(), 'st-latency-'));
const server = spawn(process.execPath, [path.join(repo, 'bin/style-transfer.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--weights', weights], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  let stdout = '';
  server.stdout.on('data', (c) => (stdout += c));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /(http:\/\/[^\s]+?)\/?\n/.exec(stdout);
      if (m) {
        clearInterval(timer);
        resolve(m[1]);
      }
    }, 50);
    server.on('exit', (code) => reject(new Error(`the server exited with ${code}`)));
  });

  const form = new FormData();
  for (const [field, name] of [
    ['content', 'dog'],
    ['style', 'matisse'],
  ]) {
    form.append(field, new Blob([await readFile(sampleImage(name))]), `${name}.jpg`);
  }
  form.append('options', JSON.stringify({ size: Number(values.size) }));
  const created = await fetch(`${base}/api/jobs`, { method: 'POST', body: form });
  if (created.status !== 201) throw new Error(`POST /api/jobs: HTTP ${created.status} ${await created.text()}`);
  // The page's browser token (if the server sets one) lets the listing show this job.
  const cookie = created.headers.get('set-cookie')?.split(';')[0];
  const headers: Record<string, string> = cookie ? { cookie } : {};
  const { id } = (await created.json()) as { id: string };

  // Wait for the job to be iterating: loading the weights and building the sessions come first.
  for (;;) {
    const job = (await (await fetch(`${base}/api/jobs/${id}`, { headers })).json()) as { status: string; progress?: { iteration: number } };
    if (job.status !== 'queued' && job.status !== 'running') throw new Error(`the job ended early: ${JSON.stringify(job)}`);
    if (job.progress && job.progress.iteration >= 1) break;
    await new Promise((r) => setTimeout(r, 200));
  }

  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    const res = await fetch(`${base}/api/jobs`, { headers });
    await res.arrayBuffer();
    latencies.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`GET /api/jobs: HTTP ${res.status}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const final = (await (await fetch(`${base}/api/jobs/${id}`, { headers })).json()) as { status: string; progress?: { iteration: number; scale: number } };
  await fetch(`${base}/api/jobs/${id}`, { method: 'DELETE', headers });

  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  const figures = {
    requests: latencies.length,
    p50: +at(0.5).toFixed(1),
    p99: +at(0.99).toFixed(1),
    max: +latencies[latencies.length - 1].toFixed(1),
    jobStatus: final.status,
    jobProgress: final.progress ? `scale ${final.progress.scale}, iteration ${final.progress.iteration}` : 'none',
  };
  if (values.json) console.log(JSON.stringify(figures));
  else {
    console.log(`GET /api/jobs while a ${values.size} px job runs, ${seconds} s, one request every ${intervalMs} ms:`);
    console.log(`  ${figures.requests} requests: p50 ${figures.p50} ms, p99 ${figures.p99} ms, max ${figures.max} ms (job ${figures.jobStatus}, ${figures.jobProgress})`);
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await rm(dataDir, { recursive: true, force: true });
}
