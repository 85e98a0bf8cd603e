/**
 * The optimisation in the browser: a module worker (so the page stays responsive) that runs the
 * library's own pipeline on onnxruntime-web with the browser Platform. It keeps the loaded network
 * and its sessions between runs (load once, run many) and answers with the messages of
 * worker-protocol.ts.
 */
import { AbortError, RunError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import { decodeImageBlob, encodeImage } from './codec.js';
import { createBrowserEngine, WebGpuUnavailable, type BrowserEngine, type WeightsLoader } from './platform.js';
import { probeWebGpu, type AdapterLimits, type AdapterSummary, type WebGpuProbe } from './webgpu.js';
import type { Backend, FromWorker, RunRequest, ToWorker } from './worker-protocol.js';
import { downloadWeights, readStored, weightsFromFile } from './weights.js';

// onnxruntime-web starts its wasm threads from this same script under the name 'em-pthread':
// those copies must leave the messages to it.
const isThreadHelper = (self as { name?: string }).name === 'em-pthread';

const post = (message: FromWorker) => (self as unknown as Worker).postMessage(message);

/** Pictures with more pixels than this are refused (the server's limit). */
const MAX_PIXELS = 40_000_000;

/** One engine per backend, kept between runs (the network and its sessions load once). */
const engines = new Map<Backend, Promise<BrowserEngine>>();
let gpu: Promise<WebGpuProbe> | undefined;
let controller: AbortController | undefined;

if (!isThreadHelper) {
  self.addEventListener('message', (event: MessageEvent<ToWorker>) => {
    const message = event.data;
    if (message.type === 'cancel') controller?.abort();
    else if (message.type === 'run') void run(message);
  });
}

/** The name a job gives its network, and how to get the verified bytes: a picked file, else the stored copy, else a download. */
function weightsSource(weights: RunRequest['weights']): { key: string; load: WeightsLoader } {
  const { file, manifest } = weights;
  if (file) return { key: `file:${file.name}:${file.size}:${file.lastModified}`, load: async () => (await weightsFromFile(file, manifest?.sha256)).bytes };
  if (!manifest) throw new Error('this site serves no network (weights.json); choose the weights file (.safetensors) in the page');
  return {
    key: manifest.sha256,
    load: async (onProgress, signal) => (await readStored(manifest.sha256)) ?? downloadWeights(manifest, (p) => onProgress?.(p), signal),
  };
}

function engineFor(backend: Backend, limits?: AdapterLimits): Promise<BrowserEngine> {
  let engine = engines.get(backend);
  if (!engine) {
    engine = createBrowserEngine(backend, limits);
    engines.set(backend, engine);
    engine.catch(() => engines.delete(backend));
  }
  return engine;
}

/** WebGPU unless the page asked for wasm or this worker gets no adapter (then wasm, with the reason). */
async function chooseBackend(requested: Backend | undefined): Promise<{ backend: Backend; adapter?: AdapterSummary; limits?: AdapterLimits; fallback?: string }> {
  if (requested === 'wasm') return { backend: 'wasm' };
  const probe = await (gpu ??= probeWebGpu());
  return probe.ok ? { backend: 'webgpu', adapter: probe.adapter, limits: probe.limits } : { backend: 'wasm', fallback: probe.reason };
}

async function run(request: RunRequest): Promise<void> {
  controller = new AbortController();
  const signal = controller.signal;
  const latest: { preview?: () => RawImage } = {};
  try {
    const choice = await chooseBackend(request.backend);
    try {
      await runOn(choice.backend, request, signal, latest, choice);
    } catch (err) {
      if (!(err instanceof WebGpuUnavailable) || signal.aborted) throw err;
      // The job runs again from the start on wasm; an engine that failed is made afresh next time.
      if (err.kind === 'engine') engines.delete('webgpu');
      latest.preview = undefined;
      await runOn('wasm', request, signal, latest, { fallback: err.message });
    }
  } catch (err) {
    const partial = err instanceof AbortError || err instanceof RunError ? err.partial : undefined;
    const image = partial ? await encodeImage(partial as RawImage) : latest.preview ? await encodeImage(latest.preview()) : undefined;
    if (err instanceof AbortError || signal.aborted) post({ type: 'cancelled', image });
    else post({ type: 'failed', error: (err as Error).message.split('\n')[0], image });
  } finally {
    controller = undefined;
  }
}

async function runOn(
  backend: Backend,
  request: RunRequest,
  signal: AbortSignal,
  latest: { preview?: () => RawImage },
  about: { adapter?: AdapterSummary; limits?: AdapterLimits; fallback?: string },
): Promise<void> {
  let lastPreview = 0;
  const browser = await engineFor(backend, about.limits);
  post({ type: 'backend', backend, threads: browser.threads, isolated: self.crossOriginIsolated, adapter: about.adapter, fallback: about.fallback });

  post({ type: 'loading', stage: 'images', message: 'reading the images' });
  const content = await decodeImageBlob(request.content, request.content.name, 'content image', MAX_PIXELS);
  const styles = await Promise.all(request.styles.map((s, i) => decodeImageBlob(s, s.name, request.styles.length > 1 ? `style image ${i + 1}` : 'style image', MAX_PIXELS)));
  const masks = request.masks && (await Promise.all(request.masks.map((m, i) => decodeImageBlob(m, `mask-${i + 1}`, 'style mask', MAX_PIXELS))));
  const weights = weightsSource(request.weights);
  browser.setWeights(weights.key, weights.load);
  const result = await browser.stylizer.stylize({
    ...request.options,
    content,
    style: styles,
    ...(masks ? { styleMasks: masks } : {}),
    weights: weights.key,
    signal,
    onProgress: (e) => {
      if (e.type === 'iteration') {
        const { preview, type, ...values } = e;
        latest.preview = preview;
        post({ type, ...values });
        const now = performance.now();
        const due = request.previewEvery ? e.iteration % request.previewEvery === 0 : now - lastPreview >= 1000;
        if (due) {
          lastPreview = now;
          void encodeImage(preview()).then((image) => post({ type: 'preview', image }));
        }
      } else if (e.type === 'loading' || e.type === 'scale' || e.type === 'download') post(e);
    },
  });
  const image = await encodeImage(result.image);
  post({ type: 'done', image, width: result.width, height: result.height, seconds: result.seconds, iterations: result.iterations, loss: result.loss.loss });
}
