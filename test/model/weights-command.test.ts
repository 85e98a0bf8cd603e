import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { runWeightsCommand } from '../../src/cli/weights-command.js';
import { CAFFE_RGB_CONVENTION } from '../../src/model/convention.js';
import type { ModelVariant } from '../../src/model/registry.js';
import { closedPort, FileServer } from './http-fixture.js';

const sharedBytes = readFileSync(new URL('../../../shared/weights/vgg19-caffe-q8.safetensors', import.meta.url));
const prefix = createHash('sha256').update(sharedBytes).digest('hex').slice(0, 10);
const server = new FileServer();
let home = '';
let registry: ModelVariant[] = [];

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

async function run(args: string[], tty = false, env: Record<string, string> = {}) {
  const stdout = new Capture();
  const stderr = new Capture(tty);
  const code = await runWeightsCommand(args, { stdout, stderr }, { registry, env: { STYLE_TRANSFER_HOME: home, ...env } });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

before(async () => {
  const base = await server.start();
  home = await mkdtemp(join(tmpdir(), 'st-cli-'));
  server.files.set(`/m/q8-${prefix}.safetensors`, { body: sharedBytes });
  registry = [
    { name: 'q8', description: 'test weights', url: `${base}/m/q8-${prefix}.safetensors`, sizeBytes: sharedBytes.length, convention: CAFFE_RGB_CONVENTION },
    { name: 'other', description: 'never downloaded', url: `${base}/m/other-abcdef12.pth`, sizeBytes: 5 * 1024 * 1024, convention: CAFFE_RGB_CONVENTION },
  ];
});
after(async () => {
  await server.stop();
  await rm(home, { recursive: true, force: true });
});

test('--help prints usage and exits 0; no command exits 2', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: style-transfer weights <command>/);
  assert.equal((await run([])).code, 2);
});

test('list, download with a TTY progress line, list again, verify, path', async () => {
  const before = await run(['list']);
  assert.equal(before.code, 0);
  assert.match(before.stdout, /q8: test weights\n {2}not downloaded \(~76\.4 MiB download\)\n {2}.*q8\.conv\.safetensors/);

  const dl = await run(['download', 'q8'], true);
  assert.equal(dl.code, 0, dl.stderr);
  assert.match(dl.stderr, /\rdownloading .*q8-[0-9a-f]+\.safetensors: 100\.0% \(76\.4 MiB of 76\.4 MiB\)/);
  assert.match(dl.stdout, new RegExp(`downloaded q8 to ${join(home, 'q8.conv.safetensors').replace(/[.]/g, '\\.')}`));

  const again = await run(['download', 'q8']);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /q8 is already downloaded/);
  assert.equal(server.requests.length, 1);

  assert.match((await run(['list'])).stdout, /q8: test weights\n {2}cached, 76\.4 MiB \(conv layers only\)/);
  const ok = await run(['verify', 'q8']);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /q8: OK \(.*sha256 [0-9a-f]{64}\)/);
  assert.deepEqual(await run(['path', 'q8']), { code: 0, stdout: `${join(home, 'q8.conv.safetensors')}\n`, stderr: '' });
});

test('verify of a corrupted file fails with one error line; download repairs it', async () => {
  const path = join(home, 'q8.conv.safetensors');
  const bytes = await readFile(path);
  bytes[1000] ^= 0xff;
  await writeFile(path, bytes);
  const bad = await run(['verify', 'q8']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: .*q8\.conv\.safetensors is corrupt: SHA-256 .*\n$/);
  const repaired = await run(['download', 'q8']);
  assert.equal(repaired.code, 0, repaired.stderr);
  assert.match(repaired.stderr, /^downloading .* \(76\.4 MiB\)\.\.\.\ndownloaded 76\.4 MiB\n$/);
  assert.equal((await run(['verify', 'q8'])).code, 0);
});

test('user errors are one `error:` line and a non-zero exit code', async () => {
  // Usage errors exit 2, like every command's.
  const unknown = await run(['download', 'alexnet']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'error: variant: expected one of q8, other, received "alexnet"\n');
  assert.deepEqual(await run(['frobnicate']), {
    code: 2,
    stdout: '',
    stderr: 'error: command: expected one of list, download, verify, path (see style-transfer weights --help), received "frobnicate"\n',
  });
  assert.deepEqual(await run(['list', '--nope']), { code: 2, stdout: '', stderr: 'error: --nope: expected a known flag (see style-transfer weights --help), received "--nope"\n' });
  assert.equal((await run(['list', 'q8'])).code, 2);
  assert.equal((await run(['path', 'q8', 'other'])).code, 2);
  assert.match((await run(['verify', 'other'])).stderr, /^error: model other is not downloaded/);
  const port = await closedPort();
  const offline = await run(['download', 'other'], false, { STYLE_TRANSFER_MIRROR: `http://127.0.0.1:${port}/` });
  assert.equal(offline.code, 1);
  assert.equal(
    offline.stderr,
    `error: could not download http://127.0.0.1:${port}/other-abcdef12.pth: connection refused (offline?); download it by hand and put it at ${join(home, 'other-abcdef12.pth')}, or pass --weights FILE\n`,
  );
});
