/**
 * The browser's Platform for the library's pipeline (src/platform.ts): onnxruntime-web instead of
 * onnxruntime-node, the browser's codecs instead of sharp, a plain-TypeScript Lanczos instead of
 * sharp's, weights from bytes the page fetched (or the user picked) instead of a cache folder, and a
 * memory budget instead of the OS's free memory.
 *
 * The session backend: WebGPU when navigator.gpu gives an adapter; otherwise wasm, with one thread
 * per core (up to 8) when the page is cross-origin isolated (wasm threads need SharedArrayBuffer,
 * which needs COOP/COEP), and a single thread when it is not.
 */
import * as ort from 'onnxruntime-web';
import type { InferenceSession } from 'onnxruntime-common';
import type { EngineBackend, OrtRuntime } from '../engine/style-engine.js';
import { ImageError, RunError, WeightsError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import { resizeLanczos } from '../image/lanczos.js';
import { extractConvWeights } from '../model/conv-weights.js';
import { conventionFromMetadata } from '../model/convention.js';
import { parseSafetensors } from '../model/safetensors.js';
import { vgg19 } from '../model/vgg19.js';
import type { ImageSource } from '../options.js';
import type { Platform, WeightsRequest } from '../platform.js';
import { createStylizerOn, type Stylizer } from '../stylizer.js';
import { browserBudgetBytes, budgetMessage, fitsBudget } from './budget.js';
import { decodeImageBlob } from './codec.js';
import type { Backend } from './worker-protocol.js';

/** Beyond ~8 wasm threads the convolutions stop scaling and the rest of the machine starves. */
const MAX_THREADS = 8;

export interface BrowserEngine {
  readonly backend: Backend;
  /** wasm threads (1 when the page is not cross-origin isolated). */
  readonly threads: number;
  readonly stylizer: Stylizer;
  /**
   * Name where a network comes from: a job with `weights: key` loads it through `load` (download or
   * read, and verify) when the Stylizer first needs it, after the job's memory check.
   */
  setWeights(key: string, load: WeightsLoader): void;
}

export type WeightsLoader = (onProgress: ((e: { received: number; total: number | undefined }) => void) | undefined, signal: AbortSignal | undefined) => Promise<Uint8Array>;

async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
}

function wasmThreads(): number {
  return self.crossOriginIsolated ? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS)) : 1;
}

/** Choose the backend and set up onnxruntime-web for this worker (once, before the first session). `forced` picks the backend (tests, benchmarks). */
export async function configureOrt(forced?: Backend): Promise<{ backend: Backend; threads: number }> {
  const backend = forced ?? ((await hasWebGpu()) ? 'webgpu' : 'wasm');
  const threads = wasmThreads();
  ort.env.wasm.numThreads = threads;
  // This already runs in a worker: ORT's proxy worker would only copy every tensor once more.
  ort.env.wasm.proxy = false;
  return { backend, threads };
}

/** onnxruntime-web set up for this worker, and a Stylizer on it. */
export async function createBrowserEngine(forced?: Backend): Promise<BrowserEngine> {
  const { backend, threads } = await configureOrt(forced);
  const loaders = new Map<string, WeightsLoader>();
  const memory = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  const platform = browserPlatform(backend, loaders, browserBudgetBytes(memory));
  return { backend, threads, stylizer: createStylizerOn(platform), setWeights: (key, load) => loaders.set(key, load) };
}

/**
 * A macrotask boundary. onnxruntime-web's wasm run() finishes synchronously inside its promise, so
 * a whole optimisation would be one chain of microtasks and the worker would never see the page's
 * "cancel" message (nor finish encoding a preview) until the job ended.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** onnxruntime-web whose sessions let the worker's event loop run before every run(). */
const yieldingOrt: OrtRuntime = {
  Tensor: ort.Tensor as unknown as OrtRuntime['Tensor'],
  InferenceSession: {
    async create(model, options) {
      const session = await ort.InferenceSession.create(model, options);
      const run = session.run.bind(session) as (...args: unknown[]) => Promise<InferenceSession.ReturnType>;
      (session as unknown as { run: typeof run }).run = async (...args) => {
        await yieldToEventLoop();
        return run(...args);
      };
      return session as unknown as InferenceSession;
    },
  },
};

export function engineBackend(backend: Backend): EngineBackend {
  return {
    ort: yieldingOrt,
    sessionOptions: {
      // Named explicitly: with onnxruntime-node loaded in the same process (tests), a create()
      // without providers would silently pick the Node binding (they share onnxruntime-common).
      // WebGPU falls back to wasm for the operators it lacks (MaxUnpool).
      executionProviders: backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
      graphOptimizationLevel: 'all',
      enableCpuMemArena: false,
      executionMode: 'sequential',
    },
  };
}

function browserPlatform(backend: Backend, loaders: ReadonlyMap<string, WeightsLoader>, budget: number): Platform {
  return {
    backend: () => engineBackend(backend),
    loadImage: (source, role, maxPixels) => loadImage(source, role, maxPixels),
    resize: async (img, width, height) => resizeLanczos(img, width, height),
    resolveWeights: async (request) => resolveWeights(request, loaders),
    checkMemory: (width, height, extras) => {
      if (!fitsBudget(width, height, budget, extras)) throw new RunError(budgetMessage(width, height, budget, extras), 'ERR_MEMORY');
    },
  };
}

/** The worker decodes the picked files itself (it knows their names); encoded bytes are decoded here too. Paths do not exist in a browser. */
async function loadImage(source: ImageSource, role: string, maxPixels: number): Promise<RawImage> {
  if (typeof source === 'string') throw new ImageError(`${role}: a file path (${source}) cannot be read in the browser; pass the file's bytes or pixels`);
  if (source instanceof Uint8Array) return decodeImageBlob(new Blob([source as Uint8Array<ArrayBuffer>]), 'image', role, maxPixels);
  const { width, height, data } = source;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new ImageError(`${role} has no pixels (${width}x${height})`);
  if (width * height > maxPixels) throw new ImageError(`${role} is ${width}x${height}, more than the limit of ${maxPixels} pixels`);
  if (data.length !== width * height * 3) throw new ImageError(`${role}: pixel data must be ${width * height * 3} bytes of RGB, got ${data.length}`);
  return source;
}

/** The network from a verified safetensors file held in memory (the compact conv-only file records its input convention). */
async function resolveWeights(request: WeightsRequest, loaders: ReadonlyMap<string, WeightsLoader>) {
  const key = request.weights;
  const load = key === undefined ? undefined : loaders.get(key);
  if (!load) throw new WeightsError('no network is available in this browser', key ?? 'weights');
  const url = key!;
  const bytes = await load((p) => request.onProgress?.({ type: 'download', url, received: p.received, total: p.total }), request.signal);
  const name = 'weights file';
  const { tensors, metadata } = parseSafetensors(bytes, name);
  const convention = conventionFromMetadata(metadata);
  if (!convention) throw new WeightsError(`${name} does not record the input convention of its weights; use the file \`style-transfer weights\` makes`, name);
  const modelName = metadata.model ?? 'vgg19';
  const net = vgg19(convention, modelName);
  return { net, weights: extractConvWeights(tensors, net, name, request.upTo), path: key!, modelName };
}
