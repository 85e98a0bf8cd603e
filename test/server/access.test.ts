/**
 * Issue 9, findings 6 and 7: who may talk to the server and how bad requests are answered.
 * DNS rebinding (a foreign Host) and cross-site POST/DELETE (a foreign Origin) get 403; each
 * browser lists only its own jobs; malformed multipart is a 400, an absurd job id a 404; `serve`
 * refuses a missing weights file and an unusable data dir at start, with one line and exit 1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BROWSER_COOKIE, getJson, imageFile, postJob, SMALL_JOB, startTestServer, tempDataDir, waitForStatus, type FilePart, type TestServer } from './helpers.js';

/** A raw request, so that Host can be anything (fetch always sends the URL's own). */
function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path: new URL(url).pathname, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Cancel a job these tests only needed created (what it would compute is not under test): a runner
 * that has not read the weights yet never does (~2.5 CPU-s a server saved).
 */
async function cancelJob(url: string, id: string, headers: Record<string, string> = { cookie: BROWSER_COOKIE }): Promise<void> {
  assert.equal((await getJson(`${url}/api/jobs/${id}`, { method: 'DELETE', headers })).status, 200);
  await waitForStatus(url, id, ['cancelled', 'done', 'failed']);
}

describe('who may use the server (issue 9, finding 6)', () => {
  let server: TestServer;
  let files: FilePart[];
  before(async () => {
    server = await startTestServer({ allowedHosts: ['styles.example'] });
    files = [await imageFile('content', 'landscape'), await imageFile('style', 'monet')];
  });
  after(async () => {
    await server.dispose();
  });

  it('refuses a Host that does not name the server (DNS rebinding) with 403', async () => {
    for (const host of ['evil.example', 'evil.example:80', 'localhost.evil.example']) {
      const res = await rawRequest(`${server.url}/api/jobs`, { headers: { host } });
      assert.equal(res.status, 403, host);
      assert.match(JSON.parse(res.body).error, /^this server does not answer to the host name/);
    }
    const port = new URL(server.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'styles.example']) {
      assert.equal((await rawRequest(`${server.url}/api/config`, { headers: { host } })).status, 200, host);
    }
  });

  it('refuses POST and DELETE from another origin with 403, accepts its own', async () => {
    const form = new FormData();
    for (const f of files) form.append(f.field, new Blob([f.bytes.slice()]), f.name);
    form.append('options', JSON.stringify(SMALL_JOB));
    const evil = await fetch(`${server.url}/api/jobs`, { method: 'POST', body: form, headers: { origin: 'http://evil.example' } });
    assert.equal(evil.status, 403);
    assert.match((await evil.json()).error, /^cross-site requests are refused/);
    const nullOrigin = await fetch(`${server.url}/api/jobs`, { method: 'POST', body: form, headers: { origin: 'null' } });
    assert.equal(nullOrigin.status, 403);
    const crossSite = await fetch(`${server.url}/api/jobs`, { method: 'POST', body: form, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(crossSite.status, 403);

    const own = await postJob(server.url, files, SMALL_JOB, { cookie: BROWSER_COOKIE, origin: server.url });
    assert.equal(own.status, 201, JSON.stringify(own.body));
    const del = await fetch(`${server.url}/api/jobs/${own.body.id}`, { method: 'DELETE', headers: { origin: 'http://evil.example' } });
    assert.equal(del.status, 403);
    assert.notEqual((await getJson(`${server.url}/api/jobs/${own.body.id}`)).body.status, 'cancelled', 'the cross-site DELETE did nothing');
    await cancelJob(server.url, own.body.id);
  });

  it('lists each browser its own jobs; a new browser gets a token cookie', async () => {
    const first = await fetch(`${server.url}/api/config`);
    const cookie = first.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^st_client=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Strict/);
    const other = { cookie: cookie.split(';')[0] };

    const mine = await postJob(server.url, files, SMALL_JOB);
    const theirs = await postJob(server.url, files, SMALL_JOB, other);
    const myList = (await getJson(`${server.url}/api/jobs`)).body.jobs.map((j: { id: string }) => j.id);
    const theirList = (await getJson(`${server.url}/api/jobs`, { headers: other })).body.jobs.map((j: { id: string }) => j.id);
    assert.ok(myList.includes(mine.body.id) && !myList.includes(theirs.body.id), 'mine only');
    assert.deepEqual(theirList, [theirs.body.id]);
    const anonymous = await (await fetch(`${server.url}/api/jobs`)).json();
    assert.deepEqual(anonymous.jobs, [], 'a client without a token sees no job');
    // A job is still reachable by its (unguessable) id.
    assert.equal((await getJson(`${server.url}/api/jobs/${theirs.body.id}`)).status, 200);
    await cancelJob(server.url, mine.body.id);
    await cancelJob(server.url, theirs.body.id, other);
  });

  it('lists every job to everyone when started with listAllJobs', async () => {
    const open = await startTestServer({ listAllJobs: true });
    try {
      const job = await postJob(open.url, files, SMALL_JOB, {});
      const list = await (await fetch(`${open.url}/api/jobs`)).json();
      assert.deepEqual(
        list.jobs.map((j: { id: string }) => j.id),
        [job.body.id],
      );
      await cancelJob(open.url, job.body.id, { cookie: (job.headers.get('set-cookie') ?? '').split(';')[0] });
    } finally {
      await open.dispose();
    }
  });
});

describe('bad requests (issue 9, finding 7)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.dispose();
  });

  it('answers malformed multipart with 400, not 500', async () => {
    const form = new FormData();
    form.append('content', new Blob([(await imageFile('content', 'dog')).bytes.slice()]), 'dog.jpg');
    form.append('style', new Blob([(await imageFile('style', 'matisse')).bytes.slice()]), 'matisse.jpg');
    const encoded = new Response(form);
    const type = encoded.headers.get('content-type')!;
    const body = Buffer.from(await encoded.arrayBuffer());
    const half = body.subarray(0, Math.floor(body.length / 2));
    const truncated = await rawRequest(`${server.url}/api/jobs`, { method: 'POST', headers: { 'content-type': type, 'content-length': String(half.length) }, body: half });
    assert.equal(truncated.status, 400, truncated.body);
    assert.match(JSON.parse(truncated.body).error, /^the upload is not a valid multipart form/);
    const noBoundary = await rawRequest(`${server.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: body.subarray(0, 1000) });
    assert.equal(noBoundary.status, 400, noBoundary.body);
    const garbage = await rawRequest(`${server.url}/api/jobs`, { method: 'POST', headers: { 'content-type': type }, body: 'this is not multipart at all' });
    assert.equal(garbage.status, 400, garbage.body);
    // Nothing was left behind in the uploads folder, and the server still works.
    assert.equal((await getJson(`${server.url}/api/config`)).status, 200);
  });

  it('answers a 5,000-character job id with 404', async () => {
    const id = 'a'.repeat(5000);
    for (const suffix of ['', '/result', '/events']) {
      const res = await getJson(`${server.url}/api/jobs/${id}${suffix}`);
      assert.equal(res.status, 404, suffix);
      assert.match(res.body.error, /^no such (job|endpoint)/);
    }
  });
});

describe('serve refuses bad settings at start (issue 9, finding 7)', () => {
  const cli = fileURLToPath(new URL('../../bin/style-transfer.js', import.meta.url));
  // A serve that never exits is killed after 20 s (it then has no exit code): a hang guard.
  function serve(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    return new Promise((resolve) =>
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      }),
    );
  }

  it('refuses a missing weights file with one line and exit 1', async () => {
    const dataDir = await tempDataDir();
    try {
      const res = await serve(['--data-dir', dataDir, '--weights', '/nonexistent/missing.file']);
      assert.equal(res.code, 1);
      assert.equal(res.stderr, 'error: weights file not found: /nonexistent/missing.file\n');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a data dir that cannot be created: exits with 1 instead of spinning at 100 % CPU (as it used to)', async () => {
    const res = await serve(['--data-dir', '/proc/x']);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /^error: the data directory \/proc\/x cannot be used: .*\n$/);
    assert.equal(res.stderr.split('\n').length, 2, 'one line');
  });
});
