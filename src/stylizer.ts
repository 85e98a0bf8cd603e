/**
 * The Stylizer: an object that holds what is expensive — the network's weights and the ONNX Runtime
 * sessions built from them — and runs any number of jobs with it, one at a time (load once, run
 * many, as transformers.js's pipeline() does). `stylize()` in stylize.ts is a create-run-close
 * wrapper; servers and workers keep one Stylizer for their whole life.
 *
 * This module is the core: it reaches the platform (ONNX Runtime, image codecs, the weights cache)
 * only through the `Platform` it is given, so the same code runs in Node and in the browser.
 *
 * The pipeline per job (runJob): read the images → plan the scales and their memory → colours →
 * per scale: targets, start image, optimise (pipeline/scale.ts) → the output's loss → result.
 */
import type { LossEvaluator } from './engine/evaluator.js';
import { StyleEngine } from './engine/style-engine.js';
import type { LossTerms, Targets } from './engine/loss-terms.js';
import { TiledEngine } from './engine/tiled-engine.js';
import { AbortError, OptionError, StyleTransferError } from './errors.js';
import { toPlanar, toRaw, type PlanarImage, type RawImage } from './image/image.js';
import { matchHistogram } from './image/colour.js';
import { deprocess, preprocess } from './model/convention.js';
import type { ResolvedWeights } from './model/conv-weights.js';
import { convsUpTo } from './model/vgg19.js';
import { checkImageSizes, normaliseOptions, type ImageSource, type ResolvedOptions, type StylizeOptions } from './options.js';
import type { Padding } from './engine/padding.js';
import type { EtaEstimator } from './pipeline/eta.js';
import { createRunEta } from './pipeline/run-eta.js';
import { clampPixels, finishColours, forNetwork } from './pipeline/finish.js';
import { borderPadding, createObjective, lossValues, termWeights } from './pipeline/objective.js';
import { planScaleEngines, type ScaleEngine } from './pipeline/memory.js';
import { upsampled } from './pipeline/upsample.js';
import { initialImage, planJob, styleSize, type JobPlan, type Size } from './pipeline/plan.js';
import { optimiseScale } from './pipeline/scale.js';
import { computeTargets, networkInput } from './pipeline/targets.js';
import { guidedPropagation, maskIsEmpty, maskPlane, networkMasks } from './pipeline/masks.js';
import { ImageError } from './errors.js';
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
  /** The sizes optimised at, coarse to fine (a run resumed with startAt: those from its start on). */
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
    return {
      contentLayers: opts.contentLayers,
      styleLayers: opts.styleLayers,
      styleNormalisation: opts.styleNormalisation,
      pooling: opts.pooling,
      guided: guidedPropagation(opts),
    };
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

  /**
   * One job, as a sequence of steps: read its images, plan its scales (and how each fits in
   * memory), prepare its colours, then per scale: targets, start image, optimise; then finish with
   * the output's own loss.
   */
  private async runJob(options: StylizeOptions): Promise<StylizeResult> {
    const job = this.prepareJob(options);
    const inputs = await this.loadInputs(job);
    const plan = this.planRun(job, inputs);
    const images = await this.prepareColours(job, inputs, plan);
    const network = await this.network(job.opts, job.emit, job.signal);
    const run: RunState = { job, plan, images, network, clock: createRunEta(plan.scales.slice(plan.first), plan.engines.slice(plan.first), plan.margin, job.opts), iterations: 0 };
    let done: ScaleDone | undefined;
    for (let k = plan.first; k < plan.scales.length; k++) done = await this.runScale(run, k, done);
    return this.finish(run, done!);
  }

  /** The job's resolved options (the Stylizer's defaults filling what it leaves out), its events and its clock. */
  private prepareJob(options: StylizeOptions): Job {
    const opts = normaliseOptions({ ...options, weights: options.weights ?? this.defaults.weights, threads: options.threads ?? this.defaults.threads });
    return { opts, emit: (e) => options.onProgress?.(e), signal: options.signal, started: performance.now() };
  }

  /** The content, style, init and resume images, decoded at their own sizes. */
  private async loadInputs({ opts, emit }: Job): Promise<Inputs> {
    const { platform } = this;
    emit({ type: 'loading', stage: 'images', message: 'reading images' });
    const content = await platform.loadImage(opts.content, 'content image', opts.maxPixels);
    const styles = await Promise.all(opts.styles.map((s, i) => platform.loadImage(s, opts.styles.length > 1 ? `style image ${i + 1}` : 'style image', opts.maxPixels)));
    const named = typeof opts.init === 'string' && ['content', 'noise', 'style'].includes(opts.init);
    const init = named ? undefined : await platform.loadImage(opts.init, 'init image', opts.maxPixels);
    const resume = opts.startAt && (await platform.loadImage(opts.startAt.image, 'start image', opts.maxPixels));
    const styleMasks = opts.styleMasks && (await Promise.all(opts.styleMasks.map((m, i) => this.loadMask('styleMasks', m, `style mask ${i + 1}`, opts.maxPixels))));
    const styleImageMasks =
      opts.styleImageMasks &&
      (await Promise.all(opts.styleImageMasks.map((m, i) => (m === null ? undefined : this.loadMask('styleImageMasks', m, `style image mask ${i + 1}`, opts.maxPixels)))));
    return { content, styles, init, resume, styleMasks, styleImageMasks };
  }

  /** A mask image; one that cannot be read, or is all black, is a bad option (the CLI's exit 2), named by its option. */
  private async loadMask(option: 'styleMasks' | 'styleImageMasks', source: ImageSource, role: string, maxPixels: number): Promise<RawImage> {
    let img: RawImage;
    try {
      img = await this.platform.loadImage(source, role, maxPixels);
    } catch (err) {
      if (err instanceof ImageError) throw new OptionError(option, 'readable mask images', err.message);
      throw err;
    }
    if (maskIsEmpty(img)) throw new OptionError(option, 'masks with some white in them', `${role}, all black`);
    return img;
  }

  /**
   * The scales (those of the whole run, even when it resumes at a later one), checked for the
   * network's smallest size, and per scale how it is evaluated within the memory budget: refused
   * here, before anything is loaded, when even tiles do not fit.
   */
  private planRun({ opts }: Job, inputs: Inputs): RunPlan {
    const { output, scales, iterations } = planJob(inputs.content, opts);
    const padding = borderPadding(opts);
    const margin = padding ? padding.margin : 0;
    checkImageSizes(
      opts,
      scales,
      scales.map((at) => inputs.styles.map((s) => styleSize(s, at, opts))),
    );
    const first = opts.startAt ? opts.startAt.scale - 1 : 0;
    if (first >= scales.length) throw new OptionError('startAt', `a scale of this run's ${scales.length}, from 2 on`, opts.startAt!.scale);
    const budget = this.platform.memoryBudget?.(opts.memory);
    const regions = inputs.styleMasks?.length ?? 0;
    if (budget === undefined && opts.tile === undefined) {
      // A platform without a budget (the browser) checks the output size, with the network's extra border pixels as an extra.
      this.platform.checkMemory?.(output.width, output.height, {
        margin,
        optimizer: opts.optimizer,
        history: opts.history,
        regions,
        inputPixels: [inputs.content, ...inputs.styles].reduce((n, img) => n + img.width * img.height, 0),
        stylePixels: inputs.styles.reduce((n, s) => {
          const at = styleSize(s, output, opts);
          return n + (at.width + 2 * margin) * (at.height + 2 * margin);
        }, 0),
      });
    }
    const engines = planScaleEngines(scales, opts, budget, 2 * margin, regions, this.platform.winograd);
    return { output, scales, iterations, engines, padding, margin, first };
  }

  /** The style images with the content's colours (preserveColors 'histogram'), and the first scale's colour start. */
  private async prepareColours({ opts }: Job, inputs: Inputs, { output }: RunPlan): Promise<JobImages> {
    const { platform } = this;
    let styles = inputs.styles;
    if (opts.preserveColors === 'histogram') {
      // The content's colour statistics at the output size: the same mean and covariance for any
      // practical purpose, without a float copy of a possibly huge original.
      const contentPlanar = toPlanar(await platform.resize(inputs.content, output.width, output.height));
      styles = styles.map((s) => toRaw(matchHistogram(toPlanar(s), contentPlanar)));
    }
    // Colour first (issue 18): the start image is the content with the style's colour mean and
    // covariance, so the optimiser does not spend the scales' iterations moving the colours. (Not
    // for a run that resumes at a later scale: it does not run the first. Nor with style regions:
    // one style's colours everywhere would hold the other regions back.)
    let start = inputs.init;
    if (opts.colourStart && opts.init === 'content' && opts.preserveColors === 'none' && !opts.startAt && !inputs.styleMasks) {
      const main = opts.styleBlend.reduce((best, w, i) => (w > opts.styleBlend[best] ? i : best), 0);
      const contentPlanar = toPlanar(await platform.resize(inputs.content, output.width, output.height));
      start = toRaw(matchHistogram(contentPlanar, toPlanar(styles[main])));
    }
    return { content: inputs.content, styles, start, resume: inputs.resume, styleMasks: inputs.styleMasks, styleImageMasks: inputs.styleImageMasks };
  }

  /** Scale k: its evaluator, its targets, its start image, then the optimiser's iterations. */
  private async runScale(run: RunState, k: number, previous: ScaleDone | undefined): Promise<ScaleDone> {
    const { job, plan } = run;
    const { emit, signal } = job;
    const size = plan.scales[k];
    const scaleEngine = plan.engines[k];
    // Build (or reuse) this scale's evaluator first, so its loading events come before the scale starts.
    const engine = await this.evaluator(run.network, job.opts, scaleEngine, emit);
    const tiles = scaleEngine.tiled ? scaleEngine.tiles : 1;
    const at = { scale: k + 1, scales: plan.scales.length, ...size, iterations: plan.iterations[k] };
    emit({ type: 'scale', ...at, tiles });
    let iteration = 0; // the iteration being computed, for tile progress (0: the targets)
    if (engine instanceof TiledEngine) {
      engine.onTile = (p) => {
        // Stop means stop: one tiled evaluation can take minutes, so a cancel is honoured between its
        // tiles (optimiseScale then keeps the last finished image). Not during the targets (iteration
        // 0), where no image of this scale exists yet: the first iteration's check stops the run.
        if (iteration > 0 && signal?.aborted) throw new AbortError('the run was cancelled');
        emit({ type: 'tile', scale: at.scale, scales: at.scales, ...size, iteration, iterations: at.iterations, ...p });
      };
    }
    const scaled = await this.scaleTargets(run, k, engine);
    const start = await this.startImage(run, k, scaled.content, previous);
    iteration = 1;
    const ran = await this.optimise(run, k, engine, scaled, start, previous, (i) => (iteration = i + 1));
    return { ...scaled, ...ran, engine };
  }

  /** The content and style images at scale k's size, and the loss's targets computed from them. */
  private async scaleTargets({ job, plan, images, network }: RunState, k: number, engine: LossEvaluator): Promise<ScaleTargets> {
    const { platform } = this;
    const { opts } = job;
    const size = plan.scales[k];
    const toInput = networkVector(opts, network.net.convention);
    const content = await platform.resize(images.content, size.width, size.height);
    const styles = await Promise.all(
      images.styles.map((s) => {
        const at = styleSize(s, size, opts);
        return platform.resize(s, at.width, at.height);
      }),
    );
    const targets = await computeTargets(
      engine,
      networkInput(toInput(toPlanar(content)), size, plan.padding),
      styles.map((s) => networkInput(toInput(toPlanar(s)), s, plan.padding)),
      opts.styleBlend,
      guidedPropagation(opts) ? await this.scaleMasks(images, size, styles, plan.padding) : undefined,
    );
    return { content, styles, targets };
  }

  /**
   * The guided job's masks at a scale, resized by the platform's resizer as the images are: the
   * output's (all ones without styleMasks: every style everywhere) and the style images' own.
   */
  private async scaleMasks(images: JobImages, size: Size, styles: readonly RawImage[], padding: Padding | undefined) {
    const planes = images.styleMasks
      ? await Promise.all(images.styleMasks.map(async (m) => maskPlane(await this.platform.resize(m, size.width, size.height))))
      : styles.map(() => new Float32Array(size.width * size.height).fill(1));
    const styleMasks = images.styleImageMasks
      ? await Promise.all(
          images.styleImageMasks.map(async (m, i) => {
            if (!m) return undefined;
            const at = styles[i];
            const plane = maskPlane(await this.platform.resize(m, at.width, at.height));
            return networkMasks([plane], at, padding).data;
          }),
        )
      : undefined;
    return { masks: networkMasks(planes, size, padding), styleMasks };
  }

  /**
   * Where scale k starts: the first scale from the init (or colour-start) image; a later one from
   * the previous scale's result upsampled, with the content's detail the previous scale could not
   * hold. A run that resumes at scale k takes that result from the image it was given.
   */
  private async startImage({ job, plan, images }: RunState, k: number, content: RawImage, previous: ScaleDone | undefined): Promise<PlanarImage> {
    const { opts } = job;
    const size = plan.scales[k];
    if (k === 0) return this.firstImage(opts, size, content, images.styles[0], images.start);
    const before = plan.scales[k - 1];
    let result: PlanarImage;
    let beforeContent: RawImage;
    if (previous) {
      result = previous.image;
      beforeContent = previous.content;
    } else {
      // Resuming: the given image stands for scale k-1's result (at that scale's size, as a checkpoint is).
      const resume = images.resume!;
      result = toPlanar(resume.width === before.width && resume.height === before.height ? resume : await this.platform.resize(resume, before.width, before.height));
      beforeContent = opts.upsampleDetail ? await this.platform.resize(images.content, before.width, before.height) : content;
    }
    return upsampled(result, size, opts.upsampleDetail ? { now: toPlanar(content), before: toPlanar(beforeContent) } : undefined);
  }

  /** The optimiser's iterations at scale k from `start`, with their events; the result clamped to pixels. */
  private async optimise(
    run: RunState,
    k: number,
    engine: LossEvaluator,
    scaled: ScaleTargets,
    start: PlanarImage,
    previous: ScaleDone | undefined,
    onIteration: (i: number) => void,
  ): Promise<Pick<ScaleDone, 'image' | 'carried'>> {
    const { job, plan, clock } = run;
    const { opts, emit, signal, started } = job;
    const size = plan.scales[k];
    const convention = run.network.net.convention;
    const toPixels = (v: Float32Array): PlanarImage => ({ data: deprocess(v, size.width * size.height, convention), ...size });
    const render = (v: Float32Array) => toRaw(finishColours(toPixels(v), scaled.content, opts));
    const x = networkVector(opts, convention)(start);
    // The network works on the image inside its border margin: that is what an iteration costs.
    const pixels = (size.width + 2 * plan.margin) * (size.height + 2 * plan.margin);
    const carried = previous?.carried;
    const local = k - plan.first; // the ETA clock counts the scales this run runs
    const ran = await optimiseScale({
      objective: createObjective(engine, size, scaled.targets, termWeights(opts, opts.styleMasks !== undefined), plan.padding),
      x,
      iterations: plan.iterations[k],
      // The final scale runs its full count; the earlier ones stop once they have settled.
      tolerance: k < plan.scales.length - 1 ? opts.tolerance : 0,
      minIterations: opts.minIterations,
      // Warm start: the losses are means over the (padded) image, so the curvature per pixel falls
      // as 1/pixels and the inverse-Hessian scale γ grows with the pixel count from scale to scale.
      initialGamma: opts.warmStart && carried && carried.gamma > 0 ? (carried.gamma * pixels) / carried.pixels : undefined,
      scale: k + 1,
      opts: { ...opts, history: plan.engines[k].history }, // the L-BFGS history that fits the memory budget
      float32Work: plan.engines[k].float32Work,
      signal,
      render,
      onStep: (i, step, ms, lastGood) => {
        onIteration(i);
        clock.record(local, i, ms);
        emit({
          type: 'iteration',
          scale: k + 1,
          scales: plan.scales.length,
          width: size.width,
          height: size.height,
          iteration: i,
          iterations: plan.iterations[k],
          ms,
          evaluations: step.evaluations,
          elapsed: (performance.now() - started) / 1000,
          eta: clock.secondsLeft(local, i),
          ...lossValues(step.terms, opts),
          preview: () => render(lastGood),
        });
      },
    });
    run.iterations += ran.iterations;
    clock.finishScale(local, ran.iterations);
    return { image: clampPixels(toPixels(x)), carried: Number.isFinite(ran.gamma) ? { gamma: ran.gamma, pixels } : undefined };
  }

  /** The loss of the output itself (after clamping), so callers can compare results on one footing; then the result. */
  private async finish({ job, plan, network, iterations }: RunState, last: ScaleDone): Promise<StylizeResult> {
    const { opts, emit, started } = job;
    const { width, height } = plan.output;
    const objective = createObjective(last.engine, { width, height }, last.targets, termWeights(opts, opts.styleMasks !== undefined), plan.padding);
    const { terms } = await objective.evaluate(networkVector(opts, network.net.convention)(last.image), new Float32Array(3 * width * height));
    const image = toRaw(finishColours(last.image, last.content, opts));
    const seconds = (performance.now() - started) / 1000;
    emit({ type: 'done', seconds, iterations });
    return {
      image,
      width,
      height,
      loss: lossValues(terms, opts),
      iterations,
      seconds,
      scales: plan.scales.slice(plan.first),
      content: last.content,
      styles: last.styles,
      options: opts,
    };
  }

  /** The first scale's starting image, every source resized to the scale by the platform's resizer. */
  private async firstImage(opts: ResolvedOptions, size: Size, content: RawImage, style: RawImage, init: RawImage | undefined): Promise<PlanarImage> {
    const resize = (img: RawImage | undefined) => (img ? this.platform.resize(img, size.width, size.height) : Promise.resolve(undefined));
    const [styleAtSize, initAtSize] = await Promise.all([opts.init === 'style' ? resize(style) : Promise.resolve(content), resize(init)]);
    return initialImage(opts, size, content, styleAtSize ?? content, initAtSize);
  }
}

/** A job as it runs: its options, its events, its cancellation and when it started. */
interface Job {
  readonly opts: ResolvedOptions;
  readonly emit: (e: ProgressEvent) => void;
  readonly signal: AbortSignal | undefined;
  readonly started: number;
}

/** The decoded images of a job at their own sizes; `resume`: the image a resumed run starts from (startAt). */
interface Inputs {
  readonly content: RawImage;
  readonly styles: RawImage[];
  readonly init: RawImage | undefined;
  readonly resume: RawImage | undefined;
  readonly styleMasks: RawImage[] | undefined;
  readonly styleImageMasks: (RawImage | undefined)[] | undefined;
}

/** The images the scales are made from: the styles after colour preservation; `start`: the first scale's start (init or colour start). */
type JobImages = Omit<Inputs, 'init'> & { readonly start: RawImage | undefined };

/** A job's plan: its scales and iterations, each scale's engine, its border, and the first scale it runs (0 unless it resumes). */
interface RunPlan extends Omit<JobPlan, 'iterations'> {
  readonly iterations: readonly number[];
  readonly engines: readonly ScaleEngine[];
  readonly padding: Padding | undefined;
  /** Border pixels on each side of a scale (the padding's margin). */
  readonly margin: number;
  readonly first: number;
}

interface RunState {
  readonly job: Job;
  readonly plan: RunPlan;
  readonly images: JobImages;
  readonly network: ResolvedWeights;
  readonly clock: EtaEstimator;
  /** Iterations run so far, over the scales. */
  iterations: number;
}

/** A scale's inputs as the network sees them: its content and style images and the loss's targets. */
interface ScaleTargets {
  readonly content: RawImage;
  readonly styles: RawImage[];
  readonly targets: Targets;
}

/** What a finished scale hands on: its result in pixel space (0..1 RGB), its targets and evaluator (the last one's for the final loss), and L-BFGS's inverse-Hessian scale with that scale's pixel count. */
interface ScaleDone extends ScaleTargets {
  readonly image: PlanarImage;
  readonly engine: LossEvaluator;
  readonly carried: { gamma: number; pixels: number } | undefined;
}

/** Pixel-space planar image → the network's input vector (colours for the network, then its convention). */
function networkVector(opts: ResolvedOptions, convention: ResolvedWeights['net']['convention']): (img: PlanarImage) => Float32Array {
  return (img) => preprocess(forNetwork(img, opts).data, img.width * img.height, convention);
}
