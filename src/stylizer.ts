/**
 * The Stylizer: an object that holds what is expensive — the network's weights and the ONNX Runtime
 * sessions built from them — and runs any number of jobs with it, one at a time (load once, run
 * many, as transformers.js's pipeline() does). `stylize()` in stylize.ts is a create-run-close
 * wrapper; servers and workers keep one Stylizer for their whole life.
 *
 * This module is the core: it reaches the platform (ONNX Runtime, image codecs, the weights cache)
 * only through the `Platform` it is given, so the same code runs in Node and in the browser.
 *
 * The pipeline per job: load the images → plan the scales → per scale: targets, objective,
 * optimise (pipeline/scale.ts) → post-process → result.
 */
import type { LossEvaluator } from './engine/evaluator.js';
import { StyleEngine, type LossTerms, type Targets } from './engine/session.js';
import { TiledEngine } from './engine/tiled-engine.js';
import { AbortError, StyleTransferError } from './errors.js';
import { toPlanar, toRaw, type PlanarImage, type RawImage } from './image/image.js';
import { matchHistogram } from './image/colour.js';
import { deprocess, preprocess } from './model/convention.js';
import type { ResolvedWeights } from './model/conv-weights.js';
import { convsUpTo } from './model/vgg19.js';
import { checkImageSizes, normaliseOptions, type ResolvedOptions, type StylizeOptions } from './options.js';
import { createRunEta } from './pipeline/run-eta.js';
import { clampPixels, finishColours, forNetwork } from './pipeline/finish.js';
import { borderPadding, createObjective, lossValues, termWeights } from './pipeline/objective.js';
import { planScaleEngines, type ScaleEngine } from './pipeline/memory.js';
import { upsampled } from './pipeline/upsample.js';
import { initialImage, iterationsAt, outputSize, planScales, styleSize, type Size } from './pipeline/plan.js';
import { optimiseScale } from './pipeline/scale.js';
import { computeTargets, networkInput } from './pipeline/targets.js';
import type { Platform } from './platform.js';
import type { LossValues, ProgressEvent } from './progress.js';

export interface StylizeResult {
  /** The output picture, 8-bit RGB. */
  readonly image: RawImage;
  readonly width: number;
  readonly height: number;
  /** Loss terms of the output image (evaluated once more after the last update). */
  readonly loss: LossValues;
  /** Iterations run, over all scales. */
  readonly iterations: number;
  readonly seconds: number;
  /** The sizes optimised at, coarse to fine. */
  readonly scales: readonly { width: number; height: number }[];
  /** The content and style images as used at the final scale (for side-by-side sheets). */
  readonly content: RawImage;
  readonly styles: readonly RawImage[];
  readonly options: ResolvedOptions;
}

/** Defaults a Stylizer applies to every job that does not set them itself. */
export interface StylizerOptions {
  /** Weights file (safetensors or .pth); default: the platform's (STYLE_TRANSFER_WEIGHTS, else the cached model). */
  readonly weights?: string;
  /** Intra-op threads of the ONNX Runtime sessions (default: all cores). */
  readonly threads?: number;
}

/** What a Stylizer has done so far: loads and builds are the expensive part a second job must not repeat. */
export interface StylizerStats {
  /** Weights files read (once per distinct network). */
  readonly weightLoads: number;
  /** Engines built (two ORT sessions each: loss-and-gradient, and targets), once per distinct layout. */
  readonly sessionBuilds: number;
  /** Jobs run to their end, successful or not. */
  readonly jobs: number;
}

export interface Stylizer {
  /** Runs one job: the same options, events, cancellation and result as the top-level stylize(). Jobs on one Stylizer run one at a time, in call order. */
  stylize(options: StylizeOptions): Promise<StylizeResult>;
  /** Releases the sessions; later stylize() calls are refused. */
  close(): Promise<void>;
  readonly stats: StylizerStats;
}

export function createStylizerOn(platform: Platform, options: StylizerOptions = {}): Stylizer {
  return new StylizerImpl(platform, options);
}

class StylizerImpl implements Stylizer {
  private readonly networks = new Map<string, Promise<ResolvedWeights>>();
  private readonly engines = new Map<string, Promise<StyleEngine>>();
  /** Tiled engines, by the key of `engines` without its allocation mode. At most one engine is kept for a key: see evaluator(). */
  private readonly tiledEngines = new Map<string, Promise<TiledEngine>>();
  private readonly counts = { weightLoads: 0, sessionBuilds: 0, jobs: 0 };
  /** The job chain: each job starts when the previous one has settled. */
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly platform: Platform,
    private readonly defaults: StylizerOptions,
  ) {}

  get stats(): StylizerStats {
    return { ...this.counts };
  }

  stylize(options: StylizeOptions): Promise<StylizeResult> {
    if (this.closed) return Promise.reject(new StyleTransferError('this Stylizer is closed'));
    const job = this.tail.then(() => this.run(options));
    this.tail = job.catch(() => {});
    return job;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    const engines = await Promise.allSettled([...this.engines.values(), ...this.tiledEngines.values()]);
    this.engines.clear();
    this.tiledEngines.clear();
    this.networks.clear();
    await Promise.all(engines.map((e) => (e.status === 'fulfilled' ? e.value.release() : undefined)));
  }

  /** The network for a job, read once per (model, weights, depth). */
  private network(opts: ResolvedOptions, emit: (e: ProgressEvent) => void, signal: AbortSignal | undefined): Promise<ResolvedWeights> {
    const upTo = convsUpTo([...opts.contentLayers, ...opts.styleLayers]);
    const request = { model: opts.modelGiven ? opts.model : undefined, fallbackModel: opts.model, weights: opts.weights };
    const key = JSON.stringify({ ...request, upTo: [...upTo].sort() });
    let network = this.networks.get(key);
    if (!network) {
      emit({ type: 'loading', stage: 'weights', message: 'loading VGG-19 weights' });
      this.counts.weightLoads++;
      network = this.platform.resolveWeights({ ...request, upTo, signal, onProgress: (e) => emit(e) });
      this.networks.set(key, network);
      network.catch(() => this.networks.delete(key)); // a failed load (offline, cancelled) is tried again next time
    }
    return network;
  }

  /**
   * The evaluator of a scale: the untiled engine (with or without ORT's memory arena), or the tiled
   * one set to the scale's tiling. Only one of the three is kept per key: switching releases the
   * others' sessions (and the arena's memory), which the memory budget does not count (a run
   * switches at most twice, going up in size).
   */
  private async evaluator(resolved: ResolvedWeights, opts: ResolvedOptions, scale: ScaleEngine, emit: (e: ProgressEvent) => void): Promise<LossEvaluator> {
    const key = this.engineKey(resolved, opts);
    const untiledKey = (lean: boolean) => `${key}|${lean ? 'lean' : 'arena'}`;
    const others: [Map<string, Promise<StyleEngine | TiledEngine>>, string][] = scale.tiled
      ? [
          [this.engines, untiledKey(false)],
          [this.engines, untiledKey(true)],
        ]
      : [
          [this.tiledEngines, key],
          [this.engines, untiledKey(!scale.lean)],
        ];
    for (const [map, k] of others) {
      const other = map.get(k);
      if (!other) continue;
      map.delete(k);
      await (await other.catch(() => undefined))?.release();
    }
    if (!scale.tiled) return this.engine(resolved, opts, emit, untiledKey(scale.lean), scale.lean);
    let tiled = this.tiledEngines.get(key);
    if (!tiled) {
      emit({ type: 'loading', stage: 'engine', message: 'building the tiled loss graphs' });
      this.counts.sessionBuilds++;
      tiled = TiledEngine.create(this.platform.backend(opts.threads), resolved.net, resolved.weights, this.layoutOf(opts), scale.tiling);
      this.tiledEngines.set(key, tiled);
      tiled.catch(() => this.tiledEngines.delete(key));
    }
    const engine = await tiled;
    engine.setTiling(scale.tiling);
    return engine;
  }

  private layoutOf(opts: ResolvedOptions) {
    return { contentLayers: opts.contentLayers, styleLayers: opts.styleLayers, styleNormalisation: opts.styleNormalisation, pooling: opts.pooling };
  }

  private engineKey(resolved: ResolvedWeights, opts: ResolvedOptions): string {
    return JSON.stringify({ path: resolved.path, model: resolved.modelName, convention: resolved.net.convention, layout: this.layoutOf(opts), threads: opts.threads });
  }

  /** The engine (loss and target sessions) for a network and a loss layout, built once; `lean`: without the memory arena. */
  private engine(resolved: ResolvedWeights, opts: ResolvedOptions, emit: (e: ProgressEvent) => void, key: string, lean: boolean): Promise<StyleEngine> {
    const layout = this.layoutOf(opts);
    let engine = this.engines.get(key);
    if (!engine) {
      emit({ type: 'loading', stage: 'engine', message: 'building the loss graph' });
      this.counts.sessionBuilds++;
      engine = StyleEngine.create(this.platform.backend(opts.threads, lean), resolved.net, resolved.weights, layout);
      this.engines.set(key, engine);
      engine.catch(() => this.engines.delete(key));
    }
    return engine;
  }

  private async run(options: StylizeOptions): Promise<StylizeResult> {
    try {
      return await this.runJob(options);
    } finally {
      this.counts.jobs++;
    }
  }

  private async runJob(options: StylizeOptions): Promise<StylizeResult> {
    const started = performance.now();
    const opts = normaliseOptions({ ...options, weights: options.weights ?? this.defaults.weights, threads: options.threads ?? this.defaults.threads });
    const emit = (e: ProgressEvent) => options.onProgress?.(e);
    const { signal } = options;
    const { platform } = this;

    emit({ type: 'loading', stage: 'images', message: 'reading images' });
    const contentRaw = await platform.loadImage(opts.content, 'content image', opts.maxPixels);
    let styleRaws = await Promise.all(opts.styles.map((s, i) => platform.loadImage(s, opts.styles.length > 1 ? `style image ${i + 1}` : 'style image', opts.maxPixels)));
    const initRaw =
      typeof opts.init === 'string' && ['content', 'noise', 'style'].includes(opts.init) ? undefined : await platform.loadImage(opts.init, 'init image', opts.maxPixels);

    const final = outputSize(contentRaw, opts);
    const padding = borderPadding(opts);
    const margin = padding ? padding.margin : 0;
    const scales = planScales(contentRaw, final, opts);
    checkImageSizes(
      opts,
      scales,
      scales.map((at) => styleRaws.map((s) => styleSize(s, at, opts))),
    );
    // Per scale (as the network sees it, inside its padding margin): untiled, or exactly in tiles
    // within the memory budget; refused here, before anything is loaded, when even tiles do not fit.
    const budget = platform.memoryBudget?.(opts.memory);
    if (budget === undefined && opts.tile === undefined) {
      // The output size the user asked for, with the network's extra border pixels as an extra.
      platform.checkMemory(final.width, final.height, {
        margin,
        history: opts.optimizer === 'lbfgs' ? opts.history : 0,
        inputPixels: [contentRaw, ...styleRaws].reduce((n, img) => n + img.width * img.height, 0),
        stylePixels: styleRaws.reduce((n, s) => {
          const at = styleSize(s, final, opts);
          return n + (at.width + 2 * margin) * (at.height + 2 * margin);
        }, 0),
      });
    }
    const scaleEngines = planScaleEngines(scales, opts, budget, 2 * margin);

    if (opts.preserveColors === 'histogram') {
      // The content's colour statistics at the output size: the same mean and covariance for any
      // practical purpose, without a float copy of a possibly huge original.
      const contentPlanar = toPlanar(await platform.resize(contentRaw, final.width, final.height));
      styleRaws = styleRaws.map((s) => toRaw(matchHistogram(toPlanar(s), contentPlanar)));
    }

    // Colour first (issue 18): the start image is the content with the style's colour mean and
    // covariance, so the optimiser does not spend the scales' iterations moving the colours.
    let startRaw = initRaw;
    if (opts.colourStart && opts.init === 'content' && opts.preserveColors === 'none') {
      const main = opts.styleBlend.reduce((best, w, i) => (w > opts.styleBlend[best] ? i : best), 0);
      const contentPlanar = toPlanar(await platform.resize(contentRaw, final.width, final.height));
      startRaw = toRaw(matchHistogram(contentPlanar, toPlanar(styleRaws[main])));
    }

    const resolved = await this.network(opts, emit, signal);
    const convention = resolved.net.convention;
    const weights = termWeights(opts);
    const iterations = (k: number) => iterationsAt(k, scales, opts);
    const finalScale = scales.length - 1;
    // The network works on the image inside its border margin: that is what an iteration costs.
    const networkPixels = (s: Size) => (s.width + 2 * margin) * (s.height + 2 * margin);
    const clock = createRunEta(scales, scaleEngines, margin, opts);
    // L-BFGS's inverse-Hessian scale at the end of the previous scale, and that scale's pixel count.
    let carried: { gamma: number; pixels: number } | undefined;
    const toInput = (img: PlanarImage) => preprocess(forNetwork(img, opts).data, img.width * img.height, convention);

    let current: PlanarImage | undefined; // the result so far, in pixel space (0..1 RGB)
    let previousContent: RawImage | undefined; // the content at the previous scale's size
    let totalIterations = 0;
    let last: { content: RawImage; styles: RawImage[]; targets: Targets; engine: LossEvaluator } | undefined;

    for (let k = 0; k < scales.length; k++) {
      const size = scales[k];
      const tiles = scaleEngines[k].tiled ? (scaleEngines[k] as { tiles: number }).tiles : 1;
      // Build (or reuse) this scale's evaluator first, so its loading events come before the scale starts.
      const engine = await this.evaluator(resolved, opts, scaleEngines[k], emit);
      emit({ type: 'scale', scale: k + 1, scales: scales.length, width: size.width, height: size.height, iterations: iterations(k), tiles });
      let iteration = 0; // the iteration being computed, for tile progress (0: the targets)
      if (engine instanceof TiledEngine) {
        engine.onTile = (p) => {
          // Stop means stop: one tiled evaluation can take minutes, so a cancel is honoured between its
          // tiles (optimiseScale then keeps the last finished image). Not during the targets (iteration
          // 0), where no image of this scale exists yet: the first iteration's check stops the run.
          if (iteration > 0 && signal?.aborted) throw new AbortError('the run was cancelled');
          emit({ type: 'tile', scale: k + 1, scales: scales.length, ...size, iteration, iterations: iterations(k), ...p });
        };
      }

      const contentScaled = await platform.resize(contentRaw, size.width, size.height);
      const stylesScaled = await Promise.all(
        styleRaws.map((s) => {
          const at = styleSize(s, size, opts);
          return platform.resize(s, at.width, at.height);
        }),
      );
      const targets = await computeTargets(
        engine,
        networkInput(toInput(toPlanar(contentScaled)), size, padding),
        stylesScaled.map((s) => networkInput(toInput(toPlanar(s)), s, padding)),
        opts.styleBlend,
      );
      last = { content: contentScaled, styles: stylesScaled, targets, engine };

      const start = current
        ? upsampled(current, size, opts.upsampleDetail ? { now: toPlanar(contentScaled), before: toPlanar(previousContent!) } : undefined)
        : await this.firstImage(opts, size, contentScaled, stylesScaled[0], startRaw);
      previousContent = contentScaled;
      const toPixels = (v: Float32Array): PlanarImage => ({ data: deprocess(v, size.width * size.height, convention), ...size });
      const render = (v: Float32Array) => toRaw(finishColours(toPixels(v), contentScaled, opts));
      const x = toInput(start);

      iteration = 1;
      const pixels = networkPixels(size);
      const ran = await optimiseScale({
        objective: createObjective(engine, size, targets, weights, padding),
        x,
        iterations: iterations(k),
        // The final scale runs its full count; the earlier ones stop once they have settled.
        tolerance: k < finalScale ? opts.tolerance : 0,
        minIterations: opts.minIterations,
        // Warm start: the losses are means over the (padded) image, so the curvature per pixel falls
        // as 1/pixels and the inverse-Hessian scale γ grows with the pixel count from scale to scale.
        initialGamma: opts.warmStart && carried && carried.gamma > 0 ? (carried.gamma * pixels) / carried.pixels : undefined,
        scale: k + 1,
        opts: { ...opts, history: scaleEngines[k].history }, // the L-BFGS history that fits the memory budget
        float32Work: scaleEngines[k].float32Work,
        signal,
        render,
        onStep: (i, step, ms, lastGood) => {
          iteration = i + 1;
          clock.record(k, i, ms);
          emit({
            type: 'iteration',
            scale: k + 1,
            scales: scales.length,
            width: size.width,
            height: size.height,
            iteration: i,
            iterations: iterations(k),
            ms,
            evaluations: step.evaluations,
            elapsed: (performance.now() - started) / 1000,
            eta: clock.secondsLeft(k, i),
            ...lossValues(step.terms, opts),
            preview: () => render(lastGood),
          });
        },
      });
      totalIterations += ran.iterations;
      clock.finishScale(k, ran.iterations);
      carried = Number.isFinite(ran.gamma) ? { gamma: ran.gamma, pixels } : undefined;
      current = clampPixels(toPixels(x));
    }

    // Loss of the output itself (after clamping), so callers can compare results on one footing.
    const { width, height } = scales[scales.length - 1];
    const output = current!;
    const finalObjective = createObjective(last!.engine, { width, height }, last!.targets, weights, padding);
    const { terms: finalTerms } = await finalObjective.evaluate(toInput(output), new Float32Array(3 * width * height));
    const image = toRaw(finishColours(output, last!.content, opts));
    const seconds = (performance.now() - started) / 1000;
    emit({ type: 'done', seconds, iterations: totalIterations });
    return { image, width, height, loss: lossValues(finalTerms, opts), iterations: totalIterations, seconds, scales, content: last!.content, styles: last!.styles, options: opts };
  }

  /** The first scale's starting image, every source resized to the scale by the platform's resizer. */
  private async firstImage(opts: ResolvedOptions, size: Size, content: RawImage, style: RawImage, init: RawImage | undefined): Promise<PlanarImage> {
    const resize = (img: RawImage | undefined) => (img ? this.platform.resize(img, size.width, size.height) : Promise.resolve(undefined));
    const [styleAtSize, initAtSize] = await Promise.all([opts.init === 'style' ? resize(style) : Promise.resolve(content), resize(init)]);
    return initialImage(opts, size, content, styleAtSize ?? content, initAtSize);
  }
}
