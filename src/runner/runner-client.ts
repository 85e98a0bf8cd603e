/**
 * The parent side of runner processes, used by the server's embedded queue. A RunnerProcess forks
 * runner-process.ts once and keeps it for job after job (so a runner that keeps its network loaded
 * pays the load once); a RunnerPool holds one per concurrent job and runs the queue's jobs. The server's event loop only relays
 * small messages, so HTTP, server-sent events and uploads stay responsive while jobs run.
 *
 * A runner that dies (a crash, the kernel's OOM killer) fails the job it was running with a
 * one-line message; the next job starts a fresh runner. A per-job time limit cancels a job that
 * runs too long (its last image is kept), and a runner that does not stop when asked is killed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AbortError, RunError, StyleTransferError } from '../errors.js';
import { previewUrl, type JobEvent } from '../jobs/events.js';
import type { JobRun } from '../jobs/execute.js';
import type { FromRunner, RunnerFailure, RunnerSettings, ToRunner } from './runner-protocol.js';
import { hugePagesEnv } from '../node/huge-pages.js';

export interface RunControl {
  signal: AbortSignal;
  emit: (event: JobEvent) => void;
}

export interface RunnerOptions extends RunnerSettings {
  /** Stop a job after this many seconds (it fails, keeping its last image); default none. */
  timeLimitSeconds?: number;
  /** How long a runner may take to stop after a cancel before it is killed (default 30 s: one L-BFGS step at 1024 px can take that long). */
  stopGraceMs?: number;
  /** Where a runner's internal errors are logged. */
  log?: (message: string) => void;
}

/** A failed job's error, rebuilt from what the runner reported. */
export class RunnerFailedError extends StyleTransferError {
  constructor(message: string, code = 'ERR_RUNNER') {
    super(message, code);
  }
}

/** The runner module next to this one: the .ts source under tsx, the .js build otherwise. */
function runnerModule(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    // Started from the sources (tests, a checkout): the child needs tsx's loader too.
    return { path: here.replace(/runner-client\.ts$/, 'runner-process.ts'), execArgv: ['--import', import.meta.resolve('tsx')] };
  }
  return { path: here.replace(/runner-client\.js$/, 'runner-process.js'), execArgv: [] };
}

export class RunnerProcess {
  private child: ChildProcess | undefined;
  private ready: Promise<ChildProcess> | undefined;
  private current: { id: string; onMessage: (m: FromRunner) => void; onExit: (why: string) => void } | undefined;
  private closed = false;

  constructor(private readonly opts: RunnerOptions) {}

  /** The runner's process id while it is alive (tests use it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Run one job in the runner; resolves with its duration, rejects with AbortError when cancelled, else with the job's error. */
  async run(job: JobRun, control: RunControl): Promise<{ seconds: number }> {
    if (this.current) throw new Error('this runner is already running a job');
    if (this.closed) throw new AbortError('the runner is closed');
    const child = await this.start();
    // Cancelled while the runner was starting: the job never reaches it. (A cancel sent before the
    // run message would name a job the runner does not have, be ignored, and leave the job running
    // until the kill after stopGraceMs.)
    if (control.signal.aborted) throw new AbortError('the run was cancelled');
    return new Promise((resolve, reject) => {
      let stopTimer: NodeJS.Timeout | undefined;
      let timedOut = false;
      const limit = this.opts.timeLimitSeconds;
      const timeLimit = limit ? setTimeout(() => ((timedOut = true), cancel()), limit * 1000) : undefined;
      const send = (message: ToRunner) => {
        if (child.connected) child.send(message);
      };
      const cancel = () => {
        send({ type: 'cancel', id: job.spec.id });
        // A runner stuck in native code (or ignoring us) is killed; the job then ends as cancelled.
        stopTimer ??= setTimeout(() => child.kill('SIGKILL'), this.opts.stopGraceMs ?? 30_000);
      };
      const settle = () => {
        clearTimeout(timeLimit);
        clearTimeout(stopTimer);
        control.signal.removeEventListener('abort', cancel);
        this.current = undefined;
      };
      const stoppedError = () =>
        timedOut ? new RunError(`the job ran past this server's time limit of ${limit} s and was stopped`, 'ERR_TIME_LIMIT') : new AbortError('the run was cancelled');
      this.current = {
        id: job.spec.id,
        onMessage: (message) => {
          if (message.type === 'event') control.emit(message.event);
          else if (message.type === 'preview') control.emit({ type: 'preview', url: previewUrl(job.spec.id, message.version), version: message.version });
          else if (message.type === 'done') {
            settle();
            resolve({ seconds: message.seconds });
          } else if (message.type === 'failed') {
            settle();
            reject(message.failure.kind === 'cancelled' ? stoppedError() : this.failureError(job, message.failure));
          }
        },
        onExit: (why) => {
          settle();
          if (control.signal.aborted || timedOut) reject(stoppedError());
          else reject(new RunError(`the job's runner process stopped unexpectedly (${why})`, 'ERR_RUNNER_DIED'));
        },
      };
      // The run first, then any cancel: the runner ignores a cancel for a job it has not been given.
      send({ type: 'run', job });
      if (control.signal.aborted) cancel();
      else control.signal.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Ask the runner to exit (after stopping its job), and kill it if it does not within the grace period. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) child.send({ type: 'exit' } satisfies ToRunner);
    const timer = setTimeout(() => child.kill('SIGKILL'), this.opts.stopGraceMs ?? 30_000);
    await exited;
    clearTimeout(timer);
  }

  private failureError(job: JobRun, failure: RunnerFailure): Error {
    if (failure.kind === 'internal') this.opts.log?.(`job ${job.spec.id} failed in its runner: ${failure.stack ?? failure.message}`);
    const message = failure.kind === 'internal' ? `internal error: ${failure.message}` : failure.message;
    return new RunnerFailedError(message, failure.code ?? (failure.kind === 'storage' ? 'ERR_STORAGE' : 'ERR_RUNNER'));
  }

  /** The running child, forked on first use and again after it died. */
  private start(): Promise<ChildProcess> {
    if (this.ready && this.child && this.child.exitCode === null && this.child.signalCode === null) return this.ready;
    const { path, execArgv } = runnerModule();
    const { timeLimitSeconds: _t, stopGraceMs: _g, log: _l, ...settings } = this.opts;
    // With huge pages for the engine's memory, also when the server runs inside another program (node/huge-pages.ts).
    const env = hugePagesEnv(process.env) ?? process.env;
    const child = fork(path, [JSON.stringify(settings satisfies RunnerSettings)], { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.child = child;
    this.ready = new Promise((resolve, reject) => {
      const early = (code: number | null, signal: NodeJS.Signals | null) =>
        reject(new RunError(`the runner process did not start (${signal ?? `exit code ${code}`})`, 'ERR_RUNNER_DIED'));
      child.once('exit', early);
      child.on('message', (message: FromRunner) => {
        if (message.type === 'ready') {
          child.off('exit', early);
          resolve(child);
        } else if (this.current && 'id' in message && message.id === this.current.id) this.current.onMessage(message);
      });
      child.on('error', (err) => this.opts.log?.(`runner process: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const why = signal === 'SIGKILL' ? 'killed, perhaps out of memory' : signal ? `signal ${signal}` : `exit code ${code}`;
      this.current?.onExit(why);
    });
    return this.ready;
  }
}

/** Runs up to `size` jobs at once, one runner process each, each kept between jobs. */
export class RunnerPool {
  private readonly idle: RunnerProcess[] = [];
  private readonly all: RunnerProcess[] = [];

  constructor(
    private readonly size: number,
    private readonly opts: RunnerOptions,
  ) {}

  async run(job: JobRun, control: RunControl): Promise<{ seconds: number }> {
    const runner = this.idle.pop() ?? this.create();
    try {
      return await runner.run(job, control);
    } finally {
      this.idle.push(runner);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((r) => r.close()));
  }

  /** Process ids of the live runners (tests kill one to check that the server survives). */
  pids(): number[] {
    return this.all.map((r) => r.pid).filter((p): p is number => p !== undefined);
  }

  private create(): RunnerProcess {
    if (this.all.length >= this.size) throw new Error(`all ${this.size} runners are busy`);
    const runner = new RunnerProcess(this.opts);
    this.all.push(runner);
    return runner;
  }
}
