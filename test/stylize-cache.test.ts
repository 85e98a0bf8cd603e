/**
 * The first-run story end to end: weights "downloaded" from a local HTTP server into the cache,
 * verified, then used by the CLI (in-process, through runCli) with no --weights; and the offline
 * message when they cannot be had.
 */
import { before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { installVariant, variantPaths } from '../src/model/cache.js';
import { findVariant } from '../src/model/registry.js';
import { FileServer } from './model/http-fixture.js';
import { cliInProcess } from './cli/run.js';
import { sharedImage, sharedWeights } from './helpers.js';

let home: string;
const server = new FileServer();
let base: string;

before(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'st-home-'));
  base = await server.start();
});
after(async () => {
  await server.stop();
  await rm(home, { recursive: true, force: true });
});

/** The CLI in-process (runCli) with the cache as the only source of weights: no STYLE_TRANSFER_WEIGHTS. */
const cli = (args: string[], env: NodeJS.ProcessEnv) => cliInProcess(args, { ...env, STYLE_TRANSFER_WEIGHTS: '' });

it('stylize runs end to end from a cached, verified weights file', async () => {
  // Serve the shared network as the `vgg19-caffe` variant's download, with its true hash.
  const bytes = await readFile(sharedWeights);
  const sha = createHash('sha256').update(bytes).digest('hex');
  const file = `vgg19-${sha.slice(0, 8)}.safetensors`;
  server.files.set(`/models/${file}`, { body: bytes });
  const variant = { ...findVariant('vgg19-caffe'), url: `${base}/models/${file}` };
  const env = { STYLE_TRANSFER_HOME: home };
  const installed = await installVariant(variant, { env });
  assert.equal(installed.path, variantPaths(findVariant('vgg19-caffe'), home).compact);

  const verify = await cli(['weights', 'verify', 'vgg19-caffe'], env);
  assert.equal(verify.code, 0, verify.stderr);

  const out = path.join(home, 'out.png');
  const run = await cli(
    [sharedImage('dog'), sharedImage('matisse'), '-o', out, '--model', 'vgg19-caffe', '--size', '64', '--iterations', '3', '--scale-iterations', '0', '--quiet'],
    env,
  );
  assert.equal(run.code, 0, run.stderr);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.width, meta.height], [64, 48]);
});

it('without weights and offline, the CLI names the URL that failed and where to put the file', async () => {
  // A port that was just free: connection refused.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const emptyHome = path.join(home, 'empty');
  const out = path.join(home, 'offline.png');
  const r = await cli([sharedImage('dog'), sharedImage('matisse'), '-o', out, '--preset', 'recipe', '--quiet'], {
    STYLE_TRANSFER_HOME: emptyHome,
    STYLE_TRANSFER_MIRROR: `http://127.0.0.1:${port}/`,
  });
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0],
    new RegExp(
      `^error: could not download http://127\\.0\\.0\\.1:${port}/vgg19-dcbb9e9d\\.pth: connection refused \\(offline\\?\\); download it by hand and put it at .*empty/vgg19-dcbb9e9d\\.pth, or pass --weights FILE$`,
    ),
  );
  await assert.rejects(readFile(out));
});
