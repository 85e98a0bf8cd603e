/** Byte sizes as people write them ("4G", "512M", "1.5GiB"): the one parser of --memory, STYLE_TRANSFER_MEMORY_LIMIT and serve --max-data-size. */

/** "4G", "512m", "1.5GiB", "10Gi", "3000000000" → bytes (K/M/G/T are powers of 1024); undefined for anything else. */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
  return bytes > 0 ? bytes : undefined;
}
