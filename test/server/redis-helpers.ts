/**
 * A real redis-server for the tests (Debian's package; .ci/run installs it): on a free loopback
 * port with its own temporary directory, stopped and removed after. Worker processes are the real
 * CLI (`style-transfer worker`), so killing one is killing a process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot, sharedWeights } from '../helpers.js';

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** Stop it (SHUTDOWN, which saves an RDB file when `persist` is on). */
  stop(): Promise<void>;
  /** Start it again on the same port and directory (it loads what it saved). */
  start(): Promise<void>;
  /** Stop it and remove its directory. */
  dispose(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * `persist`: Redis's default snapshotting (`save 3600 1 300 100 60 10000`, written again on
 * SHUTDOWN), as a stock redis-server runs; otherwise none, for speed.
 */
export async function startRedis(opts: { persist?: boolean } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'st-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      opts.persist ? '3600 1 300 100 60 10000' : '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (c) => (stderr += c));
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}: ${stderr.trim()}`);
      await sleep(50);
    }
  };
  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM'); // redis-server saves (when snapshotting is on) and exits
    await exited;
    child = undefined;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a Redis answers PING on the port (a raw RESP exchange, so the helper needs no client). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let answer = '';
    socket.setTimeout(500);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (c) => {
      answer += c;
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export interface WorkerProcess {
  proc: ChildProcess;
  /** Everything it printed on stderr so far (one line per job event). */
  log(): string;
  /** Resolves when a line matching `pattern` has appeared on stderr. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait for it to exit; resolves with its exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

/**
 * `style-transfer worker` as a child process, with one ONNX Runtime thread (tests share two cores).
 * `lockSeconds` (--lock-duration, default 30): how soon a killed worker's job is taken over;
 * `args`: more flags (--max-work …).
 */
export function spawnWorker(redisUrl: string, dataDir: string, opts: { lockSeconds?: number; args?: string[] } = {}): WorkerProcess {
  const args = [
    'worker',
    '--redis',
    redisUrl,
    '--data-dir',
    dataDir,
    '--weights',
    sharedWeights,
    '--threads',
    '1',
    '--lock-duration',
    String(opts.lockSeconds ?? 30),
    ...(opts.args ?? []),
  ];
  const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/style-transfer.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c) => (stderr += c));
  proc.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    log: () => stderr,
    waitFor: async (pattern, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stderr)) {
        if (proc.exitCode !== null) throw new Error(`the worker exited (${proc.exitCode}) before printing ${pattern}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`the worker did not print ${pattern} within ${timeoutMs} ms: ${stderr}`);
        await sleep(25);
      }
    },
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
