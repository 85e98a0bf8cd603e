/**
 * Pure-TypeScript resizing and the geometry helpers that pick the sizes: no codec, no platform
 * import, so the core (and the browser) can use them. sharp's Lanczos for input images is in
 * resize.ts, at the edge.
 */
import { OptionError } from '../errors.js';
import type { PlanarImage } from './image.js';

/**
 * Bilinear resize of a planar image with half-pixel centres (align_corners=false): output pixel i
 * samples input coordinate (i + 0.5) · in/out − 0.5, clamped to the edge. This is exactly
 * torch.nn.functional.interpolate(mode='bilinear', align_corners=False, antialias=False). Meant for
 * upsampling one scale's result to the next; it does not low-pass, so strong downsampling aliases.
 */
export function resizePlanar(img: PlanarImage, width: number, height: number): PlanarImage {
  checkImageSize(width, height);
  const inW = img.width;
  const inH = img.height;
  const out = new Float32Array(3 * width * height);
  const xs = axisTaps(inW, width);
  const ys = axisTaps(inH, height);
  for (let c = 0; c < 3; c++) {
    const src = img.data.subarray(c * inW * inH, (c + 1) * inW * inH);
    const dstBase = c * width * height;
    for (let y = 0; y < height; y++) {
      const row0 = ys.i0[y] * inW;
      const row1 = ys.i1[y] * inW;
      const wy = ys.w[y];
      for (let x = 0; x < width; x++) {
        const x0 = xs.i0[x];
        const x1 = xs.i1[x];
        const wx = xs.w[x];
        const top = src[row0 + x0] + (src[row0 + x1] - src[row0 + x0]) * wx;
        const bottom = src[row1 + x0] + (src[row1 + x1] - src[row1 + x0]) * wx;
        out[dstBase + y * width + x] = top + (bottom - top) * wy;
      }
    }
  }
  return { data: out, width, height };
}

/** For each output index along one axis: the two input indices and the weight of the second. */
function axisTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; w: Float64Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    // Negative source coordinates clamp to 0 (PyTorch does the same), the far edge clamps by index.
    const s = Math.max((i + 0.5) * scale - 0.5, 0);
    const lo = Math.min(Math.floor(s), inSize - 1);
    i0[i] = lo;
    i1[i] = Math.min(lo + 1, inSize - 1);
    w[i] = s - lo;
  }
  return { i0, i1, w };
}

/** The size with the long side equal to `long`, aspect ratio kept, the short side rounded to nearest and at least 1. */
export function fitLongSide(width: number, height: number, long: number): { width: number; height: number } {
  checkImageSize(width, height);
  checkTarget('long side', long);
  if (width >= height) return { width: long, height: Math.max(1, Math.round((height * long) / width)) };
  return { width: Math.max(1, Math.round((width * long) / height)), height: long };
}

/**
 * The size with the short side equal to `short`, exactly as torchvision's Resize(int) computes it:
 * the long side is int(short · long / shortSide), i.e. truncated, not rounded (the recipe resizes
 * with torchvision, so matching it keeps feature sizes and losses comparable).
 */
export function fitShortSide(width: number, height: number, short: number): { width: number; height: number } {
  checkImageSize(width, height);
  checkTarget('short side', short);
  if (width <= height) return { width: short, height: Math.max(1, Math.floor((short * height) / width)) };
  return { width: Math.max(1, Math.floor((short * width) / height)), height: short };
}

function checkTarget(option: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 1)) throw new OptionError(option, 'a positive integer number of pixels', value);
}

export function checkImageSize(width: number, height: number): void {
  if (!(Number.isInteger(width) && width >= 1 && Number.isInteger(height) && height >= 1)) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
}
