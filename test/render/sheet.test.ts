import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderSheet, sheetPanels, sheetTitle, writeSheet } from '../../src/render/sheet.js';
import { ImageError, OptionError } from '../../src/errors.js';
import type { RawImage } from '../../src/image/image.js';
import { decodeImage } from '../../src/image/io.js';

function solid(width: number, height: number, rgb: [number, number, number]): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { data, width, height, channels: 3 };
}

function pixel(img: RawImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

/** How many pixels of the rectangle differ from `rgb` by more than 30 in some channel. */
function countDiffering(img: RawImage, x0: number, y0: number, x1: number, y1: number, rgb: number[]): number {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const p = pixel(img, x, y);
      if (p.some((v, c) => Math.abs(v - rgb[c]) > 30)) n++;
    }
  }
  return n;
}

const RED: [number, number, number] = [220, 20, 30];
const GREEN: [number, number, number] = [20, 200, 40];
const BLUE: [number, number, number] = [30, 40, 210];
const WHITE = [255, 255, 255];

// At height 100 the documented layout gives font size / margin F = max(12, round(100/24)) = 12,
// a top band of F (2F with a title) and a label band of 2F.
const F = 12;

describe('renderSheet', () => {
  // 200x100 stays 200 wide; 100x200 becomes 50x100; 300x150 becomes 200x100.
  const panels = [
    { image: solid(200, 100, RED), label: 'content' },
    { image: solid(100, 200, GREEN), label: '' },
    { image: solid(300, 150, BLUE), label: 'result' },
  ];
  const lefts = [F, F + 200 + F, F + 200 + F + 50 + F];
  const widths = [200, 50, 200];

  it('is F + Σ(panel width + F) wide and F + height + 2F high', async () => {
    const sheet = await renderSheet(panels, { height: 100 });
    assert.equal(sheet.width, F + (200 + F) + (50 + F) + (200 + F));
    assert.equal(sheet.height, F + 100 + 2 * F);
    assert.equal(sheet.channels, 3);
    assert.equal(sheet.data.length, sheet.width * sheet.height * 3);
    const titled = await renderSheet(panels, { height: 100, title: 'quality preset' });
    assert.equal(titled.width, sheet.width);
    assert.equal(titled.height, 2 * F + 100 + 2 * F);
  });

  it('puts each panel, scaled to the height, where the layout says, on the background', async () => {
    const sheet = await renderSheet(panels, { height: 100 });
    const colours = [RED, GREEN, BLUE];
    for (let i = 0; i < 3; i++) {
      // Every pixel just inside each corner and at the centre is the panel's colour (±1 for resampling)...
      for (const [x, y] of [
        [lefts[i], F],
        [lefts[i] + widths[i] - 1, F],
        [lefts[i], F + 99],
        [lefts[i] + widths[i] - 1, F + 99],
        [lefts[i] + widths[i] / 2, F + 50],
      ]) {
        const p = pixel(sheet, x, y);
        p.forEach((v, c) => assert.ok(Math.abs(v - colours[i][c]) <= 1, `panel ${i} at (${x},${y}): ${p}`));
      }
      // ...and just outside it is background.
      assert.deepEqual(pixel(sheet, lefts[i] - 1, F + 50), WHITE);
      assert.deepEqual(pixel(sheet, lefts[i] + widths[i], F + 50), WHITE);
      assert.deepEqual(pixel(sheet, lefts[i] + 5, F - 1), WHITE);
    }
  });

  it('draws a label under a labelled panel and leaves the band plain under an unlabelled one', async () => {
    const sheet = await renderSheet(panels, { height: 100 });
    const bandTop = F + 100;
    const band = (i: number) => countDiffering(sheet, lefts[i], bandTop, lefts[i] + widths[i], sheet.height, WHITE);
    assert.ok(band(0) > 40, `"content" label pixels: ${band(0)}`);
    assert.ok(band(2) > 40, `"result" label pixels: ${band(2)}`);
    assert.equal(band(1), 0, 'the empty label draws nothing');
    // Without a title the top margin is plain.
    assert.equal(countDiffering(sheet, 0, 0, sheet.width, F, WHITE), 0);
  });

  it('draws the title in the top band, in a colour that contrasts with the background', async () => {
    const dark = [16, 16, 16];
    const sheet = await renderSheet(panels, { height: 100, title: 'quality preset · 512x384 · 300 iterations', background: '#101010' });
    assert.deepEqual(pixel(sheet, 0, 0), dark);
    const titleBand = countDiffering(sheet, 0, 0, sheet.width, 2 * F, dark);
    assert.ok(titleBand > 100, `title pixels: ${titleBand}`);
    // The text is light on a dark background: the brightest pixel of the band is near white.
    let brightest = 0;
    for (let y = 0; y < 2 * F; y++) for (let x = 0; x < sheet.width; x++) brightest = Math.max(brightest, ...pixel(sheet, x, y));
    assert.ok(brightest > 200, `brightest title pixel: ${brightest}`);
  });

  it('renders text with XML-special characters instead of failing', async () => {
    const sheet = await renderSheet([{ image: solid(40, 40, RED), label: '<b>&"\'\u0001' }], { height: 40, title: 'a < b & c' });
    assert.ok(countDiffering(sheet, 0, 2 * F + 40, sheet.width, sheet.height, WHITE) > 10);
  });

  it('refuses bad options and bad panels with one-line errors', async () => {
    const one = [{ image: solid(10, 10, RED), label: 'x' }];
    await assert.rejects(renderSheet(one, { height: 0 }), (e) => e instanceof OptionError && /sheetHeight/.test(e.message));
    await assert.rejects(renderSheet(one, { height: 99.5 }), OptionError);
    await assert.rejects(renderSheet(one, { background: 'not-a-colour' }), (e) => e instanceof OptionError && /background/.test(e.message) && /not-a-colour/.test(e.message));
    await assert.rejects(renderSheet([]), OptionError);
    const broken = { data: new Uint8Array(10), width: 10, height: 10, channels: 3 as const };
    await assert.rejects(renderSheet([{ image: broken, label: 'style' }]), (e) => e instanceof ImageError && /"style"/.test(e.message) && !e.message.includes('\n'));
  });
});

describe('writeSheet', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sheet-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('encodes by extension and leaves no temporary files', async () => {
    const panels = sheetPanels(solid(64, 48, RED), [solid(48, 48, GREEN)], solid(64, 48, BLUE));
    const png = join(dir, 'sheet.png');
    await writeSheet(png, panels, { height: 48, title: 'test' });
    const back = await decodeImage(png);
    const expected = await renderSheet(panels, { height: 48, title: 'test' });
    assert.equal(back.width, expected.width);
    assert.equal(back.height, expected.height);
    assert.deepEqual(back.data, expected.data, 'PNG is lossless');

    const jpg = join(dir, 'sheet.jpg');
    await writeSheet(jpg, panels, { height: 48, quality: 95 });
    const jpeg = await decodeImage(jpg);
    assert.equal(jpeg.height, F + 48 + 2 * F);
    assert.deepEqual((await readdir(dir)).sort(), ['sheet.jpg', 'sheet.png']);
  });

  it('rejects an unknown extension naming the accepted ones', async () => {
    const target = join(dir, 'sheet.gif');
    await assert.rejects(writeSheet(target, [{ image: solid(8, 8, RED), label: 'x' }]), (e) => e instanceof ImageError && /\.png/.test(e.message) && e.message.includes(target));
  });
});

describe('sheetPanels and sheetTitle', () => {
  it('labels one style "style" and several "style 1", "style 2"', () => {
    const img = solid(2, 2, RED);
    assert.deepEqual(
      sheetPanels(img, [img], img).map((p) => p.label),
      ['content', 'style', 'result'],
    );
    assert.deepEqual(
      sheetPanels(img, [img, img], img).map((p) => p.label),
      ['content', 'style 1', 'style 2', 'result'],
    );
  });
  it('joins preset, size, iterations and time', () => {
    assert.equal(sheetTitle({ preset: 'quality', width: 512, height: 384, iterations: 300, seconds: 252 }), 'quality preset · 512x384 · 300 iterations · 4m12s');
    assert.equal(sheetTitle({ width: 64, height: 64, iterations: 1 }), '64x64 · 1 iteration');
  });
});
