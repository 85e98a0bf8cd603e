/**
 * How each scale of a run is evaluated: by the untiled graph, or exactly in tiles when the untiled
 * graph would not fit in the memory budget (or `tile` asks for it), with the L-BFGS history that
 * fits, and what an iteration costs relative to an untiled one (for the ETA).
 */
import { planScaleMemory } from '../engine/memory.js';
import type { TilingChoice } from '../engine/tiled-engine.js';
import { planTiles, planTilesWithin, tileGeometry, type TileGeometry } from '../engine/tiling.js';
import { truncateTo, VGG19_LAYERS } from '../model/vgg19.js';
import type { ResolvedTuning } from '../options.js';
import { iterationsAt, type Size } from './plan.js';

export type ScaleEngine =
  | {
      readonly tiled: false;
      /** Without the memory arena (engine/memory.ts): only that fits the budget. */
      readonly lean: boolean;
      readonly history: number;
      readonly float32Work: false;
      readonly cost: 1;
    }
  | {
      readonly tiled: true;
      readonly tiling: TilingChoice;
      readonly history: number;
      /** L-BFGS without its float64 work vector, to leave the tiles more memory (engine/memory.ts). */
      readonly float32Work: boolean;
      /** Σ crop pixels of both passes, relative to one untiled evaluation: a forward pass is about half of forward + backward. */
      readonly cost: number;
      readonly tiles: number;
    };

/** A forward pass's share of a forward + backward evaluation (measured ~0.5 at 256², ENGINE-NOTES). */
const FORWARD_SHARE = 0.5;

export function lossGeometry(opts: Pick<ResolvedTuning, 'contentLayers' | 'styleLayers'>): TileGeometry {
  const layers = [...opts.contentLayers, ...opts.styleLayers];
  return tileGeometry(truncateTo({ layers: VGG19_LAYERS }, layers), layers);
}

/**
 * One entry per scale. `budget` undefined (a platform without a memory budget): untiled unless
 * `tile` is given. Throws the budget's RunError (with a size that fits) before anything is loaded.
 */
/**
 * `margin`: pixels the network sees beyond each scale on each axis (the padding); `regions`: style
 * masks (their graph's copies count); `winograd`: the untiled loss graph holds Winograd's kernels
 * (the platform backend's graph option).
 */
export function planScaleEngines(scales: readonly Size[], opts: ResolvedTuning, budget: number | undefined, margin = 0, regions = 0, winograd = false): ScaleEngine[] {
  const geometry = lossGeometry(opts);
  // Largest first, so that a refusal names the output size and suggests one that fits.
  const plans = [...scales].reverse().map(({ width, height }, r): ScaleEngine => {
    // L-BFGS allocates a curvature pair per step until it holds `history` of them, so a scale of
    // n iterations never holds more than n: the large scales, which run few, need less memory.
    const state = { optimizer: opts.optimizer, history: Math.max(1, Math.min(opts.history, iterationsAt(scales.length - 1 - r, scales, opts))), regions, winograd };
    const forced = opts.tile !== undefined && Math.max(width, height) > opts.tile;
    if (forced) {
      const plan = planTiles(width + margin, height + margin, opts.tile!, geometry);
      return { tiled: true, tiling: { interior: opts.tile! }, history: opts.history, float32Work: false, cost: (FORWARD_SHARE + 1) * plan.overhead, tiles: plan.tiles.length };
    }
    if (budget === undefined) return { tiled: false, lean: false, history: opts.history, float32Work: false, cost: 1 };
    const memory = planScaleMemory(width, height, budget, state, geometry, opts.tile, margin);
    if (!memory.tiled) return { tiled: false, lean: memory.lean, history: memory.history, float32Work: false, cost: 1 };
    const gradient = planTilesWithin(width + margin, height + margin, memory.maxCropPixels, geometry)!;
    const forward = planTilesWithin(width + margin, height + margin, memory.maxForwardCropPixels, geometry)!;
    return {
      tiled: true,
      tiling: { maxCropPixels: memory.maxCropPixels, maxForwardCropPixels: memory.maxForwardCropPixels },
      history: memory.history,
      float32Work: memory.float32Work,
      cost: FORWARD_SHARE * forward.overhead + gradient.overhead,
      tiles: gradient.tiles.length,
    };
  });
  return plans.reverse();
}
