/**
 * The web app end to end in a real browser: Debian's Chromium driven by playwright-core against a
 * real server with the real library. Serves the shared build of the page (test/web/site-build.ts,
 * rebuilt whenever the source changes), so the test always exercises the current source. Saves screenshots to test-artifacts/ (the README's
 * docs/web-app.png is copied from web-readme.png by hand, so tests never modify tracked files).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import sharp from 'sharp';
import { decodeImageBytes } from '../../src/image/io.js';
import { relativeError, repoRoot, sharedImage } from '../helpers.js';
import { startTestServer, type TestServer } from '../server/helpers.js';
import { nodeFirstLoss } from './node-first-loss.js';
import { builtSite } from './site-build.js';
import { WEBGPU_ARGS } from './chromium.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(repoRoot, 'test-artifacts');

describe('web app in Chromium', () => {
  let scratch: string;
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    // Not a skip: without the browser this test cannot say anything, and CI must install it.
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}; install it with: apt-get install -y chromium`);
    scratch = await mkdtemp(path.join(tmpdir(), 'st-web-e2e-'));
    server = await startTestServer({ webDir: await builtSite('app') });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    await mkdir(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('uploads, starts, shows changing previews, finishes, downloads, and shows upload errors', async () => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    const frameBodies: Promise<Buffer>[] = [];
    page.on('response', (response) => {
      if (response.url().includes('/preview?v=') && response.status() === 200) frameBodies.push(response.body());
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#preset option', { state: 'attached' });

    await page.setInputFiles('#content-input', sharedImage('dog'));
    await page.setInputFiles('#style-input', sharedImage('matisse'));
    assert.equal(await page.locator('#content-thumbs img').count(), 1);
    assert.equal(await page.locator('#style-thumbs img').count(), 1);

    // 96 px, a short single-scale run, a preview frame every iteration.
    await page.$eval('#size', (el) => {
      const input = el as HTMLInputElement;
      input.value = '96';
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    assert.match((await page.textContent('#size-value')) ?? '', /^96 px/);
    // Before any job has finished, the server cannot tell the time yet, but gives the size.
    await page.waitForFunction(() => /96×72, \d scales?\. The time it takes shows once/.test(document.getElementById('estimate')?.textContent ?? ''));
    await page.fill('#iterations', '8');
    await page.click('.advanced summary');
    await page.fill('#opt-scaleIterations', '0');
    await page.fill('#opt-previewEvery', '1');
    await page.click('#start');

    // Collect the preview frames the page shows until the run is done.
    const frames = new Set<string>();
    const deadline = Date.now() + 90_000;
    for (;;) {
      const src = await page.getAttribute('#preview', 'src');
      if (src && src.includes('/preview?v=')) frames.add(src);
      const state = await page.getAttribute('#status', 'data-state');
      if (state === 'done' || state === 'failed') break;
      assert.ok(Date.now() < deadline, `the run did not finish: ${await page.textContent('#status')}`);
      await page.waitForTimeout(25);
    }
    assert.equal(await page.getAttribute('#status', 'data-state'), 'done', (await page.textContent('#status')) ?? '');
    assert.ok(frames.size >= 2, `at least two preview frames, saw ${[...frames].join(', ')}`);
    // And the frames differ in content, as the browser received them.
    const distinct = new Set((await Promise.all(frameBodies)).map((b) => b.toString('base64')));
    assert.ok(distinct.size >= 2, `at least two different preview images, got ${distinct.size} of ${frameBodies.length}`);
    for (const body of await Promise.all(frameBodies)) assert.equal((await decodeImageBytes(body, 'preview')).width, 96);

    // The finished page shows the result image.
    await page.waitForFunction(() => (document.getElementById('preview') as HTMLImageElement).src.includes('/result'));
    await page.waitForFunction(() => (document.getElementById('preview') as HTMLImageElement).complete);

    // Download the result and check it decodes at the requested size.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-result')]);
    const downloaded = await readFile((await download.path())!);
    const image = await decodeImageBytes(downloaded, download.suggestedFilename());
    assert.equal(Math.max(image.width, image.height), 96);
    assert.match(download.suggestedFilename(), /^style-transfer-[0-9a-f]{8}-result\.png$/);
    assert.equal(await page.isVisible('#download-sheet'), true);

    // Now it can: the same job again would take about as long as this one did.
    await page.fill('#iterations', '48');
    await page.waitForFunction(() => /about \d+ s on this server/.test(document.getElementById('estimate')?.textContent ?? ''));
    await page.fill('#iterations', '8');

    // The loss chart drew its line, and the gallery lists the finished job.
    const inked = await page.$eval('#chart', (el) => {
      const c = el as HTMLCanvasElement;
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n;
    });
    assert.ok(inked > 500, `chart pixels drawn: ${inked}`);
    await page.waitForSelector('#gallery .card[data-status="done"] img');

    await page.screenshot({ path: path.join(ARTIFACTS, 'web-finished.png'), fullPage: true });
    // The README's picture: advanced settings folded, from the top.
    await page.click('.advanced summary');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-readme.png'), fullPage: false });

    // A bad upload: the server's one-line message appears in the page.
    const notImage = path.join(scratch, 'notes.txt');
    await writeFile(notImage, 'not a picture\n');
    await page.setInputFiles('#content-input', notImage);
    await page.click('#start');
    await page.waitForSelector('#error:not([hidden])');
    assert.match((await page.textContent('#error')) ?? '', /^content image notes\.txt is not an image in a supported format/);

    // Usable at phone width: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone screen`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-phone.png'), fullPage: true });

    assert.deepEqual(pageErrors, []);
    await context.close();
  });

  it('runs a job in the browser on "GPU (WebGPU)", chosen by default when the browser grants an adapter, and names the adapter', async () => {
    // A browser of its own: WebGPU on (the other tests run with --disable-gpu). Without a GPU
    // (CI, this machine) Chromium's adapter is SwiftShader, its Vulkan on the CPU.
    const gpuBrowser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: WEBGPU_ARGS });
    try {
      const context = await gpuBrowser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 1180 }, deviceScaleFactor: 1 });
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (err) => pageErrors.push(err.message));
      page.on('console', (msg) => {
        // With the URL: "Failed to load resource" alone does not say which.
        if (msg.type() === 'error') pageErrors.push(`${msg.text()} (${msg.location().url})`);
      });
      await page.goto(`${server.url}/`);
      await page.waitForSelector('#preset option', { state: 'attached' });
      await page.check('#where-browser');
      // Offered, named, and chosen: no ?backend in the URL.
      await page.waitForFunction(() => !(document.querySelector('#engine-select option[value="webgpu"]') as HTMLOptionElement).disabled);
      assert.equal(await page.inputValue('#engine-select'), 'webgpu');
      const offered = (await page.textContent('#engine-select option[value="webgpu"]')) ?? '';
      assert.match(offered, /^GPU \(WebGPU\): \S+ \S+/);
      await page.waitForFunction(() => /MiB\) is downloaded once/.test(document.getElementById('weights-status')?.textContent ?? ''));
      // The smallest job: on SwiftShader one evaluation of 85x64 pixels cost ~30 CPU-s, and the cost
      // grows with the pixels (64x32 cost ~9 CPU-s more). Pictures already at the run's size (64x16:
      // the least the size slider allows on the long side, and the fewest rows that leave conv5_1
      // one, after four pools; both engines see the same pixels, PNG being lossless). The recipe preset (Adam, no border
      // margin) with one iteration is 4 evaluations (two targets, the step, the result's own loss);
      // the quality preset's L-BFGS (96x80 with its reflected margin) took 9, ~400 CPU-s.
      const picture = async (name: 'dog' | 'matisse') => {
        const file = path.join(scratch, `${name}-64x16.png`);
        await sharp(sharedImage(name)).resize(64, 16, { fit: 'cover' }).removeAlpha().png().toFile(file);
        return file;
      };
      const [contentPng, stylePng] = [await picture('dog'), await picture('matisse')];
      await page.setInputFiles('#content-input', contentPng);
      await page.setInputFiles('#style-input', stylePng);
      await page.selectOption('#preset', 'recipe');
      await page.$eval('#size', (el) => {
        const input = el as HTMLInputElement;
        input.value = '64';
        input.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await page.fill('#iterations', '1');
      await page.click('.advanced summary');
      await page.fill('#opt-scaleIterations', '0');
      await page.fill('#opt-previewEvery', '1');
      // The recipe measures the short side (64x16 would run at 256x64): the long side, chosen here.
      await page.selectOption('#opt-sizeSide', 'long');
      assert.equal(await page.textContent('#size-value'), '64 px, longer side');
      await page.click('.advanced summary');
      await page.click('#start');
      await page.waitForFunction(() => /^Engine: WebGPU on /.test(document.getElementById('engine-status')?.textContent ?? ''), null, { timeout: 300_000 });
      // During the run: the README's screenshot (copied to docs/ by hand), tall enough for the
      // engine line under the form.
      await page.waitForFunction(() => /iteration \d+\/1/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 600_000, polling: 500 });
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(ARTIFACTS, 'web-webgpu.png'), fullPage: false });
      await page.waitForFunction(() => ['done', 'failed'].includes(document.getElementById('status')?.dataset.state ?? ''), null, { timeout: 600_000, polling: 500 });
      assert.equal(await page.getAttribute('#status', 'data-state'), 'done', (await page.textContent('#status')) ?? '');
      assert.match((await page.textContent('#status')) ?? '', /in this browser/);
      const engine = (await page.textContent('#engine-status')) ?? '';
      assert.match(engine, /^Engine: WebGPU on \S+ \S+\.$/, 'WebGPU ran the job to the end, with no fallback to wasm');
      assert.ok(offered.endsWith(engine.slice('Engine: WebGPU on '.length, -1)), `the adapter offered (${offered}) runs the job (${engine})`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-result')]);
      const image = await decodeImageBytes(await readFile((await download.path())!), download.suggestedFilename());
      assert.deepEqual([image.width, image.height], [64, 16]);
      // Iteration 1's loss is the start image's (the content's) against targets from the same pixels:
      // WebGPU through the app must give onnxruntime-node's number. With webgpu-parity.test.ts (loss
      // and gradient at 31x16, odd in width at every pool) this is the check at even sizes (64x16 at every pool).
      const browserLoss = Number(await page.getAttribute('#chart', 'data-first-loss'));
      const nodeLoss = await nodeFirstLoss(contentPng, stylePng, 'recipe', 64, 'long');
      assert.ok(Number.isFinite(browserLoss) && browserLoss > 0, `browser loss ${browserLoss}`);
      assert.ok(relativeError(browserLoss, nodeLoss) < 1e-4, `WebGPU ${browserLoss} vs node ${nodeLoss}`);
      await page.screenshot({ path: path.join(ARTIFACTS, 'web-webgpu-done.png'), fullPage: false });
      assert.deepEqual(pageErrors, []);
      await context.close();
    } finally {
      await gpuBrowser.close();
    }
  });
});
