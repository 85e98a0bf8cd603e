/**
 * How large a run the browser can take. The peak-memory estimate of an untiled run by Node's memory
 * model (src/engine/memory.ts estimatePeakBytes) is compared with a browser budget: the engine's tensors live in one
 * wasm32 memory, which cannot grow past 4 GiB, and a tab usually gets less than the machine has.
 * We take three quarters of the wasm32 limit (growing a linear memory needs a contiguous block, and
 * copies of the model and of the images sit outside it too), and at most half of what
 * navigator.deviceMemory reports (a rounded-down hint Chrome gives, capped at 8 GB).
 */
import { estimatePeakBytes, type MemoryExtras } from '../engine/memory.js';

const WASM32_BYTES = 4 * 2 ** 30;

export function browserBudgetBytes(deviceMemoryGiB: number | undefined): number {
  const wasm = 0.75 * WASM32_BYTES;
  return deviceMemoryGiB && deviceMemoryGiB > 0 ? Math.min(wasm, (deviceMemoryGiB / 2) * 2 ** 30) : wasm;
}

/** Whether a width×height run fits the budget. */
export function fitsBudget(width: number, height: number, budget: number, extras: MemoryExtras = {}): boolean {
  return estimatePeakBytes(width, height, extras) <= budget;
}

/** The largest long side (a multiple of 16) whose run fits the budget, for an image of this aspect ratio (long/short ≥ 1). */
export function largestLongSide(aspect: number, budget: number, extras: MemoryExtras = {}): number {
  let long = 16;
  while (fitsBudget(long + 16, Math.max(1, Math.round((long + 16) / aspect)), budget, extras)) long += 16;
  return long;
}

/** The one-line refusal for a size that does not fit, naming the size that would. */
export function budgetMessage(width: number, height: number, budget: number, extras: MemoryExtras = {}): string {
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  const aspect = Math.max(width, height) / Math.min(width, height);
  return (
    `a ${width}x${height} run needs about ${gib(estimatePeakBytes(width, height, extras))} GiB, more than this browser can give it (${gib(budget)} GiB); ` +
    `choose ${largestLongSide(aspect, budget, extras)} px or less, or run it on the server`
  );
}
