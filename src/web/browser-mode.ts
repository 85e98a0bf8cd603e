/**
 * "Run in this browser": the page's side of browser mode. It owns the worker (kept between runs, so
 * the network and its sessions are loaded once), the network's download panel (size told before
 * the first download, progress bar, a file the user may pick instead), the memory budget, and turns
 * the worker's messages into the same events the page shows for a server job.
 */
import { OPTION_SPECS, PRESETS } from '../options.js';
import { DEFAULT_MARGIN } from '../engine/padding.js';
import { browserBudgetBytes, largestLongSide } from './budget.js';
import type { JobEvent, OptionSpec, ServerConfig } from './types';
import { adapterName, probeWebGpu, type WebGpuProbe } from './webgpu.js';
import type { FromWorker, RunRequest } from './worker-protocol.js';
import { formatBytes } from '../format.js';
import { isStored, loadManifest, type WeightsManifest } from './weights.js';

/** How the page shows a local run: the same views a server job drives. */
export interface LocalRunView {
  event(e: JobEvent): void;
  preview(url: string): void;
  finished(status: 'done' | 'cancelled' | 'failed', result: { url?: string; error?: string; seconds?: number; width?: number; height?: number }): void;
}

/** The page's form config when there is no server: the library's own presets and tuning options, the browser's size limit. */
export function localConfig(maxSize: number): ServerConfig {
  const options: OptionSpec[] = OPTION_SPECS.filter((s) => (s.tuning && s.key !== 'model') || s.key === 'maskPropagation').map((s) => ({
    key: s.key,
    kind: s.kind,
    doc: s.doc,
    ...(s.choices ? { choices: [...s.choices] } : {}),
    ...(s.min !== undefined ? { min: s.min } : {}),
    ...(s.max !== undefined ? { max: s.max } : {}),
    ...(s.default !== undefined ? { default: s.default } : {}),
  }));
  return {
    limits: { maxFileBytes: 100 * 2 ** 20, maxStyles: 4, maxPixels: 40_000_000, maxQueuedJobs: 1, maxSize, maxIterations: 100_000 },
    optionKeys: ['preset', ...options.map((o) => o.key), 'init', 'seed', 'previewEvery'],
    options,
    presets: PRESETS,
  };
}

interface PanelElements {
  panel: HTMLElement;
  status: HTMLElement;
  bar: HTMLElement;
  file: HTMLInputElement;
  engine: HTMLElement;
  /** "GPU (WebGPU)" or "CPU (WebAssembly)": offered when the browser grants an adapter, and chosen then. */
  engineSelect: HTMLSelectElement;
  /** Called when what a run would need changes (stored, picked): the page updates its start button. */
  onChange: () => void;
}

export class BrowserMode {
  private worker: Worker | undefined;
  private running: { view: LocalRunView; resultUrl?: string } | undefined;
  private previewUrl: string | undefined;
  private stored = false;
  private file: File | undefined;
  /** The largest long side (px) a run of a square picture may have here; wider pictures get a little more. */
  readonly maxSize: number;

  private constructor(
    private readonly ui: PanelElements,
    private readonly manifest: WeightsManifest | undefined,
    private readonly gpu: WebGpuProbe,
  ) {
    const memory = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
    this.maxSize = largestLongSide(1, browserBudgetBytes(memory), { margin: DEFAULT_MARGIN }); // the quality preset's mirrored border
  }

  /** Read the site's weights manifest (`weights.json`, or `?weights=URL`) and whether the network is already stored. */
  static async create(ui: PanelElements): Promise<BrowserMode> {
    const params = new URLSearchParams(location.search);
    let manifest: WeightsManifest | undefined;
    let problem: string | undefined;
    try {
      manifest = await loadManifest(new URL(params.get('weights') ?? 'weights.json', location.href));
    } catch (err) {
      problem = (err as Error).message;
    }
    const mode = new BrowserMode(ui, manifest, await probeWebGpu());
    mode.offerEngines(params.get('backend'));
    mode.stored = manifest ? await isStored(manifest.sha256) : false;
    ui.file.addEventListener('change', () => {
      mode.file = ui.file.files?.[0];
      mode.render();
    });
    mode.render(problem);
    return mode;
  }

  /** The engine choice: WebGPU when the browser grants an adapter (the default then; `?backend=wasm` picks wasm), else wasm only, saying why. */
  private offerEngines(requested: string | null): void {
    const { engineSelect, engine } = this.ui;
    const gpuOption = engineSelect.querySelector<HTMLOptionElement>('option[value="webgpu"]')!;
    if (this.gpu.ok) {
      gpuOption.disabled = false;
      gpuOption.textContent = `GPU (WebGPU): ${adapterName(this.gpu.adapter)}`;
      engineSelect.value = requested === 'wasm' ? 'wasm' : 'webgpu';
      engine.textContent = '';
    } else {
      gpuOption.disabled = true;
      engineSelect.value = 'wasm';
      engine.textContent = `No GPU engine: ${this.gpu.reason}.`;
    }
  }

  /** Whether a run can start: a network is stored, served, or picked. */
  get ready(): boolean {
    return this.stored || !!this.manifest || !!this.file;
  }

  /** A short note for the start button: what the first run will download. */
  get startNote(): string {
    if (this.file || this.stored || !this.manifest) return '';
    return ` (downloads ${formatBytes(this.manifest.bytes)} once)`;
  }

  private render(problem?: string): void {
    const { status } = this.ui;
    if (problem) status.textContent = problem;
    else if (this.file) status.textContent = `Network: ${this.file.name} (${formatBytes(this.file.size)}), checked before use.`;
    else if (this.stored) status.textContent = `Network: ${this.manifest!.name}, stored in this browser.`;
    else if (this.manifest)
      status.textContent = `The network (${this.manifest.name}, ${formatBytes(this.manifest.bytes)}) is downloaded once, on the first run, and kept by this browser.`;
    else status.textContent = 'This site serves no network: choose the weights file (.safetensors, made by `style-transfer weights download`).';
    this.ui.bar.parentElement!.hidden = true;
    this.ui.onChange();
  }

  run(content: File, styles: File[], options: Record<string, unknown>, view: LocalRunView, masks?: Blob[]): void {
    const { previewEvery, ...rest } = options;
    this.worker ??= this.startWorker();
    if (this.running?.resultUrl) URL.revokeObjectURL(this.running.resultUrl);
    this.running = { view };
    const request: RunRequest = {
      type: 'run',
      content,
      styles,
      ...(masks ? { masks } : {}),
      options: rest,
      previewEvery: typeof previewEvery === 'number' ? previewEvery : undefined,
      weights: { manifest: this.manifest, file: this.file },
      backend: this.ui.engineSelect.value === 'webgpu' ? 'webgpu' : 'wasm',
    };
    this.worker.postMessage(request);
  }

  cancel(): void {
    this.worker?.postMessage({ type: 'cancel' });
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'style-transfer' });
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.onMessage(e.data);
    worker.onerror = (e) => {
      // An uncaught error or the tab running out of memory: start a fresh worker next time.
      e.preventDefault();
      this.worker?.terminate();
      this.worker = undefined;
      this.running?.view.finished('failed', { error: `the browser's engine stopped: ${e.message || 'out of memory?'}` });
      this.running = undefined;
    };
    return worker;
  }

  /** After a run: the network may be stored now (downloaded, or picked and matching the manifest). */
  private async refreshStored(): Promise<void> {
    if (this.manifest && !this.stored) {
      this.stored = await isStored(this.manifest.sha256);
      this.render();
    }
  }

  private showPreview(image: Blob): string {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(image);
    return this.previewUrl;
  }

  private onMessage(m: FromWorker): void {
    const view = this.running?.view;
    if (!view) return;
    switch (m.type) {
      case 'backend':
        this.ui.engine.textContent = engineText(m);
        this.ui.engine.dataset.backend = m.backend;
        break;
      case 'download': {
        const bar = this.ui.bar;
        bar.parentElement!.hidden = false;
        bar.style.width = `${m.total ? Math.min(100, (100 * m.received) / m.total) : 0}%`;
        this.ui.status.textContent = `Downloading the network: ${formatBytes(m.received)}${m.total ? ` of ${formatBytes(m.total)}` : ''}…`;
        view.event({ type: 'download', url: m.url, received: m.received, total: m.total });
        break;
      }
      case 'loading':
      case 'scale':
        // The download (if any) is over once the network is loaded: no stale progress line.
        if (m.type === 'scale' && !this.ui.bar.parentElement!.hidden) void this.refreshStored();
        view.event(m);
        break;
      case 'iteration':
        view.event(m);
        break;
      case 'preview':
        view.preview(this.showPreview(m.image));
        break;
      case 'done': {
        const url = URL.createObjectURL(m.image);
        this.running = { view, resultUrl: url };
        view.event({ type: 'done', seconds: m.seconds, iterations: m.iterations });
        view.finished('done', { url, seconds: m.seconds, width: m.width, height: m.height });
        void this.refreshStored();
        break;
      }
      case 'cancelled':
      case 'failed': {
        const url = m.image ? URL.createObjectURL(m.image) : undefined;
        this.running = { view, resultUrl: url };
        view.finished(m.type, { url, error: m.type === 'failed' ? m.error : undefined });
        void this.refreshStored();
        break;
      }
    }
  }
}

/** "Engine: WebGPU on google swiftshader." / "Engine: WebAssembly, 2 threads (WebGPU: <why not>)." */
function engineText(m: Extract<FromWorker, { type: 'backend' }>): string {
  if (m.backend === 'webgpu') return `Engine: WebGPU on ${m.adapter ? adapterName(m.adapter) : 'an unnamed adapter'}.`;
  const wasm =
    m.threads > 1
      ? `Engine: WebAssembly, ${m.threads} threads`
      : `Engine: WebAssembly, 1 thread${m.isolated ? '' : ' (this page is not cross-origin isolated, so the browser allows no threads; see the README)'}`;
  return m.fallback ? `${wasm}; not WebGPU: ${m.fallback}.` : `${wasm}.`;
}
