/**
 * The style engine: runs the loss-and-gradient and the target models on ONNX Runtime. One session
 * per model is created once and reused for every iteration and every image size (the graphs have
 * symbolic H and W).
 *
 * The runtime is injected (an `OrtRuntime`: onnxruntime-node in Node, onnxruntime-web in the
 * browser; both implement onnxruntime-common's API), so this module imports no platform package.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { NetworkWeights } from '../model/conv-weights.js';
import type { NetworkSpec } from '../model/vgg19.js';
import { buildLossModel, buildTargetModel, names, type GraphOptions, type LossLayout } from './loss-graph.js';
import type { LossTerms, Targets, TermWeights } from './loss-terms.js';

/** The part of onnxruntime-common's API the engine uses (onnxruntime-node and onnxruntime-web both provide it). */
export interface OrtRuntime {
  readonly InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => Tensor;
}

/** Where and how the sessions run: the runtime and its session options (threads, providers, arena). */
export interface EngineBackend {
  readonly ort: OrtRuntime;
  readonly sessionOptions: InferenceSession.SessionOptions;
  /** Options of the loss session only, over `sessionOptions` (its memory arena; profiling, see bench/profile.ts). */
  readonly lossSessionOptions?: InferenceSession.SessionOptions;
  /** How the loss graph is written for this runtime (see GraphOptions; default: as for onnxruntime-node). */
  readonly graph?: GraphOptions;
}

export class StyleEngine {
  private constructor(
    readonly layout: LossLayout,
    private readonly ort: OrtRuntime,
    private readonly lossSession: InferenceSession,
    private readonly targetSession: InferenceSession,
  ) {}

  static async create(backend: EngineBackend, net: NetworkSpec, weights: NetworkWeights, layout: LossLayout): Promise<StyleEngine> {
    const { ort, sessionOptions } = backend;
    const [lossSession, targetSession] = await Promise.all([
      ort.InferenceSession.create(buildLossModel(net, weights, layout, backend.graph), { ...sessionOptions, ...backend.lossSessionOptions }),
      ort.InferenceSession.create(buildTargetModel(net, weights, layout), sessionOptions),
    ]);
    return new StyleEngine(layout, ort, lossSession, targetSession);
  }

  /** Content features and Gram matrices of an image already in the network's input space (planar [3,H,W]). */
  async targets(
    image: Float32Array,
    width: number,
    height: number,
    which: { content?: boolean; style?: boolean } = { content: true, style: true },
    mask?: Float32Array,
  ): Promise<Targets> {
    const fetches: string[] = [];
    if (which.content !== false) fetches.push(...this.layout.contentLayers.map(names.feature));
    if (which.style !== false) fetches.push(...this.layout.styleLayers.map(names.gram));
    const feeds: Record<string, Tensor> = { [names.image]: new this.ort.Tensor('float32', image, [1, 3, height, width]) };
    if (this.layout.guided) feeds[names.mask] = new this.ort.Tensor('float32', mask ?? new Float32Array(width * height).fill(1), [1, 1, height, width]);
    const out = await this.targetSession.run(feeds, fetches);
    const content = new Map<string, { data: Float32Array; dims: readonly number[] }>();
    const gram = new Map<string, Float32Array>();
    if (which.content !== false) {
      for (const layer of this.layout.contentLayers) {
        const t = out[names.feature(layer)];
        content.set(layer, { data: t.data as Float32Array, dims: t.dims });
      }
    }
    if (which.style !== false) for (const layer of this.layout.styleLayers) gram.set(layer, out[names.gram(layer)].data as Float32Array);
    return { content, gram };
  }

  /**
   * Evaluate the loss and ∂loss/∂image at `image` (network input space, planar [3,H,W]); the gradient
   * is copied into `grad`.
   */
  async evaluate(image: Float32Array, width: number, height: number, targets: Targets, weights: TermWeights, grad: Float32Array): Promise<LossTerms> {
    const feeds: Record<string, Tensor> = { [names.image]: new this.ort.Tensor('float32', image, [1, 3, height, width]) };
    const scalar = (x: number) => new this.ort.Tensor('float32', Float32Array.of(x), []);
    for (const layer of this.layout.contentLayers) {
      const t = targets.content.get(layer);
      if (!t) throw new Error(`missing content target for ${layer}`);
      feeds[names.contentTarget(layer)] = new this.ort.Tensor('float32', t.data, t.dims);
      feeds[names.contentWeight(layer)] = scalar(weights.content.get(layer) ?? 0);
    }
    const regions = this.layout.guided ? guidedRegions(targets, width, height) : 0;
    if (regions) feeds[names.mask] = new this.ort.Tensor('float32', targets.masks!.data, [regions, 1, height, width]);
    for (const layer of this.layout.styleLayers) {
      const t = targets.gram.get(layer);
      if (!t) throw new Error(`missing style target for ${layer}`);
      const c = Math.round(Math.sqrt(t.length / (regions || 1)));
      feeds[names.styleTarget(layer)] = new this.ort.Tensor('float32', t, regions ? [regions, c, c] : [c, c]);
      feeds[names.styleWeight(layer)] = scalar(weights.style.get(layer) ?? 0);
      if (regions) feeds[names.regionWeight(layer)] = new this.ort.Tensor('float32', regionWeights(weights, layer, regions), [regions]);
    }
    feeds[names.tvWeight] = scalar(weights.tv);
    const out = await this.lossSession.run(feeds);
    grad.set(out[names.grad].data as Float32Array);
    const value = (name: string) => (out[name].data as Float32Array)[0];
    return {
      total: value(names.loss),
      content: new Map(this.layout.contentLayers.map((l) => [l, value(names.content(l))])),
      style: new Map(this.layout.styleLayers.map((l) => [l, value(names.style(l))])),
      tv: value(names.tv),
    };
  }

  /** Stop profiling the loss session and write its file (when its options enabled profiling). */
  endProfiling(): void {
    this.lossSession.endProfiling();
  }

  async release(): Promise<void> {
    await Promise.all([this.lossSession.release(), this.targetSession.release()]);
  }
}

/** The number of regions of guided targets, checked against the image size. */
export function guidedRegions(targets: Targets, width: number, height: number): number {
  const m = targets.masks;
  if (!m || !(m.regions > 0) || m.data.length !== m.regions * width * height)
    throw new Error(`guided loss: expected ${width}x${height} region masks, got ${m ? m.data.length : 'none'}`);
  return m.regions;
}

/** ρ_r of a layer (TermWeights.regions), 1 for each region when not given. */
export function regionWeights(weights: TermWeights, layer: string, regions: number): Float32Array {
  const given = weights.regions?.get(layer);
  if (given && given.length !== regions) throw new Error(`${given.length} region weights for ${layer}, expected ${regions}`);
  return given ? Float32Array.from(given) : new Float32Array(regions).fill(1);
}
