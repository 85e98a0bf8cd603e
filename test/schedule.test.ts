import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionError } from '../src/errors.js';
import { scaleSchedule } from '../src/schedule.js';

const sizes = (list: { width: number; height: number }[]) => list.map((s) => `${s.width}x${s.height}`);

describe('scaleSchedule', () => {
  it('doubles from the start size up to exactly the final size (landscape)', () => {
    const s = scaleSchedule({ width: 1024, height: 768, finalLongSide: 1024, startLongSide: 192, ratio: 2 });
    assert.deepEqual(sizes(s), ['192x144', '384x288', '768x576', '1024x768']);
  });

  it('grows by √2 with each long side rounded from start·ratio^k', () => {
    const s = scaleSchedule({ width: 1024, height: 768, finalLongSide: 1024, startLongSide: 192, ratio: Math.SQRT2 });
    // 192, 271.5, 384, 543.1, 768, (1086 ≥ 1024 stops) then the final 1024
    assert.deepEqual(sizes(s), ['192x144', '272x204', '384x288', '543x407', '768x576', '1024x768']);
  });

  it('keeps portrait aspect ratios and ends at the content size', () => {
    const s = scaleSchedule({ width: 600, height: 900, finalLongSide: 900, startLongSide: 192, ratio: 2 });
    assert.deepEqual(sizes(s), ['128x192', '256x384', '512x768', '600x900']);
  });

  it('ends at a final size other than the image size', () => {
    const s = scaleSchedule({ width: 4000, height: 3000, finalLongSide: 512, startLongSide: 192, ratio: 2 });
    assert.deepEqual(sizes(s), ['192x144', '384x288', '512x384']);
  });

  it('gives a single scale when the final size is at or below the start size', () => {
    assert.deepEqual(sizes(scaleSchedule({ width: 300, height: 200, finalLongSide: 128, startLongSide: 192, ratio: 2 })), ['128x85']);
    assert.deepEqual(sizes(scaleSchedule({ width: 300, height: 200, finalLongSide: 192, startLongSide: 192, ratio: 2 })), ['192x128']);
  });

  it('never produces a zero dimension or a duplicate, even for extreme aspect ratios and tiny ratios', () => {
    const thin = scaleSchedule({ width: 2000, height: 1, finalLongSide: 2000, startLongSide: 192, ratio: 2 });
    assert.deepEqual(sizes(thin), ['192x1', '384x1', '768x1', '1536x1', '2000x1']);
    // A ratio so close to 1 that several k round to the same long side.
    const fine = scaleSchedule({ width: 10, height: 5, finalLongSide: 10, startLongSide: 3, ratio: 1.1 });
    for (const s of fine) assert.ok(s.width >= 1 && s.height >= 1);
    const longs = fine.map((s) => s.width);
    assert.deepEqual(longs, [...new Set(longs)].sort((a, b) => a - b));
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
