/**
 * How a later scale starts (src/pipeline/upsample.ts): without detail, the previous result resized;
 * with it, a result equal to the coarse content starts the finer scale as exactly the finer content,
 * and a stylised result keeps its own colours plus only the content's fine detail.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PlanarImage } from '../../src/image/image.js';
import { resizePlanar } from '../../src/image/resample.js';
import { upsampled } from '../../src/pipeline/upsample.js';

function image(width: number, height: number, f: (c: number, x: number, y: number) => number): PlanarImage {
  const data = new Float32Array(3 * width * height);
  for (let c = 0; c < 3; c++) for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = f(c, x, y);
  return { data, width, height };
}

describe('upsampled: the start of a later scale', () => {
  // A content picture with fine detail (a checkerboard over a gradient) at two scales.
  const fine = image(40, 30, (c, x, y) => 0.3 + 0.01 * x + 0.1 * c + ((x + y) % 2 === 0 ? 0.05 : -0.05));
  const coarse = resizePlanar(fine, 28, 21);

  it('is the previous result resized, without detail', () => {
    const result = image(28, 21, (c, x, y) => (c + x * y) / 600);
    assert.deepEqual(upsampled(result, { width: 40, height: 30 }, undefined).data, resizePlanar(result, 40, 30).data);
  });

  it('turns a result still equal to the coarse content into exactly the fine content', () => {
    const start = upsampled(coarse, { width: 40, height: 30 }, { now: fine, before: coarse });
    let worst = 0;
    for (let i = 0; i < fine.data.length; i++) worst = Math.max(worst, Math.abs(start.data[i] - fine.data[i]));
    assert.ok(worst < 1e-6, `off by ${worst}`);
  });

  it('adds only the detail to a stylised result: its resized colours stay, clamped to 0..1', () => {
    const result = image(28, 21, (c) => [0.9, 0.2, 0.98][c]); // flat colours of a painting
    const start = upsampled(result, { width: 40, height: 30 }, { now: fine, before: coarse });
    const blurred = resizePlanar(coarse, 40, 30);
    for (let i = 0; i < start.data.length; i++) {
      const c = Math.floor(i / (40 * 30));
      const expected = Math.min(1, Math.max(0, [0.9, 0.2, 0.98][c] + fine.data[i] - blurred.data[i]));
      assert.ok(Math.abs(start.data[i] - expected) < 1e-6);
    }
    assert.ok(
      start.data.some((v) => v === 1),
      'the bright channel is clamped where detail pushes it over 1',
    );
  });
});
