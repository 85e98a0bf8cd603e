/**
 * Whether this browser can run the engine on WebGPU, and on which adapter: used by the page (to
 * offer "GPU (WebGPU)") and by the worker (to choose, and to say why it falls back to wasm). No
 * onnxruntime here: just `navigator.gpu`, typed locally (the DOM library has no WebGPU types).
 */

/** What the page shows of an adapter: GPUAdapterInfo's vendor and architecture ("google", "swiftshader"). */
export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
}

/** The limits the engine's largest tensors meet (a 64-channel activation at full size). */
export interface AdapterLimits {
  readonly maxBufferSize: number;
  readonly maxStorageBufferBindingSize: number;
}

export type WebGpuProbe = { readonly ok: true; readonly adapter: AdapterSummary; readonly limits: AdapterLimits } | { readonly ok: false; readonly reason: string };

interface GpuAdapterLike {
  readonly info?: { vendor?: string; architecture?: string; description?: string };
  readonly limits: AdapterLimits;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
}

export function summariseAdapter(info: GpuAdapterLike['info']): AdapterSummary {
  return { vendor: info?.vendor || 'unknown vendor', architecture: info?.architecture || 'unknown architecture', description: info?.description ?? '' };
}

/** "google swiftshader": how the page names an adapter. */
export function adapterName(a: AdapterSummary): string {
  return `${a.vendor} ${a.architecture}`;
}

/** Ask for an adapter the way onnxruntime-web does (high performance first). Never throws. */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  const gpu = (navigator as Navigator & { gpu?: GpuLike }).gpu;
  if (!gpu) return { ok: false, reason: 'this browser has no WebGPU (navigator.gpu is missing; it needs a secure context and a browser that supports it)' };
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return { ok: false, reason: `the browser refused a WebGPU adapter (${(err as Error).message})` };
  }
  if (!adapter) return { ok: false, reason: 'the browser offers no WebGPU adapter (no supported GPU, or WebGPU is switched off)' };
  return {
    ok: true,
    adapter: summariseAdapter(adapter.info),
    limits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize },
  };
}

/**
 * Why a width×height run does not fit this adapter's buffers, or undefined. The largest tensor is
 * a 64-channel float32 activation at full size (conv1_x, their gradients, and the max-pool
 * gradient's four interleaved quarters); WebGPU binds each as one storage buffer.
 */
export function gpuSizeProblem(width: number, height: number, limits: AdapterLimits): string | undefined {
  const largest = 64 * width * height * 4;
  const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  if (largest <= limit) return undefined;
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  return `a ${width}x${height} run needs ${mib(largest)} GPU buffers, more than this adapter allows (${mib(limit)})`;
}
