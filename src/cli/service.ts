/**
 * What the long-running commands (serve, worker) share: one way to read their flags and one way
 * to wait until they are told to stop.
 */
import { parseCommandLine, UsageError, type FlagSpec } from './args.js';

/** A flag of a long-running command; a numeric one may carry its allowed range. */
export type ServiceFlag = FlagSpec & { min?: number; max?: number };

/**
 * The flag values of `style-transfer <command>`, or 'help'. Refuses positionals, repeated flags,
 * empty values and numbers out of their range, with a UsageError naming the flag.
 */
export function parseServiceFlags(args: readonly string[], flags: readonly ServiceFlag[], command: string): Map<string, unknown> | 'help' {
  const { positionals, values, given } = parseCommandLine(args, flags, `style-transfer ${command} --help`);
  if (values.get('help') === true) return 'help';
  if (positionals.length > 0) throw new UsageError(command, `no arguments besides options (see style-transfer ${command} --help)`, positionals[0]);
  const twice = given.find((f, i) => given.indexOf(f) !== i);
  if (twice) throw new UsageError(`--${twice}`, 'one value (it was given twice)', values.get(twice));
  for (const spec of flags) {
    const value = values.get(spec.flag);
    if (value === undefined) continue;
    if (value === '') throw new UsageError(`--${spec.flag}`, `a value (${spec.value ?? ''})`, value);
    if (spec.min !== undefined && spec.max !== undefined && ((value as number) < spec.min || (value as number) > spec.max)) {
      throw new UsageError(`--${spec.flag}`, `${spec.kind === 'int' ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max}`, value);
    }
  }
  return values;
}

/** Resolves on the first SIGINT, SIGTERM or abort of `signal` (at once if it is aborted already). */
export function untilStopped(signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    if (signal?.aborted) return stop();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    signal?.addEventListener('abort', stop);
  });
}
