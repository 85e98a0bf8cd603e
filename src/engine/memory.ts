/**
 * The memory check in Node: the estimate of memory-estimate.ts against what the OS (or
 * STYLE_TRANSFER_MEMORY_LIMIT) says this process may use.
 */
import os from 'node:os';
import { RunError } from '../errors.js';
import { estimatePeakBytes, FIXED_BYTES, type MemoryExtras } from './memory-estimate.js';

export { estimatePeakBytes, lbfgsHistoryBytes, type MemoryExtras } from './memory-estimate.js';

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
export function checkMemory(width: number, height: number, env: NodeJS.ProcessEnv = process.env, extras: MemoryExtras = {}): void {
  const need = estimatePeakBytes(width, height, extras);
  const have = availableBytes(env);
  if (need <= have) return;
  // The size that fits, with the same extras per output pixel (history and styles scale with it).
  const perPixel = (need - FIXED_BYTES - 3 * (extras.inputPixels ?? 0)) / (width * height);
  const fitsPixels = Math.max(0, (have - FIXED_BYTES - 3 * (extras.inputPixels ?? 0)) / perPixel);
  const scale = Math.sqrt(fitsPixels / (width * height));
  const suggestion = Math.floor(Math.max(width, height) * scale * 0.95);
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  throw new RunError(`a ${width}x${height} run needs about ${gib(need)} GiB of memory but only ${gib(have)} GiB is available`, 'ERR_MEMORY', {
    option: 'size',
    hint: suggestion >= 16 ? `try {size=${suggestion}} or smaller` : 'free some memory first',
  });
}
