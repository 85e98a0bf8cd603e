/**
 * The comparison sheet: `content | style(s) | result` side by side at one height, a label under
 * each panel and an optional title line, like the final figure of the original recipe. It lets a
 * user judge a run from one picture instead of opening three files.
 *
 * Text is drawn by compositing an SVG overlay: sharp renders SVG with librsvg, which lays out
 * `<text>` with the system's fonts through fontconfig (DejaVu Sans from the Debian package
 * fonts-dejavu-core is what the tests run with; any sans-serif font works).
 */
import sharp, { type OverlayOptions } from 'sharp';
import { ImageError, OptionError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import { encodeImage, type WriteOptions } from '../image/io.js';
import { resizeRaw } from '../image/resize.js';
import { maskColour } from './mask-colours.js';
import { formatDuration } from '../format.js';
import { SVG_FONT_FAMILY, escapeXml } from './svg.js';

export interface SheetPanel {
  image: RawImage;
  label: string;
}

export interface SheetOptions {
  /** Height in pixels every panel is scaled to. Default 384. */
  height?: number;
  /** A line of text above the panels, e.g. from sheetTitle(). Default: none. */
  title?: string;
  /** Any CSS colour sharp understands ('#ffffff', 'white', 'rgb(…)'). Default white. */
  background?: string;
}

export const DEFAULT_SHEET_HEIGHT = 384;
/** Panels taller than this would make a sheet of hundreds of megapixels with several styles. */
const MAX_SHEET_HEIGHT = 4096;
/** A generous average advance of a sans-serif glyph, in em: used to shrink text that would not fit. */
const GLYPH_WIDTH_EM = 0.62;

/** Where everything goes on a sheet; exported so callers (and tests) can reason about positions. */
export interface SheetLayout {
  width: number;
  height: number;
  /** Font size of labels and title; also the margin between and around panels. */
  fontSize: number;
  panels: { left: number; top: number; width: number; height: number }[];
}

/**
 * The layout, all derived from the panel height h so text stays in proportion at any size:
 * font size F = max(12, round(h/24)) (16 px at h = 384) is also the margin around and between
 * panels; each panel is scaled to height h keeping its aspect ratio (width round(w·h/H), ≥ 1);
 * the top band is 2F with a title and F without one, the label band under the panels is 2F. So
 * the sheet is F + Σ(panel width + F) wide and (title ? 2F : F) + h + 2F high.
 */
export function sheetLayout(sizes: readonly { width: number; height: number }[], height: number, hasTitle: boolean): SheetLayout {
  const fontSize = Math.max(12, Math.round(height / 24));
  const top = hasTitle ? 2 * fontSize : fontSize;
  let left = fontSize;
  const panels = sizes.map((s) => {
    const width = Math.max(1, Math.round((s.width * height) / s.height));
    const panel = { left, top, width, height };
    left += width + fontSize;
    return panel;
  });
  return { width: left, height: top + height + 2 * fontSize, fontSize, panels };
}

/** Render the panels side by side at one height, each labelled, onto a background. */
export async function renderSheet(panels: readonly SheetPanel[], opts: SheetOptions = {}): Promise<RawImage> {
  const height = opts.height ?? DEFAULT_SHEET_HEIGHT;
  if (!(Number.isInteger(height) && height >= 16 && height <= MAX_SHEET_HEIGHT)) {
    throw new OptionError('sheetHeight', `an integer from 16 to ${MAX_SHEET_HEIGHT}`, height);
  }
  if (panels.length === 0) throw new OptionError('panels', 'at least one image for the sheet', 0);
  for (const p of panels) {
    const { width: w, height: h, data } = p.image;
    if (!(w > 0 && h > 0 && data.length === w * h * 3)) {
      throw new ImageError(`sheet panel "${p.label}" is not a valid image: ${w}x${h} with ${data.length} bytes (expected width*height*3)`);
    }
  }
  const title = opts.title?.trim() ? opts.title.trim() : undefined;
  const layout = sheetLayout(
    panels.map((p) => p.image),
    height,
    title !== undefined,
  );
  const background = await parseColour(opts.background ?? '#ffffff');

  const layers: OverlayOptions[] = [];
  for (let i = 0; i < panels.length; i++) {
    const { image } = panels[i];
    const box = layout.panels[i];
    const pixels =
      image.width === box.width && image.height === box.height
        ? Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length)
        : await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
            .resize(box.width, box.height, { fit: 'fill', kernel: 'lanczos3' })
            .raw()
            .toBuffer();
    layers.push({ input: pixels, raw: { width: box.width, height: box.height, channels: 3 }, left: box.left, top: box.top });
  }
  layers.push({ input: Buffer.from(textOverlay(panels, layout, title, background)), left: 0, top: 0 });

  const { data, info } = await sharp({ create: { width: layout.width, height: layout.height, channels: 3, background: { r: background[0], g: background[1], b: background[2] } } })
    .composite(layers)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== layout.width || info.height !== layout.height) {
    throw new Error(`sheet rendered as ${info.width}x${info.height}x${info.channels}, expected ${layout.width}x${layout.height}x3`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
}

/** Render the sheet and write it by `path`'s extension (.png, .jpg/.jpeg, .webp), atomically. */
export async function writeSheet(path: string, panels: readonly SheetPanel[], opts: SheetOptions & WriteOptions = {}): Promise<void> {
  const sheet = await renderSheet(panels, opts);
  await encodeImage(sheet, path, { quality: opts.quality, protect: opts.protect });
}

/** The usual panels with the usual labels: "content", "style" (or "style 1", "style 2", …), "result". */
export function sheetPanels(content: RawImage, styles: readonly RawImage[], result: RawImage): SheetPanel[] {
  return [
    { image: content, label: 'content' },
    ...styles.map((image, i) => ({ image, label: styles.length === 1 ? 'style' : `style ${i + 1}` })),
    { image: result, label: 'result' },
  ];
}

/**
 * The content image with each style's mask laid over it in that style's colour (mask-colours.ts),
 * at `opacity` where a mask is white: what the sheet shows as its content panel for a masked run.
 * A mask of another size is stretched to the content's, as the library does; its grey level is the
 * mean of its channels.
 */
export async function maskOverlay(content: RawImage, masks: readonly RawImage[], opacity = 0.5): Promise<RawImage> {
  const { width, height } = content;
  const sized = await Promise.all(masks.map((m) => resizeRaw(m, width, height)));
  const out = new Uint8Array(content.data);
  for (let p = 0; p < width * height; p++) {
    let total = 0;
    const tint = [0, 0, 0];
    sized.forEach((m, i) => {
      const w = (m.data[p * 3] + m.data[p * 3 + 1] + m.data[p * 3 + 2]) / 765;
      const colour = maskColour(i);
      for (let c = 0; c < 3; c++) tint[c] += w * colour[c];
      total += w;
    });
    if (total === 0) continue;
    // Overlapping masks mix their colours; the tint's strength is capped at `opacity`.
    const a = opacity * Math.min(1, total);
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(content.data[p * 3 + c] * (1 - a) + (tint[c] / total) * a);
  }
  return { data: out, width, height, channels: 3 };
}

/** A title such as "quality preset · 512x384 · 300 iterations · 4m12s". */
export function sheetTitle(info: { preset?: string; width: number; height: number; iterations: number; seconds?: number }): string {
  const parts = [
    ...(info.preset ? [`${info.preset} preset`] : []),
    `${info.width}x${info.height}`,
    `${info.iterations} iteration${info.iterations === 1 ? '' : 's'}`,
    ...(info.seconds !== undefined ? [formatDuration(info.seconds)] : []),
  ];
  return parts.join(' · ');
}

/** The SVG with the title and labels, the size of the whole sheet and transparent elsewhere. */
function textOverlay(panels: readonly SheetPanel[], layout: SheetLayout, title: string | undefined, background: readonly number[]): string {
  const f = layout.fontSize;
  // Dark text on a light background and vice versa (Rec. 709 luma of the background).
  const luma = (0.2126 * background[0] + 0.7152 * background[1] + 0.0722 * background[2]) / 255;
  const fill = luma > 0.5 ? '#202020' : '#f0f0f0';
  const text = (content: string, x: number, baseline: number, room: number, weight: string) => {
    const fitted = fitText(content, f, room);
    return `<text x="${x}" y="${baseline}" font-size="${fitted.size}" font-weight="${weight}" text-anchor="middle">${escapeXml(fitted.text)}</text>`;
  };
  const items: string[] = [];
  if (title !== undefined) items.push(text(title, layout.width / 2, Math.round(1.4 * f), layout.width - 2 * f, 'bold'));
  panels.forEach((p, i) => {
    const box = layout.panels[i];
    // Labels may use the panel's width plus the margins on both sides, no more: never a neighbour's.
    items.push(text(p.label, box.left + box.width / 2, box.top + box.height + Math.round(1.4 * f), box.width + f, 'normal'));
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}">` +
    `<g font-family="${escapeXml(SVG_FONT_FAMILY)}" fill="${fill}">${items.join('')}</g></svg>`
  );
}

/**
 * Shrink `content` to fit in `room` pixels: first a smaller font (down to 60 % of `size`, where it
 * is still readable next to the other labels), then cut with an ellipsis.
 */
function fitText(content: string, size: number, room: number): { text: string; size: number } {
  const widthAt = (chars: number, s: number) => chars * GLYPH_WIDTH_EM * s;
  if (widthAt(content.length, size) <= room) return { text: content, size };
  const smallest = Math.max(6, 0.6 * size);
  const shrunk = Math.floor((room / widthAt(content.length, 1)) * 10) / 10;
  if (shrunk >= smallest) return { text: content, size: shrunk };
  const chars = Math.max(1, Math.floor(room / widthAt(1, smallest)) - 1);
  return { text: `${content.slice(0, chars).trimEnd()}…`, size: smallest };
}

/** A colour string as [r, g, b], letting sharp parse it so every form sharp accepts works here too. */
async function parseColour(colour: string): Promise<[number, number, number]> {
  try {
    const px = await sharp({ create: { width: 1, height: 1, channels: 3, background: colour } })
      .raw()
      .toBuffer();
    return [px[0], px[1], px[2]];
  } catch {
    throw new OptionError('background', "a CSS colour such as '#ffffff' or 'white'", colour);
  }
}
