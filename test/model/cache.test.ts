import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createHash } from 'node:crypto';
import { zipSync } from 'fflate';
import { DownloadError, WeightsError } from '../../src/errors.js';
import { breakStaleLock, installVariant, variantPaths, variantStatus, verifyVariant, withLock } from '../../src/model/cache.js';
import { CAFFE_BGR_CONVENTION, CAFFE_RGB_CONVENTION, conventionFromMetadata, TORCHVISION_CONVENTION } from '../../src/model/convention.js';
import { variantUrl, type ModelVariant } from '../../src/model/registry.js';
import { resolveWeights } from '../../src/model/resolve.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { VGG19_CONV_NAMES } from '../../src/model/vgg19.js';
import { FileServer } from './http-fixture.js';
import { PickleBuilder } from './pickle-builder.js';

const sharedFile = new URL('../../../shared/weights/vgg19-caffe-q8.safetensors', import.meta.url);
const fixture = new URL('../../../shared/weights/fixtures/vgg19-head.pth', import.meta.url).pathname;
const sharedBytes = readFileSync(sharedFile);
const shared = parseSafetensors(sharedBytes).tensors;
const sharedSha = createHash('sha256').update(sharedBytes).digest('hex');

/** A full VGG-19 checkpoint as torch.save would write it for a DataParallel model, plus a classifier tensor. */
function fullCheckpoint(): Uint8Array {
  const p = new PickleBuilder().proto(2).emptyDict().mark().str('epoch').int(90).str('state_dict').emptyDict().mark();
  const storages: Record<string, Uint8Array> = {};
  let key = 0;
  const add = (name: string, shape: number[], data: Float32Array) => {
    const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
    p.str(name).tensor('FloatStorage', String(key), data.length, 0, shape, strides);
    storages[`archive/data/${key++}`] = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  };
  for (const [name, t] of shared) add(`module.${name}`, [...t.shape], t.data);
  add('module.classifier.6.bias', [1000], new Float32Array(1000).fill(0.5));
  p.setItems().setItems().stop();
  return zipSync({ 'archive/data.pkl': p.bytes(), 'archive/version': new TextEncoder().encode('3\n'), ...storages }, { level: 0 });
}
const pth = fullCheckpoint();
const pthSha = createHash('sha256').update(pth).digest('hex');
/** A small download whose hash is not the one the registry expects. */
const notTheModel = new TextEncoder().encode('not the model you are looking for\n');
const notTheModelSha = createHash('sha256').update(notTheModel).digest('hex');

const server = new FileServer();
let base = '';
let work = '';
const envFor = (home: string, extra: Record<string, string> = {}) => ({ STYLE_TRANSFER_HOME: home, ...extra });

before(async () => {
  base = await server.start();
  work = await mkdtemp(join(tmpdir(), 'st-cache-'));
  server.files.set(`/models/vgg19-q8-${sharedSha.slice(0, 8)}.safetensors`, { body: sharedBytes });
  server.files.set(`/mirror/vgg19-q8-${sharedSha.slice(0, 8)}.safetensors`, { body: sharedBytes });
  server.files.set(`/models/vgg19-full-${pthSha.slice(0, 8)}.pth`, { body: pth });
  server.files.set('/models/not-the-model.safetensors', { body: notTheModel });
});
after(async () => {
  await server.stop();
  await rm(work, { recursive: true, force: true });
});

function assertSameAsShared(weights: Map<string, { weight: Float32Array; bias: Float32Array }>, names = VGG19_CONV_NAMES) {
  assert.deepEqual([...weights.keys()], [...names]);
  names.forEach((name) => {
    const index = VGG19_CONV_NAMES.indexOf(name);
    const n = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34][index];
    assert.deepEqual(weights.get(name)!.weight, shared.get(`features.${n}.weight`)!.data, name);
    assert.deepEqual(weights.get(name)!.bias, shared.get(`features.${n}.bias`)!.data, name);
  });
}

test('STYLE_TRANSFER_MIRROR replaces everything up to the file name', () => {
  const v = { url: 'https://download.example/models/vgg19-dcbb9e9d.pth' } as ModelVariant;
  assert.equal(variantUrl(v, {}), v.url);
  assert.equal(variantUrl(v, { STYLE_TRANSFER_MIRROR: 'http://127.0.0.1:8/m' }), 'http://127.0.0.1:8/m/vgg19-dcbb9e9d.pth');
  assert.equal(variantUrl(v, { STYLE_TRANSFER_MIRROR: 'http://127.0.0.1:8/m/' }), 'http://127.0.0.1:8/m/vgg19-dcbb9e9d.pth');
  assert.throws(() => variantUrl(v, { STYLE_TRANSFER_MIRROR: 'ftp://x/' }), /STYLE_TRANSFER_MIRROR/);
});

/** The mirror test's installed variant, for the corrupt-file test (which would otherwise download and compact the 80 MB once more). */
let mirrored: { variant: ModelVariant; home: string; env: Record<string, string>; path: string; good: Buffer } | undefined;

test('two concurrent installs through the mirror download once; resolveWeights then reads the compact file offline', async () => {
  const home = join(work, 'mirror-home');
  const file = `vgg19-q8-${sharedSha.slice(0, 8)}.safetensors`;
  const variant: ModelVariant = {
    name: 'q8',
    description: 'test',
    url: `https://unreachable.invalid/models/${file}`,
    sizeBytes: sharedBytes.length,
    convention: CAFFE_RGB_CONVENTION,
  };
  const env = envFor(home, { STYLE_TRANSFER_MIRROR: `${base}/mirror/` });
  const before = server.requests.length;
  const [a, b] = await Promise.all([installVariant(variant, { env }), installVariant(variant, { env })]);
  const hits = server.requests.slice(before);
  assert.deepEqual(
    hits.map((r) => r.path),
    [`/mirror/${file}`],
  );
  assert.equal(a.path, b.path);
  assert.deepEqual([a.installed, b.installed].sort(), [false, true]);
  // Only the compact file and its sidecar remain (the download and the lock are gone).
  assert.deepEqual((await readdir(home)).sort(), ['q8.conv.safetensors', 'q8.conv.safetensors.json']);

  const compact = parseSafetensors(await readFile(a.path));
  assert.deepEqual(conventionFromMetadata(compact.metadata), CAFFE_RGB_CONVENTION);
  assert.equal(compact.metadata.source_sha256, sharedSha);
  const sidecar = JSON.parse(await readFile(variantPaths(variant, home).sidecar, 'utf8'));
  assert.equal(
    sidecar.sha256,
    createHash('sha256')
      .update(await readFile(a.path))
      .digest('hex'),
  );

  const resolved = await resolveWeights({ model: 'q8', registry: [variant], env: envFor(home), download: false, upTo: new Set(['conv1_1', 'conv4_2']) });
  assert.equal(resolved.path, a.path);
  assert.equal(resolved.modelName, 'q8');
  assert.deepEqual(resolved.net.convention, CAFFE_RGB_CONVENTION);
  assertSameAsShared(resolved.weights, ['conv1_1', 'conv4_2']);
  assert.equal(server.requests.length, before + 1);

  assert.equal((await verifyVariant(variant, home)).sha256, sidecar.sha256);
  const bytes = await readFile(a.path);
  mirrored = { variant, home, env, path: a.path, good: Buffer.from(bytes) };
  bytes[bytes.length - 1] ^= 1;
  await writeFile(a.path, bytes);
  await assert.rejects(verifyVariant(variant, home), (err: unknown) => err instanceof WeightsError && /is corrupt: SHA-256 [0-9a-f]{64} .*expected [0-9a-f]{64}/.test(err.message));
});

test('a .pth download is reduced to the 16 convs (prefix stripped, classifier dropped) and deleted', async () => {
  const home = join(work, 'pth-home');
  const variant: ModelVariant = {
    name: 'full',
    description: 'test',
    url: `${base}/models/vgg19-full-${pthSha.slice(0, 8)}.pth`,
    sizeBytes: pth.length,
    convention: CAFFE_BGR_CONVENTION,
  };
  const progress: number[] = [];
  const resolved = await resolveWeights({ model: 'full', registry: [variant], env: envFor(home), onProgress: (e) => progress.push(e.received) });
  assert.equal(progress.at(-1), pth.length);
  assertSameAsShared(resolved.weights);
  assert.deepEqual(resolved.net.convention, CAFFE_BGR_CONVENTION);
  assert.deepEqual((await readdir(home)).sort(), ['full.conv.safetensors', 'full.conv.safetensors.json']);
  const compact = parseSafetensors(await readFile(resolved.path));
  assert.equal(compact.tensors.size, 32);
  assert.ok(!compact.tensors.has('classifier.6.bias') && !compact.tensors.has('module.classifier.6.bias'));
  assert.equal((await variantStatus(variant, home)).installed, true);
});

test('a download with the wrong hash is rejected and nothing is cached', async () => {
  const home = join(work, 'bad-home');
  const variant: ModelVariant = {
    name: 'bad',
    description: 'test',
    url: `${base}/models/not-the-model.safetensors`,
    sha256: 'f'.repeat(64),
    sizeBytes: 1,
    convention: CAFFE_RGB_CONVENTION,
  };
  await assert.rejects(
    resolveWeights({ model: 'bad', registry: [variant], env: envFor(home) }),
    (err: unknown) => err instanceof DownloadError && err.message.includes(`SHA-256 is ${notTheModelSha}, expected ${'f'.repeat(64)}`),
  );
  assert.deepEqual(await readdir(home), []);
});

test('download: false on an empty cache says how to get the model', async () => {
  const home = join(work, 'empty-home');
  const variant: ModelVariant = { name: 'vgg19', description: 'test', url: `${base}/models/vgg19-dcbb9e9d.pth`, sizeBytes: 1, convention: TORCHVISION_CONVENTION };
  await assert.rejects(
    resolveWeights({ registry: [variant], env: envFor(home), download: false }),
    (err: unknown) => err instanceof WeightsError && /model vgg19 is not downloaded yet .*style-transfer weights download vgg19/.test(err.message),
  );
  assert.ok(!existsSync(join(home, 'vgg19.conv.safetensors')));
});

test('an explicit weights file: convention from --model, else from the file, else a WeightsError', async () => {
  const sharedPath = sharedFile.pathname;
  const fromMeta = await resolveWeights({ weights: sharedPath, env: {} });
  assert.deepEqual(fromMeta.net.convention, CAFFE_RGB_CONVENTION);
  assert.equal(fromMeta.modelName, 'vgg19-caffe-q8');
  assertSameAsShared(fromMeta.weights);

  const overridden = await resolveWeights({ weights: sharedPath, model: 'vgg19', env: {}, upTo: new Set(['conv1_1']) });
  assert.deepEqual(overridden.net.convention, TORCHVISION_CONVENTION);
  assert.deepEqual([...overridden.weights.keys()], ['conv1_1']);

  const viaEnv = await resolveWeights({ model: 'vgg19-caffe-rgb', env: { STYLE_TRANSFER_WEIGHTS: fixture }, upTo: new Set(['conv1_1', 'conv2_2']) });
  assert.equal(viaEnv.path, fixture);
  assertSameAsShared(viaEnv.weights, ['conv1_1', 'conv2_2']);

  await assert.rejects(
    resolveWeights({ weights: fixture, env: {} }),
    /does not record the input convention .*; pass the model option \(one of vgg19, vgg19-caffe, vgg19-caffe-rgb\)/,
  );
  await assert.rejects(resolveWeights({ weights: fixture, model: 'vgg19', env: {} }), /has no tensor features\.10\.weight \(conv3_1\)/);
  await assert.rejects(resolveWeights({ weights: sharedPath, model: 'alexnet', env: {} }), /option model: expected one of vgg19, vgg19-caffe, vgg19-caffe-rgb/);
});

/** Buffers this large are compared by hash: a failing deepEqual would print 80 MB. */
const sha256Of = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The pid of a process that has exited (so a lock naming it is stale). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

test('a lock judged stale is not broken again once a waiter has broken and taken it', async () => {
  const dir = await mkdtemp(join(work, 'lock-'));
  const lock = join(dir, 'x.lock');
  // Two waiters, A and B, both find the lock stale (its owner is dead).
  await writeFile(lock, JSON.stringify({ pid: deadPid(), host: hostname(), since: new Date().toISOString() }));
  // A breaks it and takes the lock, holding it until released.
  const order: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const a = withLock(lock, undefined, async () => {
    order.push('A in');
    await held;
    order.push('A out');
  });
  while (!order.includes('A in')) await new Promise((resolve) => setTimeout(resolve, 5));
  const live = await readFile(lock, 'utf8');
  // B, slower, now acts on its earlier judgement: it must not take A's lock away.
  assert.equal(await breakStaleLock(lock), false);
  assert.equal(await readFile(lock, 'utf8'), live, "A's lock is still in place");
  const c = withLock(lock, undefined, async () => {
    order.push('C');
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  release();
  await Promise.all([a, c]);
  assert.deepEqual(order, ['A in', 'A out', 'C'], 'C waited for A');
  assert.deepEqual(await readdir(dir), [], 'the lock and any broken lock files are gone');
});

test('many waiters on one stale lock run one at a time', async () => {
  const dir = await mkdtemp(join(work, 'lock-'));
  const lock = join(dir, 'x.lock');
  await writeFile(lock, JSON.stringify({ pid: deadPid(), host: hostname(), since: new Date().toISOString() }));
  let active = 0;
  let most = 0;
  let ran = 0;
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      new Promise((resolve) => setTimeout(resolve, i * 2)).then(() =>
        withLock(lock, undefined, async () => {
          active++;
          most = Math.max(most, active);
          await new Promise((resolve) => setTimeout(resolve, 10));
          active--;
          ran++;
        }),
      ),
    ),
  );
  assert.equal(ran, 8);
  assert.equal(most, 1, `${most} holders at once`);
  assert.deepEqual(await readdir(dir), []);
});

test('a right-sized but corrupt compact file is caught by its hash on load: re-made when downloads are allowed, else a clear error', async () => {
  // The compact file the mirror test installed (and left corrupt), corrupted here in another way.
  assert.ok(mirrored, 'the mirror test installed the variant');
  const { variant, home, env, path, good } = mirrored;
  // What a power loss can leave: the right size, a valid header, different tensor bytes.
  const bad = Buffer.from(good); // a copy (Buffer.slice is a view)
  bad[bad.length - 1] ^= 0x40;
  await writeFile(path, bad);
  assert.equal((await variantStatus(variant, home)).installed, true, 'the size check alone cannot tell');

  await assert.rejects(
    resolveWeights({ model: 'q8', registry: [variant], env, download: false }),
    (err: unknown) =>
      err instanceof WeightsError &&
      /^.*q8\.conv\.safetensors is corrupt: SHA-256 [0-9a-f]{64} \(\d+ bytes\), expected [0-9a-f]{64} .*style-transfer weights download q8/.test(err.message),
  );
  const before = server.requests.length;
  const resolved = await resolveWeights({ model: 'q8', registry: [variant], env, upTo: new Set(['conv5_4']) });
  assert.equal(server.requests.length, before + 1, 'downloaded again');
  assertSameAsShared(resolved.weights, ['conv5_4']);
  assert.equal(sha256Of(await readFile(path)), sha256Of(good), 'the good file is back');
  // An install over a corrupt file re-makes it too (the hash is checked, not only the size).
  await writeFile(path, bad);
  assert.equal((await installVariant(variant, { env })).installed, true);
  assert.equal(sha256Of(await readFile(path)), sha256Of(good), 'the good file is back');
});
