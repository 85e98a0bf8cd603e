/**
 * npm run bench:web [-- --sizes 128,256] [--runs 3] [--threads N] [--backends wasm,webgpu] [--json]
 *
 * The engine in headless Chromium (onnxruntime-web: wasm with threads, the page being served with
 * COOP/COEP; and WebGPU when Chromium grants an adapter) next to onnxruntime-node in this process,
 * in the same run: median ms of one full loss-and-gradient evaluation (one L-BFGS/Adam iteration's
 * work) at each size. Every WebGPU figure names its adapter (vendor, architecture): on a machine
 * without a GPU that is SwiftShader, Chromium's Vulkan on the CPU, whose figures are not GPU
 * speeds. Not part of CI. --json prints one {"backend","adapter"?,"size","ms"} object per line.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { StyleEngine } from '../src/engine/style-engine.js';
import { extractConvWeights, readWeightsFile } from '../src/model/weights-file.js';
import { vgg19 } from '../src/model/vgg19.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { WEBGPU_ARGS } from '../test/web/chromium.js';
import { builtSite } from '../test/web/site-build.js';
import { startStaticServer } from '../test/web/static-server.js';
import { BENCH_LAYOUT, measureEvaluate } from './engine-measure.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '128,256' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    threads: { type: 'string' },
    backends: { type: 'string', default: 'wasm,webgpu' },
    weights: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const repo = fileURLToPath(new URL('..', import.meta.url));
const weightsPath = values.weights ?? process.env.STYLE_TRANSFER_WEIGHTS ?? path.resolve(repo, '../shared/weights/vgg19-caffe-q8.safetensors');
const sizes = values.sizes!.split(',').map(Number);
const runs = Number(values.runs);
const backends = values.backends!.split(',') as ('wasm' | 'webgpu')[];
const rows: { backend: string; adapter?: string; size: number; ms: number }[] = [];
const say = (text: string) => values.json || console.log(text);

interface PageResult {
  error?: string;
  threads: number;
  isolated: boolean;
  createMs: number;
  adapter?: { vendor: string; architecture: string };
  results: { size: number; ms: number; minMs: number }[];
}

// Browser first, then Node: the two never compete for the cores.
if (!existsSync(values.chromium!)) throw new Error(`Chromium is not installed at ${values.chromium}`);
const server = await startStaticServer(await builtSite('engine'), { extra: { '/weights.safetensors': weightsPath } });
try {
  for (const backend of backends) {
    const args = backend === 'webgpu' ? WEBGPU_ARGS : ['--headless', '--no-sandbox', '--disable-gpu'];
    const browser = await chromium.launch({ executablePath: values.chromium, headless: true, args });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/?backend=${backend}&sizes=${sizes.join(',')}&runs=${runs}${values.threads ? `&threads=${values.threads}` : ''}`);
      const handle = await page.waitForFunction(() => (window as unknown as { benchResult?: unknown }).benchResult, null, { timeout: 0 });
      const result = (await handle.jsonValue()) as PageResult;
      if (result.error) throw new Error(`in the browser (${backend}): ${result.error}`);
      const adapter = result.adapter ? `${result.adapter.vendor} ${result.adapter.architecture}` : undefined;
      const name = backend === 'webgpu' ? `onnxruntime-web webgpu` : `onnxruntime-web wasm ${result.threads}t`;
      say(
        `${name}${adapter ? ` on ${adapter}${result.adapter!.architecture === 'swiftshader' ? ' (SwiftShader: Vulkan on the CPU, not a GPU speed)' : ''}` : ''} (cross-origin isolated: ${result.isolated}), sessions created in ${Math.round(result.createMs)} ms`,
      );
      for (const r of result.results) rows.push({ backend: name, adapter, size: r.size, ms: Math.round(r.ms) });
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.close();
}

const file = await readWeightsFile(weightsPath);
const net = vgg19(file.convention!);
const engine = await StyleEngine.create(
  nodeBackend({ threads: values.threads ? Number(values.threads) : undefined }),
  net,
  extractConvWeights(file.tensors, net, weightsPath),
  BENCH_LAYOUT,
);
const nodeName = `onnxruntime-node ${values.threads ?? availableParallelism()}t`;
for (const size of sizes) rows.push({ backend: nodeName, size, ms: Math.round((await measureEvaluate(engine, size, runs)).ms) });
await engine.release();

if (values.json) for (const row of rows) console.log(JSON.stringify(row));
else {
  for (const size of sizes) {
    const node = rows.find((r) => r.size === size && r.backend === nodeName)!;
    for (const web of rows.filter((r) => r.size === size && r.backend !== nodeName)) {
      const label = web.adapter ? `${web.backend} (${web.adapter})` : web.backend;
      console.log(`${size}x${size}: ${label} ${web.ms} ms, ${nodeName} ${node.ms} ms per iteration: ${(web.ms / node.ms).toFixed(2)}x`);
    }
  }
}
