import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { zipSync } from 'fflate';
import { WeightsError } from '../../src/errors.js';
import { isPth, parsePth } from '../../src/model/pth.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { parseWeightsBytes } from '../../src/model/weights-file.js';
import { PickleBuilder } from './pickle-builder.js';

const shared = (p: string) => new URL(`../../../shared/weights/${p}`, import.meta.url);
const zipFixture = readFileSync(shared('fixtures/vgg19-head.pth'));
const legacyFixture = readFileSync(shared('fixtures/vgg19-head-legacy.pth'));
const HEAD_KEYS = ['features.0', 'features.2', 'features.5', 'features.7'].flatMap((k) => [`${k}.weight`, `${k}.bias`]);

function reference() {
  return parseSafetensors(readFileSync(shared('vgg19-caffe-q8.safetensors'))).tensors;
}

function assertBitIdentical(a: Float32Array, b: Float32Array, what: string) {
  assert.equal(a.length, b.length, `${what}: length`);
  const ab = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const bb = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ab.length; i++) if (ab[i] !== bb[i]) assert.fail(`${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
}

/** A torch-style zip checkpoint around a hand-written data.pkl and raw storages. */
function zipCheckpoint(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  const files: Record<string, Uint8Array> = { 'archive/data.pkl': pkl, 'archive/version': new TextEncoder().encode('3\n') };
  for (const [k, v] of Object.entries(storages)) files[`archive/data/${k}`] = v;
  return zipSync(files, { level: 0 });
}

/** The legacy header pickles (magic number, protocol 1001, sys_info) taken from the real fixture. */
const LEGACY_HEADER = legacyFixture.subarray(0, 137);

test('both fixtures are recognised as .pth and the safetensors file is not', () => {
  assert.ok(isPth(zipFixture));
  assert.ok(isPth(legacyFixture));
  assert.ok(!isPth(readFileSync(shared('vgg19-caffe-q8.safetensors')).subarray(0, 64)));
});

for (const [name, bytes] of [
  ['zip', zipFixture],
  ['legacy', legacyFixture],
] as const) {
  test(`the ${name} fixture written by torch.save loads to exactly the safetensors tensors`, () => {
    const ref = reference();
    const tensors = parsePth(bytes, `vgg19-head (${name})`);
    assert.deepEqual([...tensors.keys()].sort(), [...HEAD_KEYS].sort());
    for (const key of HEAD_KEYS) {
      const t = tensors.get(key)!;
      assert.deepEqual(t.shape, ref.get(key)!.shape, key);
      assertBitIdentical(t.data, ref.get(key)!.data, key);
    }
  });
}

test('parseWeightsBytes routes .pth files to the checkpoint reader', async () => {
  const file = await parseWeightsBytes(legacyFixture, 'head.pth');
  assert.equal(file.format, 'pth');
  assert.equal(file.tensors.get('features.0.weight')!.shape.join('x'), '64x3x3x3');
});

test('keep: only the kept tensors are materialised', () => {
  const tensors = parsePth(zipFixture, 'head.pth', { keep: (k) => k.startsWith('features.0.') });
  assert.deepEqual([...tensors.keys()].sort(), ['features.0.bias', 'features.0.weight']);
});

const marker = () => join(tmpdir(), `style-transfer-pwned-${process.pid}-${Math.random().toString(36).slice(2)}`);

/** GLOBAL <module> <name>, ("touch <file>",), REDUCE: what a malicious checkpoint does. */
function maliciousPickle(module: string, name: string, file: string, stackGlobal = false): Uint8Array {
  const p = new PickleBuilder().proto(stackGlobal ? 4 : 2);
  if (stackGlobal) p.stackGlobal(module, name);
  else p.global(module, name);
  return p.mark().str(`touch ${file}`).tuple().reduce().stop().bytes();
}

for (const [module, name, stackGlobal] of [
  ['posix', 'system', false],
  ['os', 'system', true],
  ['builtins', 'eval', false],
  ['subprocess', 'Popen', true],
] as const) {
  test(`a zip checkpoint referencing ${module}.${name} is refused and nothing runs`, () => {
    const file = marker();
    const bytes = zipCheckpoint(maliciousPickle(module, name, file, stackGlobal));
    assert.throws(
      () => parsePth(bytes, 'evil.pth'),
      (err: unknown) => err instanceof WeightsError && err.message === `evil.pth: refusing to load a checkpoint that references ${module}.${name} (only tensors are allowed)`,
    );
    assert.ok(!existsSync(file));
  });
}

test('a legacy checkpoint whose main pickle references posix.system is refused', () => {
  const file = marker();
  const bytes = Buffer.concat([LEGACY_HEADER, maliciousPickle('posix', 'system', file)]);
  assert.ok(isPth(bytes));
  assert.throws(() => parsePth(bytes, 'evil.pth'), /refusing to load a checkpoint that references posix\.system \(only tensors are allowed\)/);
  assert.ok(!existsSync(file));
});

test('a malicious global hidden inside a tensor record is refused too', () => {
  const p = new PickleBuilder().proto(2).emptyDict().mark().str('features.0.bias');
  p.global('torch._utils', '_rebuild_tensor_v2').mark().global('os', 'system').str('true').reduce().tuple().reduce();
  const bytes = zipCheckpoint(p.setItems().stop().bytes());
  assert.throws(() => parsePth(bytes, 'evil.pth'), /references os\.system/);
});

function assertOneLineWeightsError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WeightsError, `expected a WeightsError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `message is not one line: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('truncated checkpoints give one-line WeightsErrors naming the file', () => {
  for (const cut of [100, 2000, zipFixture.length - 10]) {
    assertOneLineWeightsError(() => parsePth(zipFixture.subarray(0, cut), 'cut.pth'), /^cut\.pth .*(truncated|corrupt|not a valid)/);
  }
  for (const cut of [60, 500, 1200, legacyFixture.length - 10]) {
    assertOneLineWeightsError(() => parsePth(legacyFixture.subarray(0, cut), 'cut.pth'), /^cut\.pth .*(truncated|corrupt|not a valid)/);
  }
});

test('random bytes give one-line WeightsErrors', async () => {
  const random = new Uint8Array(4096);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  await assert.rejects(parseWeightsBytes(random, 'noise.bin'), (err: unknown) => err instanceof WeightsError && /^noise\.bin is not a weights file/.test(err.message));
  const fakeZip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, ...random]);
  assertOneLineWeightsError(() => parsePth(fakeZip, 'fake.pth'), /^fake\.pth /);
  const fakeLegacy = Uint8Array.from([...legacyFixture.subarray(0, 14), ...random]);
  assertOneLineWeightsError(() => parsePth(fakeLegacy, 'fake.pth'), /^fake\.pth /);
});

test('nested state_dict, float16 and float64 storages, storage offsets and non-contiguous strides', () => {
  // storage 0: float16 [1, 2, 3, 4, 5, 6] (bits below); storage 1: float64 0..11
  const half = Uint16Array.from([0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600]);
  const f64 = Float64Array.from({ length: 12 }, (_, i) => i * 0.5);
  const p = new PickleBuilder().proto(2).emptyDict().mark().str('epoch').int(7).str('state_dict').emptyDict().mark();
  p.str('module.a').tensor('HalfStorage', '0', 6, 0, [2, 3], [3, 1]); // contiguous
  p.str('module.b').tensor('DoubleStorage', '1', 12, 2, [2, 3], [1, 2]); // transposed view of elements 2..7, offset 2
  p.str('module.c').tensor('HalfStorage', '0', 6, 4, [2], [1]); // offset into a shared storage
  p.setItems().setItems().stop();
  const bytes = zipCheckpoint(p.bytes(), { '0': new Uint8Array(half.buffer), '1': new Uint8Array(f64.buffer) });
  const t = parsePth(bytes, 'nested.pth');
  assert.deepEqual([...t.keys()], ['module.a', 'module.b', 'module.c']);
  assert.deepEqual([...t.get('module.a')!.data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(t.get('module.b')!.shape, [2, 3]);
  // b[i][j] = storage[2 + i + 2j] = (2 + i + 2j) / 2
  assert.deepEqual([...t.get('module.b')!.data], [1, 2, 3, 1.5, 2.5, 3.5]);
  assert.deepEqual([...t.get('module.c')!.data], [5, 6]);
});

test('a tensor reaching past its storage is a WeightsError, not garbage', () => {
  const p = new PickleBuilder().proto(2).emptyDict().mark().str('w').tensor('FloatStorage', '0', 4, 2, [4], [1]).setItems().stop();
  const bytes = zipCheckpoint(p.bytes(), { '0': new Uint8Array(16) });
  assertOneLineWeightsError(() => parsePth(bytes, 'short.pth'), /short\.pth is truncated or corrupt \(tensor w needs 6 elements of its storage, which has 4\)/);
});

test('a checkpoint without tensors or without a dict at the top is a WeightsError', () => {
  const empty = zipCheckpoint(new PickleBuilder().proto(2).emptyDict().stop().bytes());
  assertOneLineWeightsError(() => parsePth(empty, 'empty.pth'), /empty\.pth holds no tensors/);
  const list = zipCheckpoint(new PickleBuilder().proto(2).mark().int(1).tuple().stop().bytes());
  assertOneLineWeightsError(() => parsePth(list, 'list.pth'), /list\.pth does not hold a state dict/);
});
