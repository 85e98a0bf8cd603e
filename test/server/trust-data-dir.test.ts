/**
 * Issue 19, findings 1, 6, 11 and 13: the data dir's contents are input, not trusted state. Start-up
 * deletes only the uploads the server itself left (never through a link); a job.json or status.json
 * that was edited by hand is skipped with one log line instead of naming files outside its folder
 * or taking the API down; a result that is a symlink is not served; upload names lose the
 * characters that disguise them; the estimate applies the job limits to its inputs.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../../src/server/server.js';
import { getJson, imageFile, postJob, sharedImage, sharedWeights, SMALL_JOB, startTestServer, tempDataDir, waitForStatus, type TestServer } from './helpers.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A job folder written by hand, as a tampered (or hand-edited) data dir would hold it. */
async function writeJob(dataDir: string, spec: Record<string, unknown>, status: Record<string, unknown>): Promise<string> {
  const id = (spec.id as string | undefined) ?? randomUUID();
  const dir = path.join(dataDir, 'jobs', id);
  await mkdir(dir, { recursive: true });
  await copyFile(sharedImage('dog'), path.join(dir, 'content.img'));
  await copyFile(sharedImage('matisse'), path.join(dir, 'style-1.img'));
  await writeFile(path.join(dir, 'job.json'), JSON.stringify({ id, ...spec }));
  await writeFile(path.join(dir, 'status.json'), JSON.stringify({ id, result: false, previewVersion: 0, ...status }));
  return id;
}

function validSpec(createdAt: string, options: Record<string, unknown> = SMALL_JOB): Record<string, unknown> {
  return {
    createdAt,
    options,
    content: { file: 'content.img', name: 'dog.jpg', width: 800, height: 600 },
    styles: [{ file: 'style-1.img', name: 'matisse.jpg', width: 800, height: 600 }],
  };
}

describe('start-up deletes only what the server created (issue 19, finding 1)', () => {
  it('refuses an uploads folder that is a symlink and leaves the folder it points to alone', async () => {
    const root = await tempDataDir();
    try {
      const victim = path.join(root, 'victim');
      await mkdir(path.join(victim, 'sub'), { recursive: true });
      await writeFile(path.join(victim, 'precious.txt'), 'keep me');
      await writeFile(path.join(victim, 'sub', 'also.txt'), 'keep me too');
      const dataDir = path.join(root, 'data');
      await mkdir(dataDir);
      await symlink(victim, path.join(dataDir, 'uploads'));

      const started = await startServer({ port: 0, weights: sharedWeights, dataDir }).then(
        (server) => server.close().then(() => undefined),
        (err: Error) => err,
      );
      assert.deepEqual((await readdir(victim)).sort(), ['precious.txt', 'sub']);
      assert.equal(await readFile(path.join(victim, 'sub', 'also.txt'), 'utf8'), 'keep me too');
      assert.ok(started instanceof Error, 'the server started on a data dir whose uploads folder is a link');
      assert.match(started.message, /uploads is a symbolic link/);
      assert.doesNotMatch(started.message, /\n/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("keeps the files of an existing uploads folder that are not the server's, and clears its own", async () => {
    const dataDir = await tempDataDir();
    try {
      await mkdir(path.join(dataDir, 'uploads', 'photos'), { recursive: true });
      await writeFile(path.join(dataDir, 'uploads', 'notes.txt'), 'mine');
      await writeFile(path.join(dataDir, 'uploads', 'photos', 'cat.jpg'), 'mine too');
      const leftover = `${'ab'.repeat(12)}.upload`;
      await writeFile(path.join(dataDir, 'uploads', leftover), 'half an upload');
      const server = await startTestServer({ dataDir });
      await server.close();
      assert.deepEqual((await readdir(path.join(dataDir, 'uploads'))).sort(), ['notes.txt', 'photos']);
      assert.equal(await readFile(path.join(dataDir, 'uploads', 'photos', 'cat.jpg'), 'utf8'), 'mine too');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a tampered data dir is not trusted (issue 19, finding 11)', () => {
  it('skips a job.json whose input names a file outside its folder; cancelling cannot delete it', async () => {
    const root = await tempDataDir();
    const dataDir = path.join(root, 'data');
    const lines: string[] = [];
    let server: TestServer | undefined;
    try {
      await mkdir(path.join(root, 'victim'), { recursive: true });
      const precious = path.join(root, 'victim', 'precious.txt');
      await writeFile(precious, 'keep me');
      // A long valid job first, so that the tampered one waits in the queue.
      const long = await writeJob(dataDir, validSpec('2026-01-01T00:00:00.000Z', { ...SMALL_JOB, iterations: 2000 }), { status: 'queued', createdAt: '2026-01-01T00:00:00.000Z' });
      const tampered = await writeJob(
        dataDir,
        { ...validSpec('2026-01-01T00:00:01.000Z'), content: { file: '../../../victim/precious.txt', name: 'x.png', width: 10, height: 10 } },
        { status: 'queued', createdAt: '2026-01-01T00:00:01.000Z' },
      );
      server = await startTestServer({ dataDir, listAllJobs: true, log: (line) => lines.push(line) });
      const cancel = await getJson(`${server.url}/api/jobs/${tampered}`, { method: 'DELETE' });
      assert.equal(await readFile(precious, 'utf8'), 'keep me');
      assert.equal(cancel.status, 404, JSON.stringify(cancel.body));
      assert.equal(lines.filter((l) => l.includes(tampered)).length, 1, lines.join('\n'));
      assert.match(
        lines.find((l) => l.includes(tampered))!,
        /content\.file/,
      );
      await getJson(`${server.url}/api/jobs/${long}`, { method: 'DELETE' });
    } finally {
      await server?.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('does not serve a result.png that is a symlink to a file outside the data dir', async () => {
    const root = await tempDataDir();
    const dataDir = path.join(root, 'data');
    let server: TestServer | undefined;
    try {
      const secret = path.join(root, 'secret.txt');
      await writeFile(secret, 'root:x:0:0:secret');
      const id = await writeJob(dataDir, validSpec('2026-01-01T00:00:00.000Z'), { status: 'done', createdAt: '2026-01-01T00:00:00.000Z', result: true, seconds: 1 });
      await symlink(secret, path.join(dataDir, 'jobs', id, 'result.png'));
      await symlink(secret, path.join(dataDir, 'jobs', id, 'sheet.png'));
      server = await startTestServer({ dataDir, listAllJobs: true });
      for (const kind of ['result', 'sheet']) {
        const res: Response = await fetch(`${server.url}/api/jobs/${id}/${kind}`);
        const body = await res.text();
        assert.doesNotMatch(body, /secret/, `${kind} served the linked file`);
        assert.equal(res.status, 404, body);
        assert.match(JSON.parse(body).error, /^job .* has no (result|sheet)/);
      }
    } finally {
      await server?.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('starts and serves the other jobs when a job.json has a numeric createdAt or no content', async () => {
    const dataDir = await tempDataDir();
    const lines: string[] = [];
    let server: TestServer | undefined;
    try {
      const good = await writeJob(dataDir, validSpec('2026-01-01T00:00:00.000Z'), { status: 'done', createdAt: '2026-01-01T00:00:00.000Z', seconds: 1 });
      const numeric = await writeJob(dataDir, { ...validSpec('x'), createdAt: 1767225600000 }, { status: 'done', createdAt: '2026-01-01T00:00:00.000Z' });
      const { content: _dropped, ...noContent } = validSpec('2026-01-01T00:00:02.000Z');
      const headless = await writeJob(dataDir, noContent, { status: 'done', createdAt: '2026-01-01T00:00:02.000Z', seconds: 1 });
      server = await startTestServer({ dataDir, listAllJobs: true, log: (line) => lines.push(line) });
      const list = await getJson(`${server.url}/api/jobs`);
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.deepEqual(
        list.body.jobs.map((j: { id: string }) => j.id),
        [good],
      );
      const estimate = await getJson(`${server.url}/api/estimate?width=640&height=480&styles=1`);
      assert.equal(estimate.status, 200, JSON.stringify(estimate.body));
      for (const id of [numeric, headless]) assert.equal(lines.filter((l) => l.includes(id)).length, 1, lines.join('\n'));
    } finally {
      await server?.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('upload names and estimates (issue 19, findings 6 and 13)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.dispose();
  });

  it('applies the job limits to the inputs of GET /api/estimate', async () => {
    for (const styles of ['1000000', '5']) {
      const res = await getJson(`${server.url}/api/estimate?width=640&height=480&styles=${styles}`);
      assert.equal(res.status, 400, `styles=${styles}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error, /^styles: at most 4 style images per job/);
    }
    assert.equal((await getJson(`${server.url}/api/estimate?width=640&height=480&styles=4`)).status, 200);
  });

  it('strips bidi controls, zero-width characters, BOM and lone surrogates from upload names, cutting on code points', async () => {
    const content = { ...(await imageFile('content', 'dog')), name: '\u202Egnp.exe' };
    const long = `${'a'.repeat(116)}\u{1F600}\u{1F600}tail.jpg`;
    const style1 = { ...(await imageFile('style', 'matisse')), name: `\uFEFFmat\u200Bisse\u2066.jpg` };
    const style2 = { ...(await imageFile('style', 'monet')), name: long };
    const created = await postJob(server.url, [content, style1, style2], SMALL_JOB);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const names = [created.body.content.name, ...created.body.styles.map((s: { name: string }) => s.name)];
    for (const name of names) {
      assert.doesNotMatch(name, /[\u202A-\u202E\u2066-\u2069\u200B-\u200F\u2060\uFEFF\u061C]/u, JSON.stringify(name));
      assert.doesNotMatch(name, LONE_SURROGATE, `${JSON.stringify(name)} has a lone surrogate`);
    }
    assert.equal(names[0], 'gnp.exe');
    assert.equal(names[1], 'matisse.jpg');
    assert.ok([...names[2]].length <= 120, names[2]);
    await waitForStatus(server.url, created.body.id, ['done', 'failed']);
  });
});
