/**
 * The CLI's spatial and scale control flags: --style-mask and --style-layer-weights given once per
 * style image (parsed in order), and bad masks refused with one line and exit 2 before any work
 * (wrong count, unreadable file, an all-black mask), nothing written.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parseCliArgs } from '../../src/cli/args.js';
import { sharedImage } from '../helpers.js';
import { cliInProcess as cli } from './run.js';

describe('style-transfer CLI: masks and per-style layer weights', () => {
  let dir: string;
  let content: string;
  let style: string;
  let white: string;
  let black: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'st-cli-masks-'));
    content = path.join(dir, 'dog.jpg');
    style = path.join(dir, 'matisse.jpg');
    await copyFile(sharedImage('dog'), content);
    await copyFile(sharedImage('matisse'), style);
    white = path.join(dir, 'white.png');
    black = path.join(dir, 'black.png');
    const plain = (v: number) => sharp({ create: { width: 32, height: 24, channels: 3, background: { r: v, g: v, b: v } } }).png();
    await plain(255).toFile(white);
    await plain(0).toFile(black);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('repeated flags keep every value, in order; --style-layer-weights once is one list for all', () => {
    const a = parseCliArgs([
      'c.jpg',
      's1.jpg',
      's2.jpg',
      '--style-mask',
      'm1.png',
      '--style-mask=m2.png',
      '--style-layer-weights',
      '1,1,0,0,0',
      '--style-layer-weights',
      '0,0,1,1,1',
      '--mask-propagation',
      'inside',
    ]);
    assert.deepEqual(a.options.styleMasks, ['m1.png', 'm2.png']);
    assert.deepEqual(a.options.styleLayerWeights, [
      [1, 1, 0, 0, 0],
      [0, 0, 1, 1, 1],
    ]);
    assert.equal(a.options.maskPropagation, 'inside');
    assert.deepEqual(parseCliArgs(['c.jpg', 's.jpg', '--style-layer-weights', '1,2,3,4,5']).options.styleLayerWeights, [1, 2, 3, 4, 5]);
  });

  const cases: [string, () => string[], RegExp][] = [
    [
      'one mask too many',
      () => [content, style, '--style-mask', white, '--style-mask', white],
      /^error: --style-mask: expected 1 masks \(one per style image, in order\), received "2 masks"$/,
    ],
    [
      'an unreadable mask',
      () => [content, style, '--style-mask', path.join(dir, 'nope.png')],
      /^error: --style-mask: expected readable mask images, received "style mask 1 not found: .*nope\.png"$/,
    ],
    [
      'an all-black mask',
      () => [content, style, style, '--style-mask', white, '--style-mask', black],
      /^error: --style-mask: expected masks with some white in them, received "style mask 2, all black"$/,
    ],
    ['a style image mask that is no image', () => [content, style, '--style-image-mask', content + '.txt'], /^error: --style-image-mask: expected readable mask images/],
    [
      'per-style layer weights for three styles with two',
      () => [content, style, style, ...Array(3).fill(['--style-layer-weights', '1,1,1,1,1']).flat()],
      /^error: --style-layer-weights: expected one list per style image \(2\)/,
    ],
    [
      'a per-style list of the wrong length',
      () => [content, style, style, '--style-layer-weights', '1,1,1,1,1', '--style-layer-weights', '1,1'],
      /^error: --style-layer-weights: expected 5 weights/,
    ],
    ['an unknown propagation', () => [content, style, '--mask-propagation', 'grow'], /^error: --mask-propagation: expected one of pool, inside, received "grow"$/],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: one line, exit 2, nothing written`, async () => {
      const before = new Set(await readdir(dir));
      const r = await cli([...args(), '-o', path.join(dir, 'out.png'), '--quiet']);
      assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], message);
      assert.deepEqual(
        (await readdir(dir)).filter((f) => !before.has(f)),
        [],
      );
    });
  }

  it('a text file as a style image mask is refused like a missing one', async () => {
    await writeFile(path.join(dir, 'notes.txt'), 'not a mask');
    const r = await cli([content, style, '--style-mask', white, '--style-image-mask', path.join(dir, 'notes.txt'), '-o', path.join(dir, 'out.png'), '--quiet']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: --style-image-mask: expected readable mask images, received "style image mask 1 .*notes\.txt/);
  });
});
