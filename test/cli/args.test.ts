/** The command line as users type it, parsed to the values the run gets. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCliArgs } from '../../src/cli/args.js';

describe('parseCliArgs', () => {
  it('parses a realistic command line to the right values', () => {
    const a = parseCliArgs([
      'photo.jpg',
      'monet.jpg',
      'matisse.jpg',
      '-o',
      'out.png',
      '--size',
      '256',
      '--style-layers',
      'conv1_1,conv2_1',
      '--style-layer-weights',
      '1,0.5',
      '--learning-rate=0.5',
      '--preserve-colors',
      'luminance',
      '--style-blend',
      '3,1',
      '--init',
      'noise',
      '--seed',
      '42',
      '--match-style-shape',
      '-q',
      '--json',
      '--save-every',
      '10',
      '--sheet',
      'sheet.jpg',
      '--loss-plot=loss.svg',
    ]);
    assert.deepEqual(a.positionals, ['photo.jpg', 'monet.jpg', 'matisse.jpg']);
    assert.deepEqual(
      { output: a.output, quiet: a.quiet, json: a.json, saveEvery: a.saveEvery, sheet: a.sheet, lossPlot: a.lossPlot, help: a.help, version: a.version },
      { output: 'out.png', quiet: true, json: true, saveEvery: 10, sheet: 'sheet.jpg', lossPlot: 'loss.svg', help: false, version: false },
    );
    assert.deepEqual(a.options, {
      size: 256,
      styleLayers: ['conv1_1', 'conv2_1'],
      styleLayerWeights: [1, 0.5],
      learningRate: 0.5,
      preserveColors: 'luminance',
      styleBlend: [3, 1],
      init: 'noise',
      seed: 42,
      matchStyleShape: true,
    });
  });

  it('booleans: --flag, --no-flag, --flag=false', () => {
    assert.equal(parseCliArgs(['--no-match-style-shape']).options.matchStyleShape, false);
    assert.equal(parseCliArgs(['--match-style-shape=false']).options.matchStyleShape, false);
    assert.equal(parseCliArgs(['--match-style-shape=yes']).options.matchStyleShape, true);
    assert.equal(parseCliArgs(['-h']).help, true);
    assert.equal(parseCliArgs(['--version']).version, true);
  });

  it('everything after -- is a file name, even when it starts with a dash', () => {
    assert.deepEqual(parseCliArgs(['-o', 'x.png', '--', '-photo.jpg', '--style.jpg']).positionals, ['-photo.jpg', '--style.jpg']);
  });

  it('a value that starts with a dash is taken as the value (a negative number; the library checks ranges)', () => {
    assert.equal(parseCliArgs(['--seed', '-1']).options.seed, -1);
    assert.deepEqual(parseCliArgs(['--style-blend', '-1,2']).options.styleBlend, [-1, 2]);
  });

  it('refuses unknown flags, missing values and malformed numbers with a UsageError naming the flag', () => {
    for (const [argv, message] of [
      [['--colour', 'red'], /^option --colour: expected a known flag \(see --help\), received "--colour"$/],
      [['-x'], /^option -x: expected a known flag/],
      [['--size'], /^option --size: expected a value \(PX\), received undefined$/],
      [['--size', 'big'], /^option --size: expected an integer, received "big"$/],
      [['--size', '1.5'], /^option --size: expected an integer, received "1\.5"$/],
      [['--style-blend', '1,x'], /^option --style-blend: expected a number, received "1,x"$/],
      [['--quiet=maybe'], /^option --quiet: expected true or false, received "maybe"$/],
    ] as const) {
      assert.throws(
        () => parseCliArgs(argv),
        (err: Error) => err.name === 'UsageError' && message.test(err.message),
        argv.join(' '),
      );
    }
  });
});
