/**
 * GET /api/estimate: the time a job would take on this server, from the speed of the newest job it
 * finished (src/jobs/estimate.ts), checked against the run cost computed here from the finished
 * job's own seconds; before any job it says it cannot tell, and a job the server would refuse is
 * refused here too, with the same message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { normaliseOptions } from '../../src/options.js';
import { planWork, runCost } from '../../src/work.js';
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

    const res = await estimate({ width: '1024', height: '768', options: JSON.stringify(options) });
    const body = (await res.json()) as { seconds: number; measuredAt: string };
    const placeholder = new Uint8Array(1);
    const cost = (opts: object, content: { width: number; height: number }) => {
      const resolved = normaliseOptions({ ...opts, content: placeholder, style: placeholder });
      return runCost(planWork(content, resolved), resolved);
    };
    const expected = (jobSeconds * cost(options, { width: 1024, height: 768 })) / cost(SMALL_JOB, { width: 1024, height: 768 });
    assert.ok(Math.abs(body.seconds - expected) <= 0.05 + 1e-3 * expected, `estimate ${body.seconds} s, expected ${expected} s`);
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
