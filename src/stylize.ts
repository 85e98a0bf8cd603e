/**
 * The pipeline, orchestration only: load → preprocess → per scale: optimise → postprocess → result.
 * Every number it uses comes from the resolved options (a preset plus overrides).
 */
import { AbortError, RunError } from './errors.js';
import { StyleEngine, type LossTerms, type Targets, type TermWeights } from './engine/session.js';
import { checkMemory } from './engine/memory.js';
import { EtaEstimator } from './eta.js';
import { combineLuminance, luminance, matchHistogram } from './image/colour.js';
import { toPlanar, toRaw, type PlanarImage, type RawImage } from './image/image.js';
import { fitLongSide, fitShortSide, resizePlanar, resizeRaw } from './image/resize.js';
import { loadImageSource } from './image/source.js';
import { deprocess, preprocess } from './model/convention.js';
import { resolveWeights } from './model/resolve.js';
import { convsUpTo } from './model/vgg19.js';
import { createAdam } from './optim/adam.js';
import { createLbfgs } from './optim/lbfgs.js';
import type { Optimizer } from './optim/types.js';
import { normaliseOptions, typicalScaleIterations, type ResolvedOptions, type StylizeOptions } from './options.js';
import type { LossValues, ProgressEvent } from './progress.js';
import { scaleSchedule } from './schedule.js';
import { seededRandom } from './random.js';
import { createStoppingRule } from './stopping.js';

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

interface Size {
  width: number;
  height: number;
}

export async function stylize(options: StylizeOptions): Promise<StylizeResult> {
  const started = performance.now();
  const opts = normaliseOptions(options);
  const emit = (e: ProgressEvent) => options.onProgress?.(e);
  const signal = options.signal;

  emit({ type: 'loading', stage: 'images', message: 'reading images' });
  const contentRaw = await loadImageSource(opts.content, 'content image', opts.maxPixels);
  let styleRaws = await Promise.all(opts.styles.map((s, i) => loadImageSource(s, opts.styles.length > 1 ? `style image ${i + 1}` : 'style image', opts.maxPixels)));
  const initRaw = typeof opts.init === 'string' && ['content', 'noise', 'style'].includes(opts.init) ? undefined : await loadImageSource(opts.init, 'init image', opts.maxPixels);

  const final = opts.sizeSide === 'long' ? fitLongSide(contentRaw.width, contentRaw.height, opts.size) : fitShortSide(contentRaw.width, contentRaw.height, opts.size);
  checkMemory(final.width, final.height);
  const scales = planScales(contentRaw, final, opts);

  // Colour preservation, part 1 (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer").
  if (opts.preserveColors === 'histogram') {
    // The content's colour statistics at the output size: the same mean and covariance for any
    // practical purpose, without a float copy of a possibly huge original.
    const contentPlanar = toPlanar(await resizeRaw(contentRaw, final.width, final.height));
    styleRaws = styleRaws.map((s) => toRaw(matchHistogram(toPlanar(s), contentPlanar)));
  }
  const forNetwork = (img: PlanarImage) => (opts.preserveColors === 'luminance' ? luminance(img) : img);

  emit({ type: 'loading', stage: 'weights', message: 'loading VGG-19 weights' });
  const resolved = await resolveWeights({
    model: opts.modelGiven ? opts.model : undefined,
    fallbackModel: opts.model,
    weights: opts.weights,
    signal,
    onProgress: (e) => emit(e),
    upTo: convsUpTo([...opts.contentLayers, ...opts.styleLayers]),
  });
  const net = resolved.net;

  emit({ type: 'loading', stage: 'engine', message: 'building the loss graph' });
  const layout = { contentLayers: opts.contentLayers, styleLayers: opts.styleLayers, styleNormalisation: opts.styleNormalisation, pooling: opts.pooling };
  const engine = await StyleEngine.create(net, resolved.weights, layout, { threads: opts.threads });
  try {
    const termWeights: TermWeights = {
      content: new Map(opts.contentLayers.map((l) => [l, opts.contentWeight])),
      style: new Map(opts.styleLayers.map((l, i) => [l, opts.styleWeight * opts.styleLayerWeights[i]])),
      tv: opts.tvWeight,
    };
    const iterationsAt = (k: number) => (k === scales.length - 1 ? opts.iterations : opts.scaleIterations);
    const clock = new EtaEstimator(
      scales.map((s, k) => ({
        pixels: s.width * s.height,
        maxIterations: iterationsAt(k),
        // An earlier scale under a stopping rule: the preset's typical count (measured); else the count given.
        expectedIterations: opts.tolerance > 0 && k < scales.length - 1 ? Math.min(iterationsAt(k), typicalScaleIterations(opts)) : iterationsAt(k),
      })),
    );
    const toInput = (img: PlanarImage) => preprocess(forNetwork(img).data, img.width * img.height, net.convention);
    let current: PlanarImage | undefined; // the result so far, in pixel space (0..1 RGB)
    let totalIterations = 0;
    // The last scale's inputs and targets, reused to measure the output's own loss at the end.
    let contentAtFinal: RawImage = contentRaw;
    let stylesAtFinal: RawImage[] = styleRaws;
    let targetsAtFinal: Targets | undefined;
    // L-BFGS's inverse-Hessian scale at the end of the previous scale, and that scale's pixel count.
    let carried: { gamma: number; pixels: number } | undefined;

    for (let k = 0; k < scales.length; k++) {
      const { width, height } = scales[k];
      const pixels = width * height;
      const iterations = iterationsAt(k);
      emit({ type: 'scale', scale: k + 1, scales: scales.length, width, height, iterations });

      const contentScaled = await resizeRaw(contentRaw, width, height);
      const stylesScaled = await Promise.all(styleRaws.map((s) => resizeRaw(s, ...styleSize(s, { width, height }, opts))));
      const targets = await computeTargets(
        engine,
        toInput(toPlanar(contentScaled)),
        { width, height },
        stylesScaled.map((s) => ({ input: toInput(toPlanar(s)), width: s.width, height: s.height })),
        opts.styleBlend,
      );
      [contentAtFinal, stylesAtFinal, targetsAtFinal] = [contentScaled, stylesScaled, targets];

      const start = current ? resizePlanar(current, width, height) : await initialImage(opts, { width, height }, contentScaled, stylesScaled, initRaw);
      const x = toInput(start);
      const lastGood = Float32Array.from(x);
      const recent: LossTerms[] = [];
      const evaluate = async (point: Float32Array, grad: Float32Array) => {
        const terms = await engine.evaluate(point, width, height, targets, termWeights, grad);
        recent.push(terms);
        if (recent.length > 32) recent.shift();
        return terms.total;
      };
      // Warm start: the losses are means over the image, so the curvature per pixel falls as 1/pixels
      // and the inverse-Hessian scale γ grows with the pixel count from one scale to the next.
      const initialGamma = opts.warmStart && carried && carried.gamma > 0 ? (carried.gamma * pixels) / carried.pixels : undefined;
      const lbfgs = opts.optimizer === 'lbfgs' ? createLbfgs(x, { lr: opts.learningRate, history: opts.history, initialGamma }) : undefined;
      const optimizer: Optimizer = lbfgs ?? createAdam(x, { lr: opts.learningRate });
      const toPixels = (v: Float32Array): PlanarImage => ({ data: deprocess(v, pixels, net.convention), width, height });
      const render = (v: Float32Array) => toRaw(finishColours(toPixels(v), contentScaled, opts));
      // The final scale runs its full count; the earlier ones stop once they have settled.
      const stopping = createStoppingRule({ tolerance: k < scales.length - 1 ? opts.tolerance : 0, minIterations: opts.minIterations });

      let done = 0;
      for (let i = 1; i <= iterations; i++) {
        if (signal?.aborted) throw new AbortError('the run was cancelled', render(lastGood));
        const t0 = performance.now();
        const step = await optimizer.step(evaluate);
        const ms = performance.now() - t0;
        totalIterations++;
        done = i;
        // The loss terms reported for iteration i are those of the image before its update.
        const terms = recent.find((t) => t.total === step.loss) ?? recent[recent.length - 1];
        if (!Number.isFinite(step.loss) || !allFinite(x)) {
          throw new RunError(`the loss diverged (${step.loss}) at scale ${k + 1}, iteration ${i}`, 'ERR_DIVERGED', { partial: render(lastGood) });
        }
        lastGood.set(x);
        clock.record(k, i, ms);
        emit({
          type: 'iteration',
          scale: k + 1,
          scales: scales.length,
          width,
          height,
          iteration: i,
          iterations,
          ms,
          elapsed: (performance.now() - started) / 1000,
          eta: clock.secondsLeft(k, i),
          ...lossValues(terms, opts),
          preview: () => render(lastGood),
        });
        if (step.converged || stopping.update(step.loss)) break;
      }
      clock.finishScale(k, done);
      carried = lbfgs && Number.isFinite(lbfgs.gamma) ? { gamma: lbfgs.gamma, pixels } : undefined;
      current = clampPixels(toPixels(x));
    }

    // Loss of the output itself (after clamping), so callers can compare results on one footing.
    const { width, height } = scales[scales.length - 1];
    const output = current!;
    const finalTerms = await engine.evaluate(toInput(output), width, height, targetsAtFinal!, termWeights, new Float32Array(3 * width * height));
    const image = toRaw(finishColours(output, contentAtFinal, opts));
    const seconds = (performance.now() - started) / 1000;
    emit({ type: 'done', seconds, iterations: totalIterations });
    return {
      image,
      width,
      height,
      loss: lossValues(finalTerms, opts),
      iterations: totalIterations,
      seconds,
      scales,
      content: contentAtFinal,
      styles: stylesAtFinal,
      options: opts,
    };
  } finally {
    await engine.release();
  }
}

/** Coarse-to-fine sizes; a single scale when there are no earlier-scale iterations. */
function planScales(content: RawImage, final: Size, opts: ResolvedOptions): Size[] {
  if (opts.scaleIterations === 0) return [final];
  const finalLong = Math.max(final.width, final.height);
  const shortToLong = Math.max(content.width, content.height) / Math.min(content.width, content.height);
  const startLong = opts.sizeSide === 'long' ? opts.startSize : Math.round(opts.startSize * shortToLong);
  const sizes = scaleSchedule({ width: content.width, height: content.height, finalLongSide: finalLong, startLongSide: startLong, ratio: opts.scaleRatio });
  sizes[sizes.length - 1] = final; // exactly the requested size (short-side sizing rounds differently)
  return sizes;
}

/** The style image's size at a scale: the content's shape (recipe), or its own aspect at styleScale × the output's long side. */
function styleSize(style: RawImage, at: Size, opts: ResolvedOptions): [number, number] {
  if (opts.matchStyleShape) return [at.width, at.height];
  const s = fitLongSide(style.width, style.height, Math.max(16, Math.round(Math.max(at.width, at.height) * opts.styleScale)));
  return [s.width, s.height];
}

/** Content features of the content image, and the blended Gram targets of the style images. */
async function computeTargets(
  engine: StyleEngine,
  content: Float32Array,
  size: Size,
  styles: { input: Float32Array; width: number; height: number }[],
  blend: number[],
): Promise<Targets> {
  const { content: contentTargets } = await engine.targets(content, size.width, size.height, { content: true, style: false });
  const total = blend.reduce((a, b) => a + b, 0);
  const gram = new Map<string, Float32Array>();
  // Several styles: a weighted mean of their Gram matrices (jcjohnson/neural-style's -style_blend_weights).
  for (let i = 0; i < styles.length; i++) {
    const { gram: g } = await engine.targets(styles[i].input, styles[i].width, styles[i].height, { content: false, style: true });
    for (const [layer, values] of g) {
      const acc = gram.get(layer) ?? new Float32Array(values.length);
      const w = blend[i] / total;
      for (let j = 0; j < values.length; j++) acc[j] += w * values[j];
      gram.set(layer, acc);
    }
  }
  return { content: contentTargets, gram };
}

async function initialImage(opts: ResolvedOptions, size: Size, content: RawImage, styles: RawImage[], init: RawImage | undefined): Promise<PlanarImage> {
  if (init) return toPlanar(await resizeRaw(init, size.width, size.height));
  if (opts.init === 'noise') {
    // Uniform noise in pixel space, reproducible from the seed.
    const random = seededRandom(opts.seed);
    return { data: Float32Array.from({ length: 3 * size.width * size.height }, random), width: size.width, height: size.height };
  }
  if (opts.init === 'style') return toPlanar(await resizeRaw(styles[0], size.width, size.height));
  return toPlanar(content);
}

/** Colour preservation, part 2: with 'luminance' the network saw grey images; put the content's colours back. */
function finishColours(result: PlanarImage, content: RawImage, opts: ResolvedOptions): PlanarImage {
  if (opts.preserveColors !== 'luminance') return result;
  return combineLuminance(result, toPlanar(content), { clamp: true });
}

function clampPixels(img: PlanarImage): PlanarImage {
  const data = img.data.map((v) => (v > 0 ? (v < 1 ? v : 1) : 0));
  return { data, width: img.width, height: img.height };
}

function allFinite(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return false;
  return true;
}

/** Summaries of one evaluation's terms: total, content, Σ wₗ·styleₗ (β left out), tv. */
function lossValues(terms: LossTerms, opts: ResolvedOptions): LossValues {
  let content = 0;
  for (const v of terms.content.values()) content += v;
  let style = 0;
  opts.styleLayers.forEach((l, i) => (style += opts.styleLayerWeights[i] * (terms.style.get(l) ?? 0)));
  return { loss: terms.total, content, style, tv: terms.tv };
}
