import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import sharp, { type SharpOptions } from 'sharp';
import { ImageError, OptionError } from '../../src/errors.js';
import type { RawImage } from '../../src/image/image.js';
import { decodeImage, decodeImageBytes, encodeImage, encodeImageBytes, outputFormatFor } from '../../src/image/io.js';

const dogPath = new URL('../../../shared/images/dog.jpg', import.meta.url).pathname;

/** A deterministic 40×30 RGB test pattern. */
function pattern(width = 40, height = 30): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((x / (width - 1)) * 255);
      data[i + 1] = Math.round((y / (height - 1)) * 255);
      data[i + 2] = (x * 7 + y * 13) % 256;
    }
  }
  return { data, width, height, channels: 3 };
}

function rawSharp(img: RawImage) {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** A minimal PNG with the given IHDR size and an empty image stream. */
function pngWithSize(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(0))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'st-image-io-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('decodeImage', () => {
  it('decodes a real JPEG to 8-bit RGB of the right size', async () => {
    const img = await decodeImage(dogPath);
    const meta = await sharp(dogPath).metadata();
    assert.equal(img.channels, 3);
    assert.equal(img.width, meta.width);
    assert.equal(img.height, meta.height);
    assert.equal(img.data.length, img.width * img.height * 3);
    assert.ok(img.data instanceof Uint8Array);
  });

  it('round-trips a lossless PNG exactly', async () => {
    const src = pattern();
    const path = join(dir, 'pattern.png');
    await rawSharp(src).png().toFile(path);
    const img = await decodeImage(path);
    assert.deepEqual([img.width, img.height], [40, 30]);
    assert.deepEqual(Array.from(img.data), Array.from(src.data));
  });

  it('converts a 16-bit PNG to 8 bits without changing the values', async () => {
    const src = pattern();
    const bytes = await rawSharp(src).toColourspace('rgb16').png().toBuffer();
    assert.equal((await sharp(bytes).metadata()).depth, 'ushort');
    const img = await decodeImageBytes(bytes, 'deep.png');
    assert.deepEqual(Array.from(img.data), Array.from(src.data));
  });

  it('expands a grey PNG to three equal channels', async () => {
    const bytes = await rawSharp(pattern()).toColourspace('b-w').png().toBuffer();
    assert.equal((await sharp(bytes).metadata()).channels, 1);
    const greyValues = await sharp(bytes).extractChannel(0).raw().toBuffer();
    assert.equal(greyValues.length, 40 * 30);
    const img = await decodeImageBytes(bytes, 'grey.png');
    assert.equal(img.data.length, 40 * 30 * 3);
    for (let i = 0; i < 40 * 30; i++) {
      assert.equal(img.data[i * 3], greyValues[i]);
      assert.equal(img.data[i * 3 + 1], greyValues[i]);
      assert.equal(img.data[i * 3 + 2], greyValues[i]);
    }
  });

  it('flattens grey+alpha and RGBA onto white', async () => {
    // grey, alpha: opaque black, transparent, half-transparent 200, opaque 50
    const ga = await sharp(Buffer.from([0, 255, 100, 0, 200, 128, 50, 255]), { raw: { width: 2, height: 2, channels: 2 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    assert.equal((await sharp(ga).metadata()).channels, 2);
    const g = await decodeImageBytes(ga, 'ga.png');
    // composite: v·a + 255·(1 − a); 200·128/255 + 255·127/255 = 227.4
    assert.deepEqual(Array.from(g.data), [0, 0, 0, 255, 255, 255, 227, 227, 227, 50, 50, 50]);

    const rgba = await sharp(Buffer.from([255, 0, 0, 0, 0, 0, 255, 128, 10, 200, 30, 255]), { raw: { width: 3, height: 1, channels: 4 } })
      .png()
      .toBuffer();
    const c = await decodeImageBytes(rgba, 'rgba.png');
    // transparent red → white; blue at 128/255 → (127, 127, 255); opaque stays
    assert.deepEqual(Array.from(c.data), [255, 255, 255, 127, 127, 255, 10, 200, 30]);
  });

  it('converts a CMYK JPEG to RGB close to the original colours', async () => {
    // Muted colours (64..192), inside the CMYK gamut, so the round trip can come back close.
    const src = pattern();
    for (let i = 0; i < src.data.length; i++) src.data[i] = 64 + (src.data[i] >> 1);
    const path = join(dir, 'cmyk.jpg');
    await rawSharp(src).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(path);
    const meta = await sharp(path).metadata();
    assert.equal(meta.space, 'cmyk');
    assert.equal(meta.channels, 4);
    const img = await decodeImage(path);
    assert.deepEqual([img.width, img.height, img.channels], [40, 30, 3]);
    // CMYK → RGB through the profiles and JPEG loss is not exact, but stays close (a misread CMYK
    // — inverted or channels dropped — is off by ~100 levels).
    assert.ok(meanAbsDiff(img.data, src.data) < 12, `mean abs diff ${meanAbsDiff(img.data, src.data)}`);
  });

  it('converts an ICC-profiled (Display P3) PNG to sRGB', async () => {
    const src = { data: Uint8Array.from([200, 100, 50, 30, 180, 90]), width: 2, height: 1, channels: 3 as const };
    const bytes = await rawSharp(src).withIccProfile('p3').png().toBuffer();
    const stored = await sharp(bytes, { ignoreIcc: true }).raw().toBuffer();
    // The file stores P3 values, clearly different from the sRGB ones...
    assert.ok(meanAbsDiff(stored, src.data) > 5);
    // ...and decoding honours the profile, giving back the sRGB colours.
    const img = await decodeImageBytes(bytes, 'p3.png');
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(img.data[i] - src.data[i]) <= 2, `channel ${i}: ${img.data[i]} vs ${src.data[i]}`);
  });

  it('applies EXIF orientation 6 (width and height swap, rotated clockwise)', async () => {
    const src = pattern();
    const path = join(dir, 'rotated.jpg');
    await rawSharp(src).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(path);
    const meta = await sharp(path).metadata();
    assert.equal(meta.orientation, 6);
    assert.deepEqual([meta.width, meta.height], [40, 30]);
    const img = await decodeImage(path);
    assert.deepEqual([img.width, img.height], [30, 40]);
    // Orientation 6 means "rotate 90° clockwise to display": the stored top-left pixel
    // (red 0, green 0) ends at the top-right, and the stored bottom-left (green 255) at the top-left.
    const at = (x: number, y: number) => Array.from(img.data.subarray((y * 30 + x) * 3, (y * 30 + x) * 3 + 2));
    const [r0, g0] = at(29, 0);
    assert.ok(r0 < 20 && g0 < 20, `top-right ${r0},${g0}`);
    const [r1, g1] = at(0, 0);
    assert.ok(r1 < 20 && g1 > 235, `top-left ${r1},${g1}`);
  });

  it('reads WebP, AVIF, TIFF and the first frame of a GIF', async () => {
    const src = pattern();
    for (const [name, bytes] of [
      ['a.webp', await rawSharp(src).webp({ lossless: true }).toBuffer()],
      ['a.avif', await rawSharp(src).avif({ quality: 90 }).toBuffer()],
      ['a.tiff', await rawSharp(src).tiff({ compression: 'lzw' }).toBuffer()],
    ] as const) {
      const img = await decodeImageBytes(bytes, name);
      assert.deepEqual([img.width, img.height], [40, 30], name);
      assert.ok(meanAbsDiff(img.data, src.data) < 6, name);
    }
    // A two-frame animated GIF, frames stacked vertically: frame 0 black, frame 1 white.
    const frames = new Uint8Array(8 * 16 * 3);
    frames.fill(255, 8 * 8 * 3);
    const gif = await sharp(frames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } } as SharpOptions)
      .gif()
      .toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const first = await decodeImageBytes(gif, 'anim.gif');
    assert.deepEqual([first.width, first.height], [8, 8]);
    assert.ok(first.data.every((v) => v === 0));
  });

  it('reports a missing file with its role', async () => {
    const missing = join(dir, 'nope.jpg');
    await assert.rejects(decodeImage(missing, { role: 'content image' }), (err: unknown) => {
      assert.ok(err instanceof ImageError);
      assert.equal(err.message, `content image not found: ${missing}`);
      assert.equal(err.path, missing);
      return true;
    });
    await assert.rejects(decodeImage(missing), { message: `image not found: ${missing}` });
  });

  it('reports a directory', async () => {
    await assert.rejects(decodeImage(dir, { role: 'style image' }), { name: 'ImageError', message: `style image is a directory, not a file: ${dir}` });
  });

  it('reports a text file named .png as not an image', async () => {
    const path = join(dir, 'notes.png');
    await writeFile(path, 'these are my notes, not a picture\n');
    await assert.rejects(decodeImage(path, { role: 'style image' }), (err: unknown) => {
      assert.ok(err instanceof ImageError);
      assert.equal(err.message, `style image ${path} is not an image in a supported format (JPEG, PNG, WebP, AVIF, TIFF, GIF)`);
      return true;
    });
  });

  it('reports an empty file', async () => {
    const path = join(dir, 'empty.jpg');
    await writeFile(path, '');
    await assert.rejects(decodeImage(path), { name: 'ImageError', message: `image ${path} is empty (0 bytes)` });
  });

  it('reports a truncated JPEG instead of decoding a grey bottom half', async () => {
    const whole = await readFile(dogPath);
    const path = join(dir, 'truncated.jpg');
    await writeFile(path, whole.subarray(0, Math.floor(whole.length / 2)));
    await assert.rejects(decodeImage(path, { role: 'content image' }), (err: unknown) => {
      assert.ok(err instanceof ImageError);
      assert.match(err.message, new RegExp(`^content image ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is truncated or corrupt: .+`));
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  });

  it('reports a truncated PNG', async () => {
    const whole = await rawSharp(pattern()).png().toBuffer();
    await assert.rejects(decodeImageBytes(whole.subarray(0, whole.length - 40), 'cut.png'), {
      name: 'ImageError',
      message: /^image cut\.png is truncated or corrupt: /,
    });
  });

  it('reports an image with zero pixels', async () => {
    await assert.rejects(decodeImageBytes(pngWithSize(0, 5), 'zero.png'), { name: 'ImageError', message: 'image zero.png has no pixels (0x5)' });
  });

  it('refuses images above maxPixels and says the limit', async () => {
    await assert.rejects(decodeImage(dogPath, { maxPixels: 500_000, role: 'content image' }), {
      name: 'ImageError',
      message: `content image ${dogPath} is too large: 1024x768 = 786432 pixels, the limit is 500000 pixels (maxPixels)`,
    });
    // The default limit (100 megapixels) is checked from the header, before any pixel is decoded.
    await assert.rejects(decodeImageBytes(pngWithSize(20_000, 6_000), 'huge.png'), {
      name: 'ImageError',
      message: 'image huge.png is too large: 20000x6000 = 120 megapixels, the limit is 100 megapixels (maxPixels)',
    });
    await assert.rejects(decodeImage(dogPath, { maxPixels: 0 }), OptionError);
  });

  it('refuses formats outside the list (SVG)', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
    await assert.rejects(decodeImageBytes(svg, 'x.svg'), {
      name: 'ImageError',
      message: 'image x.svg is in an unsupported format (svg); accepted: JPEG, PNG, WebP, AVIF, TIFF, GIF',
    });
  });
});

describe('encodeImage', () => {
  it('writes PNG losslessly, JPEG and WebP close, by extension', async () => {
    const src = pattern();
    for (const [file, format, maxDiff] of [
      ['out.png', 'png', 0],
      ['out.JPG', 'jpeg', 4],
      ['out.jpeg', 'jpeg', 4],
      ['out.webp', 'webp', 6],
    ] as const) {
      const path = join(dir, file);
      await encodeImage(src, path);
      const meta = await sharp(path).metadata();
      assert.equal(meta.format, format, file);
      const back = await decodeImage(path);
      assert.ok(meanAbsDiff(back.data, src.data) <= maxDiff, `${file}: ${meanAbsDiff(back.data, src.data)}`);
    }
  });

  it('honours quality and validates it', async () => {
    const src = pattern(64, 64);
    const low = await encodeImageBytes(src, 'jpeg', { quality: 10 });
    const high = await encodeImageBytes(src, 'jpeg', { quality: 100 });
    assert.ok(low.length < high.length);
    await assert.rejects(encodeImageBytes(src, 'jpeg', { quality: 0 }), { name: 'OptionError', message: 'option quality: expected an integer from 1 to 100, received 0' });
    await assert.rejects(encodeImageBytes(src, 'webp', { quality: 101 }), OptionError);
  });

  it('rejects an unknown extension, listing the accepted ones', async () => {
    const path = join(dir, 'out.bmp');
    await assert.rejects(encodeImage(pattern(), path), {
      name: 'ImageError',
      message: `cannot write ${path}: unknown output extension ".bmp"; accepted: .png, .jpg, .jpeg, .webp`,
    });
    assert.throws(() => outputFormatFor('noext'), { message: 'cannot write noext: unknown output extension (none); accepted: .png, .jpg, .jpeg, .webp' });
  });

  it('refuses to overwrite a protected input, however it is spelled', async () => {
    const input = join(dir, 'protect', 'content.png');
    await mkdir(join(dir, 'protect'));
    await encodeImage(pattern(), input);
    const before = await readFile(input);
    const link = join(dir, 'protect-link');
    await symlink(join(dir, 'protect'), link);
    for (const target of [input, join(dir, 'protect', '.', 'content.png'), join(link, 'content.png')]) {
      await assert.rejects(encodeImage(pattern(8, 8), target, { protect: [input] }), {
        name: 'ImageError',
        message: `refusing to overwrite the input image ${input} with the output ${target}`,
      });
    }
    assert.deepEqual(await readFile(input), before);
    // A different path is fine.
    await encodeImage(pattern(8, 8), join(dir, 'protect', 'out.png'), { protect: [input] });
  });

  it('writes atomically: replaces an existing file, leaves no temporary files', async () => {
    const sub = join(dir, 'atomic');
    await mkdir(sub);
    const path = join(sub, 'result.png');
    await encodeImage(pattern(), path);
    await encodeImage(pattern(10, 10), path);
    assert.deepEqual([(await decodeImage(path)).width], [10]);
    assert.deepEqual(await readdir(sub), ['result.png']);
  });

  it('reports an unwritable destination as an ImageError and leaves nothing behind', async () => {
    const path = join(dir, 'no-such-dir', 'out.png');
    await assert.rejects(encodeImage(pattern(), path), { name: 'ImageError', message: new RegExp(`^cannot write output image ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `) });
  });
});
