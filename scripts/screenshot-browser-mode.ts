/**
 * node --import tsx scripts/screenshot-browser-mode.ts [--size 512] [--out docs/web-browser-mode.png]
 *
 * The README's picture of browser mode: builds the static site with the shared network, serves it
 * with the isolation headers, runs dog × matisse in headless Chromium's worker with the default
 * preset at --size, and saves a screenshot of the finished page. Slow on purpose (a real run); not
 * part of the tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startStaticServer } from '../test/web/static-server.js';
import { buildWeb } from './build-web.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '512' }, out: { type: 'string', default: 'docs/web-browser-mode.png' }, weights: { type: 'string' } } });
const repo = fileURLToPath(new URL('..', import.meta.url));
const shared = path.resolve(repo, '../shared');
const site = await mkdtemp(path.join(tmpdir(), 'st-shot-'));
try {
  await buildWeb(site, values.weights ?? path.join(shared, 'weights/vgg19-caffe-q8.safetensors'));
  const server = await startStaticServer(site);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/`);
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
    await page.screenshot({ path: path.resolve(repo, values.out!) });
  } finally {
    await browser.close();
    await server.close();
  }
} finally {
  await rm(site, { recursive: true, force: true });
}
