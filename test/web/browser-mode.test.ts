/**
 * Browser mode in a real browser: the static build (no job API: a plain static file server with the
 * COOP/COEP headers), Debian's Chromium through playwright-core. A 64 px, 10-iteration job runs in the
 * page's worker on onnxruntime-web; the downloaded result decodes and differs from the content, and
 * its loss at iteration 1 equals onnxruntime-node's on the same pixels. The network is fetched once
 * and found in the Cache Storage after a reload.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import sharp from 'sharp';
import { decodeImage, decodeImageBytes, encodeImage } from '../../src/image/io.js';
import { resizeRaw } from '../../src/image/resize.js';
import { relativeError, repoRoot, sharedImage, sharedWeights } from '../helpers.js';
import { nodeFirstLoss } from './node-first-loss.js';
import { builtSite } from './site-build.js';
import { startStaticServer, type StaticServer } from './static-server.js';

const CHROMIUM = '/usr/bin/chromium';
const WEIGHTS_URL = '/weights/vgg19.safetensors';
const ARTIFACTS = path.join(repoRoot, 'test-artifacts');

describe('browser mode: the whole run in Chromium, from a static site', () => {
  let dir: string;
  let server: StaticServer;
  let browser: Browser;
  let contentPng: string;
  let stylePng: string;
  let rotatedJpg: string;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}; install it with: apt-get install -y chromium`);
    dir = await mkdtemp(path.join(tmpdir(), 'st-browser-'));
    // The manifest `build:web --weights` would write (served beside the shared build, which no test
    // writes into); the file itself is served from ../shared.
    const bytes = await readFile(sharedWeights);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const manifest = path.join(dir, 'weights.json');
    await writeFile(manifest, JSON.stringify({ url: WEIGHTS_URL.slice(1), sha256, bytes: bytes.length, name: 'vgg19-caffe-q8' }));
    // Inputs already at the run's size, so both engines see exactly the same pixels (PNG is lossless).
    contentPng = path.join(dir, 'content.png');
    stylePng = path.join(dir, 'style.png');
    const dog = await decodeImage(sharedImage('dog'));
    const matisse = await decodeImage(sharedImage('matisse'));
    await encodeImage(await resizeRaw(dog, 64, 48), contentPng);
    await encodeImage(await resizeRaw(matisse, 64, Math.round((64 * matisse.height) / matisse.width)), stylePng);
    // Stored sideways with EXIF orientation 6 ("rotate 90° clockwise to display"): upright it is portrait.
    rotatedJpg = path.join(dir, 'rotated.jpg');
    await sharp(Buffer.from((await resizeRaw(dog, 64, 48)).data), { raw: { width: 64, height: 48, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(rotatedJpg);
    server = await startStaticServer(await builtSite('app'), { extra: { [WEIGHTS_URL]: sharedWeights, '/weights.json': manifest } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs a 64 px job in the page worker with no server API, and matches the Node engine at iteration 1', async () => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${server.url}/?backend=wasm`);
    await page.waitForSelector('#preset option', { state: 'attached' });

    // Static site: no server to choose, browser mode only; the size is told before the download.
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
    assert.equal(await page.isVisible('#where'), false);
    assert.match((await page.textContent('#weights-status')) ?? '', /76\.4 MiB\) is downloaded once/);
    // This Chromium grants no WebGPU adapter (no --enable-unsafe-webgpu): the GPU engine is not
    // offered, and the page says why in one line before any run.
    assert.equal(await page.$eval('#engine-select option[value="webgpu"]', (o) => (o as HTMLOptionElement).disabled), true);
    assert.equal(await page.inputValue('#engine-select'), 'wasm');
    assert.match((await page.textContent('#engine-status')) ?? '', /^No GPU engine: the browser offers no WebGPU adapter .+\.$/);

    await page.setInputFiles('#content-input', contentPng);
    await page.setInputFiles('#style-input', stylePng);
    assert.match((await page.textContent('#start')) ?? '', /Start in this browser \(downloads 76\.4 MiB once\)/);
    await page.$eval('#size', (el) => {
      const input = el as HTMLInputElement;
      input.value = '64';
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.fill('#iterations', '4');
    await page.click('.advanced summary');
    await page.fill('#opt-scaleIterations', '0');
    await page.fill('#opt-previewEvery', '1');
    await page.click('#start');

    const deadline = Date.now() + 600_000;
    for (;;) {
      const state = await page.getAttribute('#status', 'data-state');
      if (state === 'done' || state === 'failed') break;
      assert.ok(Date.now() < deadline, `the run did not finish: ${await page.textContent('#status')}`);
      await page.waitForTimeout(200);
    }
    assert.equal(await page.getAttribute('#status', 'data-state'), 'done', (await page.textContent('#status')) ?? '');
    assert.match((await page.textContent('#status')) ?? '', /64×48 · in this browser/);
    assert.match((await page.textContent('#engine-status')) ?? '', /WebAssembly, \d+ threads?/);
    // The network is stored now, and the start button stops announcing a download.
    await page.waitForFunction(() => !/downloads/.test(document.getElementById('start')?.textContent ?? ''), null, { timeout: 30_000 });
    assert.match((await page.textContent('#weights-status')) ?? '', /stored in this browser/);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-mode.png'), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-result')]);
    const result = await decodeImageBytes(await readFile((await download.path())!), download.suggestedFilename());
    const content = await decodeImage(contentPng);
    assert.deepEqual([result.width, result.height], [64, 48]);
    let diff = 0;
    for (let i = 0; i < content.data.length; i++) diff += Math.abs(result.data[i] - content.data[i]);
    assert.ok(diff / content.data.length > 1, `the result differs from the content by ${(diff / content.data.length).toFixed(2)} levels on average`);

    // Iteration 1's loss is the loss of the start image (the content) against targets from the
    // same pixels: onnxruntime-node must give the same number.
    const browserLoss = Number(await page.getAttribute('#chart', 'data-first-loss'));
    const nodeLoss = await nodeFirstLoss(contentPng, stylePng, 'quality', 64);
    assert.ok(Number.isFinite(browserLoss) && browserLoss > 0, `browser loss ${browserLoss}`);
    // The spec's 1e-4. (It held only at 3e-4 while the losses summed with one flat ReduceSum: see
    // GraphBuilder.sumAll and test/web/wasm-parity.test.ts.)
    assert.ok(relativeError(browserLoss, nodeLoss) < 1e-4, `browser ${browserLoss} vs node ${nodeLoss}`);

    // Nothing went to the server but GETs, and the network came down once.
    assert.deepEqual(
      server.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD'),
      [],
    );
    assert.equal(server.requests.filter((r) => r.path === WEIGHTS_URL).length, 1);

    // Cancel a long run of an EXIF-rotated photo: the image as it was is kept, upright (the browser
    // applied the orientation). The worker keeps the network and sessions, so this starts at once.
    await page.setInputFiles('#content-input', rotatedJpg);
    await page.fill('#iterations', '500');
    await page.click('#start');
    await page.waitForFunction(() => Number(/iteration (\d+)\/500/.exec(document.getElementById('status')?.textContent ?? '')?.[1] ?? 0) >= 2, null, {
      timeout: 300_000,
    });
    await page.click('#cancel');
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'cancelled', null, { timeout: 120_000 });
    assert.match((await page.textContent('#status')) ?? '', /image as it was is kept/);
    const [kept] = await Promise.all([page.waitForEvent('download'), page.click('#download-result')]);
    const keptImage = await decodeImageBytes(await readFile((await kept.path())!), kept.suggestedFilename());
    assert.deepEqual([keptImage.width, keptImage.height], [48, 64], 'portrait: EXIF orientation applied');
    assert.equal(server.requests.filter((r) => r.path === WEIGHTS_URL).length, 1);

    // After a reload the network is found in this browser's storage: no second download.
    await page.reload();
    await page.waitForFunction(() => /stored in this browser/.test(document.getElementById('weights-status')?.textContent ?? ''));
    assert.doesNotMatch((await page.textContent('#start')) ?? '', /downloads/);
    assert.deepEqual(pageErrors, []);
    await context.close();
  });

  it('refuses a run larger than the memory budget, and a picked weights file with the wrong hash, before downloading anything', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/?backend=wasm`);
    await page.waitForSelector('#preset option', { state: 'attached' });
    const max = Number(await page.getAttribute('#size', 'max'));
    assert.ok(max >= 512 && max <= 2048, `the size slider stops at the budget: ${max}`);
    const downloadsBefore = server.requests.filter((r) => r.path === WEIGHTS_URL).length;
    await page.setInputFiles('#content-input', contentPng);
    await page.setInputFiles('#style-input', stylePng);
    // Past the slider (as a hand-edited page or a very wide picture would): the worker's check refuses it.
    await page.$eval('#size', (el) => {
      const input = el as HTMLInputElement;
      input.max = '4000';
      input.value = '4000';
    });
    await page.click('#start');
    await page.waitForSelector('#error:not([hidden])', { timeout: 120_000 });
    const message = (await page.textContent('#error')) ?? '';
    assert.match(message, /^a 4000x3000 run needs about \d+\.\d GiB, more than this browser can give it \(\d+\.\d GiB\); choose \d+ px or less, or run it on the server$/);
    assert.equal(await page.getAttribute('#status', 'data-state'), 'failed');
    assert.equal(server.requests.filter((r) => r.path === WEIGHTS_URL).length, downloadsBefore);

    // A picked weights file is checked against the site's SHA-256 before it is used.
    await page.setInputFiles('#weights-input', stylePng);
    assert.match((await page.textContent('#weights-status')) ?? '', /style\.png .*checked before use/);
    await page.$eval('#size', (el) => {
      (el as HTMLInputElement).value = '64';
    });
    await page.click('#start');
    await page.waitForFunction(() => /SHA-256/.test(document.getElementById('error')?.textContent ?? ''), null, { timeout: 120_000 });
    assert.match((await page.textContent('#error')) ?? '', /^style\.png does not have the expected SHA-256 \(27cf8e3b3cff…, got [0-9a-f]{12}…\): a corrupted or different file$/);
    assert.equal(server.requests.filter((r) => r.path === WEIGHTS_URL).length, downloadsBefore);
    await context.close();
  });
});
