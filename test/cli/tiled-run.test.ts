/**
 * A whole CLI run (in-process, through runCli) with forced tiles (`--tile`) makes the same picture
 * as the untiled run, and a memory budget too small for the untiled graph tiles the run by itself.
 *
 * The runs use Adam: its step is a smooth function of the gradient, so float summation noise stays
 * noise. L-BFGS's first line search compares losses that differ by ~1e-6 relative after a tiny
 * first step; there float32 rounding (of the untiled graph as much as of the tiles) decides which
 * trial is accepted, and two exact evaluations of the same loss may take different, equally valid
 * paths.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { estimateUntiledBytes } from '../../src/engine/memory.js';
import { sharedImage } from '../helpers.js';
import { cliInProcess as run } from './run.js';

const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number | string>);

describe('CLI with tiles', () => {
  let dir: string;
  const content = sharedImage('dog');
  const style = sharedImage('matisse');
  const common = ['--size', '144', '--scale-iterations', '0', '--iterations', '5', '--optimizer', 'adam', '--learning-rate', '4', '--json'];
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'st-tiles-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  // --tile 140 cuts the network's 176x140 view in 2 (the interior rounds up to 144, the alignment):
  // with the 80 px halo each crop is the whole picture, so a tile costs an untiled evaluation.
  it('--tile 140 gives the untiled picture within float noise (Adam, 144x108: 176x140 with its reflect margin, in 2 tiles)', async () => {
    const untiled = await run([content, style, '-o', path.join(dir, 'untiled.png'), ...common]);
    const tiled = await run([content, style, '-o', path.join(dir, 'tiled.png'), ...common, '--tile', '140']);
    assert.equal(untiled.code, 0, untiled.stderr);
    assert.equal(tiled.code, 0, tiled.stderr);
    assert.deepEqual(
      events(untiled.stdout).filter((e) => e.type === 'scale'),
      [{ type: 'scale', scale: 1, width: 144, height: 108, iterations: 5, tiles: 1 }],
    );
    assert.deepEqual(
      events(tiled.stdout).filter((e) => e.type === 'scale'),
      [{ type: 'scale', scale: 1, width: 144, height: 108, iterations: 5, tiles: 2 }],
    );
    const a = await sharp(path.join(dir, 'untiled.png')).raw().toBuffer();
    const b = await sharp(path.join(dir, 'tiled.png')).raw().toBuffer();
    const start = await sharp(content).resize(144, 108, { fit: 'fill' }).removeAlpha().raw().toBuffer();
    assert.equal(a.length, b.length);
    let worst = 0;
    let differing = 0;
    let moved = 0;
    for (let i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
      if (a[i] !== b[i]) differing++;
      moved += Math.abs(a[i] - start[i]);
    }
    assert.ok(moved / a.length > 5, `the run changed the picture (mean ${moved / a.length} levels)`);
    assert.ok(worst <= 1, `largest difference ${worst} levels`);
    assert.ok(differing <= a.length / 1000, `${differing} of ${a.length} values differ`);
  });

  it('a memory budget too small for the untiled graph tiles the run; one too small for tiles is refused with a size that fits', async () => {
    const out = path.join(dir, 'budget.png');
    // Untiled, 640x480 (672x512 with its margin) needs ~1.57 GiB with the one L-BFGS pair a run of
    // no iterations is planned with (engine/memory.ts); a byte less gives the largest crops, so the
    // fewest tiles (4; 1.5G made 8). Below ~600 px tiles cost more than the untiled graph: their
    // sessions take ~0.9 GiB.
    const budget = estimateUntiledBytes(672 * 512, { optimizer: 'lbfgs', history: 1 }, true, 640 * 480) - 1;
    const r = await run([content, style, '-o', out, '--size', '640', '--scale-iterations', '0', '--iterations', '0', '--memory', String(budget), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const scale = events(r.stdout).find((e) => e.type === 'scale')!;
    assert.ok((scale.tiles as number) > 1, JSON.stringify(scale));
    const refused = await run([content, style, '-o', out, '--size', '4096', '--memory', '1.2G']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /(^|\n)error: a 4096x3072 run needs more than the 1\.2 GiB memory budget, even in tiles; try --size \d+ or smaller, or a larger --memory\n$/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  });
});
