import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, formatLoss } from '../../src/format.js';
import { REDRAW_INTERVAL_MS, bar, createProgressReporter } from '../../src/cli/progress-bar.js';
import type { ProgressEvent } from '../../src/progress.js';

/** A writable that records every chunk, standing in for stderr. */
function fakeStream() {
  const chunks: string[] = [];
  const stream = {
    write(chunk: string) {
      chunks.push(chunk);
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { stream, chunks, text: () => chunks.join('') };
}

/** A clock the test moves by hand. */
function fakeClock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function scaleEvent(scale: number, scales: number, iterations: number, width = 256, height = 192): ProgressEvent {
  return { type: 'scale', scale, scales, width, height, iterations };
}

function iterationEvent(scale: number, scales: number, iteration: number, iterations: number, extra: Partial<{ loss: number; ms: number; eta: number }> = {}): ProgressEvent {
  return {
    type: 'iteration',
    scale,
    scales,
    width: 256,
    height: 192,
    iteration,
    iterations,
    loss: extra.loss ?? 123456,
    content: 2.5e4,
    style: 9.75e1,
    tv: 3,
    ms: extra.ms ?? 450,
    elapsed: iteration * 0.45,
    eta: extra.eta ?? 83,
    preview: () => {
      throw new Error('the progress bar must not render previews');
    },
  };
}

describe('formatDuration', () => {
  it('writes seconds, minutes+seconds and hours+minutes', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(45), '45s');
    assert.equal(formatDuration(45.4), '45s');
    assert.equal(formatDuration(59.6), '1m00s'); // rounds before choosing the unit: never "60s"
    assert.equal(formatDuration(83), '1m23s');
    assert.equal(formatDuration(192), '3m12s');
    assert.equal(formatDuration(3599), '59m59s');
    assert.equal(formatDuration(3720), '1h02m');
    assert.equal(formatDuration(3600 * 25 + 60 * 7), '25h07m');
  });
  it('does not print NaN for unknown or negative estimates', () => {
    assert.equal(formatDuration(Number.NaN), '?');
    assert.equal(formatDuration(Infinity), '?');
    assert.equal(formatDuration(-3), '?');
  });
});

describe('formatLoss and bar', () => {
  it('formats losses as 1.23e+5', () => {
    assert.equal(formatLoss(123456), '1.23e+5');
    assert.equal(formatLoss(0.00975), '9.75e-3');
  });
  it('fills the bar in proportion, rounding down', () => {
    assert.equal(bar(0, 10, 10), '[----------]');
    assert.equal(bar(5, 10, 10), '[#####-----]');
    assert.equal(bar(99, 100, 10), '[#########-]');
    assert.equal(bar(100, 100, 10), '[##########]');
  });
});

describe('createProgressReporter on a TTY', () => {
  it('rewrites one line per scale and never prints a newline between iterations', () => {
    const out = fakeStream();
    const clock = fakeClock();
    const reporter = createProgressReporter(out.stream, { tty: true, width: 200, now: clock.now });
    reporter.onProgress(scaleEvent(1, 1, 50));
    const before = out.chunks.length;
    for (let i = 1; i <= 50; i++) {
      clock.advance(150); // slower than the throttle, so every iteration is drawn
      reporter.onProgress(iterationEvent(1, 1, i, 50));
    }
    const during = out.chunks.slice(before).join('');
    assert.ok(!during.includes('\n'), 'no newline while iterating');
    assert.equal(during.split('\r').length - 1, 50, 'one redraw per iteration');
    for (const chunk of out.chunks.slice(before)) assert.ok(chunk.startsWith('\r') && chunk.endsWith('\x1b[K'), JSON.stringify(chunk));

    const last = out.chunks.at(-1)!;
    assert.equal(last, '\rscale 1/1 256x192 [####################] it 50/50  loss 1.23e+5  (content 2.50e+4, style 9.75e+1)  0.45 s/it  ETA 1m23s\x1b[K');

    reporter.onProgress({ type: 'done', seconds: 192, iterations: 50 });
    assert.ok(out.text().endsWith('\x1b[K\ndone in 3m12s (50 iterations)\n'), JSON.stringify(out.text().slice(-60)));
  });

  it('redraws at most 10 times a second, and still shows the last state of a scale', () => {
    const out = fakeStream();
    const clock = fakeClock();
    const reporter = createProgressReporter(out.stream, { tty: true, width: 200, now: clock.now });
    reporter.onProgress(scaleEvent(1, 2, 200));
    const before = out.chunks.length;
    // 200 iterations of 7 ms: 1.4 s in all, so at most 14 redraws (+1 for the first one).
    for (let i = 1; i <= 200; i++) {
      clock.advance(7);
      reporter.onProgress(iterationEvent(1, 2, i, 200, { ms: 7 }));
    }
    const redraws = out.chunks.slice(before).filter((c) => c.startsWith('\r')).length;
    assert.ok(redraws <= (200 * 7) / REDRAW_INTERVAL_MS + 1, `redraws: ${redraws}`);
    assert.ok(redraws >= 12, `the line is still updated regularly (redraws: ${redraws})`);
    // Redraws land every 15th iteration (105 ms), so the 200th was held back; the next scale must
    // draw it before closing the line.
    assert.ok(!out.text().includes('it 200/200'));
    reporter.onProgress(scaleEvent(2, 2, 10));
    const text = out.text();
    assert.match(text, /it 200\/200[^\n]*\x1b\[K\n\rscale 2\/2 256x192 \[-{20}\] it 0\/10\x1b\[K$/);
  });

  it('cuts the line to the terminal width so it never wraps', () => {
    const out = fakeStream();
    const reporter = createProgressReporter(out.stream, { tty: true, width: 40, now: () => 0 });
    reporter.onProgress(scaleEvent(1, 1, 10));
    for (const chunk of out.chunks) assert.ok(chunk.replace('\r', '').replace('\x1b[K', '').length <= 39, JSON.stringify(chunk));
  });

  it('puts loading messages and downloads on their own lines, and finish() closes an open line', () => {
    const out = fakeStream();
    const clock = fakeClock();
    const reporter = createProgressReporter(out.stream, { tty: true, width: 200, now: clock.now });
    reporter.onProgress({ type: 'loading', stage: 'weights', message: 'loading weights vgg19' });
    const url = 'https://example.org/models/vgg19.safetensors';
    reporter.onProgress({ type: 'download', url, received: 0, total: 80 * 2 ** 20 });
    clock.advance(200);
    reporter.onProgress({ type: 'download', url, received: 40 * 2 ** 20, total: 80 * 2 ** 20 });
    clock.advance(200);
    reporter.onProgress({ type: 'download', url, received: 80 * 2 ** 20, total: 80 * 2 ** 20 });
    reporter.onProgress({ type: 'download', url: 'https://example.org/x.bin', received: 12.34 * 2 ** 20, total: undefined });
    reporter.onProgress({ type: 'loading', stage: 'engine', message: 'building the engine' });
    reporter.onProgress(scaleEvent(1, 1, 5));
    reporter.finish();
    reporter.finish(); // idempotent
    assert.equal(
      out.text(),
      'loading weights vgg19\n' +
        '\rdownloading vgg19.safetensors 0% 0.0/80.0 MiB\x1b[K' +
        '\rdownloading vgg19.safetensors 50% 40.0/80.0 MiB\x1b[K' +
        '\rdownloading vgg19.safetensors 100% 80.0/80.0 MiB\x1b[K\n' +
        '\rdownloading x.bin 12.3 MiB\x1b[K\n' +
        'building the engine\n' +
        '\rscale 1/1 256x192 [--------------------] it 0/5\x1b[K\n',
    );
  });
});

describe('createProgressReporter in a log (not a TTY)', () => {
  it('prints a line per scale, one per ~10 % of iterations and the last, and the done line, with no \\r', () => {
    const out = fakeStream();
    const reporter = createProgressReporter(out.stream, { tty: false, now: () => 0 });
    const plan = [300, 25, 5];
    for (let s = 0; s < plan.length; s++) {
      reporter.onProgress(scaleEvent(s + 1, plan.length, plan[s]));
      for (let i = 1; i <= plan[s]; i++) reporter.onProgress(iterationEvent(s + 1, plan.length, i, plan[s], { eta: 45 }));
    }
    reporter.onProgress({ type: 'done', seconds: 3720, iterations: 330 });
    const text = out.text();
    assert.ok(!text.includes('\r') && !text.includes('\x1b'), 'no terminal control characters');
    const lines = text.split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    // scale lines: 3; iteration lines: 10 (of 300) + 10 (of 25) + 5 (of 5); done: 1
    assert.equal(lines.length, 3 + 10 + 10 + 5 + 1, lines.join('\n'));
    assert.equal(lines[0], 'scale 1/3 256x192: 300 iterations');
    const firstScale = lines.slice(1, 11).map((l) => Number(/ it (\d+)\/300 /.exec(l)?.[1]));
    assert.deepEqual(firstScale, [30, 60, 90, 120, 150, 180, 210, 240, 270, 300]);
    assert.equal(lines[10], 'scale 1/3 256x192 it 300/300  loss 1.23e+5  (content 2.50e+4, style 9.75e+1)  0.45 s/it  ETA 45s');
    assert.ok(lines[21].endsWith('it 25/25  loss 1.23e+5  (content 2.50e+4, style 9.75e+1)  0.45 s/it  ETA 45s'), lines[21]);
    assert.equal(lines.at(-1), 'done in 1h02m (330 iterations)');
  });

  it('logs downloads at the start, per 10 %, and at the end', () => {
    const out = fakeStream();
    const reporter = createProgressReporter(out.stream, { tty: false });
    const url = 'https://example.org/vgg19.pth';
    for (let mb = 0; mb <= 100; mb += 1) reporter.onProgress({ type: 'download', url, received: mb * 1 * 2 ** 20, total: 100 * 2 ** 20 });
    const unknown = 'https://example.org/other.bin';
    for (let mb = 0; mb <= 250; mb += 50) reporter.onProgress({ type: 'download', url: unknown, received: mb * 1 * 2 ** 20, total: undefined });
    reporter.finish();
    const lines = out.text().trimEnd().split('\n');
    assert.equal(lines[0], 'downloading https://example.org/vgg19.pth (100.0 MiB)');
    assert.equal(lines[1], 'downloading vgg19.pth 10% 10.0/100.0 MiB');
    assert.equal(lines[10], 'downloading vgg19.pth 100% 100.0/100.0 MiB');
    assert.deepEqual(lines.slice(11), [
      'downloading https://example.org/other.bin',
      'downloading other.bin 100.0 MiB',
      'downloading other.bin 200.0 MiB',
      'downloaded other.bin 250.0 MiB',
    ]);
  });

  it('ignores events after done', () => {
    const out = fakeStream();
    const reporter = createProgressReporter(out.stream, { tty: false });
    reporter.onProgress({ type: 'done', seconds: 1, iterations: 1 });
    reporter.onProgress({ type: 'loading', stage: 'images', message: 'late' });
    reporter.finish();
    assert.equal(out.text(), 'done in 1s (1 iterations)\n');
  });
});
