/**
 * The engine page (bench:web, the WebGPU parity test): a worker that runs the engine on
 * onnxruntime-web. `window.engine(request)` sends it one request (bench/web/worker.ts) and resolves
 * with its answer; with `?sizes=` in the URL the page runs the benchmark at once and publishes the
 * result as `window.benchResult`.
 */
const params = new URLSearchParams(location.search);
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'engine' });
const w = window as unknown as { benchResult?: unknown; engine?: (request: unknown) => Promise<unknown> };
let waiting: ((answer: unknown) => void) | undefined;
worker.onmessage = (e: MessageEvent) => waiting?.(e.data);
worker.onerror = (e) => waiting?.({ error: e.message || 'the worker failed' });

w.engine = (request) =>
  new Promise((resolve) => {
    waiting = resolve;
    worker.postMessage(request);
  });

if (params.has('sizes')) {
  void w
    .engine({
      type: 'bench',
      backend: params.get('backend') === 'webgpu' ? 'webgpu' : 'wasm',
      sizes: params.get('sizes')!.split(',').map(Number),
      runs: Number(params.get('runs') ?? '3'),
      weights: params.get('weights') ?? '/weights.safetensors',
      threads: Number(params.get('threads') ?? 0) || undefined,
    })
    .then((result) => {
      w.benchResult = result;
      document.getElementById('out')!.textContent = JSON.stringify(result);
    });
}
