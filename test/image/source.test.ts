/** loadImageSource: paths, encoded bytes and pixels, with the role named once in errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadImageSource } from '../../src/image/source.js';

describe('loadImageSource', () => {
  it('names the role once for empty or malformed bytes', async () => {
    await assert.rejects(loadImageSource(new Uint8Array(0), 'content image', 1e6), { name: 'ImageError', message: 'content image is empty (0 bytes)' });
    await assert.rejects(loadImageSource(new TextEncoder().encode('not a picture'), 'style image', 1e6), {
      name: 'ImageError',
      message: /^style image is not an image in a supported format/,
    });
  });
});
