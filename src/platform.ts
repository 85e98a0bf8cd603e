/**
 * What the pipeline needs from the platform it runs on, and nothing more: the ONNX Runtime backend,
 * image decoding and high-quality resizing, the weights, and the facts about memory (a budget, or
 * a check). Platform facts (free memory, environment variables) reach the core only through here. The Node
 * implementation (onnxruntime-node, sharp, the file cache) is src/node/platform.ts; the browser's
 * (onnxruntime-web, canvas, Cache Storage) lives with the web page. The core imports only types.
 */
import type { MemoryExtras } from './engine/memory.js';
import type { EngineBackend } from './engine/style-engine.js';
import type { RawImage } from './image/image.js';
import type { ResolvedWeights } from './model/conv-weights.js';
import type { ImageSource } from './options.js';
import type { ProgressEvent } from './progress.js';

/** A weights download's progress (the same shape model/download.ts reports, named here so the core needs no Node module). */
type DownloadProgress = Extract<ProgressEvent, { type: 'download' }>;

export interface WeightsRequest {
  /** The variant named explicitly by the user (its convention then wins over a file's metadata). */
  readonly model: string | undefined;
  /** The preset's network: the variant to load, or the convention to assume for a file that records none. */
  readonly fallbackModel: string;
  /** A weights file; undefined: the platform's default (STYLE_TRANSFER_WEIGHTS, else the cache). */
  readonly weights: string | undefined;
  /** Only these conv layers are needed. */
  readonly upTo: ReadonlySet<string>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (e: DownloadProgress) => void;
}

export interface Platform {
  /**
   * The ONNX Runtime backend for sessions with this many intra-op threads (undefined: the platform's
   * default). `lean`: the untiled loss session without a memory arena, for a scale that fits the
   * memory budget only that way (engine/memory.ts); a platform without an arena ignores it.
   */
  backend(threads: number | undefined, lean?: boolean): EngineBackend;
  /**
   * The backend's untiled loss graph computes its deep convolutions by Winograd (its `graph`
   * option; engine/winograd.ts): the memory planner counts the transformed kernels it holds.
   */
  readonly winograd?: boolean;
  /** Decodes an image source to 8-bit RGB; `role` names it in errors ("content image"). */
  loadImage(source: ImageSource, role: string, maxPixels: number): Promise<RawImage>;
  /** High-quality resize of an input image to exactly width×height. */
  resize(img: RawImage, width: number, height: number): Promise<RawImage>;
  resolveWeights(request: WeightsRequest): Promise<ResolvedWeights>;
  /**
   * The memory budget in bytes: the `memory` option, else the platform's default (Node:
   * STYLE_TRANSFER_MEMORY_LIMIT, else most of the free memory). With it, scales that would not fit
   * untiled run exactly in tiles (src/engine/memory.ts) and checkMemory is not used; without it,
   * only `tile` tiles.
   */
  memoryBudget?(memory: string | number | undefined): number;
  /**
   * For a platform without a memory budget (the browser): throws a RunError when an untiled run at
   * this output size (with these optimiser and image extras, see estimatePeakBytes) would not fit.
   */
  checkMemory?(width: number, height: number, extras?: MemoryExtras): void;
}
