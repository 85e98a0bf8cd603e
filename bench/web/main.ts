/** The benchmark page: starts the worker with the sizes and runs from the URL and publishes what it reports. */
const params = new URLSearchParams(location.search);
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'bench' });
const w = window as unknown as { benchResult?: unknown };
worker.onmessage = (e: MessageEvent) => {
  w.benchResult = e.data;
  document.getElementById('out')!.textContent = JSON.stringify(e.data);
};
worker.onerror = (e) => (w.benchResult = { error: e.message || 'the worker failed' });
worker.postMessage({
  sizes: (params.get('sizes') ?? '128,256').split(',').map(Number),
  runs: Number(params.get('runs') ?? '3'),
  weights: params.get('weights') ?? '/weights.safetensors',
  threads: Number(params.get('threads') ?? 0) || undefined,
});
