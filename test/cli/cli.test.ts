/**
 * The CLI end to end, as a user runs it: a real process, the shared weights and images, small sizes.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { repoRoot, sharedImage, sharedWeights } from '../helpers.js';

const bin = path.join(repoRoot, 'bin/style-transfer.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { env?: NodeJS.ProcessEnv; onStdout?: (chunk: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: repoRoot,
      env: { ...process.env, STYLE_TRANSFER_WEIGHTS: sharedWeights, STYLE_TRANSFER_HOME: path.join(tmpdir(), 'st-cli-test-home'), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
const small = ['--size', '64', '--iterations', '4', '--scale-iterations', '0'];

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

  it('writes the output at the requested size, with a sheet, a loss plot and intermediate frames', async () => {
    const out = path.join(dir, 'out.png');
    const r = await run([
      content,
      style,
      '-o',
      out,
      '--size',
      '96',
      '--start-size',
      '64',
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
    assert.deepEqual([meta.width, meta.height, meta.format], [96, 72, 'png']); // dog.jpg is 4:3
    const sheet = await sharp(path.join(dir, 'sheet.jpg')).metadata();
    assert.equal(sheet.format, 'jpeg');
    assert.ok(sheet.width! > 3 * sheet.height! * 0.9, 'three panels side by side');
    assert.match(await readFile(path.join(dir, 'loss.svg'), 'utf8'), /<svg[\s\S]*<\/svg>/);
    const frames = (await readdir(dir)).filter((f) => /^out-s\d-\d{4}\.png$/.test(f)).sort();
    assert.deepEqual(frames, ['out-s1-0002.png', 'out-s2-0002.png', 'out-s2-0004.png']);
  });

  it('--json prints one parseable event per line and the loss decreases', async () => {
    const out = path.join(dir, 'json.png');
    const r = await run([content, style, '-o', out, '--json', '--size', '64', '--iterations', '8', '--scale-iterations', '0']);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const iterations = events.filter((e) => e.type === 'iteration');
    assert.equal(iterations.length, 8);
    for (const e of iterations) {
      for (const k of ['scale', 'width', 'height', 'iteration', 'loss', 'content', 'style', 'tv', 'ms', 'elapsed', 'eta'])
        assert.equal(typeof e[k], 'number', `${k} in ${JSON.stringify(e)}`);
    }
    for (let k = 1; k < 8; k++) assert.ok((iterations[k].elapsed as number) >= (iterations[k - 1].elapsed as number), 'elapsed seconds grow');
    assert.equal(iterations[7].eta, 0, 'nothing left after the last iteration');
    assert.deepEqual(
      iterations.map((e) => e.iteration),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.ok((iterations[7].loss as number) < (iterations[0].loss as number) / 2, 'loss decreases');
    const done = events[events.length - 1];
    assert.equal(done.type, 'done');
    assert.equal(done.output, out);
    assert.equal(typeof done.seconds, 'number');
  });

  it('the same seed gives identical bytes (noise init)', async () => {
    const a = path.join(dir, 'seed-a.png');
    const b = path.join(dir, 'seed-b.png');
    const c = path.join(dir, 'seed-c.png');
    const args = (out: string, seed: string) => [content, style, '-o', out, ...small, '--init', 'noise', '--seed', seed, '--quiet'];
    assert.equal((await run(args(a, '7'))).code, 0);
    assert.equal((await run(args(b, '7'))).code, 0);
    assert.equal((await run(args(c, '8'))).code, 0);
    assert.equal(await sha(a), await sha(b));
    assert.notEqual(await sha(a), await sha(c));
  });

  it('Ctrl-C saves the current image and exits with 130', async () => {
    const out = path.join(dir, 'interrupted.png');
    let sent = false;
    const r = await run([content, style, '-o', out, '--json', '--size', '64', '--iterations', '100000', '--scale-iterations', '0'], {
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
    assert.deepEqual([meta.width, meta.height], [64, 48]);
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
    assert.deepEqual([meta.width, meta.height], [64, 48]);
  });

  // The full list of bad inputs runs in-process in bad-input.test.ts; these check the real process's
  // exit code and stderr for one error of each kind.
  describe('bad input through the real process: one line, exit code, nothing written', () => {
    const cases: [string, () => string[], RegExp, number][] = [
      ['missing content (exit 1)', () => [path.join(dir, 'nope.jpg'), style], /^error: content image not found: .*nope\.jpg$/, 1],
      ['bad size (exit 2)', () => [content, style, '--size', 'big'], /^error: --size: expected an integer, received "big"$/, 2],
      [
        'an output too small for the network (exit 2, nothing from ONNX Runtime)',
        () => [content, style, '--size', '20', '--scale-iterations', '0'],
        /^error: --size: expected an output at least 16 px/,
        2,
      ],
    ];
    for (const [name, makeArgs, message, code] of cases) {
      it(name, async () => {
        const out = path.join(dir, `bad-${name.replace(/\W+/g, '-')}.png`);
        const r = await run([...makeArgs(), '-o', out, '--quiet']);
        assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, new RegExp(message.source.replace(/\$$/, '\n$')));
        await assert.rejects(readFile(out), 'no output written');
      });
    }
  });
});
