/**
 * The engine on WebGPU in Chromium against onnxruntime-node, on the same pixels: the loss within
 * 1e-4 (relative) and the gradient within 1e-3 (relative L2), at 31x16: odd in width at every one of
 * the four pools (31, 15, 7, 3: a trailing column each pool drops, so the max-pool gradient's padding
 * is exercised), even in height, and the smallest such picture (16 rows is the least that leaves
 * conv5_1 a row). SwiftShader's cost grows with the pixels: 45x37 cost ~100 CPU-s, this ~50. Even sizes: the
 * WebGPU job of test/web/e2e.test.ts runs 64x16 through the app and checks its first loss against
 * onnxruntime-node's (a 48x48 case here cost ~45 CPU-s of SwiftShader for the same kernels).
 *
 * Chromium runs headless with --enable-unsafe-webgpu; on a machine without a GPU (CI, this one) its
 * adapter is SwiftShader, Chromium's Vulkan on the CPU: real WebGPU shaders, run slowly. The page
 * is the engine page (bench/web, shared build: test/web/site-build.ts), whose worker sets up
 * onnxruntime-web's WebGPU build exactly as the app's worker does (src/web/platform.ts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { StyleEngine } from '../../src/engine/style-engine.js';
import type { Targets } from '../../src/engine/loss-terms.js';
import { preprocess } from '../../src/model/convention.js';
import { extractConvWeights, readWeightsFile } from '../../src/model/weights-file.js';
import { vgg19, type NetworkSpec } from '../../src/model/vgg19.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { BENCH_LAYOUT } from '../../bench/engine-measure.js';
import { relativeError, relativeL2, sharedImage, sharedWeights } from '../helpers.js';
import { CHROMIUM, WEBGPU_ARGS } from './chromium.js';
import { builtSite } from './site-build.js';
import { startStaticServer, type StaticServer } from './static-server.js';

const termWeights = { content: new Map([['conv4_2', 1]]), style: new Map(BENCH_LAYOUT.styleLayers.map((l) => [l, 100])), tv: 1e-3 };

interface BrowserAnswer {
  error?: string;
  adapter?: { vendor: string; architecture: string };
  total: number;
  style: Record<string, number>;
  tv: number;
  grad: number[];
}

async function picture(name: 'dog' | 'matisse', width: number, height: number, net: NetworkSpec): Promise<Float32Array> {
  const { data } = await sharp(sharedImage(name)).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = width * height;
  const planar = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = data[3 * i + c] / 255;
  return preprocess(planar, n, net.convention);
}

describe('the engine on WebGPU (Chromium) against onnxruntime-node', () => {
  let net: NetworkSpec;
  let node: StyleEngine;
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}; install it with: apt-get install -y chromium`);
    const file = await readWeightsFile(sharedWeights);
    net = vgg19(file.convention!, 'vgg19-caffe-q8');
    node = await StyleEngine.create(nodeBackend(), net, extractConvWeights(file.tensors, net, sharedWeights), BENCH_LAYOUT);
    server = await startStaticServer(await builtSite('engine'), { extra: { '/weights.safetensors': sharedWeights } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: WEBGPU_ARGS });
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${server.url}/`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await node?.release();
  });

  for (const [width, height] of [[31, 16]]) {
    it(`${width}x${height}: loss within 1e-4, gradient within 1e-3 (relative L2)`, async () => {
      const content = await picture('dog', width, height, net);
      const style = await picture('matisse', width, height, net);
      // Away from the content image, so the content term and its gradient are not zero.
      const x = content.map((v, i) => v + 12 * Math.sin(i * 0.37));

      const targets: Targets = {
        content: (await node.targets(content, width, height, { content: true, style: false })).content,
        gram: (await node.targets(style, width, height, { content: false, style: true })).gram,
      };
      const nodeGrad = new Float32Array(x.length);
      const expected = await node.evaluate(x, width, height, targets, termWeights, nodeGrad);

      const request = { type: 'evaluate', backend: 'webgpu', weights: '/weights.safetensors', width, height, content: [...content], style: [...style], x: [...x] };
      const got = await page.evaluate((r) => (window as unknown as { engine(r: unknown): Promise<BrowserAnswer> }).engine(r), request);
      assert.equal(got.error, undefined, got.error);
      assert.ok(got.adapter, 'the page names its adapter');

      assert.ok(relativeError(got.total, expected.total) < 1e-4, `loss: WebGPU ${got.total} vs node ${expected.total}`);
      for (const [layer, value] of expected.style) assert.ok(relativeError(got.style[layer], value) < 1e-4, `style ${layer}: ${got.style[layer]} vs ${value}`);
      assert.ok(relativeError(got.tv, expected.tv) < 1e-4, `tv: ${got.tv} vs ${expected.tv}`);
      const l2 = relativeL2(got.grad, nodeGrad);
      console.log(
        `# ${width}x${height} on WebGPU (${got.adapter.vendor} ${got.adapter.architecture}): loss ${got.total} vs node ${expected.total}, gradient relative L2 ${l2.toExponential(2)}`,
      );
      assert.equal(got.grad.length, nodeGrad.length);
      assert.ok(l2 < 1e-3, `gradient: relative L2 ${l2}`);
      assert.deepEqual(pageErrors, []);
    });
  }
});
