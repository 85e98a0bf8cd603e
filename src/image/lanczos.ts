/**
 * Lanczos-3 resizing of an 8-bit image in plain TypeScript, for platforms without sharp (the
 * browser). It computes what sharp's `kernel: 'lanczos3'` computes: a separable windowed sinc with
 * half-pixel centres, whose support widens by the reduction factor when shrinking so that
 * downsampling low-passes instead of aliasing. Values are carried in float between the two passes
 * and rounded once, at the end.
 */
import type { RawImage } from './image.js';

const LOBES = 3;

function lanczos(x: number): number {
  if (x === 0) return 1;
  if (x <= -LOBES || x >= LOBES) return 0;
  const px = Math.PI * x;
  return (LOBES * Math.sin(px) * Math.sin(px / LOBES)) / (px * px);
}

/** For each output index along one axis: the first input index and the normalised weights of its taps. */
interface AxisFilter {
  readonly first: Int32Array;
  readonly taps: number;
  /** weights[i * taps + k] applies to input index first[i] + k (clamped to the edge). */
  readonly weights: Float32Array;
}

function axisFilter(inSize: number, outSize: number): AxisFilter {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1); // widen the kernel only when shrinking
  const radius = LOBES * stretch;
  const taps = Math.ceil(2 * radius) + 1;
  const first = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale - 0.5;
    const start = Math.floor(centre - radius) + 1;
    first[i] = start;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const w = lanczos((start + k - centre) / stretch);
      weights[i * taps + k] = w;
      sum += w;
    }
    for (let k = 0; k < taps; k++) weights[i * taps + k] /= sum;
  }
  return { first, taps, weights };
}

/** Resize to exactly width×height (aspect ratio not kept), Lanczos-3, edges extended by clamping. */
export function resizeLanczos(img: RawImage, width: number, height: number): RawImage {
  if (!(Number.isInteger(width) && width >= 1 && Number.isInteger(height) && height >= 1)) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (img.width === width && img.height === height) return img;
  const inW = img.width;
  const inH = img.height;
  const fx = axisFilter(inW, width);
  const fy = axisFilter(inH, height);

  // Horizontal pass: inH rows of `width` pixels, 3 channels interleaved, in float.
  const mid = new Float32Array(inH * width * 3);
  for (let y = 0; y < inH; y++) {
    const row = y * inW * 3;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const base = x * fx.taps;
      for (let k = 0; k < fx.taps; k++) {
        const sx = Math.min(Math.max(fx.first[x] + k, 0), inW - 1);
        const w = fx.weights[base + k];
        const p = row + sx * 3;
        r += w * img.data[p];
        g += w * img.data[p + 1];
        b += w * img.data[p + 2];
      }
      const o = (y * width + x) * 3;
      mid[o] = r;
      mid[o + 1] = g;
      mid[o + 2] = b;
    }
  }

  // Vertical pass, rounding to 8 bits.
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const base = y * fy.taps;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < fy.taps; k++) {
        const sy = Math.min(Math.max(fy.first[y] + k, 0), inH - 1);
        const w = fy.weights[base + k];
        const p = (sy * width + x) * 3;
        r += w * mid[p];
        g += w * mid[p + 1];
        b += w * mid[p + 2];
      }
      const o = (y * width + x) * 3;
      out[o] = toByte(r);
      out[o + 1] = toByte(g);
      out[o + 2] = toByte(b);
    }
  }
  return { data: out, width, height, channels: 3 };
}

function toByte(v: number): number {
  return v > 0 ? (v < 255 ? Math.round(v) : 255) : 0;
}
