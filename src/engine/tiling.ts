/**
 * Geometry of exact tiled evaluation: how far the network's zero padding at a tile's cut edge
 * reaches inward, how tiles must be aligned, and how an image is cut into tiles.
 *
 * Every loss term is a sum over positions (content: Σₚ(F−P)², Gram: Σₚ fₚfₚᵀ, TV: Σ over pixel
 * pairs). A tile is an interior rectangle of the image plus a halo of real neighbouring pixels
 * (the crop). Inside the crop the network runs with its usual zero padding; at the image border
 * that padding is the same as the untiled graph's, but at a cut edge it replaces real pixels, and
 * the error creeps inward by one position per 3x3 conv, halving (rounded up) at each 2x2 pool.
 * A position whose dependency cone never touches a cut edge is computed by exactly the same
 * operations on exactly the same values as in the untiled graph; so is its derivative.
 *
 * - Forward (loss and Gram sums): each tile adds the terms of the positions in its interior.
 * - Backward: each tile back-propagates only its interior positions' ∂loss/∂F, with the global
 *   Gram differences (G − A) given as inputs, and its gradient over the whole crop (halo included)
 *   is added into the image gradient (overlap-add). Every position is in exactly one interior and
 *   its cone lies inside its crop, so the sum is the untiled gradient up to float summation order.
 * Hence one halo (the forward one) serves both passes; the backward needs no second, wider halo.
 *
 * Alignment: crop edges and interior edges (except at the image's far border) sit on multiples of
 * 2^P, P = the number of pools before the deepest loss layer, so every pooling window of a crop is
 * a window of the untiled graph and every interior maps to whole positions at every level.
 */
import type { Layer } from '../model/vgg19.js';

export interface TileGeometry {
  /** Tile and crop edges sit on multiples of this (2^pools before the deepest loss layer). */
  readonly alignment: number;
  /** Real pixels needed around an interior, a multiple of the alignment. */
  readonly halo: number;
  /** Pools before each loss layer: its positions are 2^level pixels apart. */
  readonly levels: ReadonlyMap<string, number>;
}

/**
 * Halo and alignment for losses at `lossLayers` of `layers`. The halo is the number of pixels from
 * a cut edge within which some loss layer's positions are wrong (plus 1 for the TV term's pixel
 * pairs), rounded up to the alignment. For VGG-19 to conv5_1: conv5_1 is wrong 5 positions (80 px)
 * from a cut edge, conv4_2 5 positions (40 px), so the halo is 80 px at an alignment of 16.
 */
export function tileGeometry(layers: readonly Layer[], lossLayers: readonly string[]): TileGeometry {
  const levels = new Map<string, number>();
  let level = 0;
  let wrong = 0; // positions from a cut edge whose value differs from the untiled graph's
  let halo = 1; // the TV term pairs each pixel with its right and lower neighbours
  for (const layer of layers) {
    if (layer.kind === 'conv') {
      wrong += 1;
      if (lossLayers.includes(layer.name)) {
        levels.set(layer.name, level);
        halo = Math.max(halo, wrong * 2 ** level);
      }
    } else {
      // The crop edge is on an even position of this level (alignment), so pool output j covers
      // positions 2j and 2j+1: it is wrong iff 2j < wrong.
      wrong = Math.ceil(wrong / 2);
      level++;
    }
  }
  for (const name of lossLayers) if (!levels.has(name)) throw new Error(`loss layer ${name} is not among the network's layers`);
  const alignment = 2 ** Math.max(0, ...levels.values());
  return { alignment, halo: Math.ceil(halo / alignment) * alignment, levels };
}

/** One tile: its interior (owned positions) and the crop fed to the network, in image pixels, end exclusive. */
export interface Tile {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly cropX0: number;
  readonly cropY0: number;
  readonly cropX1: number;
  readonly cropY1: number;
}

export interface TilePlan {
  readonly width: number;
  readonly height: number;
  readonly tiles: readonly Tile[];
  /** Largest crop, in pixels: what sets a tile pass's memory. */
  readonly maxCropPixels: number;
  /** Σ crop pixels / image pixels: the compute overhead of the halos. */
  readonly overhead: number;
}

/**
 * Cut points of one axis into `count` near-equal parts on the alignment grid. A part narrower than
 * one alignment step at the far border is merged into its neighbour, so that every interior owns at
 * least one position at the deepest level.
 */
export function axisCuts(length: number, count: number, alignment: number): number[] {
  const step = Math.max(alignment, Math.ceil(Math.ceil(length / count) / alignment) * alignment);
  const cuts = [0];
  for (let at = step; at < length; at += step) cuts.push(at);
  if (cuts.length > 1 && length - cuts[cuts.length - 1] < alignment) cuts.pop();
  cuts.push(length);
  return cuts;
}

/** Tiles from cut points along x and y. */
export function planFromCuts(width: number, height: number, xs: readonly number[], ys: readonly number[], halo: number): TilePlan {
  const tiles: Tile[] = [];
  for (let j = 0; j + 1 < ys.length; j++) {
    for (let i = 0; i + 1 < xs.length; i++) {
      const [x0, x1, y0, y1] = [xs[i], xs[i + 1], ys[j], ys[j + 1]];
      tiles.push({ x0, y0, x1, y1, cropX0: Math.max(0, x0 - halo), cropY0: Math.max(0, y0 - halo), cropX1: Math.min(width, x1 + halo), cropY1: Math.min(height, y1 + halo) });
    }
  }
  const crop = (t: Tile) => (t.cropX1 - t.cropX0) * (t.cropY1 - t.cropY0);
  const total = tiles.reduce((s, t) => s + crop(t), 0);
  return { width, height, tiles, maxCropPixels: Math.max(...tiles.map(crop)), overhead: total / (width * height) };
}

/** Tiles whose interiors are at most `interior` px wide and high (rounded up to the alignment), sizes balanced. */
export function planTiles(width: number, height: number, interior: number, geometry: TileGeometry): TilePlan {
  const side = Math.max(geometry.alignment, Math.ceil(interior / geometry.alignment) * geometry.alignment);
  const xs = axisCuts(width, Math.ceil(width / side), geometry.alignment);
  const ys = axisCuts(height, Math.ceil(height / side), geometry.alignment);
  return planFromCuts(width, height, xs, ys, geometry.halo);
}

/**
 * The tiling with the least halo overhead whose largest crop has at most `maxCropPixels` pixels
 * (strips when the image is narrow enough, a grid otherwise). Undefined when even the smallest
 * tiles (one alignment step plus halos) do not fit.
 */
export function planTilesWithin(width: number, height: number, maxCropPixels: number, geometry: TileGeometry): TilePlan | undefined {
  const { alignment, halo } = geometry;
  // Along one axis, for each part count: the cuts, the widest crop and the sum of crop widths.
  const axis = (length: number) => {
    const options: { cuts: number[]; widest: number; sum: number }[] = [];
    for (let n = 1; n <= Math.ceil(length / alignment); n++) {
      const cuts = axisCuts(length, n, alignment);
      if (options.length > 0 && cuts.length === options[options.length - 1].cuts.length) continue; // same cuts as a smaller count
      const spans = cuts.slice(1).map((end, i) => Math.min(length, end + halo) - Math.max(0, cuts[i] - halo));
      options.push({ cuts, widest: Math.max(...spans), sum: spans.reduce((a, b) => a + b, 0) });
    }
    return options;
  };
  let best: { xs: number[]; ys: number[]; cost: number; count: number } | undefined;
  const rows = axis(height);
  for (const x of axis(width)) {
    // More rows only add overhead, so the first row count that fits is this column count's best.
    const y = rows.find((r) => x.widest * r.widest <= maxCropPixels);
    if (!y) continue;
    const cost = x.sum * y.sum;
    const count = (x.cuts.length - 1) * (y.cuts.length - 1);
    if (!best || cost < best.cost || (cost === best.cost && count < best.count)) best = { xs: x.cuts, ys: y.cuts, cost, count };
  }
  return best && planFromCuts(width, height, best.xs, best.ys, halo);
}

/** A loss layer's window inside a tile's crop, at its own level: rows [r0, r1), columns [c0, c1). */
export interface LevelWindow {
  readonly r0: number;
  readonly c0: number;
  readonly r1: number;
  readonly c1: number;
}

/**
 * The tile's interior at a level, in the crop's coordinates. At the image's far border the
 * untiled graph's floor-mode pools drop a trailing odd row/column; so do the crop's, because the
 * crop ends there too.
 */
export function levelWindow(tile: Tile, plan: Pick<TilePlan, 'width' | 'height'>, level: number): LevelWindow {
  const s = 2 ** level;
  const end = (edge: number, size: number, cropStart: number) => (edge === size ? Math.floor(size / s) : edge / s) - cropStart / s;
  return {
    r0: (tile.y0 - tile.cropY0) / s,
    c0: (tile.x0 - tile.cropX0) / s,
    r1: end(tile.y1, plan.height, tile.cropY0),
    c1: end(tile.x1, plan.width, tile.cropX0),
  };
}

/** The tile's interior at a level, in the whole image's feature-map coordinates. */
export function globalLevelWindow(tile: Tile, plan: Pick<TilePlan, 'width' | 'height'>, level: number): LevelWindow {
  const w = levelWindow(tile, plan, level);
  const s = 2 ** level;
  return { r0: w.r0 + tile.cropY0 / s, c0: w.c0 + tile.cropX0 / s, r1: w.r1 + tile.cropY0 / s, c1: w.c1 + tile.cropX0 / s };
}
