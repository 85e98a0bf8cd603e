/**
 * The CLI end to end, as a user runs it: the shared weights and images, small sizes. Most cases run
 * the command in-process (runCli, what the binary calls); three smoke tests start the real binary:
 * a run with every output (exit 0), Ctrl-C (exit 130), and a bad option (exit 2).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { repoRoot, sharedImage } from '../helpers.js';
import { cliInProcess as run, cliProcess } from './run.js';

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
const small = ['--size', '32', '--iterations', '2', '--scale-iterations', '0'];
/** The --json run's arguments, which the seed case runs again (noise init, so the seed matters). */
const seeded = (seed: string) => ['--size', '32', '--iterations', '4', '--scale-iterations', '0', '--init', 'noise', '--seed', seed];

describe('style-transfer CLI', () => {
  let dir: string;
  let content: string;
  let style: string;
  let inputHashes: string[];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'st-cli-'));
    // Work on copies so that "inputs untouched" is checked on files the CLI could in principle write.
    content = path.join(dir, 'dog.jpg');
    style = path.join(dir, 'matisse.jpg');
    await copyFile(sharedImage('dog'), content);
    await copyFile(sharedImage('matisse'), style);
    inputHashes = [await sha(content), await sha(style)];
  });
  after(async () => {
    assert.deepEqual([await sha(content), await sha(style)], inputHashes, 'the input images were modified');
    await rm(dir, { recursive: true, force: true });
  });

  it('--help prints the usage; --version prints the version', async () => {
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: style-transfer <content> <style>/);
    assert.match(help.stdout, /--size PX .*\[quality: 512; best: 512; recipe: 224\]/);
    const version = await run(['--version']);
    assert.equal(version.stdout.trim(), JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')).version);
  });

  it('the real binary writes the output at the requested size, with a sheet, a loss plot and intermediate frames (exit 0)', async () => {
    const out = path.join(dir, 'out.png');
    const r = await cliProcess([
      content,
      style,
      '-o',
      out,
      '--size',
      '64',
      '--start-size',
      '40',
      '--iterations',
      '4',
      '--scale-iterations',
      '3',
      '--sheet',
      path.join(dir, 'sheet.jpg'),
      '--loss-plot',
      path.join(dir, 'loss.svg'),
      '--save-every',
      '2',
      '--quiet',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', '--quiet prints nothing');
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [64, 48, 'png']); // dog.jpg is 4:3
    const sheet = await sharp(path.join(dir, 'sheet.jpg')).metadata();
    assert.equal(sheet.format, 'jpeg');
    assert.ok(sheet.width! > 3 * sheet.height! * 0.9, 'three panels side by side');
    assert.match(await readFile(path.join(dir, 'loss.svg'), 'utf8'), /<svg[\s\S]*<\/svg>/);
    const frames = (await readdir(dir)).filter((f) => /^out-s\d-\d{4}\.png$/.test(f)).sort();
    assert.deepEqual(frames, ['out-s1-0002.png', 'out-s2-0002.png', 'out-s2-0004.png']);
  });

  it('--json prints one parseable event per line and the loss decreases', async () => {
    const out = path.join(dir, 'json.png');
    const r = await run([content, style, '-o', out, '--json', ...seeded('7')]);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const iterations = events.filter((e) => e.type === 'iteration');
    assert.equal(iterations.length, 4);
    for (const e of iterations) {
      for (const k of ['scale', 'width', 'height', 'iteration', 'loss', 'content', 'style', 'tv', 'ms', 'elapsed', 'eta'])
        assert.equal(typeof e[k], 'number', `${k} in ${JSON.stringify(e)}`);
    }
    for (let k = 1; k < 4; k++) assert.ok((iterations[k].elapsed as number) >= (iterations[k - 1].elapsed as number), 'elapsed seconds grow');
    assert.equal(iterations[3].eta, 0, 'nothing left after the last iteration');
    assert.deepEqual(
      iterations.map((e) => e.iteration),
      [1, 2, 3, 4],
    );
    assert.ok((iterations[3].loss as number) < (iterations[0].loss as number) / 2, 'loss decreases');
    const done = events[events.length - 1];
    assert.equal(done.type, 'done');
    assert.equal(done.output, out);
    assert.equal(typeof done.seconds, 'number');
  });

  it('the same seed gives identical bytes (noise init), whatever the output mode', async () => {
    // The --json case's run (seed 7) is the first of the three.
    const a = path.join(dir, 'json.png');
    const b = path.join(dir, 'seed-b.png');
    const c = path.join(dir, 'seed-c.png');
    const args = (out: string, seed: string) => [content, style, '-o', out, ...seeded(seed), '--quiet'];
    assert.ok(existsSync(a), 'the --json case wrote its output');
    assert.equal((await run(args(b, '7'))).code, 0);
    assert.equal((await run(args(c, '8'))).code, 0);
    assert.equal(await sha(a), await sha(b));
    assert.notEqual(await sha(a), await sha(c));
  });

  it('Ctrl-C to the real binary saves the current image and exits with 130', async () => {
    const out = path.join(dir, 'interrupted.png');
    let sent = false;
    // Without huge pages in its environment the binary starts itself again with them
    // (src/node/huge-pages.ts): the signal goes to that first process, which passes it on.
    const r = await cliProcess([content, style, '-o', out, '--json', '--size', '32', '--iterations', '100000', '--scale-iterations', '0'], {
      env: { GLIBC_TUNABLES: '' },
      onStdout: (text, child) => {
        if (!sent && text.split('\n').filter((l) => l.includes('"iteration"')).length >= 3) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    assert.ok(sent);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted; saved the current image to/);
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.width, meta.height], [32, 24]);
  });

  it('a diverging run stops with a clear message and keeps the last good image', async () => {
    const out = path.join(dir, 'diverged.png');
    // β·wₗ so large that the float32 loss overflows to Infinity.
    const r = await run([content, style, '-o', out, ...small, '--style-weight', '1e30', '--style-layer-weights', '1e6,1e6,1e6,1e6,1e6', '--quiet']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr.trim(),
      /^error: the loss diverged \(Infinity\) at scale 1, iteration 1; the last good image was kept in .*diverged\.png; try a smaller --learning-rate or weights$/,
    );
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.width, meta.height], [32, 24]);
  });

  // Every bad input runs in-process in bad-input.test.ts; this checks that the real process exits
  // with the code runCli returns, prints the one line on stderr and writes nothing.
  it('a bad option to the real binary: one line, exit code 2, nothing written', async () => {
    const out = path.join(dir, 'bad-size.png');
    const r = await cliProcess([content, style, '--size', 'big', '-o', out, '--quiet']);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'error: --size: expected an integer, received "big"\n');
    await assert.rejects(readFile(out), 'no output written');
  });
});
