import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { colourStats, combineLuminance, luminance, matchHistogram, symmetricEigen3 } from '../../src/image/colour.js';
import type { PlanarImage } from '../../src/image/image.js';
import { seededRandom } from '../../src/random.js';

/** Deterministic pseudo-random numbers so failures reproduce. */
const rng = seededRandom;

/** An image whose colours are mean + M·(u − ½) for uniform u: correlated channels, inside [0,1] by construction. */
function randomImage(width: number, height: number, seed: number, mean: number[], mix: number[][]): PlanarImage {
  const next = rng(seed);
  const n = width * height;
  const data = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const u = [next() - 0.5, next() - 0.5, next() - 0.5];
    for (let c = 0; c < 3; c++) data[c * n + i] = mean[c] + mix[c][0] * u[0] + mix[c][1] * u[1] + mix[c][2] * u[2];
  }
  return { data, width, height };
}

/** Straightforward float64 mean and covariance, written independently of the code under test. */
function stats(img: PlanarImage): { mean: number[]; cov: number[][] } {
  const n = img.width * img.height;
  const ch = (c: number, i: number) => img.data[c * n + i];
  const mean = [0, 1, 2].map((c) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += ch(c, i);
    return s / n;
  });
  const cov = [0, 1, 2].map((a) =>
    [0, 1, 2].map((b) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (ch(a, i) - mean[a]) * (ch(b, i) - mean[b]);
      return s / n;
    }),
  );
  return { mean, cov };
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

function pixel(r: number, g: number, b: number): PlanarImage {
  return { data: Float32Array.from([r, g, b]), width: 1, height: 1 };
}

describe('luminance', () => {
  it('puts BT.601 luma in all three channels', () => {
    const y = luminance({ data: Float32Array.from([1, 0.2, 0, 0.4, 0, 0.6]), width: 2, height: 1 });
    // pixel 0 = (1, 0, 0) → 0.299; pixel 1 = (0.2, 0.4, 0.6) → 0.0598 + 0.2348 + 0.0684 = 0.363
    for (let c = 0; c < 3; c++) {
      close(y.data[c * 2], 0.299, 1e-7, `pixel 0 channel ${c}`);
      close(y.data[c * 2 + 1], 0.363, 1e-7, `pixel 1 channel ${c}`);
    }
    close(luminance(pixel(1, 1, 1)).data[0], 1, 1e-7, 'white');
  });
});

describe('combineLuminance', () => {
  // The FCC YIQ matrix, and its inverse computed here numerically (cofactors), as an independent reference.
  const M = [
    [0.299, 0.587, 0.114],
    [0.595716, -0.274453, -0.321263],
    [0.211456, -0.522591, 0.311135],
  ];
  const inv = (() => {
    const [[a, b, c], [d, e, f], [g, h, i]] = M;
    const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    return [
      [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
      [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
      [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
    ];
  })();
  const yiq = (p: number[]) => M.map((row) => row[0] * p[0] + row[1] * p[1] + row[2] * p[2]);

  it('takes Y from the first image and I, Q from the second (YIQ round trip)', () => {
    const a = randomImage(
      8,
      8,
      1,
      [0.5, 0.5, 0.5],
      [
        [0.6, 0.1, 0],
        [0, 0.6, 0.2],
        [0.1, 0, 0.6],
      ],
    );
    const b = randomImage(
      8,
      8,
      2,
      [0.4, 0.5, 0.6],
      [
        [0.5, 0, 0.1],
        [0.2, 0.5, 0],
        [0, 0.1, 0.5],
      ],
    );
    const out = combineLuminance(a, b, { clamp: false });
    const n = 64;
    for (let i = 0; i < n; i++) {
      const ya = yiq([a.data[i], a.data[n + i], a.data[2 * n + i]])[0];
      const [, iB, qB] = yiq([b.data[i], b.data[n + i], b.data[2 * n + i]]);
      const expected = inv.map((row) => row[0] * ya + row[1] * iB + row[2] * qB);
      for (let c = 0; c < 3; c++) close(out.data[c * n + i], expected[c], 1e-5, `pixel ${i} channel ${c}`);
    }
    // The result's luma is the first image's.
    const yOut = luminance(out);
    const yA = luminance(a);
    for (let i = 0; i < n; i++) close(yOut.data[i], yA.data[i], 1e-6, `luma ${i}`);
  });

  it('is the identity when both images are the same, and clamps by default', () => {
    const a = randomImage(
      4,
      4,
      3,
      [0.5, 0.5, 0.5],
      [
        [0.8, 0, 0],
        [0, 0.8, 0],
        [0, 0, 0.8],
      ],
    );
    const same = combineLuminance(a, a);
    a.data.forEach((v, i) => close(same.data[i], v, 1e-7, `index ${i}`));
    // White luma on a saturated blue: (0,0,1) + (1 − 0.114) leaves the [0,1] range unless clamped.
    assert.deepEqual(Array.from(combineLuminance(pixel(1, 1, 1), pixel(0, 0, 1)).data), [0.8859999775886536, 0.8859999775886536, 1]);
    const unclamped = combineLuminance(pixel(1, 1, 1), pixel(0, 0, 1), { clamp: false }).data;
    close(unclamped[2], 1.886, 1e-6, 'unclamped blue');
  });

  it('rejects images of different sizes', () => {
    assert.throws(
      () =>
        combineLuminance(
          pixel(0, 0, 0),
          randomImage(
            2,
            1,
            4,
            [0.5, 0.5, 0.5],
            [
              [0, 0, 0],
              [0, 0, 0],
              [0, 0, 0],
            ],
          ),
        ),
      RangeError,
    );
  });
});

describe('matchHistogram', () => {
  const style = randomImage(
    40,
    30,
    11,
    [0.7, 0.4, 0.2],
    [
      [0.3, 0.1, 0.05],
      [0.05, 0.2, 0.02],
      [0.1, 0.02, 0.15],
    ],
  );
  const content = randomImage(
    32,
    32,
    12,
    [0.35, 0.5, 0.6],
    [
      [0.2, 0.15, 0],
      [0.1, 0.25, 0.05],
      [0, 0.1, 0.3],
    ],
  );

  it('gives the source the target colour mean and covariance', () => {
    const matched = matchHistogram(style, content, { clamp: false });
    assert.deepEqual([matched.width, matched.height], [40, 30]);
    const got = stats(matched);
    const want = stats(content);
    for (let a = 0; a < 3; a++) {
      close(got.mean[a], want.mean[a], 1e-5, `mean ${a}`);
      for (let b = 0; b < 3; b++) close(got.cov[a][b], want.cov[a][b], 1e-6, `cov ${a},${b}`);
    }
    // Before matching they were clearly different (so the check above means something).
    assert.ok(Math.abs(stats(style).mean[0] - want.mean[0]) > 0.2);
  });

  it('is the identity when source and target are the same image', () => {
    const same = matchHistogram(style, style, { clamp: false });
    style.data.forEach((v, i) => close(same.data[i], v, 1e-5, `index ${i}`));
  });

  it('clamps to [0,1] by default and survives a grey (rank-1) source', () => {
    const bright = randomImage(
      10,
      10,
      13,
      [0.9, 0.9, 0.9],
      [
        [0.15, 0, 0],
        [0, 0.15, 0],
        [0, 0, 0.15],
      ],
    );
    const dark = randomImage(
      10,
      10,
      14,
      [0.1, 0.1, 0.1],
      [
        [0.5, 0.3, 0],
        [0, 0.5, 0.3],
        [0.3, 0, 0.5],
      ],
    );
    const clamped = matchHistogram(dark, bright);
    assert.ok(clamped.data.every((v) => v >= 0 && v <= 1));
    const grey = luminance(dark); // R = G = B: two colour directions have zero variance
    const fromGrey = matchHistogram(grey, bright, { clamp: false });
    assert.ok(fromGrey.data.every(Number.isFinite));
    const m = stats(fromGrey).mean;
    const t = stats(bright).mean;
    for (let c = 0; c < 3; c++) close(m[c], t[c], 1e-3, `grey source mean ${c}`);
  });
});

describe('colourStats and symmetricEigen3', () => {
  it('colourStats agrees with the plain reference', () => {
    const img = randomImage(
      9,
      7,
      21,
      [0.5, 0.4, 0.3],
      [
        [0.3, 0.1, 0],
        [0.1, 0.3, 0.1],
        [0, 0.1, 0.3],
      ],
    );
    const a = colourStats(img);
    const b = stats(img);
    for (let i = 0; i < 3; i++) {
      close(a.mean[i], b.mean[i], 1e-12, `mean ${i}`);
      for (let j = 0; j < 3; j++) close(a.cov[i * 3 + j], b.cov[i][j], 1e-12, `cov ${i},${j}`);
    }
  });

  it('decomposes a symmetric matrix into orthonormal eigenvectors that rebuild it', () => {
    const m = Float64Array.from([4, 1, -2, 1, 3, 0.5, -2, 0.5, 5]);
    const { values, vectors: v } = symmetricEigen3(m);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let rebuilt = 0;
        let gram = 0;
        for (let k = 0; k < 3; k++) {
          rebuilt += v[i * 3 + k] * values[k] * v[j * 3 + k];
          gram += v[k * 3 + i] * v[k * 3 + j];
        }
        close(rebuilt, m[i * 3 + j], 1e-12, `V·Λ·Vᵀ ${i},${j}`);
        close(gram, i === j ? 1 : 0, 1e-12, `Vᵀ·V ${i},${j}`);
      }
    }
    // Trace is the sum of the eigenvalues.
    close(values[0] + values[1] + values[2], 12, 1e-12, 'trace');
  });
});
