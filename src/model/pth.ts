/**
 * A reader for PyTorch checkpoints (`torch.save` of a state dict), without Python and without ever
 * executing anything from the file:
 *
 * - the zip format (PyTorch >= 1.6): `<name>/data.pkl` (the pickle), `<name>/data/<key>` (one raw
 *   little-endian storage per key), `<name>/version`, optionally `<name>/byteorder`;
 * - the legacy format: pickles of a magic number, the protocol version and sys_info, then the main
 *   pickle, then a pickled list of storage keys, then each storage's bytes after an int64 element count.
 *
 * The pickle may only reference tensors and their storages, OrderedDict and plain Python values;
 * anything else (os.system, builtins.eval, a model class...) is refused with a WeightsError.
 *
 * The file is untrusted input in other ways too, and nothing it claims is allocated before it is
 * checked against what the file holds: the zip is read by ./zip.ts (bounded inflation), the pickle
 * by ./pickle.ts (bounded work), and each tensor must lie inside its storage, repeat no element
 * (no zero strides, no more elements than the storage holds), and all tensors together may hold at
 * most twice the elements of the file's storages (two names for one storage happen; more do not).
 */
import { endianness } from 'node:os';
import { firstLine, WeightsError } from '../errors.js';
import { describeValue, dictKey, PickleError, PyCallable, unpickle, type UnpickleHooks } from './pickle.js';
import { halfToFloat, type TensorMap } from './tensors.js';
import { BombError, ZipError, ZipReader } from './zip.js';

type DType = 'f32' | 'f16' | 'bf16' | 'f64' | 'i64' | 'i32' | 'i16' | 'i8' | 'u8' | 'bool';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'f32',
  HalfStorage: 'f16',
  BFloat16Storage: 'bf16',
  DoubleStorage: 'f64',
  LongStorage: 'i64',
  IntStorage: 'i32',
  ShortStorage: 'i16',
  CharStorage: 'i8',
  ByteStorage: 'u8',
  BoolStorage: 'bool',
};

const ELEMENT_SIZE: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, f64: 8, i64: 8, i32: 4, i16: 2, i8: 1, u8: 1, bool: 1 };

/** Tensors of more dimensions than this are refused (PyTorch itself allows at most 64). */
const MAX_RANK = 64;

/** The legacy format's first pickle: torch.serialization's MAGIC_NUMBER. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_MAGIC_BYTES = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** The `torch.FloatStorage`-like class named in a storage's persistent id. */
class StorageType {
  constructor(readonly dtype: DType) {}
}

/** A storage referenced by the pickle; its bytes are attached once the container is read. */
class StorageRef {
  bytes: Uint8Array | undefined;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    /** Legacy storage views: the root storage and the view's element offset into it. */
    readonly root?: StorageRef,
    readonly viewOffset = 0,
    readonly viewSize = 0,
  ) {}
}

/** A tensor as `_rebuild_tensor_v2` describes it, materialised only if its key is kept. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
  /** Marks tensors as valid BUILD targets (the state, e.g. tensor attributes, is dropped). */
  buildState(): void {}
}

export interface PthOptions {
  /** Only materialise tensors whose (flattened) key passes; the rest are never copied. */
  readonly keep?: (key: string) => boolean;
}

/** True for both PyTorch checkpoint formats (a zip archive, or the legacy magic-number pickle). */
export function isPth(bytes: Uint8Array): boolean {
  if (bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return true;
  if (bytes.byteLength < 14 || bytes[0] !== 0x80 || bytes[2] !== 0x8a || bytes[3] !== 0x0a) return false;
  return LEGACY_MAGIC_BYTES.every((b, i) => bytes[4 + i] === b);
}

/** Parse a PyTorch checkpoint held in memory into its tensors (all converted to float32). */
export function parsePth(bytes: Uint8Array, path: string, options: PthOptions = {}): TensorMap {
  try {
    const isZip = bytes[0] === 0x50 && bytes[1] === 0x4b;
    return isZip ? parseZip(bytes, path, options) : parseLegacy(bytes, path, options);
  } catch (err) {
    if (err instanceof WeightsError) throw err;
    if (err instanceof PickleError) throw new WeightsError(`${path} is not a valid PyTorch checkpoint: ${err.message}`, path, { cause: err });
    if (err instanceof BombError) throw new WeightsError(`${path}: ${err.message}`, path, { cause: err });
    if (err instanceof ZipError) throw new WeightsError(`${path} is corrupt: ${err.message}`, path, { cause: err });
    throw new WeightsError(`${path} is truncated or corrupt (${firstLine(err)})`, path, { cause: err });
  }
}

function parseZip(bytes: Uint8Array, path: string, options: PthOptions): TensorMap {
  const zip = new ZipReader(bytes);
  const names = [...zip.entries.keys()];
  const pklName = names.find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (!pklName) throw new WeightsError(`${path} is a zip archive but not a PyTorch checkpoint (no data.pkl)`, path);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const byteorder = zip.entries.get(`${prefix}byteorder`);
  const littleEndian = !byteorder || new TextDecoder().decode(zip.read(byteorder)).trim() !== 'big';

  const storages = new Map<string, StorageRef>();
  const root = unpickle(zip.read(zip.entries.get(pklName)!), checkpointHooks(path, storages)).value;
  const refs = selectTensors(root, path, options);
  // Only the storages of kept tensors are read (inflated, if they are deflated).
  for (const ref of refs.values()) {
    const storage = rootOf(ref.storage);
    const entry = zip.entries.get(`${prefix}data/${storage.key}`);
    if (entry && !storage.bytes) storage.bytes = zip.read(entry);
  }
  return materialise(refs, path, littleEndian);
}

function parseLegacy(bytes: Uint8Array, path: string, options: PthOptions): TensorMap {
  const plain: UnpickleHooks = { findGlobal: (m, n) => refuse(path, m, n) };
  const magic = unpickle(bytes, plain, 0);
  if (magic.value !== LEGACY_MAGIC) throw new WeightsError(`${path} is not a PyTorch checkpoint (bad magic number)`, path);
  const protocol = unpickle(bytes, plain, magic.end);
  if (protocol.value !== 1001) {
    const shown = typeof protocol.value === 'number' ? String(protocol.value) : describeValue(protocol.value);
    throw new WeightsError(`${path}: unsupported legacy checkpoint protocol ${shown}`, path);
  }
  const sysInfo = unpickle(bytes, plain, protocol.end);
  const littleEndian = !(sysInfo.value instanceof Map) || sysInfo.value.get('little_endian') !== false;

  const storages = new Map<string, StorageRef>();
  const main = unpickle(bytes, checkpointHooks(path, storages), sysInfo.end);
  const keys = unpickle(bytes, plain, main.end);
  if (!Array.isArray(keys.value)) throw new WeightsError(`${path} is corrupt (no storage key list after the main pickle)`, path);

  // The storages follow in key order, each as an int64 element count (little-endian) and its bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value) {
    if (typeof key !== 'string') throw new WeightsError(`${path} is corrupt (its storage key list holds ${describeValue(key)})`, path);
    const storage = storages.get(key);
    if (!storage) throw new WeightsError(`${path} is corrupt (storage ${key} is not referenced by the pickle)`, path);
    if (pos + 8 > bytes.byteLength) throw new WeightsError(`${path} is truncated (storage ${String(key)} is missing)`, path);
    const count = Number(view.getBigInt64(pos, true));
    const nbytes = count * ELEMENT_SIZE[storage.dtype];
    pos += 8;
    if (count < 0 || pos + nbytes > bytes.byteLength) throw new WeightsError(`${path} is truncated (storage ${String(key)} ends past the end of the file)`, path);
    storage.bytes = bytes.subarray(pos, pos + nbytes);
    pos += nbytes;
  }
  return materialise(selectTensors(main.value, path, options), path, littleEndian);
}

/** The allow-list: tensors, storages, OrderedDict. Everything else is refused before it is touched. */
function checkpointHooks(path: string, storages: Map<string, StorageRef>): UnpickleHooks {
  const tensorArgs = (args: unknown[]): TensorRef => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef) || !isInt(offset) || !isIntArray(size) || !isIntArray(stride) || size.length !== stride.length || size.length > MAX_RANK) {
      throw new PickleError('malformed tensor record');
    }
    return new TensorRef(storage, offset, size, stride);
  };
  const parameter = (args: unknown[]) => {
    if (!(args[0] instanceof TensorRef)) throw new PickleError('malformed parameter record');
    return args[0];
  };
  return {
    findGlobal(module, name) {
      if (module === 'collections' && name === 'OrderedDict') {
        return new PyCallable('collections.OrderedDict', (args) => {
          const d = new Map<unknown, unknown>();
          // Python 2 pickled an OrderedDict's items as its argument; Python 3 adds them with SETITEMS.
          if (Array.isArray(args[0])) for (const pair of args[0]) if (Array.isArray(pair) && pair.length === 2) d.set(dictKey(pair[0]), pair[1]);
          return d;
        });
      }
      if (module === 'torch._utils') {
        if (name === '_rebuild_tensor_v2' || name === '_rebuild_tensor') return new PyCallable(`torch._utils.${name}`, tensorArgs);
        if (name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state') return new PyCallable(`torch._utils.${name}`, parameter);
      }
      if (module === 'torch' && STORAGE_DTYPES[name]) return new StorageType(STORAGE_DTYPES[name]);
      return refuse(path, module, name);
    },
    persistentLoad(pid) {
      // ('storage', storage_type, key, location, numel[, view_metadata (legacy)])
      if (!Array.isArray(pid) || pid[0] !== 'storage') {
        throw new WeightsError(
          `${path}: refusing to load a checkpoint with a persistent object of type ${Array.isArray(pid) && typeof pid[0] === 'string' ? JSON.stringify(pid[0].slice(0, 40)) : describeValue(Array.isArray(pid) ? pid[0] : pid)} (only tensors are allowed)`,
          path,
        );
      }
      const [, type, rawKey, , , viewMetadata] = pid;
      if (!(type instanceof StorageType)) throw new PickleError('storage record without a storage type');
      if (typeof rawKey !== 'string') throw new PickleError(`a storage key that is not a string but ${describeValue(rawKey)}`);
      const key = rawKey;
      let root = storages.get(key);
      if (!root) {
        root = new StorageRef(key, type.dtype);
        storages.set(key, root);
      }
      if (Array.isArray(viewMetadata)) {
        const [viewKey, offset, size] = viewMetadata;
        if (typeof viewKey !== 'string' || !isInt(offset) || !isInt(size) || offset < 0 || size < 0) throw new PickleError('malformed storage view');
        return new StorageRef(viewKey, type.dtype, root, offset, size);
      }
      return root;
    },
  };
}

function refuse(path: string, module: string, name: string): never {
  throw new WeightsError(`${path}: refusing to load a checkpoint that references ${module}.${name} (only tensors are allowed)`, path);
}

/**
 * Find the state dict (the top-level dict, or one nested under 'state_dict' or 'model') and flatten
 * it to `a.b.c` keys, keeping only tensors.
 */
function selectTensors(root: unknown, path: string, options: PthOptions): Map<string, TensorRef> {
  if (!(root instanceof Map)) throw new WeightsError(`${path} does not hold a state dict (its top level is ${describePy(root)})`, path);
  let dict: Map<unknown, unknown> = root;
  for (const wrapper of ['state_dict', 'model']) {
    const inner = root.get(wrapper);
    if (inner instanceof Map) {
      dict = inner;
      break;
    }
  }
  const out = new Map<string, TensorRef>();
  // The memo lets one dict appear under many keys at many levels (100 keys x 8 levels = 100^8
  // paths in a few kB): each dict is walked once, under the first key that reaches it.
  const walked = new Set<Map<unknown, unknown>>();
  const walk = (d: Map<unknown, unknown>, prefix: string, depth: number) => {
    if (walked.has(d)) return;
    walked.add(d);
    for (const [k, v] of d) {
      const key = prefix + String(k);
      if (v instanceof TensorRef) {
        if (!options.keep || options.keep(key)) out.set(key, v);
      } else if (v instanceof Map && depth < 8) {
        walk(v, `${key}.`, depth + 1);
      }
    }
  };
  walk(dict, '', 0);
  if (out.size === 0 && !options.keep) throw new WeightsError(`${path} holds no tensors`, path);
  return out;
}

function rootOf(storage: StorageRef): StorageRef {
  return storage.root ?? storage;
}

function materialise(refs: Map<string, TensorRef>, path: string, littleEndian: boolean): TensorMap {
  // Check every tensor, and their total, before allocating any of them.
  const counts = new Map<string, number>();
  let total = 0;
  for (const [key, t] of refs) {
    const count = checkTensor(t, key, path);
    counts.set(key, count);
    total += count;
  }
  let held = 0;
  for (const root of new Set([...refs.values()].map((t) => rootOf(t.storage)))) held += Math.floor(root.bytes!.byteLength / ELEMENT_SIZE[root.dtype]);
  if (total > 2 * held) throw new WeightsError(`${path}: its tensors hold ${total} elements in all, more than twice the ${held} its storages hold`, path);
  const out: TensorMap = new Map();
  for (const [key, t] of refs) out.set(key, { shape: t.size, data: readTensor(t, storageBytes(t, key, path), counts.get(key)!, littleEndian) });
  return out;
}

/** The bytes a tensor reads from: its root storage's, or the part of them a legacy storage view covers. */
function storageBytes(t: TensorRef, key: string, path: string): Uint8Array {
  const root = rootOf(t.storage);
  if (!root.bytes) throw new WeightsError(`${path} is truncated or corrupt (the data of tensor ${key} is missing)`, path);
  if (!t.storage.root) return root.bytes;
  const width = ELEMENT_SIZE[t.storage.dtype];
  const { viewOffset, viewSize } = t.storage;
  if ((viewOffset + viewSize) * width > root.bytes.byteLength) throw new WeightsError(`${path} is corrupt (tensor ${key} is a view past the end of its storage)`, path);
  return root.bytes.subarray(viewOffset * width, (viewOffset + viewSize) * width);
}

/** Check a tensor against its storage without allocating anything; returns its element count. */
function checkTensor(t: TensorRef, key: string, path: string): number {
  const available = Math.floor(storageBytes(t, key, path).byteLength / ELEMENT_SIZE[t.storage.dtype]);
  if (t.size.some((d) => d < 0) || t.stride.some((s) => s < 0) || t.offset < 0) {
    throw new WeightsError(`${path}: tensor ${key} has a negative size, stride or offset`, path);
  }
  // A product of safe integers; it may exceed 2^53 (then it is only compared, never allocated).
  const count = t.size.reduce((a, b) => a * b, 1);
  if (count === 0) return 0;
  // A zero stride repeats one element along a dimension: torch's expand() does it, but a stored
  // weight never needs it, and it turns 4 bytes of storage into gigabytes of tensor.
  const zero = t.size.findIndex((d, i) => d > 1 && t.stride[i] === 0);
  if (zero >= 0) throw new WeightsError(`${path}: tensor ${key} has a zero stride in dimension ${zero} (of size ${t.size[zero]}); refusing to repeat its storage`, path);
  if (count > available) throw new WeightsError(`${path}: tensor ${key} has ${count} elements, more than its storage holds (${available})`, path);
  const last = t.offset + t.size.reduce((acc, d, i) => acc + (d - 1) * t.stride[i], 0);
  if (last >= available) {
    throw new WeightsError(`${path} is truncated or corrupt (tensor ${key} needs ${last + 1} elements of its storage, which has ${available})`, path);
  }
  return count;
}

/** Copy a checked (possibly strided) tensor out of its storage into a new Float32Array. */
function readTensor(t: TensorRef, bytes: Uint8Array, count: number, littleEndian: boolean): Float32Array {
  const out = new Float32Array(count);
  if (count === 0) return out;
  const dtype = t.storage.dtype;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isContiguous(t.size, t.stride)) {
    const start = t.offset * ELEMENT_SIZE[dtype];
    if (dtype === 'f32' && littleEndian && endianness() === 'LE') {
      // A byte copy (the storage may sit at an unaligned offset, so no Float32Array view on it).
      new Uint8Array(out.buffer).set(bytes.subarray(start, start + count * 4));
      return out;
    }
    const read = reader(view, dtype, littleEndian);
    for (let i = 0; i < count; i++) out[i] = read(t.offset + i);
    return out;
  }
  // General strides: walk the index space in row-major order like an odometer.
  const read = reader(view, dtype, littleEndian);
  const index = new Array<number>(t.size.length).fill(0);
  let at = t.offset;
  for (let i = 0; i < count; i++) {
    out[i] = read(at);
    for (let d = t.size.length - 1; d >= 0; d--) {
      index[d]++;
      at += t.stride[d];
      if (index[d] < t.size[d]) break;
      at -= t.stride[d] * t.size[d];
      index[d] = 0;
    }
  }
  return out;
}

function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

/** Element i of a storage as a JS number. */
function reader(view: DataView, dtype: DType, le: boolean): (i: number) => number {
  switch (dtype) {
    case 'f32':
      return (i) => view.getFloat32(4 * i, le);
    case 'f64':
      return (i) => view.getFloat64(8 * i, le);
    case 'f16':
      return (i) => halfToFloat(view.getUint16(2 * i, le));
    case 'bf16': {
      const f = new DataView(new ArrayBuffer(4));
      return (i) => {
        f.setUint32(0, view.getUint16(2 * i, le) << 16);
        return f.getFloat32(0);
      };
    }
    case 'i64':
      return (i) => Number(view.getBigInt64(8 * i, le));
    case 'i32':
      return (i) => view.getInt32(4 * i, le);
    case 'i16':
      return (i) => view.getInt16(2 * i, le);
    case 'i8':
      return (i) => view.getInt8(i);
    case 'u8':
    case 'bool':
      return (i) => view.getUint8(i);
  }
}

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

function isIntArray(x: unknown): x is number[] {
  return Array.isArray(x) && x.every(isInt);
}

function describePy(x: unknown): string {
  if (x instanceof TensorRef) return 'a single tensor';
  if (Array.isArray(x)) return 'a list or tuple';
  if (x === null) return 'None';
  return typeof x;
}
