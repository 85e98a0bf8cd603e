/** Turning an ImageSource (path, encoded bytes, or pixels) into pixels, with the role named in errors. */
import { ImageError } from '../errors.js';
import type { ImageSource } from '../options.js';
import type { RawImage } from './image.js';
import { decodeImage, decodeImageBytes } from './io.js';

export async function loadImageSource(source: ImageSource, role: string, maxPixels: number): Promise<RawImage> {
  if (typeof source === 'string') return decodeImage(source, { role, maxPixels });
  if (source instanceof Uint8Array) return decodeImageBytes(source, undefined, { role, maxPixels });
  const { width, height, data } = source;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new ImageError(`${role} has no pixels (${width}x${height})`);
  if (width * height > maxPixels) throw new ImageError(`${role} is ${width}x${height}, more than the limit of ${maxPixels} pixels`);
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3)
    throw new ImageError(`${role}: pixel data must be ${width * height * 3} bytes of RGB, got ${data?.length}`);
  return source;
}
