/**
 * Booby-trapped weights files (a checkpoint from the internet is untrusted input): each is crafted
 * here, byte by byte, and must fail with one line naming the file and the problem, without
 * allocating what the file asks for and without doing the work it asks for.
 *
 * The work is checked by what happens, not by a clock: each refusal comes from the check that
 * stops the attack before the work (the message names it: "would inflate to … over this file's
 * limit", "an integer of 200000 bytes", "more work than its size allows"), and the DAG that would
 * be walked 100^8 times is also built small enough to count its walks by the tensors it yields.
 * (These cases used to assert under a second of CPU each, which a loaded machine can break.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WeightsError } from '../../src/errors.js';
import { parsePth } from '../../src/model/pth.js';
import { parseSafetensors, serializeSafetensors } from '../../src/model/safetensors.js';
import { parseWeightsBytes } from '../../src/model/weights-file.js';
import { PickleBuilder } from './pickle-builder.js';
import { buildZip, deflateBomb } from './zip-builder.js';

/** What the file may make this process allocate before it is refused: far below the gigabytes the traps ask for. */
const ALLOCATION_ALLOWANCE = 64 << 20;

/**
 * Runs `fn`, which must throw a one-line WeightsError matching `pattern`, while this process's
 * ArrayBuffer memory grows by less than ALLOCATION_ALLOWANCE (the traps ask for 1 GB and more).
 */
async function refused(fn: () => unknown, pattern: RegExp) {
  const before = process.memoryUsage().arrayBuffers;
  let error: unknown;
  try {
    await fn();
  } catch (err) {
    error = err;
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(error instanceof WeightsError, `expected a WeightsError, got ${error === undefined ? 'success' : String(error)}`);
  assert.ok(!error.message.includes('\n'), `message is not one line: ${error.message}`);
  assert.match(error.message, pattern);
  assert.ok(grown < ALLOCATION_ALLOWANCE, `allocated ${(grown / 2 ** 20).toFixed(0)} MiB of ArrayBuffers`);
}

/** A torch-style zip checkpoint: data.pkl plus raw storages, all stored (as torch.save writes them). */
function checkpoint(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  return buildZip([
    { name: 'archive/data.pkl', data: pkl },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: new TextEncoder().encode('3\n') },
  ]);
}

/** {'w': tensor} */
function oneTensor(numel: number, size: number[], stride: number[], offset = 0): Uint8Array {
  return new PickleBuilder().proto(2).emptyDict().mark().str('w').tensor('FloatStorage', '0', numel, offset, size, stride).setItems().stop().bytes();
}

// ---- finding 12: PyTorch checkpoints --------------------------------------------------------

test('a 527-byte-style checkpoint whose tensor has stride 0 (1.16 GB of one float) is refused', async () => {
  const bytes = checkpoint(oneTensor(1, [290_000_000], [0]), { '0': new Uint8Array(4) });
  assert.ok(bytes.length < 1000, `${bytes.length} bytes`);
  await refused(() => parsePth(bytes, 'evil.pth'), /^evil\.pth: tensor w has a zero stride/);
});

test('a tensor with more elements than its storage (overlapping strides) is refused before allocating', async () => {
  // 30000 x 30000 elements (3.6 GB as float32) read from a storage of 60000 floats.
  const bytes = checkpoint(oneTensor(60_000, [30_000, 30_000], [1, 1]), { '0': new Uint8Array(240_000) });
  await refused(() => parsePth(bytes, 'evil.pth'), /^evil\.pth: tensor w has 900000000 elements, more than its storage holds \(60000\)$/);
});

test('sizes whose product overflows are refused', async () => {
  const bytes = checkpoint(oneTensor(16, [2 ** 40, 2 ** 40, 0], [1, 1, 1]), { '0': new Uint8Array(64) });
  // A zero dimension makes it empty, which is harmless; without it the product is astronomically large.
  assert.deepEqual(parsePth(bytes, 'empty.pth').get('w')!.data.length, 0);
  const huge = checkpoint(oneTensor(16, [2 ** 40, 2 ** 40], [1, 1]), { '0': new Uint8Array(64) });
  await refused(() => parsePth(huge, 'evil.pth'), /^evil\.pth: tensor w has 1\.2\d+e\+24 elements, more than its storage holds \(16\)$/);
});

test('many tensors reading the same storage cannot multiply it', async () => {
  // 200 tensors, each the whole 256 KB storage: 52 MB of output from a 260 KB file.
  const p = new PickleBuilder().proto(2).emptyDict().mark();
  for (let i = 0; i < 200; i++) p.str(`w${i}`).tensor('FloatStorage', '0', 65_536, 0, [65_536], [1]);
  const bytes = checkpoint(p.setItems().stop().bytes(), { '0': new Uint8Array(262_144) });
  await refused(() => parsePth(bytes, 'evil.pth'), /^evil\.pth: its tensors hold 13107200 elements in all, more than twice the 65536 its storages hold$/);
});

test('a zip bomb that declares its size (1 GB from 6.8 MB) is refused before inflating', async () => {
  const bomb = deflateBomb(1 << 30);
  const bytes = buildZip([
    { name: 'archive/data.pkl', data: oneTensor(1, [1], [1]) },
    { name: 'archive/data/0', data: bomb, method: 8, declaredSize: 1 + Math.ceil(((1 << 30) - 1) / 258) * 258 },
  ]);
  await refused(() => parsePth(bytes, 'bomb.pth'), /^bomb\.pth: zip entry archive\/data\/0 would inflate to 1073742079 bytes from 6762913, over this file's limit of \d+ bytes$/);
});

test('a zip bomb that lies about its size (4 bytes declared, 1 GB inside) is stopped while inflating', async () => {
  const bytes = buildZip([
    { name: 'archive/data.pkl', data: oneTensor(1, [1], [1]) },
    { name: 'archive/data/0', data: deflateBomb(1 << 30), method: 8, declaredSize: 4 },
  ]);
  await refused(() => parsePth(bytes, 'bomb.pth'), /^bomb\.pth is corrupt: zip entry archive\/data\/0 inflates to more than the 4 bytes its header declares$/);
});

test('a deflated data.pkl bomb is refused too', async () => {
  const bytes = buildZip([{ name: 'archive/data.pkl', data: deflateBomb(1 << 30), method: 8, declaredSize: 64 }]);
  await refused(() => parsePth(bytes, 'bomb.pth'), /^bomb\.pth is corrupt: zip entry archive\/data\.pkl inflates to more than the 64 bytes/);
});

test('honest deflated entries still load', () => {
  const data = new Float32Array([1, 2, 3, 4]);
  // A stored block (BTYPE 00) is valid deflate: header byte, LEN, NLEN, bytes.
  const raw = new Uint8Array(data.buffer);
  const stored = Uint8Array.from([0x01, raw.length, 0, ~raw.length & 0xff, 0xff, ...raw]);
  const bytes = buildZip([
    { name: 'archive/data.pkl', data: oneTensor(4, [2, 2], [2, 1]) },
    { name: 'archive/data/0', data: stored, method: 8, declaredSize: 16 },
  ]);
  assert.deepEqual([...parsePth(bytes, 'ok.pth').get('w')!.data], [1, 2, 3, 4]);
});

test('zip structures pointing outside the file give one line', async () => {
  const good = checkpoint(oneTensor(1, [1], [1]), { '0': new Uint8Array(4) });
  const view = new DataView(good.buffer);
  const end = good.length - 22;
  const cd = view.getUint32(end + 16, true);
  const past = good.slice();
  new DataView(past.buffer).setUint32(cd + 42, good.length + 100, true); // first entry's local header offset
  await refused(() => parsePth(past, 'bad.pth'), /^bad\.pth is corrupt: zip entry archive\/data\.pkl lies outside the file$/);
  const long = good.slice();
  new DataView(long.buffer).setUint32(cd + 20, 1 << 30, true); // its compressed size
  await refused(() => parsePth(long, 'bad.pth'), /^bad\.pth is corrupt: zip entry archive\/data\.pkl lies outside the file$/);
  const count = good.slice();
  new DataView(count.buffer).setUint16(end + 10, 60_000, true); // more entries than the directory holds
  await refused(() => parsePth(count, 'bad.pth'), /^bad\.pth is (corrupt|not a valid zip archive)/);
});

test('a 200 KB LONG4 integer (quadratic to decode) is refused', async () => {
  const pkl = new PickleBuilder().proto(2).long(new Uint8Array(200_000).fill(0x7f)).stop().bytes();
  await refused(() => parsePth(checkpoint(pkl), 'evil.pth'), /^evil\.pth is not a valid PyTorch checkpoint: an integer of 200000 bytes \(at most 64 are allowed\)$/);
  const long1 = new PickleBuilder().proto(2).long(new Uint8Array(255).fill(1)).stop().bytes();
  await refused(() => parsePth(checkpoint(long1), 'evil.pth'), /an integer of 255 bytes \(at most 64 are allowed\)$/);
  const text = new PickleBuilder()
    .proto(2)
    .raw(0x4c, ...new TextEncoder().encode(`${'9'.repeat(100_000)}L\n`))
    .stop()
    .bytes();
  await refused(() => parsePth(checkpoint(text), 'evil.pth'), /an integer of 100000 digits/);
});

/** Pushes a tuple DAG of `depth` levels: t0 = 1, t(k+1) = (tk, tk); 2^depth leaves in 2 bytes a level. */
function tupleDag(p: PickleBuilder, depth: number): PickleBuilder {
  p.small(1);
  for (let i = 0; i < depth; i++) p.dup().tuple2();
  return p;
}

test('a 70-byte tuple DAG used as a dict key (2^30 leaves) is refused', async () => {
  const pkl = tupleDag(new PickleBuilder().proto(2).emptyDict(), 30).none().setItem().stop().bytes();
  assert.ok(pkl.length < 100);
  await refused(
    () => parsePth(checkpoint(pkl), 'evil.pth'),
    /^evil\.pth is not a valid PyTorch checkpoint: a dict key that is a tuple or list \(only str and int keys are allowed\)$/,
  );
});

test('the same DAG as a set element, an OrderedDict key or a storage key is refused', async () => {
  const set = tupleDag(new PickleBuilder().proto(4).emptySet().mark(), 30).addItems().stop().bytes();
  await refused(() => parsePth(checkpoint(set), 'evil.pth'), /a set element that is a tuple or list \(only str and int are allowed\)$/);

  const ordered = new PickleBuilder().proto(2).global('collections', 'OrderedDict').mark().mark();
  tupleDag(ordered, 30).none().tuple2().raw(0x6c); // [(dag, None)] as a LIST
  const orderedPkl = ordered.tuple().reduce().stop().bytes();
  await refused(() => parsePth(checkpoint(orderedPkl), 'evil.pth'), /a dict key that is a tuple or list \(only str and int keys are allowed\)$/);

  const storage = new PickleBuilder().proto(2).emptyDict().mark().str('w').global('torch._utils', '_rebuild_tensor_v2').mark();
  storage.mark().str('storage').global('torch', 'FloatStorage');
  tupleDag(storage, 30).str('cpu').int(1).tuple().binPersId();
  storage.int(0).ints([1]).ints([1]).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  await refused(() => parsePth(checkpoint(storage.setItems().stop().bytes()), 'evil.pth'), /^evil\.pth is not a valid PyTorch checkpoint: a storage key that is not a string/);
});

test('re-running OrderedDict over one memoised 50000-pair list 20000 times (quadratic) is refused', async () => {
  const p = new PickleBuilder().proto(2).emptyDict();
  p.str('k').small(1).tuple2().put(0).pop(); // the pair ('k', 1)
  p.global('collections', 'OrderedDict').put(1).pop();
  p.emptyList().mark();
  for (let i = 0; i < 50_000; i++) p.get(0);
  p.appends().put(2).pop();
  for (let i = 0; i < 20_000; i++) p.get(1).get(2).tuple1().reduce().pop();
  const pkl = p.stop().bytes();
  assert.ok(pkl.length < 600_000, `${pkl.length} bytes`);
  await refused(() => parsePth(checkpoint(pkl), 'slow.pth'), /^slow\.pth is not a valid PyTorch checkpoint: the pickle asks for more work than its size allows/);
});

test('a state dict that is a DAG of dicts (100 keys per level, 8 levels) is walked once per dict', async () => {
  // d0 = {}, d(k+1) = {'a0': dk, ..., 'a99': dk}: 100^8 paths through 9 dicts; only d8 stays on the stack.
  const fixed = new PickleBuilder().proto(2).emptyDict().put(0).pop();
  for (let level = 1; level <= 8; level++) {
    fixed.emptyDict().mark();
    for (let i = 0; i < 100; i++) fixed.str(`a${i}`).get(level - 1);
    fixed.setItems().put(level);
    if (level < 8) fixed.pop();
  }
  await refused(() => parsePth(checkpoint(fixed.stop().bytes()), 'dag.pth'), /^dag\.pth holds no tensors$/);
});

test('a small DAG of dicts yields its one tensor once, under the first path (3 keys per level, 3 levels)', () => {
  // d0 = {'w': tensor}, d(k+1) = {'a0': dk, 'a1': dk, 'a2': dk}: walking every path would yield 27
  // names for the one tensor (and be refused for repeating its storage); walking each dict once, one.
  const p = new PickleBuilder().proto(2).emptyDict().mark().str('w').tensor('FloatStorage', '0', 4, 0, [4], [1]).setItems().put(0).pop();
  for (let level = 1; level <= 3; level++) {
    p.emptyDict().mark();
    for (let i = 0; i < 3; i++) p.str(`a${i}`).get(level - 1);
    p.setItems().put(level);
    if (level < 3) p.pop();
  }
  const tensors = parsePth(checkpoint(p.stop().bytes(), { '0': new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer) }), 'dag.pth');
  assert.deepEqual([...tensors.keys()], ['a0.a0.a0.w']);
  assert.deepEqual([...tensors.get('a0.a0.a0.w')!.data], [1, 2, 3, 4]);
});

test('a negative storage offset is refused', async () => {
  const bytes = checkpoint(oneTensor(4, [4], [1], -2), { '0': new Uint8Array(16) });
  await refused(() => parsePth(bytes, 'evil.pth'), /^evil\.pth: tensor w has a negative size, stride or offset$/);
});

// ---- finding 13: safetensors headers --------------------------------------------------------

/** A safetensors file from a raw header (any JSON) and data bytes; the length field may lie. */
function safetensors(header: unknown, data = new Uint8Array(0), lengthField?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthField ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (shape: unknown, offsets: unknown) => ({ dtype: 'F32', shape, data_offsets: offsets });

for (const [name, bytes, message] of [
  ['a null entry', safetensors({ w: null }), /^bad\.safetensors is corrupt: the header's entry for w is not an object$/],
  ['data_offsets not a list', safetensors({ w: f32([1], '0,4') }, new Uint8Array(4)), /^bad\.safetensors is corrupt: tensor w: data_offsets is not a list of two byte offsets$/],
  ['a string shape', safetensors({ w: f32('4', [0, 16]) }, new Uint8Array(16)), /^bad\.safetensors is corrupt: tensor w: shape is not a list of non-negative integers$/],
  ['negative dimensions', safetensors({ w: f32([-2, -2], [0, 16]) }, new Uint8Array(16)), /^bad\.safetensors is corrupt: tensor w: shape is not a list of non-negative integers$/],
  ['negative offsets', safetensors({ w: f32([1], [-73, -69]) }, new Uint8Array(4)), /^bad\.safetensors is corrupt: tensor w: data_offsets is not a list of two byte offsets$/],
  [
    'huge negative offsets',
    safetensors({ w: f32([1], [-9007199254740991, -9007199254740987]) }, new Uint8Array(4)),
    /^bad\.safetensors is corrupt: tensor w: data_offsets is not a list of two byte offsets$/,
  ],
  [
    'a numeric mean in the metadata',
    safetensors({ __metadata__: { mean: 5 }, w: f32([1], [0, 4]) }, new Uint8Array(4)),
    /^bad\.safetensors is corrupt: __metadata__\.mean is not a string$/,
  ],
  [
    'metadata that is not an object',
    safetensors({ __metadata__: [1], w: f32([1], [0, 4]) }, new Uint8Array(4)),
    /^bad\.safetensors is corrupt: __metadata__ is not an object of strings$/,
  ],
  [
    'overlapping tensors',
    safetensors({ a: f32([4], [0, 16]), b: f32([4], [8, 24]) }, new Uint8Array(24)),
    /^bad\.safetensors is corrupt: tensors a and b overlap \(bytes 0–16 and 8–24\)$/,
  ],
  [
    'offsets that disagree with the shape',
    safetensors({ w: f32([2], [0, 4]) }, new Uint8Array(8)),
    /^bad\.safetensors is corrupt: tensor w: data_offsets span 4 bytes, its shape and dtype need 8$/,
  ],
  ['a tensor past the end of the data', safetensors({ w: f32([4], [0, 16]) }, new Uint8Array(8)), /^bad\.safetensors is truncated or corrupt \(tensor w lies outside the file\)$/],
  [
    'a header length larger than the file',
    safetensors({ w: f32([1], [0, 4]) }, new Uint8Array(4), 1_000_000),
    /^bad\.safetensors is truncated: its header length \(1000000 bytes\) runs past the end of the file \(\d+ bytes\)$/,
  ],
  ['a header that is not JSON', safetensors({ w: f32([1], [0, 4]) }, new Uint8Array(4), 1), /^bad\.safetensors is not a safetensors file \(its header is not JSON\)$/],
  ['a non-string dtype', safetensors({ w: { dtype: 5, shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /^bad\.safetensors: tensor w has unsupported dtype 5$/],
] as const) {
  test(`safetensors with ${name}: one line naming the file`, async () => {
    await refused(() => parseSafetensors(bytes, 'bad.safetensors'), message);
    // Through the format sniffing too (what --weights does).
    await refused(() => parseWeightsBytes(bytes, 'bad.safetensors'), message);
  });
}

test('well-formed safetensors (empty tensors, metadata, gaps) still parse', () => {
  const bytes = serializeSafetensors(
    [
      ['a', { shape: [2], data: new Float32Array([1, 2]) }],
      ['e', { shape: [0, 3], data: new Float32Array(0) }],
    ],
    { mean: '1,2,3' },
  );
  const file = parseSafetensors(bytes, 'ok.safetensors');
  assert.deepEqual([...file.tensors.get('a')!.data], [1, 2]);
  assert.deepEqual(file.tensors.get('e')!.shape, [0, 3]);
  assert.equal(file.metadata.mean, '1,2,3');
});
