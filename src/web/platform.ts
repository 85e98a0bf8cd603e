/**
 * The browser's Platform for the library's pipeline (src/platform.ts): onnxruntime-web instead of
 * onnxruntime-node, the browser's codecs instead of sharp, a plain-TypeScript Lanczos instead of
 * sharp's, weights from bytes the page fetched (or the user picked) instead of a cache folder, and a
 * memory budget instead of the OS's free memory.
 *
 * Two session backends. WebGPU: onnxruntime-web's WebGPU build (`onnxruntime-web/webgpu`, its own
 * wasm with the WebGPU execution provider, loaded only when it runs), the graph written without
 * MaxUnpool (`maxPoolGradient: 'select'`) so that it runs on the GPU whole; only shape arithmetic
 * stays on the CPU. wasm: the wasm-only build's CPU provider (#onnxruntime-web-cpu, see
 * onnxruntime-web-cpu.d.ts), with one thread per core (up to 8) when
 * the page is cross-origin isolated (wasm threads need SharedArrayBuffer, which needs COOP/COEP),
 * and a single thread when it is not. Whatever WebGPU cannot do for a job (a buffer limit, a failing
 * session) surfaces as WebGpuUnavailable, and the worker runs the job on wasm instead, saying why.
 */
import * as ort from '#onnxruntime-web-cpu';
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
import { gpuSizeProblem, type AdapterLimits } from './webgpu.js';
import type { Backend } from './worker-protocol.js';

/** Beyond ~8 wasm threads the convolutions stop scaling and the rest of the machine starves. */
const MAX_THREADS = 8;

export interface BrowserEngine {
  readonly backend: Backend;
  /** wasm threads (1 when the page is not cross-origin isolated, and on WebGPU). */
  readonly threads: number;
  readonly stylizer: Stylizer;
  /**
   * Name where a network comes from: a job with `weights: key` loads it through `load` (download or
   * read, and verify) when the Stylizer first needs it, after the job's memory check.
   */
  setWeights(key: string, load: WeightsLoader): void;
}

export type WeightsLoader = (onProgress: ((e: { received: number; total: number | undefined }) => void) | undefined, signal: AbortSignal | undefined) => Promise<Uint8Array>;

/**
 * WebGPU cannot run this job: the adapter's buffers are too small for its size (`limit`: the
 * engine itself is fine for smaller jobs), or onnxruntime's WebGPU session failed (`engine`: an
 * operator or kernel it lacks, a lost device). The message is one line for the page.
 */
export class WebGpuUnavailable extends Error {
  override name = 'WebGpuUnavailable';
  constructor(
    message: string,
    readonly kind: 'limit' | 'engine',
  ) {
    super(message);
  }
}

type OrtWeb = typeof ort;
let webgpuOrt: Promise<OrtWeb> | undefined;

/** onnxruntime-web's WebGPU build, loaded on first use (the wasm-only page never downloads it). */
function loadWebGpuOrt(): Promise<OrtWeb> {
  return (webgpuOrt ??= import('onnxruntime-web/webgpu') as Promise<OrtWeb>);
}

function wasmThreads(): number {
  return self.crossOriginIsolated ? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS)) : 1;
}

/** Set up onnxruntime-web for this worker and backend (once, before its first session). */
export async function configureOrt(backend: Backend): Promise<{ ort: OrtWeb; threads: number }> {
  if (backend === 'webgpu') {
    const gpuOrt = await loadWebGpuOrt();
    // Only shape arithmetic runs on the CPU: no thread pool (its workers would only cost memory).
    gpuOrt.env.wasm.numThreads = 1;
    gpuOrt.env.wasm.proxy = false;
    // The adapter the page probed and names (webgpu.ts asks for high performance too).
    gpuOrt.env.webgpu.powerPreference = 'high-performance';
    // Its warnings (e.g. that shape arithmetic runs on the CPU) would reach the console as errors.
    gpuOrt.env.logLevel = 'error';
    return { ort: gpuOrt, threads: 1 };
  }
  const threads = wasmThreads();
  ort.env.wasm.numThreads = threads;
  // This already runs in a worker: ORT's proxy worker would only copy every tensor once more.
  ort.env.wasm.proxy = false;
  return { ort, threads };
}

/** onnxruntime-web set up for this worker and backend, and a Stylizer on it. `gpuLimits`: the adapter's, checked against each job's size. */
export async function createBrowserEngine(backend: Backend, gpuLimits?: AdapterLimits): Promise<BrowserEngine> {
  const configured = await configureOrt(backend);
  const loaders = new Map<string, WeightsLoader>();
  const memory = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  const platform = browserPlatform(engineBackend(backend, configured.ort), loaders, browserBudgetBytes(memory), backend === 'webgpu' ? gpuLimits : undefined);
  return { backend, threads: configured.threads, stylizer: createStylizerOn(platform), setWeights: (key, load) => loaders.set(key, load) };
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

/** The first line of an onnxruntime error, for the page. */
function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

/**
 * onnxruntime-web whose sessions let the worker's event loop run before every run(). On WebGPU,
 * sessions are also created one at a time (its EP refuses a second creation while one is under
 * way: "another WebGPU EP inference session is being created"), and a failure of onnxruntime's
 * becomes WebGpuUnavailable, so the worker can run the job on wasm instead.
 */
function yieldingOrt(runtime: OrtWeb, backend: Backend): OrtRuntime {
  let creating: Promise<unknown> = Promise.resolve();
  const gpuError = (what: string) => (err: unknown) => {
    throw new WebGpuUnavailable(`onnxruntime's WebGPU ${what} failed: ${firstLine(err)}`, 'engine');
  };
  return {
    Tensor: runtime.Tensor as unknown as OrtRuntime['Tensor'],
    InferenceSession: {
      async create(model, options) {
        let session: Awaited<ReturnType<OrtWeb['InferenceSession']['create']>>;
        if (backend === 'webgpu') {
          const created = creating.then(() => runtime.InferenceSession.create(model, options));
          creating = created.catch(() => undefined);
          session = await created.catch(gpuError('session'));
        } else {
          session = await runtime.InferenceSession.create(model, options);
        }
        const run = session.run.bind(session) as (...args: unknown[]) => Promise<InferenceSession.ReturnType>;
        (session as unknown as { run: typeof run }).run = async (...args) => {
          await yieldToEventLoop();
          return backend === 'webgpu' ? run(...args).catch(gpuError('run')) : run(...args);
        };
        return session as unknown as InferenceSession;
      },
    },
  };
}

/** The engine's backend on onnxruntime-web (`runtime`: the build configureOrt returned; wasm's by default). */
export function engineBackend(backend: Backend, runtime: OrtWeb = ort): EngineBackend {
  return {
    ort: yieldingOrt(runtime, backend),
    sessionOptions: {
      // Named explicitly: with onnxruntime-node loaded in the same process (tests), a create()
      // without providers would silently pick the Node binding (they share onnxruntime-common).
      // On WebGPU, onnxruntime adds its CPU provider for what must run there (shape arithmetic).
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
      enableCpuMemArena: false,
      executionMode: 'sequential',
      ...(backend === 'webgpu' ? { logSeverityLevel: 3 as const } : {}),
    },
    // WebGPU has neither MaxUnpool nor MaxPool's indices output (a session with them fails at run).
    graph: backend === 'webgpu' ? { maxPoolGradient: 'select' } : undefined,
  };
}

function browserPlatform(engine: EngineBackend, loaders: ReadonlyMap<string, WeightsLoader>, budget: number, gpuLimits: AdapterLimits | undefined): Platform {
  return {
    backend: () => engine,
    loadImage: (source, role, maxPixels) => loadImage(source, role, maxPixels),
    resize: async (img, width, height) => resizeLanczos(img, width, height),
    resolveWeights: async (request) => resolveWeights(request, loaders),
    checkMemory: (width, height, extras) => {
      if (!fitsBudget(width, height, budget, extras)) throw new RunError(budgetMessage(width, height, budget, extras), 'ERR_MEMORY');
      const problem = gpuLimits && gpuSizeProblem(width, height, gpuLimits);
      if (problem) throw new WebGpuUnavailable(problem, 'limit');
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
