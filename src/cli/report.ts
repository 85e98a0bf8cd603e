/**
 * How every command reports a failure: one line, `error: …`, on stderr, with the library's option
 * keys spelled as this command line's flags, and the exit code: 2 for usage and option errors,
 * 1 for the rest.
 */
import { describe, OptionError, renderHint, StyleTransferError } from '../errors.js';
import { flagForOption } from './args.js';

/** The flag for an option key (`size` → `--size`); a name that already is a flag stays as it is. */
function flag(option: string): string {
  return option.startsWith('-') || option.includes(' ') ? option : flagForOption(option);
}

/** The error as the command line says it. */
export function cliMessage(err: StyleTransferError): string {
  if (err instanceof OptionError) return `${flag(err.option)}: expected ${err.expected}, received ${describe(err.received)}`;
  if (err.hint === undefined) return err.message;
  return `${err.summary}; ${renderHint(err.hint, (key, value) => (value === undefined ? flag(key) : `${flag(key)} ${value}`))}`;
}

/** Print `err` as one line and return the exit code. */
export function reportError(stderr: NodeJS.WritableStream, err: unknown): number {
  if (err instanceof StyleTransferError) {
    stderr.write(`error: ${cliMessage(err).split('\n')[0]}\n`);
    return err instanceof OptionError ? 2 : 1;
  }
  // Anything else is a bug in this program, not the user's fault: still one line, plus where to look.
  const message = err instanceof Error ? err.message : String(err);
  stderr.write(`error: ${message.split('\n')[0]} (unexpected; set STYLE_TRANSFER_DEBUG=1 for details)\n`);
  if (process.env.STYLE_TRANSFER_DEBUG) stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  return 1;
}
