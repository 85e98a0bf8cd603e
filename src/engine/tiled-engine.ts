/**
 * Exact tiled evaluation of the loss and ∂loss/∂image on ONNX Runtime (injected, as in
 * session.ts), for images whose untiled graph would not fit in memory. Same contract as StyleEngine's evaluate() and targets()
 * (the image is whatever the network sees, planar [3,H,W] in its input space), so the pipeline can
 * use either. Two passes per evaluation (tiling.ts says why it is exact):
 *   1. forward over the tiles: each tile's interior partial sums of every Gram matrix, content and
 *      TV term, added in float64 → the whole image's loss terms and Gram matrices;
 *   2. forward + backward over the tiles with the global (G − A) as inputs: each crop's gradient is
 *      added into the image gradient.
 * The cost over untiled: pass 1 is a forward (about half an evaluation, on larger tiles since it
 * keeps nothing for a backward pass) and every crop includes its halo, so about
 * ½ · (Σ forward crop pixels) + Σ gradient crop pixels, over the image's pixels.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { NetworkWeights } from '../model/conv-weights.js';
import { truncateTo, type ConvLayer, type NetworkSpec } from '../model/vgg19.js';
import type { LossEvaluator } from './evaluator.js';
import type { LossLayout } from './loss-graph.js';
import type { EngineBackend } from './style-engine.js';
import type { LossTerms, Targets, TermWeights } from './loss-terms.js';
import { buildTileGradientModel, buildTileSumsModel, tileNames } from './tile-graph.js';
import { guidedRegions, regionWeights } from './style-engine.js';
import { EMPTY_MASS } from '../losses/guided.js';
import { globalLevelWindow, levelWindow, planTiles, planTilesWithin, tileGeometry, type Tile, type TileGeometry, type TilePlan } from './tiling.js';

/**
 * How tiles are chosen: a fixed interior size (`--tile N`), or the least overhead within a crop
 * size. The forward-only passes (loss sums, targets) keep no tensors for a backward pass, so they
 * may use larger tiles (`forwardInterior`, `maxForwardCropPixels`; default: the same as the gradient's).
 */
export type TilingChoice =
  | {
      readonly interior: number;
      readonly forwardInterior?: number;
      /** Only for tests that show the halo is needed: a halo smaller than tileGeometry's is inexact. */
      readonly halo?: number;
    }
  | { readonly maxCropPixels: number; readonly maxForwardCropPixels?: number };

/** Reported before each tile is run, so progress can show the tile within the iteration. */
export interface TileProgress {
  readonly pass: 'sums' | 'gradient' | 'targets';
  /** 1-based */
  readonly tile: number;
  readonly tiles: number;
}

/** onnxruntime-common's Tensor constructor for the two element types the tile graphs take (window bounds are int64). */
type TensorOf = new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => Tensor;

export class TiledEngine implements LossEvaluator {
  /** Called before each tile; set by the caller that shows progress. */
  onTile?: (progress: TileProgress) => void;
  private readonly plans = new Map<string, TilePlan>();
  private readonly channels: ReadonlyMap<string, number>;
  private readonly Tensor: TensorOf;

  private constructor(
    readonly layout: LossLayout,
    readonly geometry: TileGeometry,
    private choice: TilingChoice,
    backend: EngineBackend,
    private readonly sumsSession: InferenceSession,
    private readonly targetsSession: InferenceSession,
    private readonly gradientSession: InferenceSession,
    net: NetworkSpec,
  ) {
    this.channels = new Map(net.layers.filter((l): l is ConvLayer => l.kind === 'conv').map((l) => [l.name, l.outChannels]));
    this.Tensor = backend.ort.Tensor as unknown as TensorOf;
  }

  static async create(backend: EngineBackend, net: NetworkSpec, weights: NetworkWeights, layout: LossLayout, choice: TilingChoice): Promise<TiledEngine> {
    const lossLayers = [...layout.contentLayers, ...layout.styleLayers];
    const geometry = tileGeometry(truncateTo(net, lossLayers), lossLayers);
    const { ort, sessionOptions } = backend;
    const [sums, targets, gradient] = await Promise.all([
      ort.InferenceSession.create(buildTileSumsModel(net, weights, layout, 'loss'), sessionOptions),
      ort.InferenceSession.create(buildTileSumsModel(net, weights, layout, 'targets'), sessionOptions),
      ort.InferenceSession.create(buildTileGradientModel(net, weights, layout), sessionOptions),
    ]);
    return new TiledEngine(layout, geometry, choice, backend, sums, targets, gradient, net);
  }

  /** Changes how tiles are chosen (per scale: the memory left depends on the image size). */
  setTiling(choice: TilingChoice): void {
    this.choice = choice;
    this.plans.clear();
  }

  /** The tiles of the gradient pass at a size. */
  plan(width: number, height: number): TilePlan {
    return this.cachedPlan(width, height, 'gradient');
  }

  /** The tiles of the forward-only passes (loss sums, targets) at a size. */
  forwardPlan(width: number, height: number): TilePlan {
    return this.cachedPlan(width, height, 'forward');
  }

  private cachedPlan(width: number, height: number, pass: 'gradient' | 'forward'): TilePlan {
    const key = `${pass}:${width}x${height}`;
    let plan = this.plans.get(key);
    if (!plan) {
      const c = this.choice;
      if ('interior' in c) {
        const interior = pass === 'forward' ? (c.forwardInterior ?? c.interior) : c.interior;
        plan = planTiles(width, height, interior, { ...this.geometry, halo: c.halo ?? this.geometry.halo });
      } else {
        const limit = pass === 'forward' ? Math.max(c.maxCropPixels, c.maxForwardCropPixels ?? 0) : c.maxCropPixels;
        plan = planTilesWithin(width, height, limit, this.geometry);
        if (!plan) throw new Error(`no tiling of ${width}x${height} fits crops of ${limit} pixels`);
      }
      this.plans.set(key, plan);
    }
    return plan;
  }

  /** Content features and Gram matrices of an image, computed tile by tile (same result as StyleEngine.targets). */
  async targets(
    image: Float32Array,
    width: number,
    height: number,
    which: { content?: boolean; style?: boolean } = { content: true, style: true },
    mask?: Float32Array,
  ): Promise<Targets> {
    const plan = this.forwardPlan(width, height);
    const guided = this.layout.guided !== undefined;
    const masks = guided ? { data: mask ?? new Float32Array(width * height).fill(1), regions: 1 } : undefined;
    const masses = this.massAccumulators(1);
    const content = new Map<string, { data: Float32Array; dims: readonly number[] }>();
    const wantContent = which.content !== false;
    if (wantContent) {
      for (const layer of this.layout.contentLayers) {
        const [h, w] = this.levelSize(layer, width, height);
        const c = this.channels.get(layer)!;
        content.set(layer, { data: new Float32Array(c * h * w), dims: [1, c, h, w] });
      }
    }
    const sums = this.gramAccumulators(1);
    for (let k = 0; k < plan.tiles.length; k++) {
      this.onTile?.({ pass: 'targets', tile: k + 1, tiles: plan.tiles.length });
      const tile = plan.tiles[k];
      const fetches = [
        ...this.layout.styleLayers.map(tileNames.gramSum),
        ...(guided ? this.layout.styleLayers.map(tileNames.massSum) : []),
        ...(wantContent ? this.layout.contentLayers.map(tileNames.feature) : []),
      ];
      const out = await this.targetsSession.run(inputsOf(this.targetsSession, this.windowFeeds(image, plan, tile, masks)), fetches);
      for (const [layer, acc] of sums) addInto(acc, out[tileNames.gramSum(layer)].data as Float32Array);
      if (guided) for (const [layer, acc] of masses) addInto(acc, out[tileNames.massSum(layer)].data as Float32Array);
      if (wantContent) {
        for (const layer of this.layout.contentLayers) {
          const t = content.get(layer)!;
          placeWindow(t.data, t.dims, out[tileNames.feature(layer)].data as Float32Array, globalLevelWindow(tile, plan, this.level(layer)));
        }
      }
    }
    const gram = new Map<string, Float32Array>();
    if (which.style !== false) {
      for (const [layer, acc] of sums) {
        const divisor = guided ? this.guidedDivisor(layer, width, height, masses.get(layer)![0]) : this.gramDivisor(layer, width, height);
        gram.set(
          layer,
          Float32Array.from(acc, (v) => v / divisor),
        );
      }
    }
    return { content, gram };
  }

  /**
   * The loss terms and ∂loss/∂image at `image` (network input space, planar [3,H,W]), written into
   * `grad`; the same as StyleEngine.evaluate up to float summation order.
   */
  async evaluate(image: Float32Array, width: number, height: number, targets: Targets, weights: TermWeights, grad: Float32Array): Promise<LossTerms> {
    const { contentLayers, styleLayers, styleNormalisation } = this.layout;

    // Guided Grams (losses/guided.ts): R regions, each with its own Gram sums and mass Σm².
    const regions = this.layout.guided ? guidedRegions(targets, width, height) : 0;
    const R = regions || 1;
    const masses = this.massAccumulators(R);

    // Pass 1: partial sums over the tiles' interiors.
    let plan = this.forwardPlan(width, height);
    const gramSums = this.gramAccumulators(R);
    const contentSums = new Map(contentLayers.map((l) => [l, 0]));
    let tvSum = 0;
    for (let k = 0; k < plan.tiles.length; k++) {
      this.onTile?.({ pass: 'sums', tile: k + 1, tiles: plan.tiles.length });
      const tile = plan.tiles[k];
      const feeds = { ...this.windowFeeds(image, plan, tile, targets.masks), ...this.contentTargetFeeds(targets, plan, tile) };
      const out = await this.sumsSession.run(inputsOf(this.sumsSession, feeds));
      for (const [layer, acc] of gramSums) addInto(acc, out[tileNames.gramSum(layer)].data as Float32Array);
      if (regions) for (const [layer, acc] of masses) addInto(acc, out[tileNames.massSum(layer)].data as Float32Array);
      for (const layer of contentLayers) contentSums.set(layer, contentSums.get(layer)! + scalarOf(out[tileNames.contentSum(layer)]));
      tvSum += scalarOf(out[tileNames.tvSum]);
    }

    // The whole image's terms, normalised as loss-graph.ts / losses/*.ts do.
    const content = new Map<string, number>();
    const contentScales = new Map<string, number>();
    for (const layer of contentLayers) {
      const count = this.elements(layer, width, height);
      content.set(layer, contentSums.get(layer)! / count);
      contentScales.set(layer, ((weights.content.get(layer) ?? 0) * 2) / count);
    }
    const style = new Map<string, number>();
    const dgrams = new Map<string, Float32Array>();
    for (const layer of styleLayers) {
      const c = this.channels.get(layer)!;
      const count = this.elements(layer, width, height);
      const acc = gramSums.get(layer)!;
      const target = targets.gram.get(layer);
      if (!target) throw new Error(`missing style target for ${layer}`);
      const rho = regions ? regionWeights(weights, layer, regions) : Float32Array.of(1);
      let term = 0;
      const dgram = new Float32Array(R * c * c);
      for (let r = 0; r < R; r++) {
        const mass = regions ? masses.get(layer)![r] : 0;
        const divisor = regions ? this.guidedDivisor(layer, width, height, mass) : this.gramDivisor(layer, width, height);
        const at = r * c * c;
        const diff = new Float64Array(c * c);
        let squares = 0;
        for (let i = 0; i < diff.length; i++) {
          diff[i] = acc[at + i] / divisor - target[at + i];
          squares += diff[i] * diff[i];
        }
        const meanSq = squares / (c * c);
        term += rho[r] * (styleNormalisation === 'recipe' ? meanSq / count : meanSq);
        // ∂(w·styleₗ)/∂F = dgram · F with dgram = w·2/(C²·numel)·(D + Dᵀ), as styleLossGraph; guided:
        // w·ρ_r·2/(C³·Σm_r²)·(D_r + D_rᵀ) applied to F∘m_r, as guidedStyleLossGraph.
        const w = weights.style.get(layer) ?? 0;
        const factor = regions ? (w * rho[r] * 2) / (c * c * c * Math.max(mass, EMPTY_MASS)) : (w * 2) / (c * c * count);
        for (let a = 0; a < c; a++) for (let b = 0; b < c; b++) dgram[at + a * c + b] = factor * (diff[a * c + b] + diff[b * c + a]);
      }
      style.set(layer, term);
      dgrams.set(layer, dgram);
    }
    const pixels = 3 * width * height;
    const tv = tvSum / pixels;
    let total = weights.tv * tv;
    for (const [layer, v] of content) total += (weights.content.get(layer) ?? 0) * v;
    for (const [layer, v] of style) total += (weights.style.get(layer) ?? 0) * v;

    // Pass 2: each crop's gradient, overlap-added.
    const scalar = (x: number) => new this.Tensor('float32', Float32Array.of(x), []);
    const common: Record<string, Tensor> = { [tileNames.tvScale]: scalar((weights.tv * 2) / pixels) };
    for (const [layer, s] of contentScales) common[tileNames.contentScale(layer)] = scalar(s);
    for (const [layer, d] of dgrams) {
      const c = this.channels.get(layer)!;
      common[tileNames.dgram(layer)] = new this.Tensor('float32', d, regions ? [regions, c, c] : [c, c]);
    }
    grad.fill(0);
    plan = this.plan(width, height);
    for (let k = 0; k < plan.tiles.length; k++) {
      this.onTile?.({ pass: 'gradient', tile: k + 1, tiles: plan.tiles.length });
      const tile = plan.tiles[k];
      const feeds = { ...common, ...this.windowFeeds(image, plan, tile, targets.masks), ...this.contentTargetFeeds(targets, plan, tile) };
      const out = await this.gradientSession.run(inputsOf(this.gradientSession, feeds), [tileNames.grad]);
      addCrop(grad, width, height, out[tileNames.grad].data as Float32Array, tile);
    }
    return { total, content, style, tv };
  }

  async release(): Promise<void> {
    await Promise.all([this.sumsSession.release(), this.targetsSession.release(), this.gradientSession.release()]);
  }

  private level(layer: string): number {
    return this.geometry.levels.get(layer)!;
  }

  /** [rows, columns] of a loss layer's feature map for the whole image (floor-mode pools). */
  private levelSize(layer: string, width: number, height: number): [number, number] {
    const s = 2 ** this.level(layer);
    return [Math.floor(height / s), Math.floor(width / s)];
  }

  /** numel of a loss layer's features for the whole image. */
  private elements(layer: string, width: number, height: number): number {
    const [h, w] = this.levelSize(layer, width, height);
    return this.channels.get(layer)! * h * w;
  }

  /** What a raw Σ fₚfₚᵀ is divided by to give the layer's Gram matrix (style.ts). */
  private gramDivisor(layer: string, width: number, height: number): number {
    return this.layout.styleNormalisation === 'recipe' ? 1 : this.elements(layer, width, height);
  }

  /** Guided Grams: what a raw Σ m²fₚfₚᵀ is divided by, for a region of mass Σm² (losses/guided.ts). */
  private guidedDivisor(layer: string, width: number, height: number, mass: number): number {
    const cm = this.channels.get(layer)! * Math.max(mass, EMPTY_MASS);
    return this.layout.styleNormalisation === 'recipe' ? cm / this.elements(layer, width, height) : cm;
  }

  private gramAccumulators(regions: number): Map<string, Float64Array> {
    return new Map(this.layout.styleLayers.map((l) => [l, new Float64Array(regions * this.channels.get(l)! ** 2)]));
  }

  private massAccumulators(regions: number): Map<string, Float64Array> {
    return new Map(this.layout.styleLayers.map((l) => [l, new Float64Array(regions)]));
  }

  /** The crop and its interior window at every level the graphs use. */
  private windowFeeds(image: Float32Array, plan: TilePlan, tile: Tile, masks?: Targets['masks']): Record<string, Tensor> {
    const w = tile.cropX1 - tile.cropX0;
    const h = tile.cropY1 - tile.cropY0;
    const feeds: Record<string, Tensor> = { [tileNames.image]: new this.Tensor('float32', cropPlanar(image, plan.width, plan.height, tile), [1, 3, h, w]) };
    // The masks are cropped as the image is (their margin, if any, is already in them: pipeline/targets.ts).
    if (masks) feeds[tileNames.mask] = new this.Tensor('float32', cropPlanar(masks.data, plan.width, plan.height, tile, masks.regions), [masks.regions, 1, h, w]);
    for (const level of new Set([0, ...this.geometry.levels.values()])) {
      const win = levelWindow(tile, plan, level);
      feeds[tileNames.start(level)] = new this.Tensor('int64', BigInt64Array.of(BigInt(win.r0), BigInt(win.c0)), [2]);
      feeds[tileNames.end(level)] = new this.Tensor('int64', BigInt64Array.of(BigInt(win.r1), BigInt(win.c1)), [2]);
    }
    return feeds;
  }

  /** Each content target cut to the tile's interior. */
  private contentTargetFeeds(targets: Targets, plan: TilePlan, tile: Tile): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const layer of this.layout.contentLayers) {
      const t = targets.content.get(layer);
      if (!t) throw new Error(`missing content target for ${layer}`);
      const win = globalLevelWindow(tile, plan, this.level(layer));
      feeds[tileNames.contentTarget(layer)] = new this.Tensor('float32', cutWindow(t.data, t.dims, win), [1, t.dims[1], win.r1 - win.r0, win.c1 - win.c0]);
    }
    return feeds;
  }
}

/** The feeds a session declares (a window level a graph does not use is not among its inputs). */
function inputsOf(session: InferenceSession, feeds: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(session.inputNames.filter((n) => n in feeds).map((n) => [n, feeds[n]]));
}

function scalarOf(t: Tensor): number {
  return (t.data as Float32Array)[0];
}

function addInto(acc: Float64Array, part: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += part[i];
}

/** The tile's crop of a planar [channels,H,W] image. */
function cropPlanar(image: Float32Array, width: number, height: number, tile: Tile, channels = 3): Float32Array {
  const w = tile.cropX1 - tile.cropX0;
  const h = tile.cropY1 - tile.cropY0;
  const out = new Float32Array(channels * w * h);
  for (let c = 0; c < channels; c++) {
    for (let r = 0; r < h; r++) {
      const from = (c * height + tile.cropY0 + r) * width + tile.cropX0;
      out.set(image.subarray(from, from + w), (c * h + r) * w);
    }
  }
  return out;
}

/** Add a crop's gradient [3,h,w] into the image gradient [3,H,W] at the crop's place. */
function addCrop(grad: Float32Array, width: number, height: number, part: Float32Array, tile: Tile): void {
  const w = tile.cropX1 - tile.cropX0;
  const h = tile.cropY1 - tile.cropY0;
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < h; r++) {
      const to = (c * height + tile.cropY0 + r) * width + tile.cropX0;
      const from = (c * h + r) * w;
      for (let q = 0; q < w; q++) grad[to + q] += part[from + q];
    }
  }
}

/** Rows/columns [r0,r1)×[c0,c1) of a [1,C,h,w] tensor. */
function cutWindow(data: Float32Array, dims: readonly number[], win: { r0: number; c0: number; r1: number; c1: number }): Float32Array {
  const [, channels, h, w] = dims;
  const rows = win.r1 - win.r0;
  const cols = win.c1 - win.c0;
  const out = new Float32Array(channels * rows * cols);
  for (let c = 0; c < channels; c++) {
    for (let r = 0; r < rows; r++) {
      const from = (c * h + win.r0 + r) * w + win.c0;
      out.set(data.subarray(from, from + cols), (c * rows + r) * cols);
    }
  }
  return out;
}

/** The inverse of cutWindow: write a [1,C,rows,cols] block into a [1,C,h,w] tensor. */
function placeWindow(data: Float32Array, dims: readonly number[], block: Float32Array, win: { r0: number; c0: number; r1: number; c1: number }): void {
  const [, channels, h, w] = dims;
  const rows = win.r1 - win.r0;
  const cols = win.c1 - win.c0;
  for (let c = 0; c < channels; c++) {
    for (let r = 0; r < rows; r++) data.set(block.subarray((c * rows + r) * cols, (c * rows + r + 1) * cols), (c * h + win.r0 + r) * w + win.c0);
  }
}
