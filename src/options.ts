/**
 * StylizeOptions: every option of a run, documented with its default, in one table (OPTION_SPECS)
 * from which validation, the CLI's flags and its help text are all derived, so they never drift.
 *
 * A preset (PRESETS) supplies the defaults of every tunable value; any option given explicitly
 * overrides it. normaliseOptions() turns user options into one complete, validated ResolvedOptions.
 */
import { parseBytes } from './bytes.js';
import { OptionError } from './errors.js';
import { DEFAULT_MAX_PIXELS, type RawImage } from './image/image.js';
import type { StyleNormalisation } from './losses/style.js';
import type { MaskPropagation } from './losses/guided.js';
import { minimumSide, VGG19_CONV_NAMES, type Pooling } from './model/vgg19.js';
import type { ProgressEvent } from './progress.js';

export type PresetName = 'quality' | 'best' | 'recipe';
export type OptimizerName = 'lbfgs' | 'adam';
export type ColourPreservation = 'none' | 'luminance' | 'histogram';
/** How the image's borders are extended before the network: a mirrored margin (see src/engine/padding.ts), or only the convolutions' own zero padding. */
export type BorderPadding = 'reflect' | 'zero';
/** What `size` measures: the output's longer side, or (as torchvision's Resize(int) does) its shorter side. */
export type SizeSide = 'long' | 'short';
/** A path to an image file, its encoded bytes, or decoded pixels. */
export type ImageSource = string | Uint8Array | RawImage;
/** How the output image starts: the content image, noise, the style image, or a given image. */
export type InitSource = 'content' | 'noise' | 'style' | ImageSource;

/** Every value a preset fixes and an option can override. */
export interface Tuning {
  /** Size of the output in pixels (the longer side, or the shorter one when sizeSide is 'short'). */
  size: number;
  sizeSide: SizeSide;
  /** Iterations at the final scale. */
  iterations: number;
  /** Iterations at each earlier (smaller) scale. */
  scaleIterations: number;
  /**
   * Stopping rule of the earlier scales (src/stopping.ts): stop one once the mean relative loss
   * decrease per iteration over its last 10 iterations is below this; `scaleIterations` is then an
   * upper bound. The final scale always runs `iterations`: its count is the quality-for-time knob.
   * 0: run the full counts.
   */
  tolerance: number;
  /** The stopping rule never stops a scale before this many iterations. */
  minIterations: number;
  /** Smallest size (same side as `size`) of the first scale: scales step down from `size` by scaleRatio while at least this; ≥ size means a single scale. */
  startSize: number;
  /** Growth factor from one scale to the next. */
  scaleRatio: number;
  optimizer: OptimizerName;
  /** Adam's step size, or L-BFGS's step scale (1 is the natural step). */
  learningRate: number;
  /** L-BFGS: how many past steps approximate the curvature. */
  history: number;
  /**
   * L-BFGS: start each later scale with the previous scale's curvature scale γ (adjusted for the
   * pixel count) instead of a cautious steepest-descent step; its history is fresh either way.
   */
  warmStart: boolean;
  /**
   * Start each later scale from the previous result upsampled plus the content's detail that the
   * previous scale could not hold (this scale's content minus the previous scale's, upsampled), so
   * the finer scale does not spend its iterations re-growing the photo's edges and texture.
   */
  upsampleDetail: boolean;
  /**
   * Start from the content recoloured to the style's colour mean and covariance (the linear colour
   * transfer of matchHistogram, at the output size) instead of the content as it is, when the run
   * starts from the content and keeps no colours of its own (preserveColors 'none'). With several
   * styles, the one of the largest blend weight. Later scales start from the previous result.
   */
  colourStart: boolean;
  /** α: weight of the content loss. */
  contentWeight: number;
  /** β: weight of the style loss. */
  styleWeight: number;
  /** wₗ for each style layer, in the order of styleLayers. */
  styleLayerWeights: number[];
  contentLayers: string[];
  styleLayers: string[];
  /** How each layer's style loss is normalised (see src/losses/style.ts). */
  styleNormalisation: StyleNormalisation;
  /** Weight of total-variation smoothing (0 = off). */
  tvWeight: number;
  pooling: Pooling;
  /** The style image's size relative to the output (its longer side = output's longer side × styleScale). */
  styleScale: number;
  /** Resize the style image to exactly the content's shape (the recipe does this) instead of using styleScale. */
  matchStyleShape: boolean;
  preserveColors: ColourPreservation;
  /** 'reflect': a 16 px mirrored margin around the image (and the content and style images) removes the stripes zero padding paints along the edges; 'zero': none. */
  padding: BorderPadding;
  /** Model variant (vgg19, vgg19-caffe; with --weights also vgg19-caffe-rgb). */
  model: string;
}

export interface StylizeOptions extends Partial<Omit<Tuning, 'styleLayerWeights'>> {
  /**
   * wₗ for each style layer, in the order of styleLayers: one list for every style, or one list per
   * style image (scale control, e.g. one painting's conv1_1/conv2_1 and another's conv3_1…conv5_1:
   * each style then has its own Gram terms instead of the blended target; README "Spatial and scale control").
   */
  styleLayerWeights?: number[] | number[][];
  /**
   * Spatial control (guided Gram matrices, src/losses/guided.ts): one mask per style image, in the
   * order of `style`, saying where on the output that style goes: any size (resized to each scale
   * like the images), grey levels 0…1 (an RGB mask counts by its mean). A pixel no mask covers gets
   * content (and TV) only.
   */
  styleMasks?: readonly ImageSource[];
  /** Optional masks on the style images (one per style, `null` for none): the region of each style image whose Gram is matched. */
  styleImageMasks?: readonly (ImageSource | null)[];
  /** How masks reach each layer: 'pool' (average-pooled, the default) or 'inside' (positions whose receptive field lies inside the region). */
  maskPropagation?: MaskPropagation;
  /** The photo whose content is kept. */
  content: ImageSource;
  /** One style image, or several to blend. */
  style: ImageSource | readonly ImageSource[];
  /** Relative weights of several styles (default: equal). Their Gram targets are blended with them. */
  styleBlend?: readonly number[];
  /** A named set of defaults (default 'quality'). */
  preset?: PresetName;
  init?: InitSource;
  /** Seed for the noise init and anything random: same seed, same bytes out. */
  seed?: number;
  /** Intra-op threads for ONNX Runtime (default: all cores). */
  threads?: number;
  /** A weights file (safetensors or .pth); default: the model from the cache, downloaded on first use. */
  weights?: string;
  /** Refuse input images with more pixels than this. */
  maxPixels?: number;
  /**
   * Memory budget: bytes, or a size such as '4G' (default: $STYLE_TRANSFER_MEMORY_LIMIT, else 85 % of
   * the free memory). Scales whose untiled graph would not fit are computed exactly in tiles; a
   * size that does not fit even so is refused before the run starts.
   */
  memory?: string | number;
  /** Compute every scale larger than this many pixels (either side) in tiles with this interior size. Exact; for tests and experiments. */
  tile?: number;
  /** Progress events: loading, scale, iteration, done. */
  onProgress?: (event: ProgressEvent) => void;
  /** Cancels the run; stylize() then rejects with an AbortError carrying the last image. */
  signal?: AbortSignal;
  /**
   * Resume a run at one of its scales: plan the scales as for the whole run, skip those before
   * `scale` (numbered from 1, as progress events number them; at least 2), and start that one from
   * `image`, the previous scale's result, upsampled as between scales. Events keep the whole run's
   * scale numbers. (A worker that takes over a job from its checkpoint uses it: src/jobs/checkpoint.ts.)
   */
  startAt?: { readonly scale: number; readonly image: ImageSource };
}

export interface ResolvedOptions extends Tuning {
  preset: PresetName;
  /**
   * Whether `model` was given explicitly. With a weights file, the file's own metadata decides the
   * input convention unless the model was named: a preset's default network must not override it.
   */
  modelGiven: boolean;
  content: ImageSource;
  styles: ImageSource[];
  styleBlend: number[];
  init: InitSource;
  seed: number;
  threads: number | undefined;
  weights: string | undefined;
  maxPixels: number;
  memory: string | number | undefined;
  tile: number | undefined;
  /** Per-style wₗ lists (styleLayerWeights given as one list per style); `styleLayerWeights` then holds the preset's. */
  perStyleLayerWeights: number[][] | undefined;
  maskPropagation: MaskPropagation;
  startAt: { readonly scale: number; readonly image: ImageSource } | undefined;
  styleMasks: ImageSource[] | undefined;
  styleImageMasks: (ImageSource | null)[] | undefined;
}

export const STYLE_LAYERS = ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'];

/**
 * What the best tools do: L-BFGS, coarse-to-fine, size-invariant losses (jcjohnson/neural-style's
 * normalisation), the original Caffe VGG-19 that Gatys et al. used, max pooling, light TV. The
 * weights were tuned on that network's 0..255 input scale.
 */
const QUALITY: Tuning = {
  size: 512,
  sizeSide: 'long',
  // Under 3 minutes at 512 px on 2 cores (README "Quality yardstick and schedule"): an evaluation
  // at 512x384 costs ~0.8 s on the AMD Zen 5 (ORT's arena, Winograd's convolutions; 1.1 s before
  // them, when this was 85) and an iteration ~1.05 evaluations, so the last scale gets 110, what
  // `best` had before: the reference's quality on both reference pairs (issue 18), ~2m40s (120
  // measured 2m49s and 2m42s on dog × matisse and landscape × monet, 7 Dec 2026).
  iterations: 110,
  scaleIterations: 50,
  tolerance: 0,
  minIterations: 0,
  startSize: 160,
  scaleRatio: Math.SQRT2,
  optimizer: 'lbfgs',
  learningRate: 1,
  history: 20,
  warmStart: true,
  upsampleDetail: true,
  // Issue 18: the style's colours from the start. At the same schedule and work, style error −9 to
  // −33 % on all four pairs, content error −2.4 … +0.4 % (README "Quality yardstick and schedule").
  colourStart: true,
  contentWeight: 5,
  // The reference's (jcjohnson/neural-style's) weights; 500 gave a lower style error but a much
  // higher content error at the same time.
  styleWeight: 100,
  styleLayerWeights: [1, 1, 1, 1, 1],
  contentLayers: ['conv4_2'],
  styleLayers: STYLE_LAYERS,
  styleNormalisation: 'size-invariant',
  tvWeight: 1e-3,
  pooling: 'max',
  styleScale: 1,
  matchStyleShape: false,
  preserveColors: 'none',
  padding: 'reflect',
  model: 'vgg19-caffe',
};

export const PRESETS: Record<PresetName, Tuning> = {
  /** The default: the reference's quality in under 3 minutes at 512 px on 2 cores. */
  quality: QUALITY,
  /**
   * Better than the reference's quality (issue 10: 1000 single-scale L-BFGS iterations at 512 px)
   * in a few minutes, for when the picture matters more than the time: the quality preset itself
   * (colour start, detail added back, 50 iterations per earlier scale) with a longer last scale
   * (README "Quality yardstick and schedule" has the measurements).
   */
  best: {
    ...QUALITY,
    // Issue 18, measured on the two reference pairs at 100–120 and the four pairs at 85–200 (AMD
    // EPYC Zen 5, 2 cores): 3 × 50 + 110 was the shortest last scale at the reference's quality,
    // ~3m09s alone then. With Winograd's convolutions (issue 17) an evaluation costs 0.75x, so
    // `quality` itself now runs 110 and `best` 160 (49.4 Mpx·evaluations): dog × matisse style
    // −8.8 %, content +1.1 % against the reference, 3m37s (7 Dec 2026); issue 18 measured
    // landscape × monet at −5.6 %, −1.6 %. The former best (no colour start, plain upsampling,
    // 3 × 100 + 400: ~116 Mpx·evaluations) needed 2.3 times that work.
    iterations: 160,
  },
  /** ../shared/SEED-RECIPE.md exactly: 224 px shorter side, Adam lr 0.001 × 500, α 1, β 1e6, unnormalised Gram. */
  recipe: {
    size: 224,
    sizeSide: 'short',
    iterations: 500,
    scaleIterations: 0,
    tolerance: 0,
    minIterations: 0,
    startSize: 224,
    scaleRatio: 2,
    optimizer: 'adam',
    learningRate: 0.001,
    history: 20,
    warmStart: false,
    upsampleDetail: false,
    colourStart: false,
    contentWeight: 1,
    styleWeight: 1e6,
    styleLayerWeights: [1, 0.8, 0.6, 0.4, 0.2],
    contentLayers: ['conv4_2'],
    styleLayers: STYLE_LAYERS,
    styleNormalisation: 'recipe',
    tvWeight: 0,
    pooling: 'max',
    styleScale: 1,
    matchStyleShape: true,
    preserveColors: 'none',
    padding: 'zero',
    model: 'vgg19',
  },
};

export const DEFAULT_PRESET: PresetName = 'quality';

/**
 * How many iterations an earlier scale typically runs under each preset's stopping rule (measured
 * with `npm run bench:quality` on the shared pairs): the progress ETA's expectation before a scale
 * has stopped. Unused without a stopping rule (tolerance 0), where the counts are exact.
 */
const TYPICAL_SCALE_ITERATIONS: Record<PresetName, number> = {
  // At --tolerance 5e-3, dog × matisse, the first scale (181x136): 78 iterations with β 100, 127 with β 500.
  quality: 100,
  best: 100, // the quality preset's earlier scales (capped at its 50 by run-eta)
  recipe: 0,
};

/** The typical iteration count of an earlier scale of a run with these options (see TYPICAL_SCALE_ITERATIONS). */
export function typicalScaleIterations(opts: Pick<ResolvedTuning, 'preset'>): number {
  return TYPICAL_SCALE_ITERATIONS[opts.preset];
}

type Kind = 'int' | 'number' | 'string' | 'boolean' | 'numbers' | 'strings';

/** One option: its key in StylizeOptions, the CLI flag it becomes, how it is parsed and checked. */
export interface OptionSpec {
  readonly key: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly doc: string;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** Placeholder in the help text. */
  readonly value?: string;
  /** Whether a preset gives its default (shown per preset in the help). */
  readonly tuning?: boolean;
  /** Default when no preset gives one. */
  readonly default?: unknown;
  /** The flag may be given several times (once per style image, in order). */
  readonly repeat?: boolean;
  /** An image option (paths, bytes or pixels): not a job setting (resolveTuning does not take it), checked with the images. */
  readonly image?: boolean;
}

const layerChoices = VGG19_CONV_NAMES;

export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'preset', flag: 'preset', kind: 'string', choices: ['quality', 'best', 'recipe'], doc: 'named set of defaults', default: DEFAULT_PRESET },
  { key: 'size', flag: 'size', kind: 'int', min: 16, max: 65536, value: 'PX', tuning: true, doc: 'output size in pixels: the longer side (the shorter side in the recipe preset)' },
  { key: 'sizeSide', flag: 'size-side', kind: 'string', choices: ['long', 'short'], tuning: true, doc: 'which side --size measures' },
  { key: 'iterations', flag: 'iterations', kind: 'int', min: 0, max: 1_000_000, value: 'N', tuning: true, doc: 'iterations at the final scale' },
  { key: 'scaleIterations', flag: 'scale-iterations', kind: 'int', min: 0, max: 1_000_000, value: 'N', tuning: true, doc: 'iterations at each earlier scale' },
  {
    key: 'tolerance',
    flag: 'tolerance',
    kind: 'number',
    min: 0,
    max: 1,
    value: 'T',
    tuning: true,
    doc: 'stop an earlier scale when its loss falls by less than this fraction per iteration (mean of the last 10); 0 = run them in full',
  },
  { key: 'minIterations', flag: 'min-iterations', kind: 'int', min: 0, max: 1_000_000, value: 'N', tuning: true, doc: 'iterations before the stopping rule may stop a scale' },
  {
    key: 'startSize',
    flag: 'start-size',
    kind: 'int',
    min: 16,
    max: 65536,
    value: 'PX',
    tuning: true,
    doc: 'smallest size of the first (coarsest) scale; >= --size for a single scale',
  },
  { key: 'scaleRatio', flag: 'scale-ratio', kind: 'number', min: 1.05, max: 4, value: 'R', tuning: true, doc: 'growth from one scale to the next' },
  { key: 'optimizer', flag: 'optimizer', kind: 'string', choices: ['lbfgs', 'adam'], tuning: true, doc: 'optimiser' },
  { key: 'learningRate', flag: 'learning-rate', kind: 'number', min: 0, max: 1e6, value: 'LR', tuning: true, doc: "Adam's step size, or L-BFGS's step scale" },
  { key: 'history', flag: 'history', kind: 'int', min: 1, max: 100, value: 'N', tuning: true, doc: 'L-BFGS history length (each pair holds two image-sized vectors)' },
  {
    key: 'warmStart',
    flag: 'warm-start',
    kind: 'boolean',
    tuning: true,
    doc: "L-BFGS: start each later scale with the previous scale's step scale (else a cautious first step)",
  },
  {
    key: 'upsampleDetail',
    flag: 'upsample-detail',
    kind: 'boolean',
    tuning: true,
    doc: "start each later scale with the content's detail the previous scale could not hold added back",
  },
  {
    key: 'colourStart',
    flag: 'colour-start',
    kind: 'boolean',
    tuning: true,
    doc: "start from the content recoloured to the style's colour mean and covariance (with init content, preserve-colors none, no style masks)",
  },
  { key: 'contentWeight', flag: 'content-weight', kind: 'number', min: 0, max: 1e30, value: 'A', tuning: true, doc: 'alpha, weight of the content loss' },
  { key: 'styleWeight', flag: 'style-weight', kind: 'number', min: 0, max: 1e30, value: 'B', tuning: true, doc: 'beta, weight of the style loss' },
  {
    key: 'styleLayerWeights',
    flag: 'style-layer-weights',
    kind: 'numbers',
    min: 0,
    max: 1e30,
    value: 'W,..',
    tuning: true,
    repeat: true,
    doc: 'weight of each style layer, in --style-layers order; given once per style image, each style its own (scale control)',
  },
  { key: 'contentLayers', flag: 'content-layers', kind: 'strings', choices: layerChoices, value: 'L,..', tuning: true, doc: 'layers matched to the content image' },
  { key: 'styleLayers', flag: 'style-layers', kind: 'strings', choices: layerChoices, value: 'L,..', tuning: true, doc: 'layers whose Gram matrices are matched to the style' },
  { key: 'styleNormalisation', flag: 'style-normalisation', kind: 'string', choices: ['recipe', 'size-invariant'], tuning: true, doc: 'per-layer style loss normalisation' },
  { key: 'tvWeight', flag: 'tv-weight', kind: 'number', min: 0, max: 1e30, value: 'W', tuning: true, doc: 'total-variation smoothing weight (0 = off)' },
  { key: 'pooling', flag: 'pooling', kind: 'string', choices: ['max', 'avg'], tuning: true, doc: 'pooling in the network' },
  { key: 'styleScale', flag: 'style-scale', kind: 'number', min: 0.05, max: 8, value: 'S', tuning: true, doc: 'style image size relative to the output' },
  { key: 'matchStyleShape', flag: 'match-style-shape', kind: 'boolean', tuning: true, doc: "resize the style image to the content's exact shape" },
  { key: 'preserveColors', flag: 'preserve-colors', kind: 'string', choices: ['none', 'luminance', 'histogram'], tuning: true, doc: "keep the content's colours" },
  {
    key: 'padding',
    flag: 'padding',
    kind: 'string',
    choices: ['reflect', 'zero'],
    tuning: true,
    doc: "image borders: a mirrored 16 px margin (no edge stripes), or the network's zero padding",
  },
  { key: 'model', flag: 'model', kind: 'string', value: 'NAME', tuning: true, doc: 'network variant: vgg19, vgg19-caffe (vgg19-caffe-rgb with --weights)' },
  { key: 'styleBlend', flag: 'style-blend', kind: 'numbers', min: 0, max: 1e6, value: 'W,..', doc: 'relative weights of several style images (default equal)' },
  {
    key: 'styleMasks',
    flag: 'style-mask',
    kind: 'string',
    value: 'FILE',
    repeat: true,
    image: true,
    doc: 'where each style goes on the output: a grey mask per style image, in order (white: this style)',
  },
  {
    key: 'styleImageMasks',
    flag: 'style-image-mask',
    kind: 'string',
    value: 'FILE',
    repeat: true,
    image: true,
    doc: 'the region of each style image to match, in order (with --style-mask)',
  },
  {
    key: 'maskPropagation',
    flag: 'mask-propagation',
    kind: 'string',
    choices: ['pool', 'inside'],
    doc: "masks at deeper layers: average-pooled, or only where the layer's receptive field is inside",
    default: 'pool',
  },
  { key: 'init', flag: 'init', kind: 'string', value: 'content|noise|style|FILE', doc: 'starting image', default: 'content' },
  { key: 'seed', flag: 'seed', kind: 'int', min: 0, max: 2 ** 32 - 1, value: 'N', doc: 'random seed (noise init); same seed, same output', default: 0 },
  { key: 'threads', flag: 'threads', kind: 'int', min: 1, max: 1024, value: 'N', doc: 'CPU threads for ONNX Runtime (default: all cores)' },
  { key: 'weights', flag: 'weights', kind: 'string', value: 'FILE', doc: 'weights file (safetensors or .pth); default: $STYLE_TRANSFER_WEIGHTS, else the cached model' },
  { key: 'maxPixels', flag: 'max-pixels', kind: 'int', min: 1, max: 1e10, value: 'N', doc: 'refuse input images with more pixels', default: DEFAULT_MAX_PIXELS },
  {
    key: 'memory',
    flag: 'memory',
    kind: 'string',
    value: 'SIZE',
    doc: 'memory budget, e.g. 4G (default: $STYLE_TRANSFER_MEMORY_LIMIT, else 85% of free memory); larger scales run exactly in tiles',
  },
  { key: 'tile', flag: 'tile', kind: 'int', min: 16, max: 65536, value: 'PX', doc: 'compute scales larger than PX in tiles of PX (exact; default: only when memory requires)' },
];

function check(spec: OptionSpec, value: unknown): void {
  const name = spec.key;
  const range = (x: number) => (spec.min !== undefined && x < spec.min) || (spec.max !== undefined && x > spec.max);
  const rangeText = spec.min !== undefined ? ` between ${spec.min} and ${spec.max}` : '';
  switch (spec.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || range(value)) throw new OptionError(name, `an integer${rangeText}`, value);
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || range(value)) throw new OptionError(name, `a number${rangeText}`, value);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw new OptionError(name, 'true or false', value);
      return;
    case 'string':
      if (typeof value !== 'string' || value === '') throw new OptionError(name, spec.choices ? `one of ${spec.choices.join(', ')}` : 'a non-empty string', value);
      if (spec.choices && !spec.choices.includes(value)) throw new OptionError(name, `one of ${spec.choices.join(', ')}`, value);
      return;
    case 'numbers':
      if (!Array.isArray(value) || value.length === 0) throw new OptionError(name, 'a non-empty list of numbers', value);
      for (const x of value) if (typeof x !== 'number' || !Number.isFinite(x) || range(x)) throw new OptionError(name, `numbers${rangeText}`, x);
      return;
    case 'strings':
      if (!Array.isArray(value) || value.length === 0) throw new OptionError(name, 'a non-empty list', value);
      for (const x of value) if (typeof x !== 'string' || (spec.choices && !spec.choices.includes(x))) throw new OptionError(name, `names among ${spec.choices?.join(', ')}`, x);
      return;
  }
}

function isImageSource(x: unknown): x is ImageSource {
  return (typeof x === 'string' && x !== '') || x instanceof Uint8Array || (typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x);
}

const KNOWN_KEYS = new Set([...OPTION_SPECS.map((s) => s.key), 'content', 'style', 'onProgress', 'signal', 'startAt']);
/** The keys of a job's settings: everything but its images and callbacks (resolveTuning). */
const TUNING_KEYS = new Set(OPTION_SPECS.filter((s) => !s.image).map((s) => s.key));

/**
 * A job's options without its images and callbacks: what a server, a queue or an estimate holds
 * before (or instead of) the pictures themselves. resolveTuning() resolves them from sizes alone.
 */
export type TuningOptions = Omit<StylizeOptions, 'content' | 'style' | 'onProgress' | 'signal' | 'startAt' | 'styleMasks' | 'styleImageMasks'>;

/** Every value of a job resolved and checked, except its images: what planning a job needs (pipeline/plan.ts planJob). */
export type ResolvedTuning = Omit<ResolvedOptions, 'content' | 'styles' | 'startAt' | 'styleMasks' | 'styleImageMasks'>;

/**
 * Validate a job's options and fill every default from the preset, for `styleCount` style images,
 * without the images: the same checks and the same values as normaliseOptions(), for callers that
 * know only sizes (the server's option whitelist, the estimate, the limits, a resumed job).
 */
export function resolveTuning(options: TuningOptions, styleCount = 1): ResolvedTuning {
  return resolveSettings(options, TUNING_KEYS, styleCount, () => {});
}

/** Validate options and fill every default from the preset. Throws OptionError naming the first bad option. */
export function normaliseOptions(options: StylizeOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new OptionError('options', 'an object', options);
  const styles = (Array.isArray(options.style) ? [...options.style] : options.style === undefined ? [] : [options.style]) as ImageSource[];
  const settings = resolveSettings(options, KNOWN_KEYS, styles.length, () => {
    if (!isImageSource(options.content)) throw new OptionError('content', 'an image path, bytes or pixels', options.content);
    if (styles.length === 0) throw new OptionError('style', 'at least one style image', options.style);
    styles.forEach((s) => {
      if (!isImageSource(s)) throw new OptionError('style', 'image paths, bytes or pixels', s);
    });
  });
  const startAt = options.startAt;
  if (startAt !== undefined) {
    const ok = typeof startAt === 'object' && startAt !== null && Number.isInteger(startAt.scale) && startAt.scale >= 2 && isImageSource(startAt.image);
    if (!ok) throw new OptionError('startAt', "{ scale, image }: a scale number from 2 on and the previous scale's result", startAt);
  }
  const masks = (key: 'styleMasks' | 'styleImageMasks') => {
    const list = options[key];
    if (list === undefined) return undefined;
    if (!Array.isArray(list) || list.length !== styles.length)
      throw new OptionError(key, `${styles.length} masks (one per style image, in order)`, Array.isArray(list) ? `${list.length} masks` : list);
    list.forEach((m) => {
      if (!(isImageSource(m) || (key === 'styleImageMasks' && m === null))) throw new OptionError(key, 'image paths, bytes or pixels', m);
    });
    return [...list] as ImageSource[];
  };
  return { ...settings, content: options.content, styles, startAt, styleMasks: masks('styleMasks'), styleImageMasks: masks('styleImageMasks') };
}

/**
 * The checks and defaults shared by normaliseOptions() and resolveTuning(), in the order a user
 * meets them: unknown keys, each value, then (`checkImages`) the images, then what depends on the
 * number of styles and on the layers.
 */
function resolveSettings(options: TuningOptions, known: ReadonlySet<string>, styleCount: number, checkImages: () => void): ResolvedTuning {
  if (typeof options !== 'object' || options === null) throw new OptionError('options', 'an object', options);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new OptionError(key, `a known option (${[...known].join(', ')})`, key);
  }
  const given = options as unknown as Record<string, unknown>;
  const perStyle = Array.isArray(given.styleLayerWeights) && given.styleLayerWeights.some((x) => Array.isArray(x)) ? (given.styleLayerWeights as unknown[]) : undefined;
  for (const spec of OPTION_SPECS) {
    if (given[spec.key] === undefined || spec.image || spec.key === 'init' || spec.key === 'memory') continue;
    if (perStyle && spec.key === 'styleLayerWeights') perStyle.forEach((list) => check(spec, list));
    else check(spec, given[spec.key]);
  }
  const memory = options.memory;
  if (memory !== undefined && !(typeof memory === 'number' ? Number.isFinite(memory) && memory > 0 : typeof memory === 'string' && parseBytes(memory) !== undefined)) {
    throw new OptionError('memory', 'a size such as 4G, 512M or a number of bytes', memory);
  }

  const preset = options.preset ?? DEFAULT_PRESET;
  const tuning: Tuning = { ...PRESETS[preset] };
  for (const key of Object.keys(tuning) as (keyof Tuning)[]) {
    if (key === 'styleLayerWeights' && perStyle) continue;
    if (given[key] !== undefined) (tuning as unknown as Record<string, unknown>)[key] = Array.isArray(given[key]) ? [...(given[key] as unknown[])] : given[key];
  }

  checkImages();
  const styleBlend = options.styleBlend ? [...options.styleBlend] : Array.from({ length: styleCount }, () => 1);
  if (styleBlend.length !== styleCount) throw new OptionError('styleBlend', `${styleCount} weights (one per style image)`, styleBlend);
  if (!(styleBlend.reduce((a, b) => a + b, 0) > 0)) throw new OptionError('styleBlend', 'weights with a positive sum', styleBlend);
  const perStyleLayerWeights = perStyle?.map((list) => [...(list as number[])]);
  if (perStyleLayerWeights && perStyleLayerWeights.length !== styleCount) {
    throw new OptionError('styleLayerWeights', `one list per style image (${styleCount}), or one list for all`, `${perStyleLayerWeights.length} lists`);
  }
  // A per-style list is for the preset's layers unless the layers are given; the preset's own weights are then unused.
  if (perStyleLayerWeights) tuning.styleLayerWeights = tuning.styleLayers.map(() => 1);
  for (const list of perStyleLayerWeights ?? [tuning.styleLayerWeights]) {
    if (list.length !== tuning.styleLayers.length) {
      throw new OptionError('styleLayerWeights', `${tuning.styleLayers.length} weights (one per style layer: ${tuning.styleLayers.join(', ')})`, list);
    }
  }
  for (const key of ['contentLayers', 'styleLayers'] as const) {
    const twice = tuning[key].find((layer, i) => tuning[key].indexOf(layer) !== i);
    if (twice !== undefined) throw new OptionError(key, `distinct layer names (${twice} is named twice)`, tuning[key].join(','));
  }
  const init = options.init ?? 'content';
  if (!isImageSource(init)) throw new OptionError('init', 'content, noise, style or an image', init);

  return {
    ...tuning,
    preset,
    modelGiven: options.model !== undefined,
    styleBlend,
    init,
    seed: options.seed ?? 0,
    threads: options.threads,
    weights: options.weights,
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
    memory,
    tile: options.tile,
    perStyleLayerWeights,
    maskPropagation: options.maskPropagation ?? 'pool',
  };
}

interface Size {
  readonly width: number;
  readonly height: number;
}

/**
 * Check, before anything runs, that every image the network sees is large enough for its
 * poolings: the content (and output) at every scale of the schedule, and every style image as
 * resized for each scale. `styles[k][i]` is style image i's size at scale k. Throws an OptionError
 * naming the option that made an image too small (size, startSize or styleScale).
 */
export function checkImageSizes(opts: ResolvedTuning, scales: readonly Size[], styles: readonly (readonly Size[])[]): void {
  const layers = [...opts.contentLayers, ...opts.styleLayers];
  const min = minimumSide(layers);
  const deepest = VGG19_CONV_NAMES.filter((l) => layers.includes(l)).pop();
  const why = `at least ${min} px on the shorter side, which ${deepest} needs`;
  const short = (s: Size) => Math.min(s.width, s.height);
  const last = scales.length - 1;
  scales.forEach((scale, k) => {
    if (short(scale) >= min) return;
    const at = `${scale.width}x${scale.height}`;
    if (k === last) throw new OptionError('size', `an output ${why} (it would be ${at})`, opts.size);
    throw new OptionError('startSize', `every scale ${why} (the first would be ${at})`, opts.startSize);
  });
  styles.forEach((atScale, k) =>
    atScale.forEach((style, i) => {
      if (short(style) >= min) return;
      const which = atScale.length > 1 ? `style image ${i + 1}` : 'the style image';
      const at = `${style.width}x${style.height} at the ${scales[k].width}x${scales[k].height} scale`;
      if (opts.matchStyleShape) throw new OptionError('size', `${which} ${why} (it would be ${at})`, opts.size);
      throw new OptionError('styleScale', `${which} ${why} (it would be ${at})`, opts.styleScale);
    }),
  );
}
