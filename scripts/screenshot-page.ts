/**
 * node --import tsx scripts/screenshot-page.ts --mode server|browser [--size 512] [--out FILE]
 *
 * The README's pictures of the web page, each from a real run of dog × matisse with the default
 * preset at --size, in headless Chromium:
 *   server  `style-transfer serve` (the built page, a runner process) → docs/web-app.png
 *   browser the static site with the shared network, served with the isolation headers, the run in
 *           the page's worker on onnxruntime-web → docs/web-browser-mode.png
 * Slow on purpose (a real run); not part of the tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../src/server/server.js';
import { startStaticServer } from '../test/web/static-server.js';
import { buildWeb } from './build-web.js';

const { values } = parseArgs({
  options: { mode: { type: 'string', default: 'browser' }, size: { type: 'string', default: '512' }, out: { type: 'string' }, weights: { type: 'string' } },
});
const mode = values.mode === 'server' ? 'server' : 'browser';
const repo = fileURLToPath(new URL('..', import.meta.url));
const shared = path.resolve(repo, '../shared');
const weights = values.weights ?? path.join(shared, 'weights/vgg19-caffe-q8.safetensors');
const out = path.resolve(repo, values.out ?? (mode === 'server' ? 'docs/web-app.png' : 'docs/web-browser-mode.png'));
const dir = await mkdtemp(path.join(tmpdir(), 'st-shot-'));
const site = path.join(dir, 'site');
try {
  await buildWeb(site, mode === 'browser' ? weights : undefined);
  const server = mode === 'server' ? await startServer({ port: 0, weights, webDir: site, dataDir: path.join(dir, 'data') }) : await startStaticServer(site);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(server.url.replace(/\/$/, '') + '/');
    await page.waitForSelector('#preset option', { state: 'attached' });
    await page.setInputFiles('#content-input', path.join(shared, 'images/dog.jpg'));
    await page.setInputFiles('#style-input', path.join(shared, 'images/matisse.jpg'));
    await page.$eval(
      '#size',
      (el, size) => {
        const input = el as HTMLInputElement;
        input.value = size;
        input.dispatchEvent(new Event('input', { bubbles: true }));
      },
      values.size!,
    );
    await page.click('#start');
    await page.waitForFunction(() => ['done', 'failed'].includes(document.getElementById('status')?.dataset.state ?? ''), null, { timeout: 0, polling: 5000 });
    console.log(await page.textContent('#status'));
    if (mode === 'server') await page.waitForFunction(() => (document.getElementById('preview') as HTMLImageElement).src.includes('/result'));
    await page.waitForFunction(() => (document.getElementById('preview') as HTMLImageElement).complete);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: out });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
    await server.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
