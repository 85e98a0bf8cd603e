/** The browser side of bench:web: the project's engine on onnxruntime-web (wasm, threads when isolated), timed like the Node side. */
import * as ort from 'onnxruntime-web';
import { StyleEngine } from '../../src/engine/style-engine.js';
import { extractConvWeights } from '../../src/model/conv-weights.js';
import { conventionFromMetadata } from '../../src/model/convention.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { vgg19 } from '../../src/model/vgg19.js';
import { configureOrt, engineBackend } from '../../src/web/platform.js';
import { BENCH_LAYOUT, measureEvaluate } from '../engine-measure.js';

if ((self as { name?: string }).name !== 'em-pthread') {
  self.onmessage = async (e: MessageEvent<{ sizes: number[]; runs: number; weights: string; threads?: number }>) => {
    try {
      let { threads } = await configureOrt('wasm');
      if (e.data.threads) threads = ort.env.wasm.numThreads = e.data.threads;
      const bytes = new Uint8Array(await (await fetch(e.data.weights)).arrayBuffer());
      const { tensors, metadata } = parseSafetensors(bytes);
      const net = vgg19(conventionFromMetadata(metadata)!);
      const created = performance.now();
      const engine = await StyleEngine.create(engineBackend('wasm'), net, extractConvWeights(tensors, net), BENCH_LAYOUT);
      const createMs = performance.now() - created;
      const results = [];
      for (const size of e.data.sizes) results.push({ size, ...(await measureEvaluate(engine, size, e.data.runs)) });
      await engine.release();
      postMessage({ threads, isolated: self.crossOriginIsolated, createMs, results });
    } catch (err) {
      postMessage({ error: (err as Error).message });
    }
  };
}
