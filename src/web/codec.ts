/**
 * Decoding and encoding images in the browser (page or worker): the browser's own codecs through
 * createImageBitmap and OffscreenCanvas, so the pictures never leave the machine. What comes out is
 * the library's RawImage (8-bit sRGB, 3 channels), as sharp gives it in Node: EXIF orientation
 * applied, alpha flattened onto white.
 */
import type { RawImage } from '../image/image.js';

/** A decode failure with a one-line message that names the file and its role. */
export class BrowserImageError extends Error {
  override name = 'BrowserImageError';
}

export async function decodeImageBlob(blob: Blob, name: string, role: string, maxPixels: number): Promise<RawImage> {
  if (blob.size === 0) throw new BrowserImageError(`${role} ${name} is empty (0 bytes)`);
  let bitmap: ImageBitmap;
  try {
    // 'from-image': a portrait photo stored sideways with an EXIF orientation comes out upright.
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', premultiplyAlpha: 'default', colorSpaceConversion: 'default' });
  } catch {
    throw new BrowserImageError(`${role} ${name} is not an image this browser can decode`);
  }
  try {
    const { width, height } = bitmap;
    if (width <= 0 || height <= 0) throw new BrowserImageError(`${role} ${name} has no pixels (${width}x${height})`);
    if (width * height > maxPixels) throw new BrowserImageError(`${role} ${name} is too large: ${width}x${height}, the limit is ${maxPixels} pixels`);
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new BrowserImageError('this browser has no 2D canvas to decode images with');
    ctx.fillStyle = '#fff'; // alpha is flattened onto white, as in Node
    ctx.fillRect(0, 0, width, height);
    ctx.drawImage(bitmap, 0, 0);
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      rgb[j] = rgba[i];
      rgb[j + 1] = rgba[i + 1];
      rgb[j + 2] = rgba[i + 2];
    }
    return { data: rgb, width, height, channels: 3 };
  } finally {
    bitmap.close();
  }
}

/** RGBA pixels of a RawImage (opaque), for a canvas. */
export function toImageData(img: RawImage): ImageData {
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0, j = 0; j < img.data.length; i += 4, j += 3) {
    rgba[i] = img.data[j];
    rgba[i + 1] = img.data[j + 1];
    rgba[i + 2] = img.data[j + 2];
    rgba[i + 3] = 255;
  }
  return new ImageData(rgba, img.width, img.height);
}

/** Encode with the browser's canvas encoder (PNG is lossless: what the run produced, bit for bit). */
export async function encodeImage(img: RawImage, type: 'image/png' | 'image/jpeg' = 'image/png', quality?: number): Promise<Blob> {
  const canvas = new OffscreenCanvas(img.width, img.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new BrowserImageError('this browser has no 2D canvas to encode images with');
  ctx.putImageData(toImageData(img), 0, 0);
  return canvas.convertToBlob({ type, quality });
}
