/** writeFileAtomic and canonicalPath: the file-system helpers every writer of outputs uses. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFileAtomic } from '../../src/fs/atomic.js';
import { canonicalPath } from '../../src/fs/paths.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'st-fs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes bytes and strings and cleans up after a failed rename', async () => {
    const sub = join(dir, 'wfa');
    await mkdir(sub);
    await writeFileAtomic(join(sub, 'a.json'), '{"x":1}');
    await writeFileAtomic(join(sub, 'b.bin'), Uint8Array.from([1, 2, 3]));
    assert.equal(await readFile(join(sub, 'a.json'), 'utf8'), '{"x":1}');
    assert.deepEqual(Array.from(await readFile(join(sub, 'b.bin'))), [1, 2, 3]);
    // Renaming a file over a non-empty directory fails: the temp file must not be left behind.
    await mkdir(join(sub, 'occupied'));
    await writeFile(join(sub, 'occupied', 'x'), 'x');
    await assert.rejects(writeFileAtomic(join(sub, 'occupied'), 'data'));
    assert.deepEqual((await readdir(sub)).sort(), ['a.json', 'b.bin', 'occupied']);
  });
});

describe('canonicalPath', () => {
  it('gives one string for every spelling of a file, existing or not yet', async () => {
    await mkdir(join(dir, 'real'));
    await writeFile(join(dir, 'real', 'a.png'), 'x');
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const real = await canonicalPath(join(dir, 'real', 'a.png'));
    assert.equal(await canonicalPath(join(dir, 'link', '.', 'a.png')), real);
    assert.equal(await canonicalPath(join(dir, 'link', 'new.png')), await canonicalPath(join(dir, 'real', 'new.png')));
    assert.notEqual(await canonicalPath(join(dir, 'real', 'b.png')), real);
  });
});
