/**
 * LocalJobQueue on its own, with a scripted runner instead of the library: concurrency, positions,
 * and that a slow progress write can never overwrite a job's final state on disk.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import type { JobSpec, JobStatus } from '../../src/server/job.js';
import { LocalJobQueue, type RunJob } from '../../src/server/queue.js';
import { JobStore } from '../../src/server/store.js';
import { tempDataDir } from './helpers.js';

const spec = (): JobSpec => ({
  id: randomUUID(),
  createdAt: new Date().toISOString(),
  options: {},
  content: { file: 'content.img', name: 'c.jpg', width: 4, height: 4 },
  styles: [{ file: 'style-1.img', name: 's.jpg', width: 4, height: 4 }],
});
/** Uploaded files as the server hands them over: in the uploads folder, moved into the job by enqueue. */
async function inputs(store: JobStore) {
  const content = store.uploadPath();
  const style = store.uploadPath();
  await writeFile(content, new Uint8Array([1]));
  await writeFile(style, new Uint8Array([2]));
  return { content, styles: [style] };
}
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wait until `condition` holds (polling; fails after 10 s). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await tick(5);
  }
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
      await until(() => queue.get(jobs[2].id)!.status === 'running');
      assert.equal(queue.get(jobs[3].id)!.position, 1);
      assert.deepEqual(heard, [
        { type: 'status', status: 'queued', result: false, position: 2 },
        { type: 'status', status: 'queued', result: false, position: 1 },
      ]);
      for (const j of jobs.slice(1)) {
        await until(() => release.has(j.id));
        release.get(j.id)!();
      }
      await until(() => queue.list().every((v) => v.status === 'done'));
      assert.deepEqual(
        queue.list().map((v) => v.status),
        ['done', 'done', 'done', 'done'],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never lets a slow progress write replace the final status on disk', async () => {
    const dir = await tempDataDir();
    try {
      // A disk where writing a `running` status is slow and writing the final one is fast.
      class SlowStore extends JobStore {
        override async writeStatus(status: JobStatus): Promise<void> {
          if (status.status === 'running') await tick(60);
          return super.writeStatus(status);
        }
      }
      const store = new SlowStore(dir);
      await store.init();
      const runner: RunJob = async (_s, { emit }) => {
        await tick(10); // past the progress-write interval, so the next event writes
        emit(iteration(1));
        return { seconds: 0.01 };
      };
      const queue = new LocalJobQueue(store, runner, { concurrency: 1, maxQueuedJobs: 10, persistIntervalMs: 5 });
      const job = spec();
      await queue.enqueue(job, await inputs(store));
      while (queue.get(job.id)!.status !== 'done') await tick(10);
      await tick(150);
      const onDisk = JSON.parse(await readFile(path.join(dir, 'jobs', job.id, 'status.json'), 'utf8'));
      assert.equal(onDisk.status, 'done');
      assert.equal(onDisk.progress.iteration, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
