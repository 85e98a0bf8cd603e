/**
 * The two image containers. Codecs (sharp in Node, canvas in the browser) speak RawImage; every
 * computation (preprocessing, colour, resizing between scales) speaks PlanarImage. Converting
 * between them is the only place where 8-bit quantisation happens.
 */

/**
 * The default limit on an input image's pixels: 100 megapixels is far beyond anything style
 * transfer can optimise, and keeps a hostile file from exhausting memory before it is refused.
 */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** 8-bit interleaved sRGB, 3 channels (what codecs produce/consume): data[(y*W + x)*3 + c]. */
export interface RawImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 3;
}

/** Planar float RGB in 0..1: data[c*H*W + y*W + x] (what compute uses). */
export interface PlanarImage {
  readonly data: Float32Array;
  readonly width: number;
  readonly height: number;
}

/** Interleaved 8-bit → planar float in 0..1. */
export function toPlanar(raw: RawImage): PlanarImage {
  const pixels = raw.width * raw.height;
  if (raw.data.length !== pixels * 3) {
    throw new RangeError(`RawImage data has ${raw.data.length} bytes, expected ${pixels * 3} for ${raw.width}x${raw.height}x3`);
  }
  const out = new Float32Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    out[i] = raw.data[i * 3] / 255;
    out[pixels + i] = raw.data[i * 3 + 1] / 255;
    out[2 * pixels + i] = raw.data[i * 3 + 2] / 255;
  }
  return { data: out, width: raw.width, height: raw.height };
}

/** Planar float → interleaved 8-bit, clamping to [0,1] and rounding to the nearest level (NaN → 0). */
export function toRaw(img: PlanarImage): RawImage {
  const pixels = img.width * img.height;
  if (img.data.length !== pixels * 3) {
    throw new RangeError(`PlanarImage data has ${img.data.length} values, expected ${pixels * 3} for ${img.width}x${img.height}x3`);
  }
  const out = new Uint8Array(pixels * 3);
  for (let c = 0; c < 3; c++) {
    const base = c * pixels;
    for (let i = 0; i < pixels; i++) {
      const v = img.data[base + i];
      // `v > 0` is false for NaN, so NaN lands on 0 rather than poisoning the output.
      out[i * 3 + c] = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
    }
  }
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

/** A planar image of the given size filled with zeros (a convenience for tests and callers). */
export function createPlanar(width: number, height: number): PlanarImage {
  return { data: new Float32Array(3 * width * height), width, height };
}
