/**
 * Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving Color in Neural
 * Artistic Style Transfer", arXiv:1606.05897): either transfer style on luminance only and put the
 * content's chroma back (luminance, combineLuminance), or recolour the style image so its colour
 * statistics match the content's before transfer (matchHistogram). Pure functions on planar RGB.
 */
import type { PlanarImage } from './image.js';

/** BT.601 luma weights, applied to the (gamma-encoded) sRGB values as the paper does. */
const LUMA = [0.299, 0.587, 0.114] as const;

/** The luminance image: every channel = Y = 0.299 R + 0.587 G + 0.114 B. */
export function luminance(img: PlanarImage): PlanarImage {
  const n = img.width * img.height;
  checkPlanar(img);
  const out = new Float32Array(3 * n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const y = LUMA[0] * d[i] + LUMA[1] * d[n + i] + LUMA[2] * d[2 * n + i];
    out[i] = y;
    out[n + i] = y;
    out[2 * n + i] = y;
  }
  return { data: out, width: img.width, height: img.height };
}

/**
 * The luma of `lumaFrom` with the chroma of `colourFrom` (same size), through YIQ: Y from the first,
 * I and Q from the second, back to RGB. Because the I and Q rows of the YIQ matrix each sum to zero,
 * the inverse maps (ΔY, 0, 0) to (ΔY, ΔY, ΔY), so the round trip reduces exactly to
 * rgb = colourFrom + (Y(lumaFrom) − Y(colourFrom)) on every channel (YUV would give the same).
 * The result is clamped to [0,1] unless `clamp` is false.
 */
export function combineLuminance(lumaFrom: PlanarImage, colourFrom: PlanarImage, opts: { clamp?: boolean } = {}): PlanarImage {
  checkPlanar(lumaFrom);
  checkPlanar(colourFrom);
  sameSize(lumaFrom, colourFrom, 'combineLuminance');
  const clamp = opts.clamp ?? true;
  const n = colourFrom.width * colourFrom.height;
  const a = lumaFrom.data;
  const b = colourFrom.data;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const ya = LUMA[0] * a[i] + LUMA[1] * a[n + i] + LUMA[2] * a[2 * n + i];
    const yb = LUMA[0] * b[i] + LUMA[1] * b[n + i] + LUMA[2] * b[2 * n + i];
    const dy = ya - yb;
    for (let c = 0; c < 3; c++) {
      const v = b[c * n + i] + dy;
      out[c * n + i] = clamp ? Math.min(1, Math.max(0, v)) : v;
    }
  }
  return { data: out, width: colourFrom.width, height: colourFrom.height };
}

/**
 * Recolour `source` (the style image) so its colour mean and covariance match `target`'s (the
 * content image): x' = A (x − μs) + μt with A = Σt^½ Σs^-½, both square roots symmetric and taken
 * by eigendecomposition (the paper's "3D colour matching" variant, preferred there over Cholesky
 * because it does not depend on the channel order). Then A Σs Aᵀ = Σt exactly. Eigenvalues of Σs
 * are floored at a tiny fraction of the largest, so a flat or grey style image does not divide by
 * zero (its missing colour directions simply stay flat). Clamped to [0,1] unless `clamp` is false.
 */
export function matchHistogram(source: PlanarImage, target: PlanarImage, opts: { clamp?: boolean } = {}): PlanarImage {
  checkPlanar(source);
  checkPlanar(target);
  const clamp = opts.clamp ?? true;
  const s = colourStats(source);
  const t = colourStats(target);
  const es = symmetricEigen3(s.cov);
  const et = symmetricEigen3(t.cov);
  const floor = Math.max(...es.values) * 1e-6 + 1e-12;
  const invSqrtS = fromEigen(es, (l) => 1 / Math.sqrt(Math.max(l, floor)));
  const sqrtT = fromEigen(et, (l) => Math.sqrt(Math.max(l, 0)));
  const A = mul3(sqrtT, invSqrtS);

  const n = source.width * source.height;
  const d = source.data;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const r = d[i] - s.mean[0];
    const g = d[n + i] - s.mean[1];
    const b = d[2 * n + i] - s.mean[2];
    for (let c = 0; c < 3; c++) {
      const v = A[c * 3] * r + A[c * 3 + 1] * g + A[c * 3 + 2] * b + t.mean[c];
      out[c * n + i] = clamp ? Math.min(1, Math.max(0, v)) : v;
    }
  }
  return { data: out, width: source.width, height: source.height };
}

/** Per-channel mean and the 3×3 colour covariance (row-major, population i.e. divided by N), in float64. */
export function colourStats(img: PlanarImage): { mean: [number, number, number]; cov: Float64Array } {
  checkPlanar(img);
  const n = img.width * img.height;
  const d = img.data;
  const mean: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += d[c * n + i];
    mean[c] = sum / n;
  }
  const cov = new Float64Array(9);
  for (let a = 0; a < 3; a++) {
    for (let b = a; b < 3; b++) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += (d[a * n + i] - mean[a]) * (d[b * n + i] - mean[b]);
      cov[a * 3 + b] = cov[b * 3 + a] = sum / n;
    }
  }
  return { mean, cov };
}

interface Eigen3 {
  values: [number, number, number];
  /** Eigenvectors as columns, row-major 3×3. */
  vectors: Float64Array;
}

/** Eigendecomposition of a symmetric 3×3 matrix by cyclic Jacobi rotations (converges in a handful of sweeps). */
export function symmetricEigen3(m: Float64Array): Eigen3 {
  const a = Float64Array.from(m);
  const v = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
    const scale = a[0] * a[0] + a[4] * a[4] + a[8] * a[8];
    if (off <= 1e-30 * scale || off === 0) break;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const) {
      const apq = a[p * 3 + q];
      if (apq === 0) continue;
      // Rotation angle that zeroes a[p][q] (Golub & Van Loan, symmetric Schur decomposition).
      const theta = (a[q * 3 + q] - a[p * 3 + p]) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        // a ← Jᵀ a J, applied as column then row rotations.
        const akp = a[k * 3 + p];
        const akq = a[k * 3 + q];
        a[k * 3 + p] = c * akp - s * akq;
        a[k * 3 + q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p * 3 + k];
        const aqk = a[q * 3 + k];
        a[p * 3 + k] = c * apk - s * aqk;
        a[q * 3 + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k * 3 + p];
        const vkq = v[k * 3 + q];
        v[k * 3 + p] = c * vkp - s * vkq;
        v[k * 3 + q] = s * vkp + c * vkq;
      }
    }
  }
  return { values: [a[0], a[4], a[8]], vectors: v };
}

/** V · diag(f(λ)) · Vᵀ: a function of a symmetric matrix from its eigendecomposition. */
function fromEigen(e: Eigen3, f: (lambda: number) => number): Float64Array {
  const out = new Float64Array(9);
  const fl = e.values.map(f);
  const v = e.vectors;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let sum = 0;
      for (let k = 0; k < 3; k++) sum += v[i * 3 + k] * fl[k] * v[j * 3 + k];
      out[i * 3 + j] = sum;
    }
  }
  return out;
}

function mul3(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) out[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  }
  return out;
}

function checkPlanar(img: PlanarImage): void {
  if (img.data.length !== 3 * img.width * img.height || img.width < 1 || img.height < 1) {
    throw new RangeError(`planar image data has ${img.data.length} values, expected 3x${img.width}x${img.height}`);
  }
}

function sameSize(a: PlanarImage, b: PlanarImage, what: string): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`${what}: images differ in size (${a.width}x${a.height} vs ${b.width}x${b.height})`);
  }
}
