/**
 * One engine measurement, shared by `npm run bench:web`'s two sides (onnxruntime-node in Node,
 * onnxruntime-web in Chromium) so both time exactly the same work: the full Gatys loss and its
 * gradient at size², median of `runs` after one warm-up. Plain TypeScript, no platform import.
 */
import type { ConvolutionAlgorithm } from '../src/engine/network-graph.js';
import type { StyleEngine } from '../src/engine/style-engine.js';

export const BENCH_LAYOUT = {
  contentLayers: ['conv4_2'],
  styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
  styleNormalisation: 'size-invariant' as const,
  pooling: 'max' as const,
};

/** Median and minimum milliseconds of one loss-and-gradient evaluation at size×size. */
export async function measureEvaluate(engine: StyleEngine, size: number, runs: number): Promise<{ ms: number; minMs: number }> {
  const n = size * size;
  const image = Float32Array.from({ length: 3 * n }, (_, i) => 60 * Math.sin(i * 0.001) + 20 * Math.cos(i * 0.37));
  const styleImage = Float32Array.from({ length: 3 * n }, (_, i) => 60 * Math.cos(i * 0.0007) + 30 * Math.sin(i * 0.11));
  const targets = { content: (await engine.targets(image, size, size)).content, gram: (await engine.targets(styleImage, size, size)).gram };
  const weights = { content: new Map([['conv4_2', 1]]), style: new Map(BENCH_LAYOUT.styleLayers.map((l) => [l, 100])), tv: 1e-3 };
  const grad = new Float32Array(3 * n);
  const x = image.map((v, i) => v + Math.sin(i));
  await engine.evaluate(x, size, size, targets, weights, grad); // warm-up: the first run grows buffers
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await engine.evaluate(x, size, size, targets, weights, grad);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], minMs: times[0] };
}

/** `--convolution winograd|direct` of the engine benchmarks, checked. */
export function convolutionOption(value: string): ConvolutionAlgorithm {
  if (value !== 'winograd' && value !== 'direct') throw new Error(`--convolution winograd|direct, not ${value}`);
  return value;
}
