/**
 * The quality yardstick of issue 10: how well a picture matches a content image and a style image,
 * measured on one fixed footing whatever preset, size or network made it.
 *
 * - Everything is resized (sharp's Lanczos-3) so its shorter side is SCORE_SHORT_SIDE: the output,
 *   the content image to exactly the output's scored size, the style image with its own aspect.
 * - Features are the ReLU outputs of the shared weights (../shared/weights/vgg19-caffe-q8.safetensors:
 *   the original Caffe VGG-19 with its first conv reordered to RGB, inputs 0..255 minus the ImageNet
 *   mean, see CAFFE_RGB_CONVENTION), max pooling and the convolutions' plain zero padding, computed
 *   by the engine's forward-only target graph: the same network the optimisation runs.
 * - style error: the mean over conv1_1…conv5_1 of ‖G(out) − G(style)‖ / ‖G(style)‖ (Frobenius),
 *   G = F·Fᵀ/(H·W). The target graph's Gram is F·Fᵀ/(C·H·W) (size-invariant normalisation); a
 *   constant factor per layer cancels in a relative error, so the figures are those of F·Fᵀ/(H·W).
 * - content error: ‖F(out) − F(content)‖ / ‖F(content)‖ at conv4_2.
 *
 * Both are independent of any loss weight, so presets with different α, β and normalisations are
 * compared on one scale.
 */
import { StyleEngine } from '../src/engine/style-engine.js';
import { toPlanar, type RawImage } from '../src/image/image.js';
import { fitShortSide, resizeRaw } from '../src/image/resize.js';
import { preprocess } from '../src/model/convention.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { resolveWeights } from '../src/model/resolve.js';
import type { NetworkSpec } from '../src/model/vgg19.js';

export const SCORE_SHORT_SIDE = 384;
export const SCORE_STYLE_LAYERS = ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'] as const;
export const SCORE_CONTENT_LAYER = 'conv4_2';

export interface QualityScore {
  /** Mean relative Gram error over the style layers. */
  readonly style: number;
  /** Relative feature error at conv4_2. */
  readonly content: number;
  /** Relative Gram error per style layer. */
  readonly styleLayers: Readonly<Record<string, number>>;
  /** The size the output was scored at. */
  readonly width: number;
  readonly height: number;
}

/** ‖a − b‖ / ‖b‖ (Frobenius), summed in float64. */
export function relativeDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    diff += d * d;
    norm += b[i] * b[i];
  }
  return Math.sqrt(diff / norm);
}

export class Yardstick {
  private constructor(
    private readonly net: NetworkSpec,
    private readonly engine: StyleEngine,
  ) {}

  /** Loads the weights file (the shared one for the repository's figures) into a forward-only session. */
  static async create(weightsPath: string): Promise<Yardstick> {
    const { net, weights } = await resolveWeights({ weights: weightsPath, model: 'vgg19-caffe-rgb' });
    const layout = { contentLayers: [SCORE_CONTENT_LAYER], styleLayers: [...SCORE_STYLE_LAYERS], styleNormalisation: 'size-invariant' as const, pooling: 'max' as const };
    return new Yardstick(net, await StyleEngine.create(nodeBackend(), net, weights, layout));
  }

  async score(output: RawImage, content: RawImage, style: RawImage): Promise<QualityScore> {
    const size = fitShortSide(output.width, output.height, SCORE_SHORT_SIDE);
    const styleSize = fitShortSide(style.width, style.height, SCORE_SHORT_SIDE);
    const [out, cont, sty] = await Promise.all([
      resizeRaw(output, size.width, size.height),
      resizeRaw(content, size.width, size.height),
      resizeRaw(style, styleSize.width, styleSize.height),
    ]);
    const features = async (img: RawImage) =>
      this.engine.targets(preprocess(toPlanar(img).data, img.width * img.height, this.net.convention), img.width, img.height, { content: true, style: true });
    const fOut = await features(out);
    const fContent = await features(cont);
    const fStyle = await features(sty);
    const styleLayers: Record<string, number> = {};
    for (const layer of SCORE_STYLE_LAYERS) styleLayers[layer] = relativeDistance(fOut.gram.get(layer)!, fStyle.gram.get(layer)!);
    const styleError = SCORE_STYLE_LAYERS.reduce((s, l) => s + styleLayers[l], 0) / SCORE_STYLE_LAYERS.length;
    const contentError = relativeDistance(fOut.content.get(SCORE_CONTENT_LAYER)!.data, fContent.content.get(SCORE_CONTENT_LAYER)!.data);
    return { style: styleError, content: contentError, styleLayers, width: size.width, height: size.height };
  }

  async release(): Promise<void> {
    await this.engine.release();
  }
}
