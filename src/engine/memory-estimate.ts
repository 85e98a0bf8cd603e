/**
 * Peak-memory estimate of a run at a given size, checked before starting so that a too-large
 * request is refused with a suggestion instead of the process being killed half-way.
 *
 * Model fitted to `npm run bench` on this design (ORT arena off, VGG-19 to conv5_1):
 * peak RSS ≈ 1.1 GiB fixed (Node, sharp, weights, two sessions) + ~1.7 KB per output pixel
 * (activations kept for the backward pass, the backward pass's own tensors, max-pool indices,
 * optimiser state). Measured: 512² → 1.46 GB, 1024² → 2.73 GB.
 *
 * What grows with options rather than size is added on top: L-BFGS keeps `history` pairs (s, y)
 * of image-sized float32 vectors, 2·history·3·H·W·4 bytes (the fit above was made at history 20,
 * whose share is left in the per-pixel figure); the decoded inputs stay in memory at their own
 * size (3 bytes a pixel), and each style image at its working size as bytes and floats.
 */

export const FIXED_BYTES = 1.1 * 2 ** 30;
export const BYTES_PER_PIXEL = 1700;

/** What a run keeps besides the network's tensors. */
export interface MemoryExtras {
  /** L-BFGS history pairs (0 for Adam). */
  history?: number;
  /** Pixels of every decoded input image (content and styles) at its own size. */
  inputPixels?: number;
  /** Pixels of the style images at their working size. */
  stylePixels?: number;
  /**
   * Extra pixels on each side of the image that the network sees (the mirrored border margin): the
   * network's tensors are that much larger; the optimiser's state is not.
   */
  margin?: number;
}

/** The L-BFGS history the per-pixel figure already covers (the preset's, when it was fitted). */
const FITTED_HISTORY = 20;

export function estimatePeakBytes(width: number, height: number, extras: MemoryExtras = {}): number {
  const margin = extras.margin ?? 0;
  const pixels = (width + 2 * margin) * (height + 2 * margin);
  const history = Math.max(0, (extras.history ?? FITTED_HISTORY) - FITTED_HISTORY);
  return FIXED_BYTES + BYTES_PER_PIXEL * pixels + lbfgsHistoryBytes(history, width, height) + 3 * (extras.inputPixels ?? 0) + 15 * (extras.stylePixels ?? 0);
}

/** Bytes of `history` L-BFGS pairs for a width×height image: 2·history·3·H·W float32. */
export function lbfgsHistoryBytes(history: number, width: number, height: number): number {
  return 2 * history * 3 * width * height * 4;
}
