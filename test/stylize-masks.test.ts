/**
 * Spatial control through the library, end to end: two styles of opposite colours (a red texture
 * and a blue one, as pixels), complementary masks (as pixels, at another size than the content, so
 * they are resized) splitting the output into a left and a right half, colour start off so only the
 * loss moves the colours. Each half must take its own style's colour, and swapping the masks must
 * swap the halves: the masks reach the loss through options, loading, resizing, padding and ρ.
 *
 * On the same Stylizer (weights read once), a tiled run's progress: the tiles of every pass and
 * iteration, and the scale's tile count.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStylizer, type ProgressEvent, type Stylizer } from '../src/index.js';
import type { RawImage } from '../src/image/image.js';
import { seededRandom, sharedImage, sharedWeights } from './helpers.js';

/** A 96x96 texture around one colour: noise stripes, so its Gram has more than a mean. */
function texture(rgb: [number, number, number], seed: number): RawImage {
  const random = seededRandom(seed);
  const data = new Uint8Array(96 * 96 * 3);
  for (let i = 0; i < 96 * 96; i++) {
    const v = 0.6 + 0.4 * Math.sin((i % 96) * 0.7 + Math.floor(i / 96) * 0.3) * random();
    for (let c = 0; c < 3; c++) data[3 * i + c] = Math.round(255 * Math.min(1, rgb[c] * v));
  }
  return { data, width: 96, height: 96, channels: 3 };
}

/** A 56x42 mask (the content runs at 40x30): white on the left half (or the right). */
function half(left: boolean): RawImage {
  const data = new Uint8Array(56 * 42 * 3);
  for (let i = 0; i < 56 * 42; i++) data.fill(i % 56 < 28 === left ? 255 : 0, 3 * i, 3 * i + 3);
  return { data, width: 56, height: 42, channels: 3 };
}

/** Mean of (red − blue) over the columns [x0, x1) of an image, in 0…1 units. */
function redness(img: RawImage, x0: number, x1: number): number {
  let s = 0;
  let n = 0;
  for (let y = 0; y < img.height; y++)
    for (let x = x0; x < x1; x++) {
      const i = 3 * (y * img.width + x);
      s += (img.data[i] - img.data[i + 2]) / 255;
      n++;
    }
  return s / n;
}

let stylizer: Stylizer;
before(async () => {
  stylizer = await createStylizer({ weights: sharedWeights });
});
after(async () => stylizer.close());

describe('spatial control through stylize()', () => {
  const red = texture([1, 0.15, 0.1], 1);
  const blue = texture([0.1, 0.2, 1], 2);
  const run = (masks: RawImage[]) =>
    stylizer.stylize({ content: sharedImage('dog'), style: [red, blue], styleMasks: masks, size: 40, iterations: 30, scaleIterations: 0, colourStart: false });

  it('each half takes its own style, and swapping the masks swaps the halves', async (t) => {
    const a = await run([half(true), half(false)]);
    const b = await run([half(false), half(true)]);
    const w = a.width;
    assert.deepEqual([a.width, a.height, b.width, b.height], [40, 30, 40, 30]);
    // Away from the boundary (its deep-layer positions are shared between the regions).
    const [leftA, rightA] = [redness(a.image, 0, w / 2 - 8), redness(a.image, w / 2 + 8, w)];
    const [leftB, rightB] = [redness(b.image, 0, w / 2 - 8), redness(b.image, w / 2 + 8, w)];
    t.diagnostic(`red − blue: left ${leftA.toFixed(3)}, right ${rightA.toFixed(3)}; swapped: left ${leftB.toFixed(3)}, right ${rightB.toFixed(3)}`);
    assert.ok(leftA - rightA > 0.15, `red left, blue right: left ${leftA.toFixed(3)}, right ${rightA.toFixed(3)}`);
    assert.ok(rightB - leftB > 0.15, `swapped: left ${leftB.toFixed(3)}, right ${rightB.toFixed(3)}`);
  });
});

describe('a tiled run through the library (per-scale engines: src/pipeline/memory.ts)', () => {
  it("reports the tiles of every pass and iteration, and the scale's tile count", async () => {
    const events: ProgressEvent[] = [];
    const result = await stylizer.stylize({
      content: sharedImage('dog'),
      style: sharedImage('matisse'),
      size: 48,
      tile: 32,
      scaleIterations: 0,
      iterations: 2,
      optimizer: 'adam',
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual([result.width, result.height], [48, 36]);
    const scale = events.find((e) => e.type === 'scale');
    // The network sees 48x36 inside its 16 px reflect margin: 80x68, cut at 32 px into 3 x 2 tiles
    // (the last row's 4 px merged into the one above).
    assert.ok(scale?.type === 'scale' && scale.tiles === 6, JSON.stringify(scale));
    const tiles = events.flatMap((e) => (e.type === 'tile' ? [`${e.iteration}:${e.pass}:${e.tile}/${e.tiles}`] : []));
    const pass = (iteration: number, name: string, n: number) => Array.from({ length: n }, (_, k) => `${iteration}:${name}:${k + 1}/${n}`);
    // Targets of the content and the style image (their own shapes), then per Adam iteration (one
    // evaluation each) the two passes, then the output's own loss (reported as iteration 3).
    const targets = tiles.filter((t) => t.includes(':targets:'));
    assert.ok(targets.length >= 8 && tiles.slice(0, targets.length).every((t) => t.startsWith('0:targets:')));
    assert.deepEqual(tiles.slice(targets.length), [
      ...pass(1, 'sums', 6),
      ...pass(1, 'gradient', 6),
      ...pass(2, 'sums', 6),
      ...pass(2, 'gradient', 6),
      ...pass(3, 'sums', 6),
      ...pass(3, 'gradient', 6),
    ]);
  });
});
