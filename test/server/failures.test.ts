/**
 * Issue 9, findings 1 and 8, and issue 8 item 3: what can go wrong under a running server without
 * taking it down. A job folder removed by hand, a disk that fills up during a job (a real 8 MB
 * tmpfs, mounted by the test: it needs root, as CI has), a restart on that full disk, a crash
 * between result.png and the final status, a runner process killed as the OOM killer would, and a
 * job that runs past the time limit (on the server restarted on the full disk, once there is space).
 * Each time the job ends with a clear message and the server keeps serving.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFile, cp, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { fileServer, getJson, imageFile, postJob, readEvents, SMALL_JOB, startTestServer, tempDataDir, waitForStatus, type FilePart } from './helpers.js';

const LONG_JOB = { ...SMALL_JOB, iterations: 2000, previewEvery: 1 };

async function inputs(): Promise<FilePart[]> {
  return [await imageFile('content', 'landscape'), await imageFile('style', 'monet')];
}

/**
 * One server for the tests that do not need a server of their own. Its first job is the
 * cancel-while-starting test's, which needs a runner that is still starting; the tests run in file order.
 */
const sharedServer = fileServer();

/** Wait until the job has produced a preview frame (so it is really iterating). */
async function untilPreview(url: string, id: string): Promise<void> {
  await readEvents(`${url}/api/jobs/${id}/events`, (e) => e.type === 'preview');
}

/** A real, small file system: an 8 MB tmpfs mounted for the test (root only; CI runs as root). */
async function smallDisk(): Promise<{ dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'st-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    await rmdir(dir);
    throw new Error(`this test mounts an 8 MB tmpfs and needs root (as in CI): ${(err as Error).message.split('\n')[0]}`);
  }
  return {
    dir,
    dispose: async () => {
      // A process that just exited (a runner) can hold the mount a moment longer.
      for (let attempt = 0; ; attempt++) {
        try {
          execFileSync('umount', [dir], { stdio: 'pipe' });
          break;
        } catch (err) {
          if (attempt === 20) execFileSync('umount', ['-l', dir]);
          if (attempt === 20) break;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      await rmdir(dir);
    },
  };
}

/** Fill the file system holding `dir` to the last byte; returns the filler's path. */
async function fill(dir: string): Promise<string> {
  const filler = path.join(dir, 'filler.bin');
  const chunk = Buffer.alloc(64 * 1024, 1);
  for (;;) {
    try {
      await appendFile(filler, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      break;
    }
  }
  // The last partial chunk: fill what is left byte-wise in smaller pieces.
  for (const size of [4096, 512, 1]) {
    for (;;) {
      try {
        await appendFile(filler, Buffer.alloc(size, 1));
      } catch {
        break;
      }
    }
  }
  return filler;
}

describe('jobs run in a runner process (issue 8, item 3)', () => {
  it('cancels a job while its runner is still starting: the job never runs, and the runner is kept for the next', async () => {
    const server = await sharedServer();
    const files = await inputs();
    assert.deepEqual(server.runnerPids(), [], "no runner yet: this is the shared server's first job");
    const long = (await postJob(server.url, files, LONG_JOB)).body.id;
    await waitForStatus(server.url, long, ['running']);
    // At once: the runner process is still loading (it was forked for this job).
    const cancelled = await getJson(`${server.url}/api/jobs/${long}`, { method: 'DELETE' });
    assert.equal(cancelled.body.status, 'cancelled');
    // The job never reached the runner. (It used to: the cancel went ahead of the job, was ignored
    // as naming no job, and the job ran until the stop grace period killed the runner.)
    assert.equal(cancelled.body.progress?.iteration ?? 0, 0, 'no iteration of the cancelled job ran');
    const pids = server.runnerPids();
    const next = await postJob(server.url, files, SMALL_JOB);
    await waitForStatus(server.url, next.body.id, ['done']);
    assert.deepEqual(server.runnerPids(), pids, 'the same runner runs the next job');
  });

  it('keeps one runner process between jobs', async () => {
    const server = await sharedServer();
    const files = await inputs();
    const first = await postJob(server.url, files, SMALL_JOB);
    await waitForStatus(server.url, first.body.id, ['done']);
    const pids = server.runnerPids();
    const second = await postJob(server.url, files, SMALL_JOB);
    await waitForStatus(server.url, second.body.id, ['done']);
    assert.deepEqual(server.runnerPids(), pids);
    assert.equal(pids.length, 1);
  });

  it('survives a runner killed mid-job: the job fails with a message, the next one runs', async () => {
    const server = await sharedServer();
    const files = await inputs();
    const job = await postJob(server.url, files, LONG_JOB);
    await untilPreview(server.url, job.body.id);
    const [pid] = server.runnerPids();
    assert.ok(pid && pid !== process.pid, 'the job runs in another process');
    process.kill(pid, 'SIGKILL');
    const failed = await waitForStatus(server.url, job.body.id, ['failed', 'done', 'cancelled']);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error, "the job's runner process stopped unexpectedly (killed, perhaps out of memory)");
    assert.equal(failed.result, false);

    const next = await postJob(server.url, files, SMALL_JOB);
    assert.equal((await waitForStatus(server.url, next.body.id, ['done', 'failed'])).status, 'done');
    assert.notEqual(server.runnerPids()[0], pid, 'a fresh runner');
  });
});

describe('write failures do not take the server down (issue 9, finding 1)', () => {
  it('fails a queued job whose folder was removed, and goes on with the next', async () => {
    const server = await sharedServer();
    const files = await inputs();
    const running = await postJob(server.url, files, LONG_JOB);
    await untilPreview(server.url, running.body.id);
    const doomed = await postJob(server.url, files, SMALL_JOB);
    assert.equal(doomed.body.status, 'queued');
    await rm(path.join(server.dataDir, 'jobs', doomed.body.id), { recursive: true });
    await getJson(`${server.url}/api/jobs/${running.body.id}`, { method: 'DELETE' });

    const failed = await waitForStatus(server.url, doomed.body.id, ['done', 'failed']);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error, "cannot save status.json: the job's folder was removed");
    const next = await postJob(server.url, files, SMALL_JOB);
    assert.equal((await waitForStatus(server.url, next.body.id, ['done', 'failed'])).status, 'done');
  });

  it('fails the job when the disk fills up during it, refuses new jobs with 507, and restarts on the full disk; a job past the time limit is stopped, keeping its last image (finding 3)', async () => {
    const disk = await smallDisk();
    const dataDir = path.join(disk.dir, 'data');
    const options = { dataDir, minFreeBytes: 256 * 1024 };
    let server: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      server = await startTestServer(options);
      const files = await inputs();
      // Previews by time (one a second), not every iteration: a preview replaced atomically frees
      // the previous one's blocks, and a next preview written within milliseconds reused them
      // before the filler below could take them, so under load the job ran on for minutes.
      const { previewEvery: _, ...timedPreviews } = LONG_JOB;
      const job = await postJob(server.url, files, timedPreviews);
      assert.equal(job.status, 201, JSON.stringify(job.body));
      await untilPreview(server.url, job.body.id);
      const filler = await fill(disk.dir);
      // Keep it full while the job runs: a preview written atomically frees the previous one's
      // blocks when it replaces it, and a next preview of the same size fits in them, so a disk
      // filled once could let the job run on (it did, under load).
      let full = true;
      const keepFull = (async () => {
        while (full) {
          await fill(disk.dir);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const failed = await waitForStatus(server.url, job.body.id, ['failed', 'done', 'cancelled']).finally(() => (full = false));
      await keepFull;
      assert.equal(failed.status, 'failed');
      assert.match(failed.error, /^cannot save (preview|result)\.png: the server's disk is full$/);
      assert.equal((await getJson(`${server.url}/api/config`)).status, 200, 'the server still answers');
      const refused = await postJob(server.url, files, SMALL_JOB);
      assert.equal(refused.status, 507);
      assert.match(refused.body.error, /^the server's disk is full \(.* free\); try again later$/);

      // A restart on the still-full disk: the server starts, read-only. (With a time limit of 3 s for
      // the job at the end: one server and runner fewer than a test of its own.)
      await server.close();
      server = undefined;
      server = await startTestServer({ ...options, jobTimeLimitSeconds: 3 });
      const listed = await getJson(`${server.url}/api/jobs/${job.body.id}`);
      assert.equal(listed.status, 200);
      assert.ok(['failed', 'interrupted'].includes(listed.body.status), listed.body.status);
      assert.equal((await postJob(server.url, files, SMALL_JOB)).status, 507);

      // Space again: a job is accepted and runs, writing its images. It runs past the time limit
      // (issue 9, finding 3): it is stopped, keeping its last image. (No small job after it: under
      // the suite's load a 4-iteration job once took more than these 3 s.)
      await rm(filler);
      const long = await postJob(server.url, files, LONG_JOB);
      assert.equal(long.status, 201, JSON.stringify(long.body));
      const stopped = await waitForStatus(server.url, long.body.id, ['failed', 'done', 'cancelled'], 120_000);
      assert.equal(stopped.status, 'failed');
      assert.equal(stopped.error, "the job ran past this server's time limit of 3 s and was stopped");
      assert.equal(stopped.result, true);
      assert.equal((await fetch(`${server.url}/api/jobs/${long.body.id}/result`)).status, 200);
    } finally {
      // Closed on failure too: a server left open keeps the test process (and the suite) alive.
      await server?.close();
      await disk.dispose();
    }
  });
});

describe('a crash between result.png and the final status (issue 9, finding 8)', () => {
  it('keeps an existing result on restart instead of copying the preview over it', async () => {
    // A finished job of the shared server's, copied into a data dir of its own (no runner is forked
    // there: the restarted server runs no job).
    const shared = await sharedServer();
    const done = (await getJson(`${shared.url}/api/jobs`)).body.jobs.find((j: { status: string }) => j.status === 'done');
    assert.ok(done, 'the shared server has a finished job');
    const dataDir = await tempDataDir();
    try {
      await cp(path.join(shared.dataDir, 'jobs', done.id), path.join(dataDir, 'jobs', done.id), { recursive: true });
      // Forge the crash: result.png written, status still `running`, a (different) preview beside it.
      const id = randomUUID();
      const dir = path.join(dataDir, 'jobs', id);
      await cp(path.join(dataDir, 'jobs', done.id), dir, { recursive: true });
      const spec = JSON.parse(await readFile(path.join(dir, 'job.json'), 'utf8'));
      await writeFile(path.join(dir, 'job.json'), JSON.stringify({ ...spec, id }));
      await writeFile(path.join(dir, 'status.json'), JSON.stringify({ id, status: 'running', createdAt: spec.createdAt, result: false, previewVersion: 3 }));
      const result = await readFile(path.join(dir, 'result.png'));
      const preview = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#ff0000' } })
        .png()
        .toBuffer();
      await writeFile(path.join(dir, 'preview.png'), preview);

      const server = await startTestServer({ dataDir });
      try {
        const job = (await getJson(`${server.url}/api/jobs/${id}`)).body;
        assert.equal(job.status, 'interrupted');
        assert.equal(job.result, true);
        const served = new Uint8Array(await (await fetch(`${server.url}/api/jobs/${id}/result`)).arrayBuffer());
        assert.deepEqual(served, new Uint8Array(result), 'the result written before the crash is kept');
        assert.deepEqual(
          (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
          [],
        );
        assert.equal(JSON.parse(await readFile(path.join(dir, 'status.json'), 'utf8')).status, 'interrupted', 'the new state is saved');
      } finally {
        await server.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
