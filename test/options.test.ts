/** normaliseOptions: the library's option validation, without running anything. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseOptions, type StylizeOptions } from '../src/options.js';

const base: StylizeOptions = { content: 'content.jpg', style: 'style.jpg' };

describe('normaliseOptions', () => {
  it('names an unknown option once, quoted once', () => {
    assert.throws(
      () => normaliseOptions({ ...base, colour: 1 } as never),
      (err: Error & { option?: string }) => {
        assert.equal(err.name, 'OptionError');
        assert.equal(err.option, 'colour');
        assert.match(err.message, /^option colour: expected a known option \(.*\), received "colour"$/);
        return true;
      },
    );
  });
});
