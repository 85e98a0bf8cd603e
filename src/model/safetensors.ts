/**
 * A reader for the safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__?},
 * then the raw little-endian tensor bytes. Only what VGG weights use is supported: F32, F16, BF16, F64
 * (all returned as Float32Array).
 */
import { WeightsError } from '../errors.js';
import { elementCount, halfToFloat, type NamedTensor, type TensorMap } from './tensors.js';

export interface SafetensorsFile {
  readonly tensors: TensorMap;
  readonly metadata: Record<string, string>;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** The format's own limit on the JSON header (the reference implementation refuses more). */
const MAX_HEADER_BYTES = 100_000_000;

/** An 8-byte length, then a JSON object: `{` at byte 8 (whether the length fits is checked when parsing). */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n > 0n && bytes[8] === 0x7b; // '{'
}

/** One tensor's entry in the header, checked. */
interface TensorEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Parse a safetensors file held in memory. `path` only names the file in error messages. The header
 * is untrusted: its structure is checked (objects, lists of non-negative integers, offsets that
 * agree with the shapes, lie inside the file and do not overlap) before any tensor is allocated.
 */
export function parseSafetensors(bytes: Uint8Array, path = 'weights file'): SafetensorsFile {
  if (!isSafetensors(bytes)) throw new WeightsError(`${path} is not a safetensors file (bad header)`, path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(bytes.byteLength - 8)) {
    throw new WeightsError(`${path} is truncated: its header length (${declared} bytes) runs past the end of the file (${bytes.byteLength} bytes)`, path);
  }
  const headerLength = Number(declared);
  if (headerLength > MAX_HEADER_BYTES)
    throw new WeightsError(`${path} is not a safetensors file (its header is ${headerLength} bytes, over the format's limit of ${MAX_HEADER_BYTES})`, path);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new WeightsError(`${path} is not a safetensors file (its header is not JSON)`, path);
  }
  if (!isObject(header)) throw new WeightsError(`${path} is not a safetensors file (its header is not a JSON object)`, path);
  const corrupt = (what: string) => new WeightsError(`${path} is corrupt: ${what}`, path);

  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const entries: TensorEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(entry, corrupt);
      continue;
    }
    if (!isObject(entry)) throw corrupt(`the header's entry for ${name} is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !BYTES[dtype]) {
      throw new WeightsError(`${path}: tensor ${name} has unsupported dtype ${typeof dtype === 'string' ? dtype : JSON.stringify(dtype)?.slice(0, 40)}`, path);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) throw corrupt(`tensor ${name}: shape is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw corrupt(`tensor ${name}: data_offsets is not a list of two byte offsets`);
    }
    const [begin, end] = offsets as [number, number];
    // May exceed 2^53 for an absurd shape; then it cannot equal the span below.
    const need = elementCount(shape) * BYTES[dtype];
    if (end - begin !== need) throw corrupt(`tensor ${name}: data_offsets span ${end - begin} bytes, its shape and dtype need ${need}`);
    if (end > dataLength) throw new WeightsError(`${path} is truncated or corrupt (tensor ${name} lies outside the file)`, path);
    entries.push({ name, dtype, shape, begin, end });
  }
  // Two tensors sharing bytes would alias each other's data; the format forbids it.
  const byStart = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1, widest = byStart[0]; i < byStart.length; i++) {
    const e = byStart[i];
    if (e.begin < widest.end) throw corrupt(`tensors ${widest.name} and ${e.name} overlap (bytes ${widest.begin}–${widest.end} and ${e.begin}–${e.end})`);
    if (e.end > widest.end) widest = e;
  }

  const tensors: TensorMap = new Map();
  for (const e of entries) tensors.set(e.name, { shape: e.shape, data: decode(bytes, dataStart + e.begin, elementCount(e.shape), e.dtype) });
  return { tensors, metadata };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** `__metadata__` is a string-to-string map (the convention's mean and std are read from it). */
function checkMetadata(entry: unknown, corrupt: (what: string) => WeightsError): Record<string, string> {
  if (entry === null || entry === undefined) return {};
  if (!isObject(entry)) throw corrupt('__metadata__ is not an object of strings');
  for (const [key, value] of Object.entries(entry)) if (typeof value !== 'string') throw corrupt(`__metadata__.${key} is not a string`);
  return entry as Record<string, string>;
}

function decode(bytes: Uint8Array, offset: number, count: number, dtype: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * BYTES[dtype]);
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === 'F64') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  } else if (dtype === 'BF16') {
    const f = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < count; i++) {
      f.setUint32(0, view.getUint16(2 * i, true) << 16);
      out[i] = f.getFloat32(0);
    }
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

/** Serialise tensors as safetensors (used for the compact conv-only cache file and by tests). */
export function serializeSafetensors(tensors: Iterable<[string, NamedTensor]>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = [...tensors];
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of entries) {
    const size = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' '; // align tensor data to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of entries) {
    const le = new DataView(out.buffer, at, t.data.length * 4);
    for (let i = 0; i < t.data.length; i++) le.setFloat32(4 * i, t.data[i], true);
    at += t.data.length * 4;
  }
  return out;
}
