import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionError } from '../../src/errors.js';
import type { PlanarImage } from '../../src/image/image.js';
import { fitLongSide, fitShortSide, resizePlanar, resizeRaw } from '../../src/image/resize.js';

/** A one-channel-pattern planar image: R = values, G = 2·values, B = −values. */
function planes(width: number, height: number, values: number[]): PlanarImage {
  const n = width * height;
  const data = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    data[i] = values[i];
    data[n + i] = 2 * values[i];
    data[2 * n + i] = -values[i];
  }
  return { data, width, height };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

/**
 * Reference: PyTorch's bilinear align_corners=False written point by point, in float64
 * (source coordinate, clamp negatives to 0, interpolate between floor and floor+1 clamped).
 */
function referenceBilinear(src: number[], inW: number, inH: number, outW: number, outH: number): number[] {
  const out: number[] = [];
  const coord = (i: number, inSize: number, outSize: number) => Math.max(0, ((i + 0.5) * inSize) / outSize - 0.5);
  const at = (x: number, y: number) => src[Math.min(y, inH - 1) * inW + Math.min(x, inW - 1)];
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const sx = coord(x, inW, outW);
      const sy = coord(y, inH, outH);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      out.push((1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1)));
    }
  }
  return out;
}

describe('resizePlanar (bilinear, align_corners=false)', () => {
  it('matches PyTorch values worked by hand in 1-D', () => {
    // torch.nn.functional.interpolate([[0, 1]], size=4, mode='linear', align_corners=False) = [0, .25, .75, 1]
    close(resizePlanar(planes(2, 1, [0, 1]), 4, 1).data.subarray(0, 4), [0, 0.25, 0.75, 1], 1e-7);
    // 3 → 5: source coords 0 (clamped from −0.2), 0.4, 1.0, 1.6, 2.2 (→ clamped to the last sample)
    close(resizePlanar(planes(3, 1, [0, 10, 40]), 5, 1).data.subarray(0, 5), [0, 4, 10, 28, 40], 1e-5);
    // Downsampling 4 → 2 samples at 0.5 and 2.5 (no antialiasing, like antialias=False)
    close(resizePlanar(planes(1, 4, [0, 1, 2, 3]), 1, 2).data.subarray(0, 2), [0.5, 2.5], 1e-7);
  });

  it('matches the point-by-point reference in 2-D, on every channel', () => {
    const values = Array.from({ length: 5 * 4 }, (_, i) => Math.sin(i * 1.7) * 0.5 + 0.5);
    for (const [w, h] of [
      [7, 6],
      [10, 8],
      [5, 4],
      [3, 9],
      [1, 1],
    ]) {
      const out = resizePlanar(planes(5, 4, values), w, h);
      assert.deepEqual([out.width, out.height, out.data.length], [w, h, 3 * w * h]);
      const ref = referenceBilinear(values, 5, 4, w, h);
      const n = w * h;
      close(out.data.subarray(0, n), ref, 1e-6, `R ${w}x${h}`);
      close(
        out.data.subarray(n, 2 * n),
        ref.map((v) => 2 * v),
        2e-6,
        `G ${w}x${h}`,
      );
      close(
        out.data.subarray(2 * n),
        ref.map((v) => -v),
        1e-6,
        `B ${w}x${h}`,
      );
    }
  });

  it('is the identity at the same size and keeps a constant image constant', () => {
    const values = Array.from({ length: 12 }, (_, i) => i / 11);
    close(resizePlanar(planes(4, 3, values), 4, 3).data, planes(4, 3, values).data, 0);
    const flat = resizePlanar(planes(3, 2, new Array(6).fill(0.25)), 11, 7);
    close(flat.data.subarray(0, 77), new Array(77).fill(0.25), 1e-7);
  });

  it('rejects zero or fractional sizes', () => {
    assert.throws(() => resizePlanar(planes(2, 1, [0, 1]), 0, 1), RangeError);
    assert.throws(() => resizePlanar(planes(2, 1, [0, 1]), 2.5, 1), RangeError);
  });
});

describe('resizeRaw (sharp, Lanczos-3, fill)', () => {
  it('resizes to exactly the requested size without keeping the aspect ratio', async () => {
    const w = 64;
    const h = 48;
    const data = new Uint8Array(w * h * 3);
    // A horizontal linear ramp in red, constant green, vertical ramp in blue.
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        data[(y * w + x) * 3] = x * 4;
        data[(y * w + x) * 3 + 1] = 90;
        data[(y * w + x) * 3 + 2] = y * 5;
      }
    }
    const out = await resizeRaw({ data, width: w, height: h, channels: 3 }, 32, 40);
    assert.deepEqual([out.width, out.height, out.channels, out.data.length], [32, 40, 3, 32 * 40 * 3]);
    // Lanczos reproduces linear functions away from the borders: output x samples input (x + 0.5)·2 − 0.5.
    for (let y = 8; y < 32; y++) {
      for (let x = 4; x < 28; x++) {
        const i = (y * 32 + x) * 3;
        assert.ok(Math.abs(out.data[i] - ((x + 0.5) * 2 - 0.5) * 4) <= 2, `red at ${x},${y}: ${out.data[i]}`);
        assert.equal(out.data[i + 1], 90);
        assert.ok(Math.abs(out.data[i + 2] - ((y + 0.5) * (48 / 40) - 0.5) * 5) <= 2, `blue at ${x},${y}: ${out.data[i + 2]}`);
      }
    }
  });

  it('returns the same image when the size already matches', async () => {
    const img = { data: new Uint8Array(12).fill(7), width: 2, height: 2, channels: 3 as const };
    assert.equal(await resizeRaw(img, 2, 2), img);
  });
});

describe('fitLongSide / fitShortSide', () => {
  it('fitLongSide scales the long side and rounds the other to nearest', () => {
    assert.deepEqual(fitLongSide(1024, 768, 512), { width: 512, height: 384 });
    assert.deepEqual(fitLongSide(333, 500, 100), { width: 67, height: 100 }); // 66.6 → 67
    assert.deepEqual(fitLongSide(500, 333, 100), { width: 100, height: 67 });
    assert.deepEqual(fitLongSide(300, 300, 128), { width: 128, height: 128 });
    assert.deepEqual(fitLongSide(800, 600, 1600), { width: 1600, height: 1200 }); // upscaling too
    assert.deepEqual(fitLongSide(1000, 1, 10), { width: 10, height: 1 }); // never 0
  });

  it('fitShortSide truncates the long side like torchvision Resize(int)', () => {
    // torchvision: long = int(size * long / short)
    assert.deepEqual(fitShortSide(1024, 768, 224), { width: 298, height: 224 }); // 298.67 → 298, not 299
    assert.deepEqual(fitShortSide(768, 1024, 224), { width: 224, height: 298 });
    assert.deepEqual(fitShortSide(500, 333, 224), { width: 336, height: 224 }); // 336.34
    assert.deepEqual(fitShortSide(600, 300, 100), { width: 200, height: 100 });
    assert.deepEqual(fitShortSide(640, 640, 224), { width: 224, height: 224 });
    assert.deepEqual(fitShortSide(1, 1000, 10), { width: 10, height: 10000 });
  });

  it('validates the target size as an option and the image size as a RangeError', () => {
    assert.throws(() => fitLongSide(10, 10, 0), { name: 'OptionError', message: 'option long side: expected a positive integer number of pixels, received 0' });
    assert.throws(() => fitShortSide(10, 10, 1.5), OptionError);
    assert.throws(() => fitLongSide(0, 10, 5), RangeError);
  });
});
