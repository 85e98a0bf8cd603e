/**
 * Peak-memory estimate of a run at a given size, checked before starting so that a too-large
 * request is refused with a suggestion instead of the process being killed half-way.
 *
 * Model fitted to `npm run bench` on this design (ORT arena off, VGG-19 to conv5_1):
 * peak RSS ≈ 1.1 GiB fixed (Node, sharp, weights, two sessions) + ~1.7 KB per output pixel
 * (activations kept for the backward pass, the backward pass's own tensors, max-pool indices,
 * optimiser state). Measured: 512² → 1.46 GB, 1024² → 2.73 GB.
 */

export const FIXED_BYTES = 1.1 * 2 ** 30;
export const BYTES_PER_PIXEL = 1700;

export function estimatePeakBytes(width: number, height: number): number {
  return FIXED_BYTES + BYTES_PER_PIXEL * width * height;
}
