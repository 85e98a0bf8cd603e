/** SVG text helpers for the renderers (sheet titles, loss plot labels), rasterised by librsvg through sharp. */

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
