/**
 * Peak-memory estimate of a run at a given size, checked before starting so that a too-large
 * request is refused with a suggestion instead of the process being killed half-way.
 *
 * Model fitted to `npm run bench` on this design (ORT arena off, VGG-19 to conv5_1):
 * peak RSS ≈ 1.1 GiB fixed (Node, sharp, weights, two sessions) + ~1.7 KB per output pixel
 * (activations kept for the backward pass, the backward pass's own tensors, max-pool indices,
 * optimiser state). Measured: 512² → 1.46 GB, 1024² → 2.73 GB.
 */
import os from 'node:os';
import { RunError } from '../errors.js';

const FIXED_BYTES = 1.1 * 2 ** 30;
const BYTES_PER_PIXEL = 1700;

export function estimatePeakBytes(width: number, height: number): number {
  return FIXED_BYTES + BYTES_PER_PIXEL * width * height;
}

/** Memory this process may use: STYLE_TRANSFER_MEMORY_LIMIT (bytes, or with a K/M/G suffix), else what the OS reports available. */
export function availableBytes(env: NodeJS.ProcessEnv = process.env): number {
  const limit = env.STYLE_TRANSFER_MEMORY_LIMIT;
  if (limit) {
    const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)i?B?$/i.exec(limit.trim());
    if (m) return Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
  }
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  const free = os.freemem() + process.memoryUsage().rss;
  return constrained && constrained > 0 ? Math.min(constrained, free) : free;
}

/** Throws a RunError suggesting a size that fits when width×height would not fit in memory. */
export function checkMemory(width: number, height: number, env: NodeJS.ProcessEnv = process.env): void {
  const need = estimatePeakBytes(width, height);
  const have = availableBytes(env);
  if (need <= have) return;
  const fitsPixels = Math.max(0, (have - FIXED_BYTES) / BYTES_PER_PIXEL);
  const scale = Math.sqrt(fitsPixels / (width * height));
  const suggestion = Math.floor(Math.max(width, height) * scale * 0.95);
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  throw new RunError(`a ${width}x${height} run needs about ${gib(need)} GiB of memory but only ${gib(have)} GiB is available`, 'ERR_MEMORY', {
    option: 'size',
    hint: suggestion >= 16 ? `try {size=${suggestion}} or smaller` : 'free some memory first',
  });
}
