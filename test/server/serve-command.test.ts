/** `style-transfer serve`: argument parsing, the printed URL, and a clean stop on abort and on SIGTERM. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseServeArgs, runServeCommand } from '../../src/cli/serve-command.js';
import { tempDataDir } from './helpers.js';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c) => (text += c));
  return { stream, text: () => text };
}

describe('serve command', () => {
  it('parses its flags', () => {
    assert.deepEqual(parseServeArgs(['--port', '9000', '--host', '0.0.0.0', '--data-dir', '/tmp/x', '--concurrency=2']), {
      port: 9000,
      host: '0.0.0.0',
      dataDir: '/tmp/x',
      concurrency: 2,
      weights: undefined,
    });
    assert.equal(parseServeArgs(['--help']), 'help');
    const usage = (message: RegExp) => (err: Error) => err.name === 'UsageError' && message.test(err.message);
    assert.throws(() => parseServeArgs(['--port', '70000']), usage(/^option --port: expected an integer from 0 to 65535, received 70000$/));
    assert.throws(() => parseServeArgs(['--port', 'http']), usage(/^option --port: expected an integer, received "http"$/));
    assert.throws(() => parseServeArgs(['--port']), usage(/^option --port: expected a value \(N\), received undefined$/));
    assert.throws(() => parseServeArgs(['--port', '1', '--port=2']), usage(/^option --port: expected one value \(it was given twice\), received 2$/));
    assert.throws(() => parseServeArgs(['--verbose']), usage(/^option --verbose: expected a known flag \(see style-transfer serve --help\)/));
    assert.throws(() => parseServeArgs(['extra']), usage(/^option serve: expected no arguments besides options .*, received "extra"$/));
  });

  it('prints usage errors and help with exit codes 2 and 0', async () => {
    const out = capture();
    const err = capture();
    assert.equal(await runServeCommand(['--nope'], { stdout: out.stream, stderr: err.stream }), 2);
    assert.equal(err.text(), 'error: --nope: expected a known flag (see style-transfer serve --help), received "--nope"\n');
    assert.equal(await runServeCommand(['-h'], { stdout: out.stream, stderr: err.stream }), 0);
    assert.match(out.text(), /^Usage: style-transfer serve \[options\]/);
  });

  it('prints the URL, serves, and stops cleanly when aborted', async () => {
    const dataDir = await tempDataDir();
    const out = capture();
    const err = capture();
    const controller = new AbortController();
    try {
      const exit = runServeCommand(['--port', '0', '--data-dir', dataDir], { stdout: out.stream, stderr: err.stream }, { signal: controller.signal });
      while (!/http:\/\//.test(out.text())) await new Promise((r) => setTimeout(r, 20));
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out.text())![1];
      const config = await (await fetch(`${url}api/config`)).json();
      assert.equal(config.limits.maxStyles, 4);
      assert.ok(config.optionKeys.includes('styleWeight') && !config.optionKeys.includes('weights'));
      controller.abort();
      assert.equal(await exit, 0);
      assert.match(out.text(), /stopped\n$/);
      await assert.rejects(fetch(`${url}api/config`), 'the port is closed');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('reports a port in use with exit code 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = await tempDataDir();
    const err = capture();
    try {
      assert.equal(await runServeCommand(['--port', String(port), '--data-dir', dataDir], { stdout: new PassThrough(), stderr: err.stream }), 1);
      assert.equal(err.text(), `error: cannot listen on 127.0.0.1:${port}: the port is in use (try --port)\n`);
    } finally {
      blocker.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('stops on SIGTERM in its own process with exit code 0', async () => {
    const dataDir = await tempDataDir();
    const module = fileURLToPath(new URL('../../src/cli/serve-command.ts', import.meta.url));
    const script = `import { runServeCommand } from ${JSON.stringify(module)}; process.exitCode = await runServeCommand(['--port', '0', '--data-dir', ${JSON.stringify(dataDir)}], process);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c) => (stdout += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      while (!/http:\/\//.test(stdout)) {
        if (Date.now() > deadline) throw new Error(`no URL printed: ${stdout}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)![1];
      assert.equal((await fetch(`${url}api/jobs`)).status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(stdout, /stopping: finishing open requests, saving job states\nstopped\n$/);
    } finally {
      child.kill();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
