/**
 * Reading a job submission: a multipart form with `content` (one image file), `style` (one or more
 * image files), optionally `styleMask` (one grey image per style image, in style order: where each
 * style goes, README "Spatial and scale control") and `options` (JSON). Files are streamed to the uploads folder, never held in
 * memory; every image is then decoded once through to a thumbnail, so a file that is not an
 * image, is truncated or has too many pixels is refused with the library's own one-line message
 * before anything is queued. On any failure the uploaded files are deleted.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { ImageError } from '../errors.js';
import { probeImageFile } from '../image/io.js';
import { HttpError } from './http-error.js';
import { parseJobOptions, type ParsedJobOptions } from '../jobs/options.js';
import { formatBytes } from '../format.js';
import type { ServerLimits } from '../jobs/limits.js';
import { isDiskFull } from '../jobs/job-store.js';
import { StorageFullError } from '../jobs/errors.js';

export interface UploadedImage {
  name: string;
  /** Where the upload was streamed to (the caller moves or deletes it). */
  path: string;
  width: number;
  height: number;
}

export interface JobUpload extends ParsedJobOptions {
  content: UploadedImage;
  styles: UploadedImage[];
  /** One per style image, in style order; empty: no masks (the plain run). */
  masks: UploadedImage[];
}

/** The longest file name kept for display. */
const MAX_NAME = 120;

/** Read the form; `newPath` names a fresh file in the uploads folder for each image. */
export async function readJobUpload(request: FastifyRequest, limits: ServerLimits, newPath: () => string): Promise<JobUpload> {
  if (!request.isMultipart()) throw new HttpError(415, 'expected a multipart/form-data body with fields content, style, styleMask (optional) and options');
  const written: string[] = [];
  try {
    return await readForm(request, limits, newPath, written);
  } catch (err) {
    await Promise.all(written.map((p) => rm(p, { force: true })));
    throw err;
  }
}

async function readForm(request: FastifyRequest, limits: ServerLimits, newPath: () => string, written: string[]): Promise<JobUpload> {
  let content: { name: string; path: string } | undefined;
  const styles: { name: string; path: string }[] = [];
  const masks: { name: string; path: string }[] = [];
  let optionsText: string | undefined;

  // After the first problem the rest of the body is still read (and thrown away): a client still
  // sending its upload would not read our error response, and both sides would wait forever.
  let failure: unknown;
  try {
    for await (const part of request.parts()) {
      if (failure !== undefined) {
        if (part.type === 'file') part.file.resume();
        continue;
      }
      try {
        await readPart(part);
      } catch (err) {
        if (part.type === 'file') part.file.resume();
        failure = err;
      }
    }
  } catch (err) {
    // The parser ends with its own error for a file over the size limit; ours names the file.
    failure ??= err;
  }
  if (failure !== undefined) throw asClientError(failure);

  async function readPart(part: Multipart): Promise<void> {
    if (part.type === 'file') {
      if (part.fieldname !== 'content' && part.fieldname !== 'style' && part.fieldname !== 'styleMask') {
        throw new HttpError(400, `unknown file field ${JSON.stringify(part.fieldname)}; expected content, style or styleMask`);
      }
      if (part.fieldname === 'content' && content) throw new HttpError(400, 'only one content image may be sent');
      if (part.fieldname === 'style' && styles.length >= limits.maxStyles) {
        throw new HttpError(400, `too many style images: at most ${limits.maxStyles} per job`);
      }
      if (part.fieldname === 'styleMask' && masks.length >= limits.maxStyles) {
        throw new HttpError(400, `too many style masks: at most one per style image (${limits.maxStyles} per job)`);
      }
      const role = part.fieldname === 'content' ? 'content image' : part.fieldname === 'style' ? 'style image' : 'style mask';
      const name = displayName(part.filename, role);
      const path = newPath();
      written.push(path);
      const tooLarge = () => new HttpError(413, `${role} ${name} is larger than the limit of ${formatBytes(limits.maxFileBytes)}`);
      try {
        await pipeline(part.file, createWriteStream(path, { flags: 'wx' }));
      } catch (err) {
        if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge();
        if (isDiskFull(err)) throw new StorageFullError(`the server's disk is full; try again later`);
        throw err;
      }
      if (part.file.truncated) throw tooLarge();
      if (part.fieldname === 'content') content = { name, path };
      else (part.fieldname === 'style' ? styles : masks).push({ name, path });
    } else if (part.fieldname === 'options') {
      if (optionsText !== undefined) throw new HttpError(400, 'options was sent twice');
      optionsText = String(part.value);
    } else {
      throw new HttpError(400, `unknown form field ${JSON.stringify(part.fieldname)}; expected content, style, styleMask and options`);
    }
  }

  if (!content) throw new HttpError(400, 'missing the content image (form field content)');
  if (styles.length === 0) throw new HttpError(400, 'missing a style image (form field style)');
  if (masks.length > 0 && masks.length !== styles.length) {
    throw new HttpError(400, `${masks.length} style masks for ${styles.length} style images: send one styleMask per style image, in style order, or none`);
  }
  const parsed = parseJobOptions(optionsText, limits);
  const decode = async (file: { name: string; path: string }, role: string): Promise<UploadedImage> => {
    try {
      const size = await probeImageFile(file.path, file.name, { role, maxPixels: limits.maxPixels });
      return { ...file, ...size };
    } catch (err) {
      if (err instanceof ImageError) throw new HttpError(422, err.message);
      throw err;
    }
  };
  // One at a time: decoding several large images at once would multiply the time a request holds a thread.
  const contentImage = await decode(content, 'content image');
  const styleImages: UploadedImage[] = [];
  for (let i = 0; i < styles.length; i++) styleImages.push(await decode(styles[i], styles.length > 1 ? `style image ${i + 1}` : 'style image'));
  // A mask may have any size (the library resizes it to each scale), within the same pixel and byte limits.
  const maskImages: UploadedImage[] = [];
  for (let i = 0; i < masks.length; i++) maskImages.push(await decode(masks[i], `mask of style image ${i + 1}`));
  return { ...parsed, content: contentImage, styles: styleImages, masks: maskImages };
}

/**
 * Errors of the multipart parser itself (a missing boundary, a body cut short) are the client's
 * fault: a 400 naming the problem rather than a 500. Our own errors and fastify's coded limits
 * (mapped in server.ts) pass through.
 */
function asClientError(err: unknown): unknown {
  if (err instanceof HttpError || err instanceof StorageFullError || err instanceof ImageError) return err;
  const { code, statusCode } = err as { code?: string; statusCode?: number };
  if (typeof code === 'string' && code.startsWith('FST_')) return err;
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) return err;
  if (isDiskFull(err)) return new StorageFullError(`the server's disk is full; try again later`);
  const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new HttpError(400, `the upload is not a valid multipart form: ${reason}`);
}

/**
 * Characters that change how a name reads without being seen: bidi controls (`\u202Egnp.exe` shows
 * as `exe.png`), zero-width characters, the BOM, and lone surrogates (half a character).
 */
const INVISIBLE = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A file name safe to show and log: no paths, no control or invisible characters, at most MAX_NAME characters (cut between code points). */
export function displayName(filename: string | undefined, fallback: string): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .replace(INVISIBLE, '')
    .replace(LONE_SURROGATE, '')
    .trim();
  if (!clean) return fallback.replace(' ', '-');
  const points = [...clean];
  return points.length > MAX_NAME ? `${points.slice(0, MAX_NAME - 3).join('')}...` : clean;
}
