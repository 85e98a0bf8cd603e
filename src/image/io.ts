/**
 * Decoding and encoding images with sharp: the Node-only edge of the image pipeline. Everything
 * that comes out of here is a RawImage (8-bit sRGB, 3 channels) whatever the file held, so the
 * rest of the program never sees alpha, grey, CMYK, 16-bit samples, colour profiles or EXIF
 * orientation.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { firstLine, ImageError, OptionError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { canonicalPath } from '../fs/paths.js';
import { DEFAULT_MAX_PIXELS, type RawImage } from './image.js';

export { DEFAULT_MAX_PIXELS };

// libvips keeps recent operations (and with them their input files, open or mapped) in a cache: a deleted upload's
// space would not come back, and a long-running server would pin files it no longer needs.
sharp.cache(false);

/** Input formats we accept (sharp's format ids). `heif` covers AVIF. */
const INPUT_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'heif', 'tiff', 'gif']);
const INPUT_FORMAT_NAMES = 'JPEG, PNG, WebP, AVIF, TIFF, GIF';

export interface DecodeOptions {
  /** Refuse images with more pixels than this (width × height). Default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
  /** What the image is, for error messages: 'content image', 'style image'. Default 'image'. */
  role?: string;
  /**
   * Decode shrunk so that neither side exceeds this (aspect kept, never enlarged): JPEG and WebP
   * decode at a fraction of their size (sharp's shrink-on-load), others are streamed through the
   * resize, so a thumbnail of a 40-megapixel picture never holds its full pixels.
   */
  maxSide?: number;
}

/**
 * Decode the image file at `path` without reading it into memory first (sharp reads the file):
 * the same checks and messages as decodeImageBytes, with `name` shown in them.
 */
export async function decodeImageFile(path: string, name: string, opts: DecodeOptions = {}): Promise<RawImage> {
  return (await decodeSource({ path }, name, opts)).image;
}

/**
 * Check that the file at `path` is a whole, decodable image within the pixel limit, without
 * holding its pixels (it is decoded through to a thumbnail), and return its upright size.
 */
export async function probeImageFile(path: string, name: string, opts: Omit<DecodeOptions, 'maxSide'> = {}): Promise<{ width: number; height: number }> {
  const { upright } = await decodeSource({ path }, name, { ...opts, maxSide: 64 });
  return upright;
}

/** Read and decode the image file at `path` (see decodeImageBytes for what is accepted). */
export async function decodeImage(path: string, opts: DecodeOptions = {}): Promise<RawImage> {
  const role = opts.role ?? 'image';
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw new ImageError(`${role} is a directory, not a file: ${path}`, path);
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof ImageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ImageError(`${role} not found: ${path}`, path, { cause: err });
    throw new ImageError(`cannot read ${role} ${path}: ${firstLine(err)}`, path, { cause: err });
  }
  return decodeImageBytes(bytes, path, opts);
}

/**
 * Decode an encoded image (JPEG, PNG, WebP, AVIF, TIFF, GIF: the first frame) to 8-bit sRGB RGB.
 * EXIF orientation is applied; alpha is flattened onto white; grey, CMYK, 16-bit and ICC-profiled
 * images are converted to sRGB. `name` (a file name; none for bytes that never had one) is only
 * used in error messages. Truncated or corrupt data is an error rather than a partly grey image.
 */
export async function decodeImageBytes(bytes: Uint8Array, name: string | undefined, opts: DecodeOptions = {}): Promise<RawImage> {
  return (await decodeSource({ bytes }, name, opts)).image;
}

/** The decoded image, and the size of the whole picture upright (before any maxSide shrinking). */
async function decodeSource(
  source: { bytes: Uint8Array } | { path: string },
  name: string | undefined,
  opts: DecodeOptions,
): Promise<{ image: RawImage; upright: { width: number; height: number } }> {
  // What error messages call the image: "content image photo.jpg", or just "content image".
  const what = name === undefined ? (opts.role ?? 'image') : `${opts.role ?? 'image'} ${name}`;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(Number.isInteger(maxPixels) && maxPixels > 0)) throw new OptionError('maxPixels', 'a positive integer', maxPixels);
  if (opts.maxSide !== undefined && !(Number.isInteger(opts.maxSide) && opts.maxSide > 0)) throw new OptionError('maxSide', 'a positive integer', opts.maxSide);
  const byteLength =
    'bytes' in source
      ? source.bytes.length
      : await stat(source.path).then(
          (s) => s.size,
          (err) => Promise.reject(new ImageError(`cannot read ${what}: ${firstLine(err)}`, name, { cause: err })),
        );
  if (byteLength === 0) throw new ImageError(`${what} is empty (0 bytes)`, name);
  /** The first bytes, for the magic-number checks of error messages. */
  const head = async (): Promise<Uint8Array> => {
    if ('bytes' in source) return source.bytes;
    const handle = await open(source.path, 'r');
    try {
      const buffer = Buffer.alloc(64);
      const { bytesRead } = await handle.read(buffer, 0, 64, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  };

  // failOn 'truncated': a JPEG/PNG cut short aborts instead of decoding with a grey remainder.
  // Our own pixel check below gives the better message, so sharp's limit only backs it up.
  const input = (limitInputPixels: number | false) => sharp('bytes' in source ? source.bytes : source.path, { failOn: 'truncated', limitInputPixels, pages: 1, page: 0 });

  let meta: Metadata;
  try {
    meta = await input(false).metadata();
  } catch (err) {
    // sharp cannot tell "not an image" from "an image with a broken header"; the magic bytes can.
    const bytes = await head();
    const sniffed = sniffFormat(bytes);
    if (sniffed === undefined) {
      throw new ImageError(`${what} is not an image in a supported format (${INPUT_FORMAT_NAMES})`, name, { cause: err });
    }
    const size = sniffed === 'PNG' ? pngHeaderSize(bytes) : undefined;
    if ((size && (size.width === 0 || size.height === 0)) || /empty jpeg/i.test(firstLine(err))) {
      throw new ImageError(`${what} has no pixels${size ? ` (${size.width}x${size.height})` : ''}`, name, { cause: err });
    }
    throw new ImageError(`${what} is a corrupt ${sniffed} file: ${firstLine(err)}`, name, { cause: err });
  }
  if (!meta.format || !INPUT_FORMATS.has(meta.format)) {
    throw new ImageError(`${what} is in an unsupported format (${meta.format ?? 'unknown'}); accepted: ${INPUT_FORMAT_NAMES}`, name);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width <= 0 || height <= 0) throw new ImageError(`${what} has no pixels (${width}x${height})`, name);
  if (width * height > maxPixels) {
    throw new ImageError(`${what} is too large: ${width}x${height} = ${formatPixels(width * height)}, the limit is ${formatPixels(maxPixels)} (maxPixels)`, name);
  }

  try {
    let pipeline = input(maxPixels).autoOrient(); // EXIF orientation: a portrait photo stored sideways comes out upright
    if (opts.maxSide !== undefined) pipeline = pipeline.resize(opts.maxSide, opts.maxSide, { fit: 'inside', withoutEnlargement: true });
    const { data, info } = await pipeline
      .flatten({ background: { r: 255, g: 255, b: 255 } }) // alpha onto white; no-op without alpha
      .toColourspace('srgb') // grey, CMYK, 16-bit and ICC profiles all end as 8-bit sRGB
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    if (data.length !== info.width * info.height * 3) throw new Error(`decoded ${data.length} bytes for ${info.width}x${info.height}x3`);
    // EXIF orientations 5–8 turn the picture a quarter.
    const upright = (meta.orientation ?? 1) >= 5 ? { width: height, height: width } : { width, height };
    return { image: { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 }, upright };
  } catch (err) {
    throw new ImageError(`${what} is truncated or corrupt: ${firstLine(err)}`, name, { cause: err });
  }
}

/** Output formats, chosen by the output file's extension. */
export type OutputFormat = 'png' | 'jpeg' | 'webp';
const OUTPUT_EXTENSIONS: Readonly<Record<string, OutputFormat>> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };

/** The output format for a path by its extension (case-insensitive), or an ImageError listing the accepted ones. */
export function outputFormatFor(path: string): OutputFormat {
  const ext = extname(path).toLowerCase();
  const format = OUTPUT_EXTENSIONS[ext];
  if (!format) {
    throw new ImageError(`cannot write ${path}: unknown output extension ${ext ? JSON.stringify(ext) : '(none)'}; accepted: ${Object.keys(OUTPUT_EXTENSIONS).join(', ')}`, path);
  }
  return format;
}

export interface EncodeOptions {
  /** JPEG/WebP quality, an integer 1..100. Default 92 (JPEG) / 90 (WebP); ignored for PNG. */
  quality?: number;
}

/** Encode a RawImage in the given format. */
export async function encodeImageBytes(img: RawImage, format: OutputFormat, opts: EncodeOptions = {}): Promise<Buffer> {
  const quality = opts.quality;
  if (quality !== undefined && !(Number.isInteger(quality) && quality >= 1 && quality <= 100)) {
    throw new OptionError('quality', 'an integer from 1 to 100', quality);
  }
  if (img.data.length !== img.width * img.height * 3 || img.width <= 0 || img.height <= 0) {
    throw new ImageError(`cannot encode a ${img.width}x${img.height} image from ${img.data.length} bytes (expected width*height*3)`);
  }
  const pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  switch (format) {
    case 'png':
      return pipeline.png({ compressionLevel: 6 }).toBuffer();
    case 'jpeg':
      // 4:4:4 chroma: stylised images are full of fine colour detail that 4:2:0 would smear.
      return pipeline.jpeg({ quality: quality ?? 92, chromaSubsampling: '4:4:4' }).toBuffer();
    case 'webp':
      return pipeline.webp({ quality: quality ?? 90 }).toBuffer();
  }
}

export interface WriteOptions extends EncodeOptions {
  /** Paths that must never be overwritten (the input images). */
  protect?: readonly string[];
}

/**
 * Encode `img` by `path`'s extension (.png, .jpg/.jpeg, .webp) and write it atomically: a reader
 * (or a crash) never sees a half-written file. Refuses to write over any path in `opts.protect`.
 */
export async function encodeImage(img: RawImage, path: string, opts: WriteOptions = {}): Promise<void> {
  const format = outputFormatFor(path);
  await assertNotProtected(path, opts.protect ?? []);
  const bytes = await encodeImageBytes(img, format, opts);
  try {
    await writeFileAtomic(path, bytes);
  } catch (err) {
    throw new ImageError(`cannot write output image ${path}: ${firstLine(err)}`, path, { cause: err });
  }
}

/** Throws when `path` names the same file as one of `protect` (however spelled, through symlinks too). */
export async function assertNotProtected(path: string, protect: readonly string[]): Promise<void> {
  if (protect.length === 0) return;
  const target = await canonicalPath(path);
  for (const p of protect) {
    if ((await canonicalPath(p)) === target) throw new ImageError(`refusing to overwrite the input image ${p} with the output ${path}`, path);
  }
}

function formatPixels(n: number): string {
  return n >= 1e6 ? `${Math.round(n / 1e5) / 10} megapixels` : `${n} pixels`;
}

/** The container format named by a file's magic bytes, or undefined when it is none we accept. */
function sniffFormat(b: Uint8Array): string | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 4) === 'PNG') return 'PNG';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'JPEG';
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'GIF';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (b.length >= 4 && (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*')) return 'TIFF';
  if (b.length >= 12 && ascii(4, 8) === 'ftyp') return 'AVIF/HEIF';
  return undefined;
}

/** Width and height from a PNG's IHDR chunk (which must come first). */
function pngHeaderSize(b: Uint8Array): { width: number; height: number } | undefined {
  if (b.length < 24) return undefined;
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
