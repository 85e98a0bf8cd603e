/**
 * Bad input to the command, run in-process through runCli (the same code path as the binary, minus
 * process start-up): one line on stderr, the right exit code, nothing written, no input touched.
 * cli.test.ts runs one of them through the real process, a smoke test of its exit code.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sharedImage } from '../helpers.js';
import { PickleBuilder } from '../model/pickle-builder.js';
import { buildZip } from '../model/zip-builder.js';
import { cliInProcess as cli } from './run.js';

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

describe('style-transfer CLI: bad input', () => {
  let dir: string;
  let content: string;
  let style: string;
  let inputHashes: string[];
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'st-cli-bad-'));
    content = path.join(dir, 'dog.jpg');
    style = path.join(dir, 'matisse.jpg');
    await copyFile(sharedImage('dog'), content);
    await copyFile(sharedImage('matisse'), style);
    await mkdir(path.join(dir, 'a-folder.png'));
    await mkdir(path.join(dir, 'a-folder.svg'));
    await copyFile(sharedImage('monet'), path.join(dir, 'w.png'));
    await symlink(dir, path.join(dir, 'link'));
    inputHashes = [await sha(content), await sha(style)];
  });
  after(async () => {
    assert.deepEqual([await sha(content), await sha(style)], inputHashes, 'the input images were modified');
    await rm(dir, { recursive: true, force: true });
  });

  // [name, args (without -o unless the case is about it), stderr's one line, exit code]
  const cases: [string, () => Promise<string[]>, () => RegExp, number][] = [
    ['missing content', async () => [path.join(dir, 'nope.jpg'), style], () => /^error: content image not found: .*nope\.jpg$/, 1],
    ['missing style', async () => [content, path.join(dir, 'nope.png')], () => /^error: style image not found: .*nope\.png$/, 1],
    [
      'not an image',
      async () => {
        const f = path.join(dir, 'text.jpg');
        await writeFile(f, 'hello, I am not a picture\n');
        return [f, style];
      },
      () => /^error: content image .*text\.jpg/,
      1,
    ],
    [
      'truncated image',
      async () => {
        const f = path.join(dir, 'truncated.jpg');
        const bytes = await readFile(content);
        await writeFile(f, bytes.subarray(0, bytes.length >> 1));
        return [content, f];
      },
      () => /^error: style image .*truncated\.jpg.*(truncated|corrupt)/i,
      1,
    ],
    [
      'zero pixels',
      async () => {
        const f = path.join(dir, 'empty.png');
        await writeFile(f, new Uint8Array(0));
        return [f, style];
      },
      () => /^error: content image .*empty\.png is empty/,
      1,
    ],
    ['more pixels than the limit', async () => [content, style, '--max-pixels', '10000'], () => /^error: content image .*(limit|megapixels)/, 1],
    ['bad size', async () => [content, style, '--size', 'big'], () => /^error: --size: expected an integer, received "big"$/, 2],
    ['size out of range', async () => [content, style, '--size', '3'], () => /^error: --size: expected an integer between 16 and 65536, received 3$/, 2],
    ['unknown optimizer', async () => [content, style, '--optimizer', 'sgd'], () => /^error: --optimizer: expected one of lbfgs, adam, received "sgd"$/, 2],
    ['unknown flag', async () => [content, style, '--colour', 'red'], () => /^error: --colour: expected a known flag/, 2],
    ['unknown layer', async () => [content, style, '--style-layers', 'conv9_9'], () => /^error: --style-layers: expected names among conv1_1/, 2],
    ['layer weights of the wrong length', async () => [content, style, '--style-layer-weights', '1,2'], () => /^error: --style-layer-weights: expected 5 weights/, 2],
    [
      'a style layer named twice',
      async () => [content, style, '--style-layers', 'conv1_1,conv1_1', '--style-layer-weights', '1,1'],
      () => /^error: --style-layers: expected distinct layer names \(conv1_1 is named twice\), received "conv1_1,conv1_1"$/,
      2,
    ],
    ['a content layer named twice', async () => [content, style, '--content-layers', 'conv4_2,conv4_2'], () => /^error: --content-layers: expected distinct layer names/, 2],
    [
      'an output too small for conv5_1',
      async () => [content, style, '--size', '20', '--scale-iterations', '0'],
      () => /^error: --size: expected an output at least 16 px .*\(it would be 20x15\), received 20$/,
      2,
    ],
    [
      'a first scale too small',
      async () => [content, style, '--size', '64', '--start-size', '16'],
      () => /^error: --start-size: expected every scale at least 16 px .*\(the first would be 16x12\)/,
      2,
    ],
    ['no style', async () => [content], () => /^error: arguments: expected <content> <style>/, 2],
    [
      'output that is an input',
      async () => [content, style, '-o', content],
      () => new RegExp(`^error: refusing to overwrite the content image ${esc(content)} with the output ${esc(content)} \\(-o\\)$`),
      1,
    ],
    [
      '--loss-plot onto an input image (same file through a symlink)',
      async () => {
        const png = path.join(dir, 'style.png');
        await copyFile(style, png);
        return [content, png, '-o', path.join(dir, 'x.png'), '--loss-plot', path.join(dir, 'link', 'style.png')];
      },
      () => /^error: refusing to overwrite the style image .*style\.png with the output .*link\/style\.png \(--loss-plot\)$/,
      1,
    ],
    [
      '--sheet onto the weights file',
      async () => [content, style, '--weights', path.join(dir, 'w.png'), '--sheet', path.join(dir, 'w.png')],
      () => /^error: refusing to overwrite the weights file .*w\.png/,
      1,
    ],
    [
      '-o and --sheet the same file',
      async () => [content, style, '-o', path.join(dir, 'same.png'), '--sheet', path.join(dir, '.', 'same.png')],
      () => /^error: -o and --sheet: expected different files, received ".*same\.png"$/,
      2,
    ],
    [
      '--save-every frames onto an input',
      async () => {
        const frame = path.join(dir, 'run-s1-0002.png');
        await copyFile(style, frame);
        return [content, frame, '-o', path.join(dir, 'run.png'), '--save-every', '2'];
      },
      () => /^error: refusing to overwrite the style image .*run-s1-0002\.png with a --save-every frame of .*run\.png$/,
      1,
    ],
    [
      '--sheet named like a frame',
      async () => [content, style, '-o', path.join(dir, 'f.png'), '--save-every', '1', '--sheet', path.join(dir, 'f-s2-0010.png')],
      () => /^error: --sheet: expected a file that is not a --save-every frame/,
      2,
    ],
    [
      'output folder missing',
      async () => [content, style, '-o', path.join(dir, 'no-such-folder', 'out.png')],
      () => /^error: cannot write -o .*no-such-folder\/out\.png: the folder .*no-such-folder does not exist$/,
      1,
    ],
    [
      'output folder missing, with --save-every',
      async () => [content, style, '-o', path.join(dir, 'nope', 'out.png'), '--save-every', '1'],
      () => /^error: cannot write -o .*: the folder .*nope does not exist$/,
      1,
    ],
    [
      '--sheet in a missing folder',
      async () => [content, style, '--sheet', path.join(dir, 'nope', 'sheet.png')],
      () => /^error: cannot write --sheet .*: the folder .*nope does not exist$/,
      1,
    ],
    ['output that is a folder', async () => [content, style, '-o', path.join(dir, 'a-folder.png')], () => /^error: cannot write -o .*a-folder\.png: it is a folder$/, 1],
    ['--loss-plot that is a folder', async () => [content, style, '--loss-plot', path.join(dir, 'a-folder.svg')], () => /^error: cannot write --loss-plot .*: it is a folder$/, 1],
    ['bad output format', async () => [content, style, '-o', path.join(dir, 'out.gif')], () => /^error: .*\.gif.*accepted: \.png/, 1],
    ['missing weights file', async () => [content, style, '--weights', path.join(dir, 'none.safetensors')], () => /^error: weights file not found: /, 1],
    ['weights that are not weights', async () => [content, style, '--weights', content], () => /^error: .*dog\.jpg is not a weights file/, 1],
    [
      'a booby-trapped checkpoint (a stride-0 tensor of 1.16 GB in 500 bytes)',
      async () => {
        const f = path.join(dir, 'evil.pth');
        const pkl = new PickleBuilder().proto(2).emptyDict().mark().str('w').tensor('FloatStorage', '0', 1, 0, [290_000_000], [0]).setItems().stop().bytes();
        await writeFile(
          f,
          buildZip([
            { name: 'archive/data.pkl', data: pkl },
            { name: 'archive/data/0', data: new Uint8Array(4) },
          ]),
        );
        return [content, style, '--weights', f];
      },
      () => /^error: .*evil\.pth: tensor w has a zero stride in dimension 0 \(of size 290000000\); refusing to repeat its storage$/,
      1,
    ],
    [
      'a safetensors file with a malformed header',
      async () => {
        const f = path.join(dir, 'bad.safetensors');
        const header = new TextEncoder().encode(JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [-73, -69] } }));
        const bytes = new Uint8Array(8 + header.length + 4);
        new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
        bytes.set(header, 8);
        await writeFile(f, bytes);
        return [content, style, '--weights', f];
      },
      () => /^error: .*bad\.safetensors is corrupt: tensor w: data_offsets is not a list of two byte offsets$/,
      1,
    ],
  ];
  for (const [name, makeArgs, message, code] of cases) {
    it(name, async () => {
      const args = await makeArgs();
      const out = path.join(dir, `bad-${name.replace(/\W+/g, '-')}.png`);
      const before = new Set(await readdir(dir));
      const r = await cli(args.includes('-o') ? [...args, '--quiet'] : [...args, '-o', out, '--quiet']);
      assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0], message());
      assert.deepEqual(
        (await readdir(dir)).filter((f) => !before.has(f)),
        [],
        'nothing written',
      );
    });
  }

  it('a run too big for memory even in tiles is refused with a --size that fits', async () => {
    const r = await cli([content, style, '-o', path.join(dir, 'big.png'), '--size', '4096', '--quiet'], { STYLE_TRANSFER_MEMORY_LIMIT: '2G' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: a 4096x3072 run needs more than the 2\.0 GiB memory budget, even in tiles; try --size \d+ or smaller, or a larger --memory\n$/);
  });
});
