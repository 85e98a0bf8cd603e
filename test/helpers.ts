/** Shared test helpers: paths to ../shared, seeded randomness, error measures. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const sharedDir = process.env.STYLE_TRANSFER_SHARED ?? path.resolve(repoRoot, '../shared');
export const sharedWeights = path.join(sharedDir, 'weights/vgg19-caffe-q8.safetensors');
export const sharedImage = (name: 'dog' | 'matisse' | 'landscape' | 'monet') => path.join(sharedDir, 'images', `${name}.jpg`);

export { seededRandom } from '../src/random.js';

/** Normal(0, 1) samples from a uniform source (Box–Muller). */
export function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** |a − b| / |b| for scalars. */
export function relativeError(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), Number.MIN_VALUE);
}

/** ‖a − b‖₂ / ‖b‖₂ */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * max_i |a_i − b_i| / max_i |b_i|: the largest elementwise error relative to the gradient's scale.
 * (Elementwise relative error is meaningless where the true value is ~0, e.g. at dead ReLUs.)
 */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return worst / scale;
}
