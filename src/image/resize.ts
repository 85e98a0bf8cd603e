/**
 * Resizing the input images with sharp's Lanczos (quality matters, runs once per scale): the Node
 * edge. The pure-TypeScript bilinear and the size helpers live in resample.ts and are re-exported
 * here for the Node side's convenience.
 */
import sharp from 'sharp';
import type { RawImage } from './image.js';
import { checkImageSize } from './resample.js';

export { resizePlanar, fitLongSide, fitShortSide } from './resample.js';

/** Resize an 8-bit image to exactly width×height with sharp's Lanczos-3 (aspect ratio not kept: `fit: 'fill'`). */
export async function resizeRaw(img: RawImage, width: number, height: number): Promise<RawImage> {
  checkImageSize(width, height);
  if (img.width === width && img.height === height) return img;
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize({ width, height, fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== width || info.height !== height) {
    throw new Error(`sharp resized to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height, channels: 3 };
}
