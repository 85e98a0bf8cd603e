/**
 * A zip reader for untrusted archives (PyTorch checkpoints). Only what is asked for is read: the
 * central directory is parsed up front (zip64 included, as torch.save writes it), every range is
 * checked against the file before it is touched, stored entries are returned as views (no copy),
 * and deflated entries are inflated with fflate under a byte budget for the whole archive, checked
 * against an entry's declared size before inflating and counted while inflating, so a zip bomb
 * fails after at most a chunk's worth of output.
 */
import { Inflate } from 'fflate';

/** Thrown for malformed archives (callers wrap it into a WeightsError with the file's path). */
export class ZipError extends Error {}

export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflated. */
  readonly method: number;
  readonly compressedSize: number;
  /** What the headers say the entry inflates to. */
  readonly size: number;
  readonly localHeaderOffset: number;
}

/**
 * What deflated entries may inflate to, in all: this much plus `INFLATE_RATIO` times the archive's
 * size. torch.save stores entries uncompressed, and float weights compress by a few percent, so an
 * archive that inflates to more than 16 times its size is a bomb, not a checkpoint.
 */
const INFLATE_SLACK = 16 * 2 ** 20;
const INFLATE_RATIO = 16;
/** Compressed bytes fed to the inflater at a time: at most ~1032 times this comes out before the count is checked. */
const INFLATE_CHUNK = 16 * 1024;

export class ZipReader {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** Bytes deflated entries may still inflate to. */
  private inflateBudget: number;
  readonly inflateLimit: number;

  constructor(private readonly bytes: Uint8Array) {
    this.entries = readCentralDirectory(bytes);
    this.inflateLimit = INFLATE_SLACK + INFLATE_RATIO * bytes.byteLength;
    this.inflateBudget = this.inflateLimit;
  }

  /** The entry's bytes (a view into the archive for a stored entry). */
  read(entry: ZipEntry): Uint8Array {
    const start = this.dataStart(entry);
    const raw = this.bytes.subarray(start, start + entry.compressedSize);
    if (entry.method === 0) {
      if (entry.size !== entry.compressedSize) throw new ZipError(`zip entry ${entry.name} is stored with two different sizes`);
      return raw;
    }
    if (entry.method !== 8) throw new ZipError(`zip entry ${entry.name} uses compression method ${entry.method} (only stored and deflated are supported)`);
    if (entry.size > this.inflateBudget) {
      throw new BombError(`zip entry ${entry.name} would inflate to ${entry.size} bytes from ${entry.compressedSize}, over this file's limit of ${this.inflateLimit} bytes`);
    }
    this.inflateBudget -= entry.size;
    return inflateAtMost(raw, entry);
  }

  /** Where an entry's data starts: after its local header, whose own name and extra field lengths count. */
  private dataStart(entry: ZipEntry): number {
    const b = this.bytes;
    const at = entry.localHeaderOffset;
    if (at + 30 > b.byteLength || u32(b, at) !== 0x04034b50) throw new ZipError(`zip entry ${entry.name} lies outside the file`);
    const start = at + 30 + u16(b, at + 26) + u16(b, at + 28);
    if (start + entry.compressedSize > b.byteLength) throw new ZipError(`zip entry ${entry.name} lies outside the file`);
    return start;
  }
}

/** A declared size over the budget: reported as such, not as corruption. */
export class BombError extends ZipError {}

/** Inflate into exactly `entry.size` bytes, failing as soon as the output would exceed it. */
function inflateAtMost(raw: Uint8Array, entry: ZipEntry): Uint8Array {
  const out = new Uint8Array(entry.size);
  let written = 0;
  let ended = false;
  const inflater = new Inflate((chunk, final) => {
    if (written + chunk.length > out.length) throw new ZipError(`zip entry ${entry.name} inflates to more than the ${entry.size} bytes its header declares`);
    out.set(chunk, written);
    written += chunk.length;
    if (final) ended = true;
  });
  for (let at = 0; at < raw.length; at += INFLATE_CHUNK) {
    inflater.push(raw.subarray(at, at + INFLATE_CHUNK), at + INFLATE_CHUNK >= raw.length);
  }
  if (raw.length === 0) inflater.push(raw, true);
  if (!ended || written !== out.length) throw new ZipError(`zip entry ${entry.name} inflates to ${written} bytes, not the ${entry.size} its header declares`);
  return out;
}

function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function u64(b: Uint8Array, at: number): number {
  const v = u32(b, at) + u32(b, at + 4) * 2 ** 32;
  if (!Number.isSafeInteger(v)) throw new ZipError('a zip64 size or offset is too large');
  return v;
}

/** The entries of the central directory, by name. */
function readCentralDirectory(b: Uint8Array): Map<string, ZipEntry> {
  // The end record is the last 22 bytes, unless a comment (at most 65535 bytes) follows it.
  let end = b.byteLength - 22;
  const lowest = Math.max(0, end - 65535);
  while (end >= lowest && u32(b, end) !== 0x06054b50) end--;
  if (end < lowest) throw new ZipError('no zip end record');
  let count = u16(b, end + 10);
  let cdSize = u32(b, end + 12);
  let cdOffset = u32(b, end + 16);
  // zip64: a locator just before the end record points at the zip64 end record.
  if (end >= 20 && u32(b, end - 20) === 0x07064b50) {
    const at = u64(b, end - 12);
    if (at + 56 > b.byteLength || u32(b, at) !== 0x06064b50) throw new ZipError('the zip64 end record lies outside the file');
    count = u64(b, at + 32);
    cdSize = u64(b, at + 40);
    cdOffset = u64(b, at + 48);
  }
  if (cdOffset + cdSize > b.byteLength || count * 46 > cdSize) throw new ZipError('the zip central directory lies outside the file');

  const entries = new Map<string, ZipEntry>();
  const names = new TextDecoder('utf-8');
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cdOffset + cdSize || u32(b, at) !== 0x02014b50) throw new ZipError('the zip central directory is corrupt');
    const flags = u16(b, at + 8);
    const nameLength = u16(b, at + 28);
    const extraLength = u16(b, at + 30);
    const commentLength = u16(b, at + 32);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > cdOffset + cdSize) throw new ZipError('the zip central directory is corrupt');
    const name = names.decode(b.subarray(at + 46, at + 46 + nameLength));
    if (flags & 1) throw new ZipError(`zip entry ${name} is encrypted`);
    let compressedSize = u32(b, at + 20);
    let size = u32(b, at + 24);
    let localHeaderOffset = u32(b, at + 42);
    // Fields that do not fit in 32 bits are 0xFFFFFFFF here and follow, in this order, in the zip64 extra field.
    const extra = findExtra(b, at + 46 + nameLength, extraLength, 0x0001);
    if (extra) {
      let x = extra.start;
      const take = () => {
        if (x + 8 > extra.end) throw new ZipError(`zip entry ${name} has a short zip64 field`);
        const v = u64(b, x);
        x += 8;
        return v;
      };
      if (size === 0xffffffff) size = take();
      if (compressedSize === 0xffffffff) compressedSize = take();
      if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
    }
    entries.set(name, { name, method: u16(b, at + 10), compressedSize, size, localHeaderOffset });
    at = next;
  }
  return entries;
}

function findExtra(b: Uint8Array, start: number, length: number, id: number): { start: number; end: number } | undefined {
  for (let at = start; at + 4 <= start + length;) {
    const size = u16(b, at + 2);
    if (u16(b, at) === id) return { start: at + 4, end: Math.min(at + 4 + size, start + length) };
    at += 4 + size;
  }
  return undefined;
}
