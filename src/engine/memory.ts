/**
 * The memory model of a run, in one place: the planner's choice per scale between the untiled graph
 * (with or without ORT's memory arena) and exact tiles within a budget (planScaleMemory, used by
 * pipeline/memory.ts), and the public estimatePeakBytes (what an untiled run at a size needs; the
 * browser compares it with its own budget). The budget itself is a platform fact
 * (Platform.memoryBudget; src/node/memory-budget.ts in Node).
 *
 * Peak RSS is modelled as
 *   runtime (Node, ONNX Runtime, sharp, the weights in JS)
 *   + the sessions of the engine in use (ORT keeps pre-packed copies of every weight)
 *   + the graph's tensors: bytes per pixel of what the network sees (the image inside its border
 *     margin; untiled) or of the largest crop (tiled), more with style regions (masks)
 *   + the run's own state per pixel the network sees: the content target, copies
 *   + the optimiser's vectors per pixel of the image itself (L-BFGS: its working vectors and two per
 *     pair of its history, which the options set; Adam: three)
 *   + the decoded input images (3 bytes a pixel) and the style images at their working size.
 * The constants were measured on this design (VGG-19 to conv5_1, 2 threads) with `npm run
 * bench:large` (ORT arena off) and `npm run bench:memory` (the untiled loss session with its arena);
 * they are upper-side values, since an estimate that is too low gets the process killed.
 *
 * An untiled scale runs in one of two allocation modes (src/node/ort-backend.ts): with ORT's memory
 * arena (fast: no page faults per evaluation, 3.5x on an AMD Zen 5) when that fits, else without it
 * (lean) when that fits, else in tiles (whose sessions never use the arena).
 */
import { RunError } from '../errors.js';
import { DEFAULT_PRESET, PRESETS } from '../options.js';
import { planTilesWithin, type TileGeometry } from './tiling.js';

const MB = 2 ** 20;
const GIB = 2 ** 30;
/** Node, ORT, sharp and the VGG-19 weights to conv5_1 as float32 in JS. */
const RUNTIME_BYTES = 300 * MB;
/** The untiled loss and target sessions. */
const UNTILED_SESSION_BYTES = 480 * MB;
/**
 * More for the untiled loss session when its graph computes conv3_2 … conv5_1 by Winograd
 * (onnxruntime-node, engine/winograd.ts): their transformed kernels take 198 MB in place of 99 MB
 * of direct and flipped ones. `npm run bench:memory` at 512², the same hour: 718 MB loaded and a
 * peak of 1310 MB, against 679 and 1217 MB with ORT's Conv alone (the browser's graph).
 */
const WINOGRAD_SESSION_BYTES = 100 * MB;
/** The tiled sums and gradient sessions (the tiled targets session is created only while it is used). */
const TILED_SESSION_BYTES = 650 * MB;
/** The tiled targets session, while a scale's targets are computed. */
const TILED_TARGETS_SESSION_BYTES = 250 * MB;
/**
 * Tensors of the forward + backward graph, per pixel of what it runs on (activations kept for the
 * backward, max-pool indices, gradients), without the arena. `npm run bench:memory` at 1024² (7 Dec
 * 2026): 2176 B/px with ORT's Conv, 2277 with Winograd's convolutions, whose tiles in the
 * transformed domain are 2.25x their layer's activations. Small sizes measure more per pixel
 * (~3 KB at 512², 3.3–3.7 KB at 256², either way: allocator slack, a few hundred MB at most), but a
 * scale runs lean only when it is large.
 */
const GRAPH_BYTES_PER_PIXEL = 2300;
/**
 * The same graph in the arena's keeping. The arena grows by regions of doubling size and keeps
 * them, so it can hold more than the live tensors: `npm run bench:memory` measured 2.2–2.4 KB/px
 * at 512² and 768² (as lean), 3.1 KB/px at 1024² in a fresh process, and 3.7 KB/px at 1024² after
 * 256² and 512² in the same session, as a coarse-to-fine run does. With Winograd's convolutions:
 * 2.4 KB/px at 512², 3.1 KB/px at 1024² (fresh process).
 */
const ARENA_GRAPH_BYTES_PER_PIXEL = 3900;
/**
 * More graph bytes per pixel per style region (spatial control): the guided loss keeps P_r = F∘m_r²
 * of every style layer for the backward pass (losses/guided.ts), 4 bytes × Σ C·(its share of the
 * pixels) = 4·(64 + 128/4 + 256/16 + 512/64 + 512/256) = 488, and the region's mask at each level.
 */
const GUIDED_BYTES_PER_PIXEL_PER_REGION = 500;
/** Tensors of a forward-only graph (loss sums, targets) per pixel: only the live activations. */
const FORWARD_BYTES_PER_PIXEL = 800;
/**
 * The run's per-pixel state besides the optimiser: the iterate's last good copy, the content
 * target (conv4_2: 512 channels at 1/64 of the pixels), the previous scale's result, the scaled
 * images, and transient planar copies while a scale starts or ends.
 */
const STATE_BYTES_PER_PIXEL = 100;
/** A float32 RGB vector of the image. */
const VECTOR_BYTES_PER_PIXEL = 12;
/** The smallest crop worth running: below it the halo makes tiles very wasteful. */
const MIN_GOOD_CROP = 512 * 512;

/** What a scale keeps besides the network's own tensors: the optimiser's state, and the style regions' graph copies. */
export interface ScaleState {
  readonly optimizer: 'lbfgs' | 'adam';
  /** L-BFGS curvature pairs wanted. */
  readonly history: number;
  /** Style regions (spatial control: one mask per style image); 0 or absent: the plain graph. */
  readonly regions?: number;
  /** The untiled loss graph computes its deep convolutions by Winograd (the platform's backend does: Platform.winograd). */
  readonly winograd?: boolean;
}

/**
 * Bytes per pixel the optimiser keeps: L-BFGS g, x0, d, gTrial, gBest, a float64 work vector (none
 * with `float32Work`, see optim/lbfgs.ts) and 2 per pair; Adam g, m, v. Plus the iterate.
 */
function optimiserBytesPerPixel(state: ScaleState, history: number, float32Work = false): number {
  return VECTOR_BYTES_PER_PIXEL * (1 + (state.optimizer === 'lbfgs' ? (float32Work ? 5 : 7) + 2 * history : 3));
}

function guidedBytesPerPixel(state: ScaleState): number {
  return (state.regions ?? 0) * GUIDED_BYTES_PER_PIXEL_PER_REGION;
}

/** Bytes per pixel of a tile's crop in the gradient pass (never in the arena). */
function cropBytesPerPixel(state: ScaleState): number {
  return GRAPH_BYTES_PER_PIXEL + guidedBytesPerPixel(state);
}

/**
 * Peak bytes of an untiled scale whose network sees `pixels` (the image inside its margin) and whose
 * optimiser works on `imagePixels` (the image itself; default: the same); `lean`: without ORT's memory arena.
 */
export function estimateUntiledBytes(pixels: number, state: ScaleState, lean = false, imagePixels = pixels): number {
  const graph = (lean ? GRAPH_BYTES_PER_PIXEL : ARENA_GRAPH_BYTES_PER_PIXEL) + guidedBytesPerPixel(state);
  const sessions = UNTILED_SESSION_BYTES + (state.winograd ? WINOGRAD_SESSION_BYTES : 0);
  return RUNTIME_BYTES + sessions + pixels * (graph + STATE_BYTES_PER_PIXEL) + imagePixels * optimiserBytesPerPixel(state, state.history);
}

/** Peak bytes of a tiled scale (pixels as for estimateUntiledBytes) whose largest crop has `maxCropPixels`. */
export function estimateTiledBytes(pixels: number, maxCropPixels: number, state: ScaleState, history: number, float32Work = false, imagePixels = pixels): number {
  const sessions = TILED_SESSION_BYTES + TILED_TARGETS_SESSION_BYTES;
  return RUNTIME_BYTES + sessions + maxCropPixels * cropBytesPerPixel(state) + pixels * STATE_BYTES_PER_PIXEL + imagePixels * optimiserBytesPerPixel(state, history, float32Work);
}

/** What a run keeps besides one scale's graph and optimiser, for estimatePeakBytes. */
export interface MemoryExtras {
  /** Default 'lbfgs'. */
  optimizer?: 'lbfgs' | 'adam';
  /** L-BFGS history pairs (default: the default preset's `history`). */
  history?: number;
  /** Pixels of every decoded input image (content and styles) at its own size. */
  inputPixels?: number;
  /** Pixels of the style images at their working size (with their margin). */
  stylePixels?: number;
  /**
   * Extra pixels on each side of the image that the network sees (the mirrored border margin): the
   * network's tensors are that much larger; the optimiser's state is not.
   */
  margin?: number;
  /** With ORT's memory arena (Node's fast mode when it fits); default without (the least an untiled run needs). */
  arena?: boolean;
  /** Style regions (masks), one per style image; default none. */
  regions?: number;
  /** The loss graph computes its deep convolutions by Winograd (onnxruntime-node's graph); default not (the browser's). */
  winograd?: boolean;
}

/** Bytes per pixel of a decoded input image (8-bit RGB). */
const INPUT_BYTES_PER_PIXEL = 3;
/** Bytes per pixel of a style image at its working size: 8-bit RGB and a float32 planar copy. */
const STYLE_BYTES_PER_PIXEL = 15;

/**
 * Peak bytes of an untiled run whose output is width×height: the same model the planner uses for
 * an untiled scale, plus the input images. A run in Node does not need this: its planner tiles
 * what does not fit (planScaleMemory).
 */
export function estimatePeakBytes(width: number, height: number, extras: MemoryExtras = {}): number {
  const margin = extras.margin ?? 0;
  const state = { optimizer: extras.optimizer ?? 'lbfgs', history: extras.history ?? PRESETS[DEFAULT_PRESET].history, regions: extras.regions, winograd: extras.winograd };
  const network = (width + 2 * margin) * (height + 2 * margin);
  const images = INPUT_BYTES_PER_PIXEL * (extras.inputPixels ?? 0) + STYLE_BYTES_PER_PIXEL * (extras.stylePixels ?? 0);
  return estimateUntiledBytes(network, state, !extras.arena, width * height) + images;
}

export type ScaleMemory =
  | {
      readonly tiled: false;
      /** Without ORT's memory arena: slower, but it fits where the arena would not. */
      readonly lean: boolean;
      readonly history: number;
      readonly float32Work: false;
      readonly estimate: number;
    }
  | {
      readonly tiled: true;
      /** L-BFGS without its float64 work vector (optim/lbfgs.ts), before any pair is given up. */
      readonly float32Work: boolean;
      /** Largest crop of the gradient pass. */
      readonly maxCropPixels: number;
      /** Largest crop of the forward-only passes, which need less memory per pixel. */
      readonly maxForwardCropPixels: number;
      readonly history: number;
      readonly estimate: number;
    };

/**
 * How a width×height scale (which the network sees with `margin` more pixels on each axis, its
 * padding) runs within `budget` bytes: untiled when it fits (or `tile` is not exceeded by either
 * side), with the memory arena when that fits too, else tiled with the largest crop that fits after the per-pixel state.
 * When even a crop of MIN_GOOD_CROP pixels would not fit with the full L-BFGS state, L-BFGS first
 * drops its float64 work vector (float32Work), then shortens its history (down to 1 pair).
 * Throws a RunError with a size that would fit when nothing does.
 */
export function planScaleMemory(width: number, height: number, budget: number, state: ScaleState, geometry: TileGeometry, tile?: number, margin = 0): ScaleMemory {
  const plan = tryPlan(width + margin, height + margin, width * height, budget, state, geometry, tile);
  if (plan) return plan;
  throw new RunError(
    `a ${width}x${height} run needs more than the ${(budget / GIB).toFixed(1)} GiB memory budget, even in tiles; ${suggestion(width, height, budget, state, geometry, margin)}`,
    'ERR_MEMORY',
    { option: 'size' },
  );
}

/** width×height: what the network sees; `imagePixels`: the image the optimiser works on. */
function tryPlan(width: number, height: number, imagePixels: number, budget: number, state: ScaleState, geometry: TileGeometry, tile?: number): ScaleMemory | undefined {
  const pixels = width * height;
  const forced = tile !== undefined && Math.max(width, height) > tile;
  if (!forced) {
    const fast = estimateUntiledBytes(pixels, state, false, imagePixels);
    if (fast <= budget) return { tiled: false, lean: false, history: state.history, float32Work: false, estimate: fast };
    const lean = estimateUntiledBytes(pixels, state, true, imagePixels);
    if (lean <= budget || tile !== undefined) return { tiled: false, lean: true, history: state.history, float32Work: false, estimate: lean };
  }
  const cropFor = (history: number, float32Work: boolean) =>
    Math.floor((budget - estimateTiledBytes(pixels, 0, state, history, float32Work, imagePixels)) / cropBytesPerPixel(state));
  if (forced) {
    // `--tile N`: the interior size is given; report the estimate of its largest crop.
    const side = Math.min(Math.max(width, height), tile + 2 * geometry.halo);
    const crop = side * side;
    return {
      tiled: true,
      maxCropPixels: crop,
      maxForwardCropPixels: crop,
      history: state.history,
      float32Work: false,
      estimate: estimateTiledBytes(pixels, crop, state, state.history, false, imagePixels),
    };
  }
  let history = state.history;
  const small = (float32Work: boolean) => cropFor(history, float32Work) < Math.min(MIN_GOOD_CROP, pixels);
  const float32Work = state.optimizer === 'lbfgs' && small(false);
  if (state.optimizer === 'lbfgs') while (history > 1 && small(float32Work)) history--;
  const maxCropPixels = cropFor(history, float32Work);
  if (maxCropPixels > 0 && planTilesWithin(width, height, maxCropPixels, geometry)) {
    const maxForwardCropPixels = Math.floor((maxCropPixels * cropBytesPerPixel(state)) / (FORWARD_BYTES_PER_PIXEL + guidedBytesPerPixel(state)));
    return {
      tiled: true,
      maxCropPixels,
      maxForwardCropPixels,
      history,
      float32Work,
      estimate: estimateTiledBytes(pixels, maxCropPixels, state, history, float32Work, imagePixels),
    };
  }
  return undefined;
}

/** A hint naming the largest long side that fits, found by halving the gap. */
function suggestion(width: number, height: number, budget: number, state: ScaleState, geometry: TileGeometry, margin: number): string {
  const long = Math.max(width, height);
  const fits = (side: number) => {
    const w = Math.max(1, Math.round((width * side) / long));
    const h = Math.max(1, Math.round((height * side) / long));
    return tryPlan(w + margin, h + margin, w * h, budget, state, geometry) !== undefined;
  };
  let lo = 0;
  let hi = long;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo >= 16 ? `try --size ${lo} or smaller, or a larger --memory` : 'free some memory or give a larger --memory';
}
