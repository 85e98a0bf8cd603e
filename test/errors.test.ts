/** Errors name option keys and give hints; the CLI spells the same hint with its flags. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cliMessage } from '../src/cli/report.js';
import { planScaleMemory } from '../src/engine/memory.js';
import { RunError, StyleTransferError } from '../src/errors.js';

describe('error hints', () => {
  it('a run too big for the memory budget, even in tiles, names the size option and a size that fits', () => {
    // The planner's refusal (src/engine/memory.ts), which a Node run meets before anything is loaded.
    const vgg = { alignment: 16, halo: 80, levels: new Map([['conv5_1', 4]]) };
    assert.throws(
      () => planScaleMemory(4096, 3072, 2 * 2 ** 30, { optimizer: 'lbfgs', history: 20 }, vgg),
      (err: RunError) => {
        assert.ok(err instanceof RunError);
        assert.equal(err.option, 'size');
        assert.match(err.message, /^a 4096x3072 run needs more than the 2\.0 GiB memory budget, even in tiles; try --size \d+ or smaller, or a larger --memory$/);
        assert.equal(cliMessage(err), err.message);
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
