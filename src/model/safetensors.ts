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

export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n < BigInt(bytes.byteLength) && bytes[8] === 0x7b; // '{'
}

/** Parse a safetensors file held in memory. `path` only names the file in error messages. */
export function parseSafetensors(bytes: Uint8Array, path = 'weights file'): SafetensorsFile {
  if (!isSafetensors(bytes)) throw new WeightsError(`${path} is not a safetensors file (bad header)`, path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch {
    throw new WeightsError(`${path} is not a safetensors file (its header is not JSON)`, path);
  }
  const dataStart = 8 + headerLength;
  const tensors: TensorMap = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const width = BYTES[dtype];
    if (!width) throw new WeightsError(`${path}: tensor ${name} has unsupported dtype ${dtype}`, path);
    const count = elementCount(shape);
    const [begin, end] = offsets;
    if (end - begin !== count * width || dataStart + end > bytes.byteLength) {
      throw new WeightsError(`${path} is truncated or corrupt (tensor ${name} lies outside the file)`, path);
    }
    tensors.set(name, { shape, data: decode(bytes, dataStart + begin, count, dtype) });
  }
  return { tensors, metadata };
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
