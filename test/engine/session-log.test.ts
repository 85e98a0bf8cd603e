/** ONNX Runtime's own log lines never reach the user's terminal; its failures still arrive as errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

describe('StyleEngine logging', () => {
  it('a failing run rejects without ONNX Runtime writing to stderr', () => {
    const script = fileURLToPath(new URL('./fixtures/ort-failure.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^rejected: /, 'the run failed inside ONNX Runtime');
    assert.equal(r.stderr, '', 'nothing on stderr');
  });
});
