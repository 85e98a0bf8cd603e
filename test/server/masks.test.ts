/**
 * Spatial control through the job API (issue 21): a mask per style image as repeated `styleMask`
 * file fields in style order. A masked job runs on the real library and its two regions follow
 * their own styles; the masks are stored in the job's folder under the server's names and shown on
 * the sheet; a wrong count, a file that is not an image and a file over the size limit are refused
 * with one line. The styles are flat red and flat blue "paintings" on a grey content image, so which
 * style a region took is a matter of its mean colour.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeImageBytes } from '../../src/image/io.js';
import {
  BLUE,
  colourDistance as dist,
  flatPng,
  getJson,
  halfMaskPng,
  halfMeans,
  MASKED_JOB,
  postJob,
  RED,
  readEvents,
  startTestServer,
  type FilePart,
  type TestServer,
} from './helpers.js';

const W = 64;
const H = 48;
const png = (field: string, name: string, bytes: Buffer): FilePart => ({ field, name, bytes, type: 'image/png' });
const flat = (rgb: readonly number[]) => flatPng(rgb, W, H);
const halfMask = (left: boolean, width = W, height = H) => halfMaskPng(left, width, height);

describe('job API: style masks', () => {
  let server: TestServer;
  let inputs: FilePart[];
  before(async () => {
    // A small byte limit, so a mask over it is cheap to make.
    server = await startTestServer({ limits: { maxFileBytes: 64 * 1024 } });
    inputs = [png('content', 'grey.png', await flat([128, 128, 128])), png('style', 'red.png', await flat(RED)), png('style', 'blue.png', await flat(BLUE))];
  });
  after(async () => {
    await server.dispose();
  });

  it('runs a masked job: each half follows its own style, the masks are kept in the job folder and tinted on the sheet', async () => {
    // At 40x30 (MASKED_JOB's 64 px made the halves no clearer), the masks at another size (the
    // library stretches them), as an upload may be.
    const masks = [png('styleMask', 'left.png', await halfMask(true, 32, 24)), png('styleMask', 'right.png', await halfMask(false, 32, 24))];
    const created = await postJob(server.url, [...inputs, ...masks], { ...MASKED_JOB, size: 40, maskPropagation: 'inside' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id: string = created.body.id;
    assert.deepEqual(created.body.masks, [
      { name: 'left.png', width: 32, height: 24 },
      { name: 'right.png', width: 32, height: 24 },
    ]);
    const events = await readEvents(`${server.url}/api/jobs/${id}/events`, () => {}, 120_000);
    assert.deepEqual(events.at(-1), { type: 'status', status: 'done', result: true });

    const result = await decodeImageBytes(new Uint8Array(await (await fetch(`${server.url}/api/jobs/${id}/result`)).arrayBuffer()), 'result');
    assert.deepEqual([result.width, result.height], [40, 30]);
    const { left, right } = halfMeans(result);
    assert.ok(dist(left, RED) < dist(left, BLUE), `left half ${left.map(Math.round)} is closer to red than to blue`);
    assert.ok(dist(right, BLUE) < dist(right, RED), `right half ${right.map(Math.round)} is closer to blue than to red`);

    const dir = path.join(server.dataDir, 'jobs', id);
    const files = await readdir(dir);
    for (const f of ['mask-1.img', 'mask-2.img']) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
    assert.deepEqual(await readFile(path.join(dir, 'mask-1.img')), masks[0].bytes);
    const spec = JSON.parse(await readFile(path.join(dir, 'job.json'), 'utf8'));
    assert.deepEqual(
      spec.masks.map((m: { file: string }) => m.file),
      ['mask-1.img', 'mask-2.img'],
    );
    assert.equal(spec.options.maskPropagation, 'inside');

    // The sheet's first panel is the grey content tinted red on the left and blue on the right.
    const sheet = await decodeImageBytes(new Uint8Array(await (await fetch(`${server.url}/api/jobs/${id}/sheet`)).arrayBuffer()), 'sheet');
    const at = (x: number, y: number) => [0, 1, 2].map((c) => sheet.data[(y * sheet.width + x) * 3 + c]);
    // Sample inside the content panel: it starts at the sheet's left margin, as tall as the sheet's panels.
    const y = Math.round(sheet.height / 2);
    const row = Array.from({ length: sheet.width }, (_, x) => at(x, y));
    const redish = row.findIndex((p) => p[0] > p[2] + 40);
    const blueish = row.findIndex((p) => p[2] > p[0] + 40);
    assert.ok(redish >= 0 && blueish > redish, `the content panel is tinted red, then blue (first red at x=${redish}, first blue at x=${blueish})`);
  });

  it('refuses a wrong number of masks, a mask that is not an image, and one over the size limit, with one line each', async () => {
    const one = await postJob(server.url, [...inputs, png('styleMask', 'left.png', await halfMask(true))], MASKED_JOB);
    assert.equal(one.status, 400);
    assert.match(one.body.error, /^1 style masks for 2 style images: send one styleMask per style image/);

    const text = await postJob(
      server.url,
      [...inputs, png('styleMask', 'left.png', await halfMask(true)), { field: 'styleMask', name: 'notes.txt', bytes: Buffer.from('not an image') }],
      MASKED_JOB,
    );
    assert.equal(text.status, 422);
    assert.match(text.body.error, /mask of style image 2 notes\.txt/);
    assert.doesNotMatch(text.body.error, /\n/);

    const noise = Buffer.alloc(200 * 200 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const big = await sharp(noise, { raw: { width: 200, height: 200, channels: 3 } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    assert.ok(big.length > 64 * 1024);
    const tooBig = await postJob(server.url, [...inputs, png('styleMask', 'big.png', big), png('styleMask', 'right.png', await halfMask(false))], MASKED_JOB);
    assert.equal(tooBig.status, 413);
    assert.match(tooBig.body.error, /^style mask big\.png is larger than the limit of/);

    const bad = await postJob(server.url, inputs, { ...MASKED_JOB, maskPropagation: 'outside' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /maskPropagation/);

    // Nothing was queued, and no upload was left behind.
    const { body } = await getJson(`${server.url}/api/jobs`);
    assert.equal(body.jobs.length, 1);
    assert.deepEqual(await readdir(path.join(server.dataDir, 'uploads')), []);
  });
});
