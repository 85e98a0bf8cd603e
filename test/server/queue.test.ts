/**
 * LocalJobQueue on its own, with a scripted runner instead of the library: concurrency, positions,
 * and that a slow progress write can never overwrite a job's final state on disk.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { AbortError } from '../../src/errors.js';
import type { JobStatus } from '../../src/jobs/events.js';
import type { JobSpec } from '../../src/jobs/job.js';
import { LocalJobQueue, type RunJob } from '../../src/queue/local-queue.js';
import type { JobQueue } from '../../src/queue/queue.js';
import { JobFinishedError, QueueClosedError, QueueFullError } from '../../src/queue/errors.js';
import { JobStore } from '../../src/jobs/job-store.js';

const spec = (): JobSpec => ({
  id: randomUUID(),
  createdAt: new Date().toISOString(),
  options: {},
  content: { file: 'content.img', name: 'c.jpg', width: 4, height: 4 },
  styles: [{ file: 'style-1.img', name: 's.jpg', width: 4, height: 4 }],
});
// Not helpers.ts's tempDataDir: that module loads the whole server (4 s) which this test never starts.
const tempDataDir = () => mkdtemp(path.join(tmpdir(), 'st-queue-'));
/** Uploaded files as the server hands them over: in the uploads folder, moved into the job by enqueue. */
async function inputs(store: JobStore) {
  const content = store.uploadPath();
  const style = store.uploadPath();
  await writeFile(content, new Uint8Array([1]));
  await writeFile(style, new Uint8Array([2]));
  return { content, styles: [style] };
}

function iteration(i: number) {
  return {
    type: 'iteration' as const,
    scale: 1,
    scales: 1,
    width: 4,
    height: 4,
    iteration: i,
    iterations: 3,
    ms: 1,
    elapsed: i,
    eta: 3 - i,
    loss: 10 - i,
    content: 1,
    style: 1,
    tv: 1,
  };
}

/** Resolves when the job reaches `status` (at once if it is there already): tests wait on events, not time. */
function reaches(queue: JobQueue, id: string, status: JobStatus['status']): Promise<void> {
  return new Promise((resolve) => {
    let off: (() => void) | undefined;
    let done = false;
    void queue
      .subscribe(id, (e) => {
        if (e.type === 'status' && e.status === status && !done) {
          done = true;
          off?.();
          resolve();
        }
      })
      .then((unsubscribe) => {
        off = unsubscribe;
        if (done) off?.();
      });
  });
}

describe('LocalJobQueue', () => {
  it('runs at most `concurrency` jobs and tells waiting jobs their position', async () => {
    const dir = await tempDataDir();
    try {
      const store = new JobStore(dir);
      await store.init();
      const release = new Map<string, () => void>();
      const runner: RunJob = (s) => new Promise((resolve) => release.set(s.id, () => resolve({ seconds: 0 })));
      const queue = new LocalJobQueue(store, runner, { concurrency: 2, maxQueuedJobs: 10 });
      const jobs = [spec(), spec(), spec(), spec()];
      for (const j of jobs) await queue.enqueue(j, await inputs(store));
      assert.deepEqual(
        jobs.map((j) => [queue.get(j.id)!.status, queue.get(j.id)!.position]),
        [
          ['running', undefined],
          ['running', undefined],
          ['queued', 1],
          ['queued', 2],
        ],
      );
      const heard: unknown[] = [];
      await queue.subscribe(jobs[3].id, (e) => heard.push(e));
      release.get(jobs[0].id)!();
      await reaches(queue, jobs[2].id, 'running');
      assert.equal(queue.get(jobs[3].id)!.position, 1);
      assert.deepEqual(heard.slice(0, 2), [
        { type: 'status', status: 'queued', result: false, position: 2 },
        { type: 'status', status: 'queued', result: false, position: 1 },
      ]);
      release.get(jobs[1].id)!();
      await reaches(queue, jobs[3].id, 'running');
      release.get(jobs[2].id)!();
      release.get(jobs[3].id)!();
      await Promise.all(jobs.map((j) => reaches(queue, j.id, 'done')));
      assert.deepEqual(
        queue.list().map((v) => v.status),
        ['done', 'done', 'done', 'done'],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses with queue errors, not HTTP ones: full, finished, closed', async () => {
    const dir = await tempDataDir();
    try {
      const store = new JobStore(dir);
      await store.init();
      const release = new Map<string, () => void>();
      const runner: RunJob = (s, { signal }) =>
        new Promise((resolve, reject) => {
          release.set(s.id, () => resolve({ seconds: 0 }));
          if (signal.aborted) reject(new AbortError());
          signal.addEventListener('abort', () => reject(new AbortError()));
        });
      const queue = new LocalJobQueue(store, runner, { concurrency: 1, maxQueuedJobs: 1 });
      const [running, waiting] = [spec(), spec()];
      await queue.enqueue(running, await inputs(store));
      await queue.enqueue(waiting, await inputs(store));
      await assert.rejects(queue.enqueue(spec(), await inputs(store)), (err: Error) => err instanceof QueueFullError && /^the queue is full \(1 jobs waiting\)/.test(err.message));
      release.get(running.id)!();
      await reaches(queue, running.id, 'done');
      await assert.rejects(queue.cancel(running.id), (err: Error) => err instanceof JobFinishedError && err.message === `job ${running.id} has already finished (done)`);
      await queue.close();
      await assert.rejects(queue.enqueue(spec(), await inputs(store)), QueueClosedError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never lets a slow progress write replace the final status on disk', async () => {
    const dir = await tempDataDir();
    try {
      // A disk where writing a `running` status is slow and writing the final one is fast: unchained,
      // the progress write would land last.
      let writes = Promise.resolve();
      class SlowStore extends JobStore {
        override async writeStatus(status: JobStatus): Promise<void> {
          const write = (async () => {
            if (status.status === 'running') await new Promise((r) => setTimeout(r, 60));
            return super.writeStatus(status);
          })();
          writes = writes.then(() => write.catch(() => {}));
          return write;
        }
      }
      const store = new SlowStore(dir);
      await store.init();
      const runner: RunJob = async (_s, { emit }) => {
        emit(iteration(1)); // with persistIntervalMs 0, every event writes the status
        return { seconds: 0.1 };
      };
      const queue = new LocalJobQueue(store, runner, { concurrency: 1, maxQueuedJobs: 10, persistIntervalMs: 0 });
      const job = spec();
      await queue.enqueue(job, await inputs(store));
      await reaches(queue, job.id, 'done');
      await writes; // every status write issued so far has landed
      const onDisk = JSON.parse(await readFile(path.join(dir, 'jobs', job.id, 'status.json'), 'utf8'));
      assert.equal(onDisk.status, 'done');
      assert.equal(onDisk.progress.iteration, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('deletes a job that has just ended only after its final state is saved (a DELETE then had answered 500)', async () => {
    const dir = await tempDataDir();
    try {
      // The final status write waits until the test lets it go; meanwhile the job reads as done.
      let letWrite!: () => void;
      const gate = new Promise<void>((r) => (letWrite = r));
      class HeldStore extends JobStore {
        override async writeStatus(status: JobStatus): Promise<void> {
          if (status.status === 'done') await gate;
          return super.writeStatus(status);
        }
      }
      const store = new HeldStore(dir);
      await store.init();
      const logged: string[] = [];
      const queue = new LocalJobQueue(store, async () => ({ seconds: 0 }), { concurrency: 1, maxQueuedJobs: 10, log: (m) => logged.push(m), retention: { maxAgeSeconds: 0 } });
      const job = spec();
      await queue.enqueue(job, await inputs(store));
      while (queue.get(job.id)?.status !== 'done') await new Promise((r) => setImmediate(r));
      const removed = queue.remove(job.id);
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(existsSync(path.join(dir, 'jobs', job.id)), 'the folder is kept while its final state is being written');
      letWrite();
      assert.equal(await removed, true);
      assert.equal(existsSync(path.join(dir, 'jobs', job.id)), false);
      // Age 0 makes the job due for deletion the moment it ends: retention passes it over while it is being saved.
      await queue.prune();
      assert.deepEqual(logged, []);
      await queue.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
