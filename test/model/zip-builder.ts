/**
 * Hand-assembled zip archives and deflate streams for tests: a zip writer that records whatever sizes
 * it is told (so an entry can lie about what it inflates to), and a deflate bomb.
 */

export interface ZipEntrySpec {
  readonly name: string;
  /** The bytes stored in the archive (already deflated when `method` is 8). */
  readonly data: Uint8Array;
  /** 0 stored (the default), 8 deflated. */
  readonly method?: 0 | 8;
  /** The inflated size the headers claim (default: data's length). */
  readonly declaredSize?: number;
}

/** A zip archive (local headers, central directory, end record). CRCs are left at 0. */
export function buildZip(entries: readonly ZipEntrySpec[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const size = e.declaredSize ?? e.data.length;
    const local = new Uint8Array(30 + name.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true);
    l.setUint16(8, e.method ?? 0, true);
    l.setUint32(18, e.data.length, true);
    l.setUint32(22, size, true);
    l.setUint16(26, name.length, true);
    local.set(name, 30);
    const c = new Uint8Array(46 + name.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, e.method ?? 0, true);
    cv.setUint32(20, e.data.length, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    c.set(name, 46);
    parts.push(local, e.data);
    central.push(c);
    offset += local.length + e.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let at = 0;
  for (const p of [...parts, ...central, end]) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A raw deflate stream (one fixed-Huffman block) that inflates to at least `size` zero bytes: a
 * literal 0, then copies of 258 bytes at distance 1, 13 bits each (about 160:1).
 */
export function deflateBomb(size: number): Uint8Array {
  const copies = Math.max(16, Math.ceil((size - 1) / 258));
  const bits = 3 + 8 + copies * 13 + 7;
  const out = new Uint8Array(Math.ceil(bits / 8));
  let pos = 0;
  const bit = (b: number) => {
    if (b) out[pos >> 3] |= 1 << (pos & 7);
    pos++;
  };
  // Huffman codes go most significant bit first; everything else least significant bit first.
  const code = (c: number, n: number) => {
    for (let i = n - 1; i >= 0; i--) bit((c >> i) & 1);
  };
  const copy = () => {
    code(0xc5, 8); // length symbol 285: 258 bytes
    code(0, 5); // distance symbol 0: distance 1
  };
  bit(1); // BFINAL
  bit(1); // BTYPE = 01 (fixed Huffman), low bit first
  bit(0);
  code(0x30, 8); // literal 0
  for (let i = 0; i < 16; i++) copy();
  // From bit 11 on the stream repeats every 8 copies (104 bits = 13 bytes): copy bytes, not bits.
  const end = 11 + copies * 13;
  for (let j = pos >> 3; j < end >> 3; j++) out[j] = out[j - 13];
  out[end >> 3] = out[(end >> 3) - 13] & ((1 << (end & 7)) - 1);
  pos = end;
  code(0, 7); // end of block (256)
  return out;
}
