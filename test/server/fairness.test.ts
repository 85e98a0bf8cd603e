/**
 * Issue 19, findings 3, 4, 5, 7, 8 and 9: one client cannot take what the others need. Event
 * streams are capped per client address and in total, and end after a maximum lifetime; an upload
 * that stalls is dropped and one address cannot hold every upload slot; each browser has a quota of
 * waiting jobs; retention counts each browser's jobs on their own; only the browser that created a
 * job may cancel or delete it; a request with two token cookies is refused.
 *
 * Clients at different addresses are real sockets bound to other loopback addresses (127.0.0.2,
 * 127.0.0.3: Linux routes all of 127/8 to lo), so the server sees them as different machines.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileServer, getJson, imageFile, postJob, SMALL_JOB, startTestServer, waitForStatus, type FilePart, type TestServer } from './helpers.js';
import { startRedis, type TestRedis } from './redis-helpers.js';

const ATTACKER = '127.0.0.2';
const NEIGHBOUR = '127.0.0.3';

function cookie(): Record<string, string> {
  return { cookie: `st_client=${randomBytes(16).toString('hex')}` };
}

/** A request from `localAddress` that the test keeps open; resolves its response when the server sends one. */
function openRequest(
  url: string,
  opts: { localAddress: string; method?: string; headers?: Record<string, string>; body?: Buffer | string; end?: boolean },
): { req: ClientRequest; response: Promise<IncomingMessage>; closed: Promise<void> } {
  const { hostname, port, pathname, search } = new URL(url);
  const req = request({ hostname, port, path: pathname + search, method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.localAddress, agent: false });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  response.catch(() => {});
  const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
  if (opts.body !== undefined) req.write(opts.body);
  if (opts.end ?? true) req.end();
  else req.flushHeaders();
  return { req, response, closed };
}

/** A whole response (status and body) from another address. */
async function fetchFrom(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { response } = openRequest(url, { localAddress, headers });
  const res = await response;
  let body = '';
  for await (const chunk of res) body += chunk;
  return { status: res.statusCode ?? 0, body };
}

/** Whichever comes first: the promise, or a refusal after `ms` (a bound on a wait, not a measurement). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** The first part of a multipart upload that never finishes: its headers promise a megabyte. */
async function stalledUpload(url: string, localAddress: string) {
  const boundary = 'stalled-upload-boundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="slow.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`;
  return openRequest(`${url}/api/jobs`, {
    localAddress,
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(1024 * 1024), ...cookie() },
    body: head + 'x'.repeat(100),
    end: false,
  });
}

let images: FilePart[];

/**
 * One embedded-queue server for the tests whose jobs run: retention keeps 2 finished jobs per
 * browser, and each test uses browsers of its own, so none sees another's jobs.
 */
const runningServer = fileServer({ retention: { maxJobs: 2 } });

describe('fairness between clients (issue 19)', () => {
  let redis: TestRedis | undefined;
  let cleanup: (() => Promise<unknown>)[] = [];
  beforeEach(async () => {
    images ??= [await imageFile('content', 'dog'), await imageFile('style', 'matisse')];
    cleanup = [];
  });
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
    await redis?.dispose();
    redis = undefined;
  });

  /** A Redis-mode server with no worker: its jobs stay queued, and their event streams stay open. */
  async function queueOnlyServer(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
    redis = await startRedis();
    const server = await startTestServer({ redis: redis.url, ...opts });
    cleanup.push(() => server.dispose());
    return server;
  }

  it("caps one address's event streams, so another client still gets answers (finding 3)", async () => {
    const server = await queueOnlyServer({ maxConnections: 48 });
    const job = await postJob(server.url, images, SMALL_JOB);
    assert.equal(job.status, 201);
    const streams = Array.from({ length: 48 }, () => openRequest(`${server.url}/api/jobs/${job.body.id}/events`, { localAddress: ATTACKER }));
    cleanup.push(async () => streams.forEach((s) => s.req.destroy()));
    const statuses = await within(
      Promise.all(
        streams.map((s) =>
          s.response.then(
            (r) => r.statusCode!,
            () => 0,
          ),
        ),
      ),
      20_000,
      'an answer to every stream request',
    );
    assert.equal(statuses.filter((s) => s === 200).length, 16, `streams open: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 32);
    const other = await fetchFrom(`${server.url}/api/jobs/${job.body.id}`, NEIGHBOUR);
    assert.equal(other.status, 200, other.body);
    const refused = await fetchFrom(`${server.url}/api/jobs/${job.body.id}/events`, ATTACKER);
    assert.equal(refused.status, 429);
    assert.match(JSON.parse(refused.body).error, /^too many open event streams from your address \(16\)/);
  });

  it('ends an event stream after its maximum lifetime (finding 3)', async () => {
    const server = await queueOnlyServer({ streamLifetimeMs: 300 });
    const job = await postJob(server.url, images, SMALL_JOB);
    const stream = openRequest(`${server.url}/api/jobs/${job.body.id}/events`, { localAddress: NEIGHBOUR });
    const res = await stream.response;
    assert.equal(res.statusCode, 200);
    res.resume();
    await within(new Promise((resolve) => res.on('end', resolve)), 10_000, 'the end of the stream');
    assert.equal((await getJson(`${server.url}/api/jobs/${job.body.id}`)).body.status, 'queued', 'the stream ended while its job still waits');
  });

  it('drops a stalled upload and keeps upload slots for other addresses (finding 7)', async () => {
    const server = await queueOnlyServer({ uploadRate: { minBytesPerSecond: 1024, windowMs: 500 } });
    const uploads = await Promise.all(Array.from({ length: 4 }, () => stalledUpload(server.url, ATTACKER)));
    cleanup.push(async () => uploads.forEach((u) => u.req.destroy()));
    // One address holds at most two of the four upload slots: two of its uploads are refused at once.
    const refusals = await within(
      new Promise<number>((resolve) => {
        let count = 0;
        for (const u of uploads)
          void u.response.then(
            (r) => r.statusCode === 503 && ++count === 2 && resolve(count),
            () => {},
          );
      }),
      10_000,
      'a 503 for the third and fourth upload of one address',
    );
    assert.equal(refusals, 2);
    const meanwhile = await postJob(server.url, images, SMALL_JOB, cookie());
    assert.equal(meanwhile.status, 201, JSON.stringify(meanwhile.body));
    // The stalled ones are dropped for sending too slowly, long before the 120 s request timeout.
    await within(Promise.all(uploads.map((u) => u.closed)), 15_000, 'the server closing every stalled upload');
  });

  it('gives each browser a quota of waiting jobs, so one cannot fill the queue (finding 8)', async () => {
    const server = await queueOnlyServer({ limits: { maxQueuedJobs: 8 } });
    const a = cookie();
    const accepted: number[] = [];
    let refusal: { status: number; body: any } | undefined;
    for (let i = 0; i < 8 && !refusal; i++) {
      const res = await postJob(server.url, images, SMALL_JOB, a);
      if (res.status === 201) accepted.push(i);
      else refusal = res;
    }
    assert.equal(accepted.length, 5, `browser A queued ${accepted.length} jobs`);
    assert.equal(refusal?.status, 429);
    assert.match(refusal!.body.error, /^you have 5 jobs waiting, the most one browser may have/);
    const b = await postJob(server.url, images, SMALL_JOB, cookie());
    assert.equal(b.status, 201, JSON.stringify(b.body));
  });

  it("keeps finished jobs per browser: one browser's jobs never evict another's (finding 5)", async () => {
    const server = await runningServer();
    const a = cookie();
    const b = cookie();
    const first = await postJob(server.url, images, SMALL_JOB, a);
    assert.equal((await waitForStatus(server.url, first.body.id, ['done', 'failed'])).status, 'done');
    for (let i = 0; i < 3; i++) {
      const theirs = await postJob(server.url, images, SMALL_JOB, b);
      await waitForStatus(server.url, theirs.body.id, ['done', 'failed']);
    }
    const mine = await getJson(`${server.url}/api/jobs/${first.body.id}`, { headers: a });
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.ok(existsSync(path.join(server.dataDir, 'jobs', first.body.id, 'result.png')));
    // Retention runs as the job ends, after its status is set: a poll can see 'done' a moment before
    // the oldest of B's jobs is gone, so wait for it (hang guard 30 s), then check the count exactly.
    let listed = 0;
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      listed = (await getJson(`${server.url}/api/jobs`, { headers: b })).body.jobs.length;
      if (listed <= 2) break;
    }
    assert.equal(listed, 2, "browser B's own jobs are still capped at 2");
  });
});

describe('ownership of jobs and the token cookie (issue 19, findings 4 and 9)', () => {
  let server: TestServer;
  beforeEach(async () => {
    images ??= [await imageFile('content', 'dog'), await imageFile('style', 'matisse')];
    server = await runningServer();
  });

  it('lets only the browser that created a job cancel or delete it; its result link stays readable (finding 9)', async () => {
    const a = cookie();
    const b = cookie();
    const job = await postJob(server.url, images, SMALL_JOB, a);
    await waitForStatus(server.url, job.body.id, ['done', 'failed']);
    const theirs = await getJson(`${server.url}/api/jobs/${job.body.id}`, { method: 'DELETE', headers: b });
    assert.equal(theirs.status, 403, JSON.stringify(theirs.body));
    assert.match(theirs.body.error, /^only the browser that created job .* may cancel or delete it/);
    assert.ok(existsSync(path.join(server.dataDir, 'jobs', job.body.id, 'result.png')), 'the job is still there');
    assert.equal((await fetch(`${server.url}/api/jobs/${job.body.id}/result`, { headers: b })).status, 200, 'a shared result link stays readable');
    assert.deepEqual((await getJson(`${server.url}/api/jobs/${job.body.id}`, { method: 'DELETE', headers: a })).body, { id: job.body.id, deleted: true });
  });

  it('refuses a request carrying two token cookies (cookie tossing, finding 4)', async () => {
    const attacker = cookie().cookie;
    const victim = cookie().cookie;
    const tossed = await postJob(server.url, images, SMALL_JOB, { cookie: attacker });
    await waitForStatus(server.url, tossed.body.id, ['done', 'failed']);
    const list = await getJson(`${server.url}/api/jobs`, { headers: { cookie: `${attacker}; ${victim}` } });
    assert.equal(list.status, 400, JSON.stringify(list.body));
    assert.match(list.body.error, /^this request carries 2 st_client cookies/);
    const post = await postJob(server.url, images, SMALL_JOB, { cookie: `${victim}; ${attacker}` });
    assert.equal(post.status, 400);
    assert.equal((await getJson(`${server.url}/api/jobs`, { headers: { cookie: attacker } })).body.jobs.length, 1, 'no job went to the tossed token');
  });

  it('names the cookie __Host-st_client, Secure, when the page is served over https behind a proxy (finding 4)', async () => {
    const proxied = await startTestServer({ trustProxy: true });
    try {
      const res = await fetch(`${proxied.url}/api/config`, { headers: { 'x-forwarded-proto': 'https' } });
      assert.match(res.headers.get('set-cookie') ?? '', /^__Host-st_client=[0-9a-f]{32}; Path=\/; Secure; HttpOnly; SameSite=Strict/);
      const plain = await fetch(`${proxied.url}/api/config`);
      assert.match(plain.headers.get('set-cookie') ?? '', /^st_client=/);
    } finally {
      await proxied.dispose();
    }
  });
});
