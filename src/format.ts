/**
 * Small text formatters shared by the CLI, the server and the renderers (progress line, sheet title,
 * loss plot, size limits), so a duration, a loss or a size reads the same everywhere.
 */

/**
 * A duration as a terminal would want it: `45s`, `1m23s`, `1h02m`. Rounded to the unit shown
 * (whole seconds below an hour, whole minutes above), so the string never claims more precision
 * than an estimate has. Non-finite or negative input gives `?` rather than `NaNs`.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${pad2(whole % 60)}s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h${pad2(minutes % 60)}m`;
}

/** A loss value in the compact scientific form used throughout (`1.23e+5`): losses span many orders of magnitude. */
export function formatLoss(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toExponential(2);
}

/** Seconds per iteration: two decimals while it is small, fewer once decimals are noise. */
export function formatSecondsPerIteration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  return seconds < 100 ? seconds.toFixed(2) : seconds.toFixed(0);
}

/**
 * Bytes for a message, in binary units named as such (1 MiB = 2^20 bytes): the one definition every
 * size a user reads goes through (downloads, cache, upload limits), matching the GiB of the memory
 * estimate. `formatBytes(20 * 2 ** 20)` is "20.0 MiB".
 */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${formatMebibytes(bytes)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/** Bytes as mebibytes with one decimal, no unit (`76.4`): for "12.3/76.4 MiB" progress. */
export function formatMebibytes(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
