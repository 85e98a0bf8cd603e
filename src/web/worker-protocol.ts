/**
 * Messages between the page and the worker that runs the optimisation in the browser. Images and
 * weights travel as Blobs/Files (structured clone; nothing is uploaded anywhere).
 */
import type { IterationWire, ProgressEvent } from '../progress.js';
import type { AdapterSummary } from './webgpu.js';
import type { WeightsManifest } from './weights.js';

export type Backend = 'webgpu' | 'wasm';

export interface RunRequest {
  readonly type: 'run';
  readonly content: File;
  readonly styles: readonly File[];
  /** Spatial control: one grey mask per style image, in style order (white: this style goes here); absent: the plain run. */
  readonly masks?: readonly Blob[];
  /** The same options JSON the server accepts (preset, size, iterations, tuning values…). */
  readonly options: Record<string, unknown>;
  /** A preview frame every N iterations (default: about once a second). */
  readonly previewEvery?: number;
  /** Where the network comes from: the site's manifest, and/or a file the user picked. */
  readonly weights: { readonly manifest?: WeightsManifest; readonly file?: File };
  /** The engine the page chose: WebGPU (when an adapter exists; the default then) or wasm. WebGPU falls back to wasm, saying why. */
  readonly backend?: Backend;
}

export type ToWorker = RunRequest | { readonly type: 'cancel' };

/** An iteration event of the library, less its preview renderer (frames travel as 'preview' messages). */
export type IterationMessage = IterationWire;

export type FromWorker =
  | {
      readonly type: 'backend';
      readonly backend: Backend;
      readonly threads: number;
      readonly isolated: boolean;
      /** The WebGPU adapter the job runs on. */
      readonly adapter?: AdapterSummary;
      /** Why WebGPU was asked for but wasm runs the job (one line). */
      readonly fallback?: string;
    }
  | Extract<ProgressEvent, { type: 'loading' }>
  | { readonly type: 'download'; readonly url: string; readonly received: number; readonly total?: number }
  | { readonly type: 'scale'; readonly scale: number; readonly scales: number; readonly width: number; readonly height: number; readonly iterations: number }
  | IterationMessage
  | { readonly type: 'preview'; readonly image: Blob }
  | {
      readonly type: 'done';
      readonly image: Blob;
      readonly width: number;
      readonly height: number;
      readonly seconds: number;
      readonly iterations: number;
      readonly loss: number;
    }
  | { readonly type: 'cancelled'; readonly image?: Blob }
  | { readonly type: 'failed'; readonly error: string; readonly image?: Blob };
