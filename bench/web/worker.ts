/**
 * The browser side of bench:web and of the WebGPU parity test: the project's engine on
 * onnxruntime-web (wasm with threads when isolated, or WebGPU), exactly as the page's worker sets it
 * up (src/web/platform.ts). Two requests: 'bench' times one loss-and-gradient evaluation like the
 * Node side; 'evaluate' returns the loss terms and the gradient at given pixels.
 */
import { StyleEngine } from '../../src/engine/style-engine.js';
import type { Targets } from '../../src/engine/loss-terms.js';
import { extractConvWeights } from '../../src/model/conv-weights.js';
import { conventionFromMetadata } from '../../src/model/convention.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { vgg19 } from '../../src/model/vgg19.js';
import { configureOrt, engineBackend } from '../../src/web/platform.js';
import { probeWebGpu, type AdapterSummary } from '../../src/web/webgpu.js';
import type { Backend } from '../../src/web/worker-protocol.js';
import { BENCH_LAYOUT, measureEvaluate } from '../engine-measure.js';

export type EngineRequest =
  | { type: 'bench'; backend: Backend; sizes: number[]; runs: number; weights: string; threads?: number }
  | { type: 'evaluate'; backend: Backend; weights: string; width: number; height: number; content: number[]; style: number[]; x: number[] };

let engine: { backend: Backend; engine: StyleEngine; threads: number; createMs: number; adapter?: AdapterSummary } | undefined;

async function engineFor(backend: Backend, weights: string, threads?: number) {
  if (engine?.backend === backend) return engine;
  if (engine) throw new Error('one backend per page');
  let adapter: AdapterSummary | undefined;
  if (backend === 'webgpu') {
    const probe = await probeWebGpu();
    if (!probe.ok) throw new Error(`no WebGPU: ${probe.reason}`);
    adapter = probe.adapter;
  }
  const configured = await configureOrt(backend);
  if (threads && backend === 'wasm') configured.ort.env.wasm.numThreads = threads;
  const bytes = new Uint8Array(await (await fetch(weights)).arrayBuffer());
  const { tensors, metadata } = parseSafetensors(bytes);
  const net = vgg19(conventionFromMetadata(metadata)!);
  const created = performance.now();
  const styleEngine = await StyleEngine.create(engineBackend(backend, configured.ort), net, extractConvWeights(tensors, net), BENCH_LAYOUT);
  engine = { backend, engine: styleEngine, threads: Number(configured.ort.env.wasm.numThreads), createMs: performance.now() - created, adapter };
  return engine;
}

const weightsOf = { content: new Map([['conv4_2', 1]]), style: new Map(BENCH_LAYOUT.styleLayers.map((l) => [l, 100])), tv: 1e-3 };

if ((self as { name?: string }).name !== 'em-pthread') {
  self.onmessage = async (e: MessageEvent<EngineRequest>) => {
    const r = e.data;
    try {
      const ready = await engineFor(r.backend, r.weights, r.type === 'bench' ? r.threads : undefined);
      if (r.type === 'bench') {
        const results = [];
        for (const size of r.sizes) results.push({ size, ...(await measureEvaluate(ready.engine, size, r.runs)) });
        postMessage({ backend: r.backend, adapter: ready.adapter, threads: ready.threads, isolated: self.crossOriginIsolated, createMs: ready.createMs, results });
      } else {
        const { width, height } = r;
        const targets: Targets = {
          content: (await ready.engine.targets(Float32Array.from(r.content), width, height, { content: true, style: false })).content,
          gram: (await ready.engine.targets(Float32Array.from(r.style), width, height, { content: false, style: true })).gram,
        };
        const grad = new Float32Array(r.x.length);
        const terms = await ready.engine.evaluate(Float32Array.from(r.x), width, height, targets, weightsOf, grad);
        postMessage({
          backend: r.backend,
          adapter: ready.adapter,
          total: terms.total,
          style: Object.fromEntries(terms.style),
          content: Object.fromEntries(terms.content),
          tv: terms.tv,
          grad: Array.from(grad),
        });
      }
    } catch (err) {
      postMessage({ error: (err as Error).message });
    }
  };
}
