import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPlanar, toPlanar, toRaw } from '../../src/image/image.js';

describe('toPlanar / toRaw', () => {
  it('de-interleaves into planes scaled to 0..1', () => {
    // 2×1 image: pixel 0 = (255, 0, 51), pixel 1 = (0, 102, 255)
    const planar = toPlanar({ data: Uint8Array.from([255, 0, 51, 0, 102, 255]), width: 2, height: 1, channels: 3 });
    assert.deepEqual([planar.width, planar.height], [2, 1]);
    const expected = [1, 0, 0, 0.4, 0.2, 1];
    planar.data.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-7, `index ${i}: ${v}`));
  });

  it('round-trips every 8-bit value exactly', () => {
    const data = new Uint8Array(256 * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 89) % 256;
    const raw = { data, width: 16, height: 16, channels: 3 as const };
    assert.deepEqual(Array.from(toRaw(toPlanar(raw)).data), Array.from(data));
  });

  it('clamps out-of-range values, rounds to nearest, maps NaN to 0', () => {
    const img = { data: Float32Array.from([-0.5, 1.7, 0.5, NaN, 0.001, 0.999]), width: 2, height: 1 };
    // planes: R = [-0.5, 1.7], G = [0.5, NaN], B = [0.001, 0.999]
    const raw = toRaw(img);
    assert.equal(raw.channels, 3);
    assert.deepEqual(Array.from(raw.data), [0, 128, 0, 255, 0, 255]);
  });

  it('rejects data of the wrong length', () => {
    assert.throws(() => toPlanar({ data: new Uint8Array(5), width: 2, height: 1, channels: 3 }), RangeError);
    assert.throws(() => toRaw({ data: new Float32Array(5), width: 2, height: 1 }), RangeError);
  });

  it('createPlanar allocates 3·W·H zeros', () => {
    const img = createPlanar(4, 3);
    assert.equal(img.data.length, 36);
    assert.ok(img.data.every((v) => v === 0));
  });
});
