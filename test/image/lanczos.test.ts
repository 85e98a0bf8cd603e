import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawImage } from '../../src/image/image.js';
import { decodeImage } from '../../src/image/io.js';
import { resizeLanczos } from '../../src/image/lanczos.js';
import { resizeRaw } from '../../src/image/resize.js';
import { sharedImage } from '../helpers.js';

function meanAbsDiff(a: RawImage, b: RawImage): number {
  assert.equal(a.data.length, b.data.length);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

describe('resizeLanczos (the browser resize)', () => {
  it('matches sharp lanczos3 when shrinking a photo, to within a level on average', async () => {
    const photo = await decodeImage(sharedImage('dog'), { role: 'content', maxPixels: 1e8 });
    for (const [w, h] of [
      [512, 384],
      [97, 61],
      [300, 500],
    ]) {
      const diff = meanAbsDiff(resizeLanczos(photo, w, h), await resizeRaw(photo, w, h));
      assert.ok(diff < 1, `${w}x${h}: mean difference ${diff.toFixed(3)} levels`);
    }
  });

  it('keeps a constant image constant and a horizontal ramp a ramp when enlarging (half-pixel centres)', () => {
    const w = 16;
    const h = 4;
    const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.fill(10 + 10 * x, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const ramp: RawImage = { data, width: w, height: h, channels: 3 };
    const out = resizeLanczos(ramp, 2 * w, 3 * h);
    // Away from the clamped edges, output x samples input coordinate (x + 0.5) / 2 − 0.5.
    for (let x = 6; x < 2 * w - 6; x++) {
      const expected = 10 + 10 * ((x + 0.5) / 2 - 0.5);
      for (let y = 0; y < 3 * h; y++) assert.ok(Math.abs(out.data[(y * 2 * w + x) * 3 + 1] - expected) <= 0.5, `x=${x}: ${out.data[(y * 2 * w + x) * 3 + 1]} vs ${expected}`);
    }
    const flat: RawImage = { data: new Uint8Array(5 * 3 * 3).fill(77), width: 5, height: 3, channels: 3 };
    assert.ok(resizeLanczos(flat, 13, 2).data.every((v) => v === 77));
  });

  it('returns the same image at the same size and refuses empty sizes', () => {
    const img: RawImage = { data: new Uint8Array(12), width: 2, height: 2, channels: 3 };
    assert.equal(resizeLanczos(img, 2, 2), img);
    assert.throws(() => resizeLanczos(img, 0, 2), /positive integers/);
  });
});
