/**
 * Huge pages for the engine's memory (src/node/huge-pages.ts): the environment a process gets, and
 * the CLI starting itself again with it — seen from inside each process by a preloaded script that
 * records its pid and GLIBC_TUNABLES.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hugePagesEnv, hugePagesOn, withoutHugePages } from '../../src/node/huge-pages.js';
import { repoRoot } from '../helpers.js';

describe('hugePagesEnv', () => {
  it('adds glibc.malloc.hugetlb=1 to GLIBC_TUNABLES on Linux, keeping the tunables already set', () => {
    assert.equal(hugePagesEnv({}, 'linux')?.GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1');
    assert.equal(hugePagesEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, 'linux')?.GLIBC_TUNABLES, 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
    assert.equal(hugePagesEnv({ PATH: '/bin' }, 'linux')?.PATH, '/bin');
  });

  it('changes nothing when the tunable is set (to any value), when turned off, or off Linux', () => {
    assert.equal(hugePagesEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, 'linux'), undefined);
    assert.equal(hugePagesEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1' }, 'linux'), undefined);
    assert.equal(hugePagesEnv({ STYLE_TRANSFER_HUGE_PAGES: '0' }, 'linux'), undefined);
    assert.equal(hugePagesEnv({}, 'darwin'), undefined);
  });
});

describe('hugePagesOn and withoutHugePages', () => {
  it('tell whether the tunable is on, and take it out keeping the others', () => {
    assert.equal(hugePagesOn({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1' }), true);
    assert.equal(hugePagesOn({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }), false);
    assert.equal(hugePagesOn({}), false);
    assert.equal(withoutHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1', PATH: '/bin' }).GLIBC_TUNABLES, 'glibc.malloc.arena_max=2');
    assert.deepEqual(withoutHugePages({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', PATH: '/bin' }), { PATH: '/bin' });
  });
});

describe('the CLI with huge pages', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  let dir: string;
  let preload: string;
  let log: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'st-huge-'));
    log = path.join(dir, 'processes.log');
    preload = path.join(dir, 'record.cjs');
    await writeFile(preload, `require('fs').appendFileSync(${JSON.stringify(log)}, process.pid + ' ' + (process.env.GLIBC_TUNABLES ?? '-') + '\\n');\n`);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  /** Runs bin/style-transfer.js with `args` and the environment without GLIBC_TUNABLES; the processes it ran and their tunables. */
  async function cli(args: string[], extra: NodeJS.ProcessEnv = {}) {
    await rm(log, { force: true });
    const { GLIBC_TUNABLES: _, ...env } = process.env;
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/style-transfer.js'), ...args], {
      env: { ...env, ...extra, NODE_OPTIONS: `--require ${preload}` },
      encoding: 'utf8',
    });
    const seen = new Map(
      (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string]),
    );
    return { ...r, tunables: [...new Set(seen.values())] };
  }

  it('starts itself again with the tunable, and passes on its output and exit status', async () => {
    const version = await cli(['--version']);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    assert.deepEqual(version.tunables, ['-', 'glibc.malloc.hugetlb=1'], 'the launcher without, the CLI with');
    const bad = await cli(['no-such-photo.jpg', 'no-such-painting.jpg', '-o', path.join(dir, 'out.png')]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^error: content image not found: no-such-photo\.jpg$/m);
  });

  it('runs once, as it is, when turned off with STYLE_TRANSFER_HUGE_PAGES=0', async () => {
    const r = await cli(['--version'], { STYLE_TRANSFER_HUGE_PAGES: '0' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.tunables, ['-']);
  });
});
