import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WeightsError } from '../../src/errors.js';
import { CAFFE_RGB_CONVENTION } from '../../src/model/convention.js';
import { parseSafetensors, serializeSafetensors } from '../../src/model/safetensors.js';
import type { NamedTensor } from '../../src/model/tensors.js';
import { vgg19 } from '../../src/model/vgg19.js';
import { extractConvWeights, readWeightsFile } from '../../src/model/weights-file.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'st-weights-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

const net = vgg19(CAFFE_RGB_CONVENTION);
const tensor = (shape: number[], fill = 0.25): NamedTensor => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });

test('serializeSafetensors round-trips tensors and metadata', () => {
  const a = { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 1e-30, 0, 7]) };
  const bytes = serializeSafetensors([['a', a]], { k: 'v' });
  const back = parseSafetensors(bytes, 'x');
  assert.deepEqual(back.metadata, { k: 'v' });
  assert.deepEqual(back.tensors.get('a'), a);
});

test('missing, directory and unknown-format files are one-line WeightsErrors', async () => {
  await assert.rejects(readWeightsFile(join(dir, 'nope.pth')), (e: unknown) => e instanceof WeightsError && e.message === `weights file not found: ${join(dir, 'nope.pth')}`);
  await assert.rejects(readWeightsFile(dir), /weights path is a directory/);
  const junk = join(dir, 'junk.bin');
  await writeFile(junk, 'hello, this is not a weights file at all');
  await assert.rejects(readWeightsFile(junk), (e: unknown) => e instanceof WeightsError && /junk\.bin is not a weights file/.test(e.message) && !e.message.includes('\n'));
});

test('a truncated safetensors file is a WeightsError', async () => {
  const bytes = serializeSafetensors([['features.0.weight', tensor([64, 3, 3, 3])]]);
  const path = join(dir, 'cut.safetensors');
  await writeFile(path, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(readWeightsFile(path), /cut\.safetensors is truncated or corrupt/);
});

test('a missing conv tensor and a wrong shape are named', () => {
  const tensors = new Map<string, NamedTensor>([
    ['module.features.0.weight', tensor([64, 3, 3, 3])],
    ['module.features.0.bias', tensor([64])],
    ['features.2.weight', tensor([64, 64, 5, 5])],
    ['features.2.bias', tensor([64])],
  ]);
  // Prefixed keys are found; only conv1_1 requested.
  const w = extractConvWeights(tensors, net, 'f.pth', new Set(['conv1_1']));
  assert.deepEqual([...w.keys()], ['conv1_1']);
  assert.equal(w.get('conv1_1')!.weight.length, 64 * 27);
  assert.throws(
    () => extractConvWeights(tensors, net, 'f.pth', new Set(['conv1_2'])),
    /f\.pth: features\.2\.weight \(conv1_2\) has shape \[64, 64, 5, 5\], expected \[64, 64, 3, 3\]/,
  );
  assert.throws(() => extractConvWeights(tensors, net, 'f.pth', new Set(['conv2_1'])), /f\.pth has no tensor features\.5\.weight \(conv2_1\)/);
});
