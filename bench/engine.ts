/**
 * Engine benchmark: median time of one forward + ∂loss/∂image evaluation of the full Gatys loss
 * (content conv4_2, style conv1_1…conv5_1) with the real VGG-19 weights, after warm-up.
 *
 *   npm run bench [-- --sizes 256,512] [--1024] [--runs 5] [--threads N] [--json] [--arena]
 *
 * FLOPs are counted as 2·MACs of the convolutions, forward and backward-data, plus the Gram
 * matrices (forward F·Fᵀ and the backward (D+Dᵀ)·F), so GFLOP/s is comparable with the machine's
 * FMA peak. Peak RSS comes from the OS (ru_maxrss), for the whole process so far.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StyleEngine } from '../src/engine/session.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { readWeightsFile, extractConvWeights } from '../src/model/weights.js';
import { truncateTo, vgg19, type Layer } from '../src/model/vgg19.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,512' },
    '1024': { type: 'boolean', default: false },
    runs: { type: 'string', default: '5' },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
    arena: { type: 'boolean', default: false },
    weights: { type: 'string' },
  },
});

const repo = fileURLToPath(new URL('..', import.meta.url));
const weightsPath = values.weights ?? process.env.STYLE_TRANSFER_WEIGHTS ?? path.resolve(repo, '../shared/weights/vgg19-caffe-q8.safetensors');
const sizes = values.sizes!.split(',').map(Number);
if (values['1024']) sizes.push(1024);
const runs = Number(values.runs);

const layout = {
  contentLayers: ['conv4_2'],
  styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
  styleNormalisation: 'size-invariant' as const,
  pooling: 'max' as const,
};

/** 2·MACs of the convs (forward + backward-data; conv1_1's backward is needed too: it yields ∂image) and of the Gram products. */
export function countFlops(layers: readonly Layer[], width: number, height: number, styleLayers: readonly string[]): number {
  let w = width;
  let h = height;
  let flops = 0;
  for (const l of layers) {
    if (l.kind === 'pool') {
      w = Math.floor(w / 2);
      h = Math.floor(h / 2);
      continue;
    }
    const macs = w * h * l.inChannels * l.outChannels * 9;
    flops += 2 * macs * 2; // forward + input gradient
    if (styleLayers.includes(l.name)) flops += 2 * 2 * l.outChannels * l.outChannels * w * h; // F·Fᵀ and (D+Dᵀ)·F
  }
  return flops;
}

const file = await readWeightsFile(weightsPath);
const net = vgg19(file.convention!);
const weights = extractConvWeights(file.tensors, net, weightsPath);
const threads = values.threads ? Number(values.threads) : undefined;
const created = performance.now();
const engine = await StyleEngine.create(nodeBackend({ threads, memoryArena: values.arena }), net, weights, layout);
const createMs = performance.now() - created;
if (!values.json) console.log(`weights ${weightsPath}\nsession creation ${createMs.toFixed(0)} ms, threads ${threads ?? 'all cores'}, arena ${values.arena ? 'on' : 'off'}`);

for (const size of sizes) {
  const n = size * size;
  const image = Float32Array.from({ length: 3 * n }, (_, i) => 60 * Math.sin(i * 0.001) + 20 * Math.cos(i * 0.37));
  const styleImage = Float32Array.from({ length: 3 * n }, (_, i) => 60 * Math.cos(i * 0.0007) + 30 * Math.sin(i * 0.11));
  const targets = {
    content: (await engine.targets(image, size, size)).content,
    gram: (await engine.targets(styleImage, size, size)).gram,
  };
  const termWeights = { content: new Map([['conv4_2', 1]]), style: new Map(layout.styleLayers.map((l) => [l, 100])), tv: 1e-3 };
  const grad = new Float32Array(3 * n);
  const x = image.map((v, i) => v + Math.sin(i));
  await engine.evaluate(x, size, size, targets, termWeights, grad); // warm-up: the first run grows buffers
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await engine.evaluate(x, size, size, targets, termWeights, grad);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  const gflop = countFlops(truncateTo(net, [...layout.contentLayers, ...layout.styleLayers]), size, size, layout.styleLayers) / 1e9;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const result = { size, ms: Math.round(ms), gflop: +gflop.toFixed(1), gflops: +(gflop / (ms / 1000)).toFixed(1), minMs: Math.round(times[0]), peakRssMiB: Math.round(peakRssMiB) };
  if (values.json) console.log(JSON.stringify(result));
  else
    console.log(
      `${size}x${size}: median ${result.ms} ms (min ${result.minMs}) over ${runs} runs, ${result.gflop} GFLOP, ${result.gflops} GFLOP/s, peak RSS ${result.peakRssMiB} MiB`,
    );
}
await engine.release();
