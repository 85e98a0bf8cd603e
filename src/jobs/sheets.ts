/**
 * The sheet (content | style(s) | result) of a job that ended without one: cancelled, failed, or
 * interrupted by a restart. The inputs can be 40-megapixel pictures, so each is decoded shrunk to
 * the sheet's height (never at full size), and the server renders a sheet once: concurrent
 * requests share one rendering, and only one rendering runs at a time.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import { decodeImageBytes, encodeImageBytes } from '../image/io.js';
import { maskOverlay, renderSheet, sheetPanels } from '../render/sheet.js';
import { readOwnFile } from './job-store.js';

/** Sheets are at most this tall: big enough to judge, small enough to download quickly. */
export const SHEET_HEIGHT = 512;

/** The inputs of a job as a sheet needs them: file names in its folder, and names for messages. */
export interface SheetInputs {
  content: { file: string; name: string };
  styles: { file: string; name: string }[];
  /** One per style when the job has masks: shown over the content panel, one colour per style. */
  masks?: { file: string; name: string }[];
}

/** Render dir/sheet.png from the inputs and dir/result.png, decoding each shrunk; returns the PNG. */
export async function renderPartialSheet(dir: string, inputs: SheetInputs): Promise<Buffer> {
  // Decoded a little larger than the panel so the sheet's own resize still has detail to work with.
  // Read without following a link: the job folder's files are not trusted to be what they say.
  const decode = async (file: string, name: string, role: string) => {
    const bytes = await readOwnFile(join(dir, file));
    if (!bytes) throw new Error(`${file} is missing or not a plain file`);
    return decodeImageBytes(bytes, name, { role, maxSide: 2 * SHEET_HEIGHT });
  };
  const result = await decode('result.png', 'result.png', 'result');
  let content = await decode(inputs.content.file, inputs.content.name, 'content image');
  const styles = [];
  for (const s of inputs.styles) styles.push(await decode(s.file, s.name, 'style image'));
  if (inputs.masks) {
    const masks = [];
    for (const m of inputs.masks) masks.push(await decode(m.file, m.name, 'style mask'));
    content = await maskOverlay(content, masks);
  }
  const sheet = await renderSheet(sheetPanels(content, styles, result), { height: Math.min(SHEET_HEIGHT, Math.max(128, result.height)) });
  const png = await encodeImageBytes(sheet, 'png');
  await writeFileAtomic(join(dir, 'sheet.png'), png);
  return png;
}

/** One rendering per job at a time, shared by every request that asks meanwhile, and one job after another. */
export class SheetRenderer {
  private readonly inFlight = new Map<string, Promise<Buffer>>();
  private queue: Promise<unknown> = Promise.resolve();

  render(id: string, dir: string, inputs: SheetInputs): Promise<Buffer> {
    let rendering = this.inFlight.get(id);
    if (!rendering) {
      rendering = this.queue.catch(() => {}).then(() => renderPartialSheet(dir, inputs));
      this.queue = rendering;
      this.inFlight.set(id, rendering);
      void rendering.then(
        () => this.inFlight.delete(id),
        () => this.inFlight.delete(id),
      );
    }
    return rendering;
  }
}
