/**
 * npm run bench:web [-- --sizes 128,256] [--runs 3] [--threads N] [--json]
 *
 * The engine in headless Chromium (onnxruntime-web, wasm with threads: the page is served with
 * COOP/COEP) next to onnxruntime-node in this process, in the same run: median ms of one full
 * loss-and-gradient evaluation (one L-BFGS/Adam iteration's work) at each size. Not part of CI.
 * --json prints one {"backend","size","ms"} object per line.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { StyleEngine } from '../src/engine/style-engine.js';
import { extractConvWeights, readWeightsFile } from '../src/model/weights-file.js';
import { vgg19 } from '../src/model/vgg19.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { startStaticServer } from '../test/web/static-server.js';
import { BENCH_LAYOUT, measureEvaluate } from './engine-measure.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '128,256' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    threads: { type: 'string' },
    weights: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const repo = fileURLToPath(new URL('..', import.meta.url));
const weightsPath = values.weights ?? process.env.STYLE_TRANSFER_WEIGHTS ?? path.resolve(repo, '../shared/weights/vgg19-caffe-q8.safetensors');
const sizes = values.sizes!.split(',').map(Number);
const runs = Number(values.runs);
const rows: { backend: string; size: number; ms: number }[] = [];
const say = (text: string) => values.json || console.log(text);

// Browser first, then Node: the two never compete for the cores.
if (!existsSync(values.chromium!)) throw new Error(`Chromium is not installed at ${values.chromium}`);
const site = await mkdtemp(path.join(tmpdir(), 'st-bench-web-'));
try {
  await build({ root: path.join(repo, 'bench/web'), base: './', logLevel: 'warn', build: { outDir: site, emptyOutDir: true, target: 'es2022' }, worker: { format: 'es' } });
  const server = await startStaticServer(site, { extra: { '/weights.safetensors': weightsPath } });
  const browser = await chromium.launch({ executablePath: values.chromium, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/?sizes=${sizes.join(',')}&runs=${runs}${values.threads ? `&threads=${values.threads}` : ''}`);
    const handle = await page.waitForFunction(() => (window as unknown as { benchResult?: unknown }).benchResult, null, { timeout: 0 });
    const result = (await handle.jsonValue()) as { error?: string; threads: number; isolated: boolean; createMs: number; results: { size: number; ms: number; minMs: number }[] };
    if (result.error) throw new Error(`in the browser: ${result.error}`);
    const backend = `onnxruntime-web wasm ${result.threads}t`;
    say(`${backend} (cross-origin isolated: ${result.isolated}), sessions created in ${Math.round(result.createMs)} ms`);
    for (const r of result.results) rows.push({ backend, size: r.size, ms: Math.round(r.ms) });
  } finally {
    await browser.close();
    await server.close();
  }
} finally {
  await rm(site, { recursive: true, force: true });
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
    const web = rows.find((r) => r.size === size && r.backend !== nodeName)!;
    const node = rows.find((r) => r.size === size && r.backend === nodeName)!;
    console.log(`${size}x${size}: ${web.backend} ${web.ms} ms, ${nodeName} ${node.ms} ms per iteration: ${(web.ms / node.ms).toFixed(2)}x`);
  }
}
