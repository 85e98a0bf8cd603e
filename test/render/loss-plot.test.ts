import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { createLossRecorder, lossPlotSvg, writeLossPlot, type LossPoint } from '../../src/render/loss-plot.js';
import { ImageError, OptionError } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/progress.js';

function point(iteration: number, loss: number, scale = 1): LossPoint {
  return { iteration, scale, loss, content: loss / 2, style: loss / 3, tv: 1 };
}

/** The (x, y) pairs of the chart's loss polyline. */
function polylinePoints(svg: string): [number, number][] {
  const m = /<polyline class="loss" points="([^"]*)"/.exec(svg);
  assert.ok(m, 'the SVG has a loss polyline');
  return m[1].split(' ').map((pair) => pair.split(',').map(Number) as [number, number]);
}

/** Every element opened is closed in order: a small well-formedness check independent of librsvg. */
function assertBalancedTags(svg: string) {
  const body = svg.replace(/^<\?xml[^>]*\?>/, '');
  const stack: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `closing </${name}>`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], 'all elements closed');
  assert.ok(!/<(?!\/?[a-zA-Z?])/.test(body), 'no stray "<" in text');
}

describe('lossPlotSvg', () => {
  it('draws one polyline vertex per input point, inside the plot area', () => {
    const points = Array.from({ length: 57 }, (_, i) => point(i + 1, 1e6 * Math.exp(-i / 10) + 1e3));
    const svg = lossPlotSvg(points, { width: 640, height: 360 });
    assertBalancedTags(svg);
    assert.match(svg, /^<\?xml[^>]*>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="640" height="360"/);
    const xy = polylinePoints(svg);
    assert.equal(xy.length, 57);
    for (const [x, y] of xy) assert.ok(x >= 0 && x <= 640 && y >= 0 && y <= 360, `${x},${y}`);
    // Iterations are evenly spaced, so the x coordinates are too (to the 0.01 rounding).
    const dx = xy[1][0] - xy[0][0];
    for (let i = 1; i < xy.length; i++) assert.ok(Math.abs(xy[i][0] - xy[i - 1][0] - dx) < 0.02);
    // A falling loss goes down the page, and SVG y grows downwards.
    for (let i = 1; i < xy.length; i++) assert.ok(xy[i][1] > xy[i - 1][1]);
  });

  it('uses a log-scale y axis: 1e3 lies exactly halfway between 1e2 and 1e4, with 1e+N tick labels', () => {
    const svg = lossPlotSvg([point(1, 1e4), point(2, 1e3), point(3, 1e2)]);
    const [[, y4], [, y3], [, y2]] = polylinePoints(svg);
    assert.ok(y2 > y4, 'the smaller loss is lower on the page');
    assert.ok(Math.abs(y3 - (y2 + y4) / 2) < 0.02, `y(1e3)=${y3}, halfway=${(y2 + y4) / 2}`);
    // On a linear axis 1e3 would sit at 9/99 of the way up instead of 1/2.
    const ticks = [...svg.matchAll(/class="ytick"[^>]*>([^<]*)</g)].map((m) => m[1]);
    assert.deepEqual(ticks, ['1e+2', '1e+3', '1e+4']);
    // Two decades, so 1e+2 and 1e+4 are the bottom and top of the axis.
    const tickY = (label: string) => Number(new RegExp(`y="([\\d.]+)"[^>]*>${label.replace('+', '\\+')}<`).exec(svg)![1]) - 4;
    assert.ok(Math.abs(tickY('1e+2') - y2) < 0.02 && Math.abs(tickY('1e+4') - y4) < 0.02);
  });

  it('labels small losses with negative exponents and thins out ticks over many decades', () => {
    const small = lossPlotSvg([point(1, 0.5), point(2, 0.002)]);
    assert.deepEqual(
      [...small.matchAll(/class="ytick"[^>]*>([^<]*)</g)].map((m) => m[1]),
      ['1e-3', '1e-2', '1e-1', '1e+0'],
    );
    const wide = lossPlotSvg([point(1, 1e20), point(2, 1)]); // 20 decades → every 3rd labelled
    const labels = [...wide.matchAll(/class="ytick"[^>]*>([^<]*)</g)].map((m) => m[1]);
    assert.ok(labels.length <= 8, labels.join(' '));
    assert.equal(labels[0], '1e+0');
  });

  it('draws a dashed vertical line at each scale change and lists it in the legend', () => {
    const points = [point(1, 900, 1), point(2, 500, 1), point(3, 2000, 2), point(4, 800, 2), point(5, 3000, 3), point(6, 1000, 3)];
    const svg = lossPlotSvg(points);
    const changes = [...svg.matchAll(/<line class="scale-change" x1="([\d.]+)"[^>]*stroke-dasharray/g)].map((m) => Number(m[1]));
    assert.equal(changes.length, 2);
    const xy = polylinePoints(svg);
    // Halfway between the last iteration of a scale and the first of the next.
    assert.ok(Math.abs(changes[0] - (xy[1][0] + xy[2][0]) / 2) < 0.02);
    assert.ok(Math.abs(changes[1] - (xy[3][0] + xy[4][0]) / 2) < 0.02);
    assert.match(svg, /class="legend"[\s\S]*total loss[\s\S]*scale change/);
    const single = lossPlotSvg([point(1, 10), point(2, 5)]);
    assert.ok(!single.includes('scale-change') && !single.includes('scale change') && single.includes('total loss'));
  });

  it('escapes the title and leaves non-finite losses out of the line', () => {
    const svg = lossPlotSvg([point(1, 100), point(2, Number.NaN), point(3, 0), point(4, Infinity), point(5, 10)], { title: '<script>&"x"' });
    assertBalancedTags(svg);
    assert.ok(svg.includes('&lt;script&gt;&amp;&quot;x&quot;') && !svg.includes('<script>'));
    assert.equal(polylinePoints(svg).length, 2);
    const empty = lossPlotSvg([]);
    assertBalancedTags(empty);
    assert.ok(empty.includes('no finite loss values') && !empty.includes('<polyline'));
  });

  it('refuses unusable sizes', () => {
    assert.throws(
      () => lossPlotSvg([], { width: 10 }),
      (e) => e instanceof OptionError && /lossPlot\.width/.test(e.message),
    );
    assert.throws(() => lossPlotSvg([], { height: 300.5 }), OptionError);
  });
});

describe('writeLossPlot', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loss-plot-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const points = Array.from({ length: 40 }, (_, i) => point(i + 1, 1e5 / (i + 1), i < 20 ? 1 : 2));

  it('writes .svg as the SVG text', async () => {
    const path = join(dir, 'loss.svg');
    await writeLossPlot(path, points, { title: 't' });
    assert.equal(await readFile(path, 'utf8'), lossPlotSvg(points, { title: 't' }));
  });

  it('renders .png at the requested size, with the line drawn in its colour', async () => {
    const path = join(dir, 'loss.PNG');
    await writeLossPlot(path, points, { width: 500, height: 300 });
    const { data, info } = await sharp(await readFile(path))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.equal(info.format, 'raw');
    assert.equal(info.width, 500);
    assert.equal(info.height, 300);
    // The polyline's colour #1f5fbf appears (anti-aliasing aside) on many pixels.
    let lineLike = 0;
    for (let i = 0; i < data.length; i += 3) if (Math.abs(data[i] - 0x1f) < 20 && Math.abs(data[i + 1] - 0x5f) < 20 && Math.abs(data[i + 2] - 0xbf) < 20) lineLike++;
    assert.ok(lineLike > 200, `line-coloured pixels: ${lineLike}`);
  });

  it('rejects other extensions naming the accepted ones, writing nothing', async () => {
    const path = join(dir, 'loss.jpg');
    await assert.rejects(writeLossPlot(path, points), (e) => e instanceof ImageError && e.message.includes(path) && /\.svg, \.png/.test(e.message));
    await assert.rejects(writeLossPlot(join(dir, 'loss'), points), ImageError);
    assert.ok(!(await readdir(dir)).includes('loss.jpg'));
  });

  it('reports an unwritable path as an ImageError', async () => {
    const path = join(dir, 'missing-dir', 'loss.svg');
    await assert.rejects(writeLossPlot(path, points), (e) => e instanceof ImageError && e.message.startsWith(`cannot write loss plot ${path}`));
  });
});

describe('createLossRecorder', () => {
  it('numbers iterations across scales and ignores other events', () => {
    const recorder = createLossRecorder();
    const iteration = (scale: number, i: number, loss: number): ProgressEvent => ({
      type: 'iteration',
      scale,
      scales: 2,
      width: 8,
      height: 8,
      iteration: i,
      iterations: 2,
      loss,
      content: 1,
      style: 2,
      tv: 3,
      ms: 1,
      elapsed: 0,
      eta: 0,
      preview: () => {
        throw new Error('not needed');
      },
    });
    recorder.onProgress({ type: 'scale', scale: 1, scales: 2, width: 8, height: 8, iterations: 2 });
    recorder.onProgress(iteration(1, 1, 40));
    recorder.onProgress(iteration(1, 2, 30));
    recorder.onProgress({ type: 'scale', scale: 2, scales: 2, width: 16, height: 16, iterations: 2 });
    recorder.onProgress(iteration(2, 1, 90));
    recorder.onProgress(iteration(2, 2, 60));
    recorder.onProgress({ type: 'done', seconds: 1, iterations: 4 });
    assert.deepEqual(
      recorder.points.map((p) => [p.iteration, p.scale, p.loss]),
      [
        [1, 1, 40],
        [2, 1, 30],
        [3, 2, 90],
        [4, 2, 60],
      ],
    );
    assert.deepEqual(recorder.points[0], { iteration: 1, scale: 1, loss: 40, content: 1, style: 2, tv: 3 });
  });
});
