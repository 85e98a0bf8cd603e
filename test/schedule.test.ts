import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionError } from '../src/errors.js';
import { iterationsAtScale, scaleSchedule } from '../src/schedule.js';

const sizes = (list: { width: number; height: number }[]) => list.map((s) => `${s.width}x${s.height}`);

describe('scaleSchedule', () => {
  it('halves down from the final size while at least the start size (landscape)', () => {
    const s = scaleSchedule({ width: 1024, height: 768, finalLongSide: 1024, startLongSide: 192, ratio: 2 });
    assert.deepEqual(sizes(s), ['256x192', '512x384', '1024x768']);
  });

  it('steps by √2 with each long side rounded from final/ratio^k', () => {
    const s = scaleSchedule({ width: 1024, height: 768, finalLongSide: 1024, startLongSide: 192, ratio: Math.SQRT2 });
    // 1024, 724.1, 512, 362.0, 256, (181 < 192 stops)
    assert.deepEqual(sizes(s), ['256x192', '362x272', '512x384', '724x543', '1024x768']);
  });

  it('keeps portrait aspect ratios and ends at the content size', () => {
    const s = scaleSchedule({ width: 600, height: 900, finalLongSide: 900, startLongSide: 192, ratio: 2 });
    assert.deepEqual(sizes(s), ['150x225', '300x450', '600x900']);
  });

  it('ends at a final size other than the image size', () => {
    const s = scaleSchedule({ width: 4000, height: 3000, finalLongSide: 512, startLongSide: 192, ratio: 2 });
    assert.deepEqual(sizes(s), ['256x192', '512x384']);
  });

  it('gives a single scale when the final size is at or below the start size', () => {
    assert.deepEqual(sizes(scaleSchedule({ width: 300, height: 200, finalLongSide: 128, startLongSide: 192, ratio: 2 })), ['128x85']);
    assert.deepEqual(sizes(scaleSchedule({ width: 300, height: 200, finalLongSide: 192, startLongSide: 192, ratio: 2 })), ['192x128']);
  });

  it('never produces a zero dimension or a duplicate, even for extreme aspect ratios and tiny ratios', () => {
    const thin = scaleSchedule({ width: 2000, height: 1, finalLongSide: 2000, startLongSide: 192, ratio: 2 });
    assert.deepEqual(sizes(thin), ['250x1', '500x1', '1000x1', '2000x1']);
    // A ratio so close to 1 that several k round to the same long side.
    const fine = scaleSchedule({ width: 10, height: 5, finalLongSide: 10, startLongSide: 3, ratio: 1.1 });
    for (const s of fine) assert.ok(s.width >= 1 && s.height >= 1);
    const longs = fine.map((s) => s.width);
    assert.deepEqual(
      longs,
      [...new Set(longs)].sort((a, b) => a - b),
    );
    assert.deepEqual(longs, [3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(fine[fine.length - 1], { width: 10, height: 5 });
  });

  it('validates its inputs with OptionErrors naming the option', () => {
    const base = { width: 100, height: 100, finalLongSide: 512, startLongSide: 192, ratio: 2 };
    assert.throws(() => scaleSchedule({ ...base, ratio: 1 }), { name: 'OptionError', message: 'option ratio: expected a finite number greater than 1, received 1' });
    assert.throws(() => scaleSchedule({ ...base, ratio: Number.NaN }), OptionError);
    assert.throws(() => scaleSchedule({ ...base, startLongSide: 0 }), { message: 'option startLongSide: expected a positive integer, received 0' });
    assert.throws(() => scaleSchedule({ ...base, finalLongSide: 12.5 }), { message: 'option finalLongSide: expected a positive integer, received 12.5' });
    assert.throws(() => scaleSchedule({ ...base, width: 0 }), OptionError);
  });
});

describe('iterationsAtScale', () => {
  it('continues the √2 schedule to print sizes: 4096 px from 160 px', () => {
    const s = scaleSchedule({ width: 4000, height: 3000, finalLongSide: 4096, startLongSide: 160, ratio: Math.SQRT2 });
    assert.deepEqual(
      s.map((x) => Math.max(x.width, x.height)),
      [181, 256, 362, 512, 724, 1024, 1448, 2048, 2896, 4096],
    );
  });

  it('keeps the count up to 1024 px and lowers it with the pixel count above, to at least 5', () => {
    assert.equal(iterationsAtScale(512, 150), 150);
    assert.equal(iterationsAtScale(1024, 150), 150);
    assert.equal(iterationsAtScale(1448, 150), 75);
    assert.equal(iterationsAtScale(2048, 150), 38);
    assert.equal(iterationsAtScale(2896, 150), 19);
    assert.equal(iterationsAtScale(4096, 100), 6);
    assert.equal(iterationsAtScale(8192, 100), 5);
    assert.equal(iterationsAtScale(4096, 2), 2); // fewer asked for: kept
    assert.equal(iterationsAtScale(4096, 0), 0);
  });
});
