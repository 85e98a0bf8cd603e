/**
 * Small text formatters shared by the CLI's outputs (progress line, sheet title, loss plot), so a
 * duration or a loss reads the same everywhere.
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

/** Bytes as megabytes with one decimal (`12.3`), the unit model downloads are talked about in. */
export function formatMegabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** Fonts for SVG text rendered by librsvg: DejaVu Sans first (Debian's fonts-dejavu-core), then common sans-serifs. */
export const SVG_FONT_FAMILY = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif";

/**
 * Escape text for use inside SVG/XML character data or attribute values. Control characters are
 * dropped: XML 1.0 forbids them, and one in a file name would otherwise make librsvg reject the
 * whole picture.
 */
export function escapeXml(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '').replace(/[&<>"']/g, (c) => XML_ENTITIES[c]);
}

const XML_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
