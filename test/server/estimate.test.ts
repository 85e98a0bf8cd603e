/**
 * The time a job would take on this server, from the speed of the newest job it finished
 * (src/jobs/estimate.ts): from recorded jobs, a job of four times the pixels takes about four times
 * as long, the same job as long as it did, and only the newest finished job counts; through
 * GET /api/estimate, a real finished job predicts itself, before any job the server says it cannot
 * tell, and a job the server would refuse is refused here too, with the same message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { estimateJob } from '../../src/jobs/estimate.js';
import { resolveTuning, type TuningOptions } from '../../src/options.js';
import { planWork } from '../../src/work.js';
import { getJson, imageFile, postJob, SMALL_JOB, startTestServer, waitForStatus, type TestServer } from './helpers.js';

describe('GET /api/estimate', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.dispose();
  });

  const estimate = (query: Record<string, string>) => fetch(`${server.url}/api/estimate?${new URLSearchParams(query).toString()}`);
  const options = { size: 128, iterations: 20, scaleIterations: 10 };

  it("says it cannot tell before a job has finished, and then scales the last job's time by the cost", async () => {
    const first = await estimate({ width: '1024', height: '768', options: JSON.stringify(options) });
    assert.equal(first.status, 200);
    const none = (await first.json()) as { seconds: number | null; scales: { width: number; height: number; iterations: number }[] };
    assert.equal(none.seconds, null);
    assert.deepEqual(none.scales.at(-1), { width: 128, height: 96, iterations: 20 });

    const created = await postJob(server.url, [await imageFile('content', 'dog'), await imageFile('style', 'matisse')], SMALL_JOB);
    assert.equal(created.status, 201);
    const done = await waitForStatus(server.url, created.body.id, ['done', 'failed']);
    assert.equal(done.status, 'done');
    const jobSeconds = (await getJson(`${server.url}/api/jobs/${done.id}`)).body.seconds as number;
    assert.ok(jobSeconds > 0);

    // The same job again, at the size it ran (the dog is 1024x768): as long as it took.
    const same = (await (await estimate({ width: '1024', height: '768', options: JSON.stringify(SMALL_JOB) })).json()) as { seconds: number };
    assert.ok(Math.abs(same.seconds - jobSeconds) <= 0.05 + 1e-6 * jobSeconds, `estimate ${same.seconds} s for a job that took ${jobSeconds} s`);
    const res = await estimate({ width: '1024', height: '768', options: JSON.stringify(options) });
    const body = (await res.json()) as { seconds: number; measuredAt: string };
    assert.ok(body.seconds > jobSeconds, 'a bigger job takes longer');
    assert.equal(typeof body.measuredAt, 'string');
    assert.equal((body as Record<string, unknown>).id, undefined);
  });

  it('refuses what POST /api/jobs would refuse, with the same message, and bad sizes', async () => {
    const big = await estimate({ width: '1024', height: '768', options: JSON.stringify({ size: 4096 }) });
    assert.equal(big.status, 400);
    assert.match(((await big.json()) as { error: string }).error, /^option size/);
    const bad = await estimate({ width: '0', height: '768' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /^width: expected a positive integer/);
    const unknown = await estimate({ width: '10', height: '10', options: '{"weights":"/etc/passwd"}' });
    assert.equal(unknown.status, 400);
  });
});

describe('estimateJob', () => {
  const content = { width: 1024, height: 768 };
  // Single-scale jobs without the border margin: their cost is their iterations times their pixels (plus a small fixed part).
  const single = { scaleIterations: 0, iterations: 100, padding: 'zero' as const, optimizer: 'adam' as const };
  /** A job record as the queue lists it. */
  const record = (options: TuningOptions, status: string, seconds: number | undefined, finishedAt: string) =>
    ({
      id: finishedAt,
      status,
      createdAt: finishedAt,
      finishedAt,
      seconds,
      result: status === 'done',
      previewVersion: 0,
      options,
      content,
      styles: [{ width: 833, height: 610 }],
    }) as unknown as Parameters<typeof estimateJob>[2][number];
  const estimateOf = (options: TuningOptions, jobs: Parameters<typeof estimateJob>[2]) => {
    const resolved = resolveTuning(options);
    return estimateJob(planWork(content, resolved), resolved, jobs);
  };

  it('cannot tell before a job has finished; failed and running jobs do not count', () => {
    const none = estimateOf({ ...single, size: 512 }, [
      record({ ...single, size: 512 }, 'failed', 10, '2026-01-01T00:00:00Z'),
      record({ ...single, size: 512 }, 'running', undefined, '2026-01-01T00:01:00Z'),
    ]);
    assert.equal(none.seconds, null);
    assert.deepEqual(none.scales, [{ width: 512, height: 384, iterations: 100 }]);
  });

  it('scales the finished job’s time by the work: the same job as long, four times the pixels about four times as long', () => {
    const done = [record({ ...single, size: 512 }, 'done', 40, '2026-01-01T00:00:00Z')];
    assert.equal(estimateOf({ ...single, size: 512 }, done).seconds, 40);
    const larger = estimateOf({ ...single, size: 1024 }, done).seconds!;
    assert.ok(larger > 3.5 * 40 && larger <= 4 * 40, `${larger} s for four times the pixels of a 40 s job`);
    const longer = estimateOf({ ...single, size: 512, iterations: 400 }, done).seconds!;
    assert.ok(longer > 3.9 * 40 && longer <= 4 * 40, `${longer} s for four times the iterations of a 40 s job`);
  });

  it('follows the newest finished job (the machine as it is now)', () => {
    const older = record({ ...single, size: 512 }, 'done', 40, '2026-01-01T00:00:00Z');
    const newer = record({ ...single, size: 512 }, 'done', 80, '2026-01-02T00:00:00Z');
    assert.equal(estimateOf({ ...single, size: 512 }, [newer, older]).seconds, 80);
    assert.equal(estimateOf({ ...single, size: 512 }, [older, newer]).seconds, 80);
    assert.equal(estimateOf({ ...single, size: 512 }, [older, newer]).measuredAt, newer.finishedAt);
  });
});
