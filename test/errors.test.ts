/** Errors name option keys and give hints; the CLI spells the same hint with its flags. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cliMessage } from '../src/cli/report.js';
import { checkMemory } from '../src/engine/memory.js';
import { RunError, StyleTransferError } from '../src/errors.js';

describe('error hints', () => {
  it('a run too big for memory names the size option; the library and the CLI each spell it their way', () => {
    assert.throws(
      () => checkMemory(4096, 3072, { STYLE_TRANSFER_MEMORY_LIMIT: '2G' }),
      (err: RunError) => {
        assert.equal(err.option, 'size');
        assert.match(err.message, /^a 4096x3072 run needs about [\d.]+ GiB of memory but only 2\.0 GiB is available; try \{ size: \d+ \} or smaller$/);
        assert.doesNotMatch(err.message, /--/, 'no CLI flag in a library message');
        assert.match(cliMessage(err), /^a 4096x3072 run needs .*; try --size \d+ or smaller$/);
        return true;
      },
    );
  });

  it('renders a bare key and a key with a value', () => {
    const err = new StyleTransferError('no weights', 'ERR_X', { hint: 'pass {weights=FILE} or name {model}' });
    assert.equal(err.message, 'no weights; pass { weights: FILE } or name the model option');
    assert.equal(cliMessage(err), 'no weights; pass --weights FILE or name --model');
  });
});
