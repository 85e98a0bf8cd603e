/**
 * Spatial control on the page, in Debian's Chromium against a real server with the real library:
 * paint the left half of the content photo for style 1 and the right half for style 2 with the
 * mouse (down, moves, up), start a small server-mode job, and check that each half of the result
 * follows its own style; then the same painted masks on the same page in browser mode (wasm).
 * The styles are flat red and flat blue "paintings" on a grey photo, so which style a half took is
 * told by its mean colour. Saves test-artifacts/web-masks.png (docs/web-masks.png is copied from it by hand).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { decodeImageBytes } from '../../src/image/io.js';
import { repoRoot } from '../helpers.js';
import { BLUE, colourDistance as dist, halfMeans, RED, startTestServer, type TestServer } from '../server/helpers.js';
import { CHROMIUM } from './chromium.js';
import { builtSite } from './site-build.js';

const ARTIFACTS = path.join(repoRoot, 'test-artifacts');

describe('style regions painted on the page', () => {
  let scratch: string;
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    // Not a skip: without the browser this test cannot say anything, and CI must install it.
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}; install it with: apt-get install -y chromium`);
    scratch = await mkdtemp(path.join(tmpdir(), 'st-web-masks-'));
    const flat = (rgb: number[], name: string) =>
      sharp({ create: { width: 160, height: 120, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
        .png()
        .toFile(path.join(scratch, name));
    await Promise.all([flat([128, 128, 128], 'grey.png'), flat(RED, 'red.png'), flat(BLUE, 'blue.png')]);
    server = await startTestServer({ webDir: await builtSite('app') });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    await mkdir(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('paints two regions with the mouse, runs the job with their masks on the server and in the browser (offered by the served page, cross-origin isolated, nothing sent to the job API), and each half of the result follows its style', async () => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // The CSP must let onnxruntime-web compile its WebAssembly and start its threads' workers.
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(`${msg.text()} (${msg.location().url})`);
    });
    const apiCalls: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/jobs')) apiCalls.push(`${r.method()} ${new URL(r.url()).pathname}`);
    });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#preset option', { state: 'attached' });
    assert.equal(await page.isVisible('#mask-panel'), false, 'no paint panel before there are images');

    await page.setInputFiles('#content-input', path.join(scratch, 'grey.png'));
    await page.setInputFiles('#style-input', [path.join(scratch, 'red.png'), path.join(scratch, 'blue.png')]);
    await page.waitForSelector('#mask-panel:not([hidden])');
    await page.waitForFunction(() => (document.getElementById('mask-canvas') as HTMLCanvasElement).width === 160);
    assert.equal(await page.locator('#mask-styles input[type=radio]').count(), 2);

    // The widest brush (40% of the long side), then strokes along two rows over each half.
    await page.$eval('#mask-brush', (el) => ((el as HTMLInputElement).value = '40'));
    const box = (await page.locator('#mask-canvas').boundingBox())!;
    const strokes = async (x0: number, x1: number) => {
      for (const y of [0.25, 0.75]) {
        await page.mouse.move(box.x + x0 * box.width, box.y + y * box.height);
        await page.mouse.down();
        await page.mouse.move(box.x + x1 * box.width, box.y + y * box.height, { steps: 6 });
        await page.mouse.up();
      }
    };
    await page.locator('#mask-styles input[type=radio]').nth(0).check();
    await strokes(0.02, 0.28);
    // Two stray strokes of style 2 over the left half, taken back with Undo (one stroke each).
    await page.locator('#mask-styles input[type=radio]').nth(1).check();
    await strokes(0.1, 0.2);
    await page.click('#mask-undo');
    await page.click('#mask-undo');
    await strokes(0.72, 0.98);

    // Preset "best" (its colour start is off with style masks), one 64 px scale of 30 Adam steps with the content weight off.
    await page.selectOption('#preset', 'best');
    await page.$eval('#size', (el) => {
      (el as HTMLInputElement).value = '64';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.fill('#iterations', '30');
    await page.click('.advanced summary');
    await page.selectOption('#opt-optimizer', 'adam');
    await page.fill('#opt-learningRate', '20');
    await page.fill('#opt-contentWeight', '0');
    await page.fill('#opt-scaleIterations', '0');
    await page.click('#start');
    await page.waitForFunction(() => ['done', 'failed'].includes(document.getElementById('status')?.dataset.state ?? ''), null, { timeout: 120_000, polling: 200 });
    assert.equal(await page.getAttribute('#status', 'data-state'), 'done', (await page.textContent('#status')) ?? '');
    // The painted regions beside the result, for README's screenshot.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-masks.png'), fullPage: false });

    // The job took the page's two masks: grey PNGs at the content's size, white on their own half.
    const href = (await page.getAttribute('#download-result', 'href'))!;
    const id = /api\/jobs\/([0-9a-f-]+)\/result/.exec(href)![1];
    const dir = path.join(server.dataDir, 'jobs', id);
    for (const [i, own] of [
      [1, 'left'],
      [2, 'right'],
    ] as const) {
      const mask = await decodeImageBytes(await readFile(path.join(dir, `mask-${i}.img`)), `mask-${i}`);
      assert.deepEqual([mask.width, mask.height], [160, 120]);
      const means = halfMeans(mask);
      const other = own === 'left' ? 'right' : 'left';
      assert.ok(means[own][0] > 200 && means[other][0] < 20, `mask ${i}: ${Math.round(means.left[0])} on the left, ${Math.round(means.right[0])} on the right`);
    }

    const result = await decodeImageBytes(new Uint8Array(await (await fetch(`${server.url}/${href.replace(/\?.*$/, '')}`)).arrayBuffer()), 'result');
    const { left, right } = halfMeans(result);
    assert.ok(dist(left, RED) < dist(left, BLUE), `left half ${left.map(Math.round)} is closer to red than to blue`);
    assert.ok(dist(right, BLUE) < dist(right, RED), `right half ${right.map(Math.round)} is closer to blue than to red`);

    // The same masks and settings in this browser (WebAssembly: this Chromium has no GPU), with 10
    // steps: enough for the halves to take their colours, at a third of the WebAssembly time. The
    // served page offers it: cross-origin isolated (COOP/COEP from the server, so wasm threads are
    // possible), with the server's own network, its size told before any download.
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'COOP/COEP from the server: wasm threads are possible');
    assert.equal(await page.isVisible('#where'), true);
    await page.check('#where-browser');
    await page.fill('#iterations', '10');
    await page.waitForFunction(() => /MiB\) is downloaded once/.test(document.getElementById('weights-status')?.textContent ?? ''));
    apiCalls.length = 0;
    await page.click('#start');
    await page.waitForFunction(
      () => /^Done .*in this browser/.test(document.getElementById('status')?.textContent ?? '') || document.getElementById('status')?.dataset.state === 'failed',
      null,
      {
        timeout: 300_000,
        polling: 200,
      },
    );
    assert.equal(await page.getAttribute('#status', 'data-state'), 'done', (await page.textContent('#status')) ?? '');
    assert.match((await page.textContent('#engine-status')) ?? '', /WebAssembly, \d+ threads?\./);
    // Nothing of the browser's job went to the server's job API.
    assert.deepEqual(
      apiCalls.filter((c) => !c.startsWith('GET ')),
      [],
    );
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-result')]);
    const local = await decodeImageBytes(await readFile((await download.path())!), download.suggestedFilename());
    const halves = halfMeans(local);
    assert.ok(dist(halves.left, RED) < dist(halves.left, BLUE), `in the browser: left half ${halves.left.map(Math.round)} is closer to red than to blue`);
    assert.ok(dist(halves.right, BLUE) < dist(halves.right, RED), `in the browser: right half ${halves.right.map(Math.round)} is closer to blue than to red`);
    assert.deepEqual(pageErrors, []);
    await context.close();
  });
});
