/**
 * Input-level padding: a margin of mirrored (or repeated) pixels added around the image before the
 * network sees it, and its exact adjoint for the gradient.
 *
 * Why: VGG's convolutions zero-pad their inputs, so features along the image's edges are computed
 * against a black frame. The style loss then drives the optimisation to paint stripes along the
 * edges (a band up to ~10 px in results). With a reflect margin, every pixel of the real image sees
 * plausible surroundings up to `margin` pixels out, and the zero padding happens only at the margin's
 * outer edge, which is cropped away. (crowsonkb/style-transfer-pytorch pads its input likewise.)
 *
 * The padded image is a linear function of the image, x_p = P·x, so for any loss L(x_p) the gradient
 * with respect to the image is Pᵀ·∂L/∂x_p: each margin pixel's gradient is added back onto the pixel
 * it copies (`foldGradient`). The padded image is what the network (or a tiler) works on; the
 * optimiser only ever sees the unpadded image.
 *
 * Planar layout: [channels][height][width], channel-major, as everywhere in the engine.
 * Pure TypeScript, no platform code: it runs in the browser too.
 */

/** 'reflect' mirrors without repeating the edge pixel (numpy's 'reflect'); 'replicate' repeats the edge pixel. */
export type PaddingMode = 'reflect' | 'replicate';

/**
 * The margin the pipeline uses: 16 px, the network's pooling grid (4 poolings of 2), so the padded
 * image's pixel (16, 16) is the image's (0, 0) and every pooling window of the image stays aligned
 * with the padded image's (and a tiler can tile either one on the same grid). 16 px covers the
 * receptive field of conv1_x and conv2_x entirely and most of conv3_x's, where the stripes come from.
 */
export const DEFAULT_MARGIN = 16;

/**
 * Source coordinate in [0, n) of padded coordinate i in [0, n + 2·margin). Reflection repeats with
 * period 2(n − 1), so margins wider than the image still map inside it.
 */
export function sourceIndex(i: number, n: number, margin: number, mode: PaddingMode): number {
  const j = i - margin;
  if (j >= 0 && j < n) return j;
  if (mode === 'replicate' || n === 1) return j < 0 ? 0 : n - 1;
  const period = 2 * (n - 1);
  const k = ((j % period) + period) % period;
  return k < n ? k : period - k;
}

/** Source coordinate of every padded coordinate along one axis. */
function sourceMap(n: number, margin: number, mode: PaddingMode): Int32Array {
  const map = new Int32Array(n + 2 * margin);
  for (let i = 0; i < map.length; i++) map[i] = sourceIndex(i, n, margin, mode);
  return map;
}

function checkArgs(length: number, channels: number, width: number, height: number, margin: number, what: string): void {
  if (!Number.isInteger(margin) || margin < 0) throw new RangeError(`padding margin must be a non-negative integer, got ${margin}`);
  if (!(width >= 1 && height >= 1)) throw new RangeError(`padding needs a non-empty image, got ${width}x${height}`);
  if (length !== channels * width * height) throw new RangeError(`${what} has ${length} values, expected ${channels}x${height}x${width}`);
}

/** The image [C, H, W] with a margin on every side: [C, H + 2·margin, W + 2·margin] (float64 in, float64 out: for references). */
export function padImage(x: Float32Array, width: number, height: number, margin: number, mode: PaddingMode, channels?: number): Float32Array;
export function padImage(x: Float64Array, width: number, height: number, margin: number, mode: PaddingMode, channels?: number): Float64Array;
export function padImage(x: Float32Array | Float64Array, width: number, height: number, margin: number, mode: PaddingMode, channels = 3): Float32Array | Float64Array {
  checkArgs(x.length, channels, width, height, margin, 'the image');
  const pw = width + 2 * margin;
  const ph = height + 2 * margin;
  const cols = sourceMap(width, margin, mode);
  const rows = sourceMap(height, margin, mode);
  const out = x instanceof Float64Array ? new Float64Array(channels * pw * ph) : new Float32Array(channels * pw * ph);
  for (let c = 0; c < channels; c++) {
    const src = c * width * height;
    const dst = c * pw * ph;
    for (let r = 0; r < ph; r++) {
      const srcRow = src + rows[r] * width;
      const dstRow = dst + r * pw;
      for (let q = 0; q < pw; q++) out[dstRow + q] = x[srcRow + cols[q]];
    }
  }
  return out;
}

/**
 * The adjoint of padImage: a gradient over the padded image [C, H + 2m, W + 2m] folded onto the
 * image [C, H, W], each padded pixel's value added to the pixel it was copied from. Accumulated in
 * float64 per pixel so the sum does not depend on the order of the copies.
 */
export function foldGradient(
  g: Float32Array,
  width: number,
  height: number,
  margin: number,
  mode: PaddingMode,
  channels = 3,
  out: Float32Array = new Float32Array(channels * width * height),
): Float32Array {
  const pw = width + 2 * margin;
  const ph = height + 2 * margin;
  checkArgs(g.length, channels, pw, ph, 0, 'the padded gradient');
  if (out.length !== channels * width * height) throw new RangeError(`the folded gradient needs ${channels * width * height} values, got ${out.length}`);
  const cols = sourceMap(width, margin, mode);
  const rows = sourceMap(height, margin, mode);
  const acc = new Float64Array(width * height);
  for (let c = 0; c < channels; c++) {
    acc.fill(0);
    const src = c * pw * ph;
    for (let r = 0; r < ph; r++) {
      const dstRow = rows[r] * width;
      const srcRow = src + r * pw;
      for (let q = 0; q < pw; q++) acc[dstRow + cols[q]] += g[srcRow + q];
    }
    const dst = c * width * height;
    for (let i = 0; i < acc.length; i++) out[dst + i] = acc[i];
  }
  return out;
}

/** A margin and how it is filled. */
export interface Padding {
  readonly margin: number;
  readonly mode: PaddingMode;
}

/** Size of the padded image. */
export function paddedSize(width: number, height: number, padding: Padding): { width: number; height: number } {
  return { width: width + 2 * padding.margin, height: height + 2 * padding.margin };
}

/**
 * A loss over the image from a loss over the padded image: pads the point, evaluates, folds the
 * gradient back. `evaluatePadded` gets the padded image, its size and a gradient buffer to fill.
 */
export function withPadding<T>(
  width: number,
  height: number,
  padding: Padding,
  evaluatePadded: (padded: Float32Array, width: number, height: number, grad: Float32Array) => Promise<T>,
  channels = 3,
): (x: Float32Array, grad: Float32Array) => Promise<T> {
  const size = paddedSize(width, height, padding);
  const paddedGrad = new Float32Array(channels * size.width * size.height);
  return async (x, grad) => {
    const result = await evaluatePadded(padImage(x, width, height, padding.margin, padding.mode, channels), size.width, size.height, paddedGrad);
    foldGradient(paddedGrad, width, height, padding.margin, padding.mode, channels, grad);
    return result;
  };
}
