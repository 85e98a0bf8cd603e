/**
 * Command-line arguments: the one parser every command (main, weights, serve) uses, and the main
 * command's flag table, derived from the library's OPTION_SPECS (so flags, help text and defaults
 * never drift from stylize()'s options) plus the few flags that only make sense on a command line.
 */
import { parseArgs } from 'node:util';
import { OptionError } from '../errors.js';
import { OPTION_SPECS, PRESETS, type OptionSpec, type StylizeOptions } from '../options.js';

/** One flag of a command: its spelling, the value it takes, and its line in the help. */
export interface FlagSpec {
  readonly flag: string;
  readonly short?: string;
  readonly kind: OptionSpec['kind'];
  /** Placeholder for the value in help and in "expected a value (PX)". */
  readonly value?: string;
  readonly doc: string;
  /** Given once per style image: every value is kept, in order (see ParsedCommandLine.values). */
  readonly repeat?: boolean;
}

/** Flags of the CLI itself (not stylize() options). */
export const CLI_FLAGS = [
  { flag: 'output', short: 'o', kind: 'string', value: 'FILE', doc: 'output image (.png, .jpg, .webp); required' },
  { flag: 'quiet', short: 'q', kind: 'boolean', doc: 'print nothing but errors' },
  { flag: 'json', kind: 'boolean', doc: 'print one JSON object per line (iteration events, then done) instead of a progress bar' },
  { flag: 'save-every', kind: 'int', value: 'N', doc: 'also write the image every N iterations (FILE-s<scale>-<iteration>.<ext>)' },
  { flag: 'sheet', kind: 'string', value: 'FILE', doc: 'write a side-by-side picture: content | style(s) | result' },
  { flag: 'loss-plot', kind: 'string', value: 'FILE', doc: 'write the loss curve (.svg or .png)' },
  { flag: 'help', short: 'h', kind: 'boolean', doc: 'show this help' },
  { flag: 'version', kind: 'boolean', doc: 'show the version' },
] as const satisfies readonly FlagSpec[];

export interface CliArgs {
  readonly positionals: string[];
  readonly output: string | undefined;
  readonly quiet: boolean;
  readonly json: boolean;
  readonly saveEvery: number | undefined;
  readonly sheet: string | undefined;
  readonly lossPlot: string | undefined;
  readonly help: boolean;
  readonly version: boolean;
  /** stylize() options given on the command line (content/style filled in by the caller). */
  readonly options: Partial<StylizeOptions>;
}

/** A usage error: the CLI prints it and exits 2. */
export class UsageError extends OptionError {}

function parseValue(flag: string, kind: OptionSpec['kind'], text: string): unknown {
  const bad = (expected: string) => new UsageError(`--${flag}`, expected, text);
  const number = (s: string) => {
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v)) throw bad(kind === 'int' ? 'an integer' : 'a number');
    return v;
  };
  switch (kind) {
    case 'int': {
      const v = number(text);
      if (!Number.isInteger(v)) throw bad('an integer');
      return v;
    }
    case 'number':
      return number(text);
    case 'numbers':
      return text.split(',').map((s) => number(s));
    case 'strings':
      return text.split(',').map((s) => s.trim());
    case 'boolean':
      if (['true', 'yes', '1'].includes(text)) return true;
      if (['false', 'no', '0'].includes(text)) return false;
      throw bad('true or false');
    default:
      return text;
  }
}

export interface ParsedCommandLine {
  readonly positionals: string[];
  /** Values by flag name, parsed by the flag's kind; a repeated flag keeps its last value, unless it is a `repeat` flag: then the list of its values. */
  readonly values: Map<string, unknown>;
  /** Flags in the order given, repeats included (for commands that refuse repeats). */
  readonly given: string[];
}

/**
 * The one argument parser of every command (main, weights, serve): node's util.parseArgs splits
 * the tokens (`--flag value`, `--flag=value`, `-o value`, `-qo value`, `--` ending the flags), and
 * the command's flag table decides what they mean. A boolean takes `--flag`, `--no-flag` or
 * `--flag=false`; a value may start with a dash (a negative number). Throws UsageError; `help`
 * is how an unknown flag's message says to get the list.
 */
export function parseCommandLine(argv: readonly string[], flags: readonly FlagSpec[], help = '--help'): ParsedCommandLine {
  const byFlag = new Map(flags.map((f) => [f.flag, f]));
  const { tokens } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(flags.map((f) => [f.flag, { type: f.kind === 'boolean' ? 'boolean' : 'string', ...(f.short ? { short: f.short } : {}) }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const positionals: string[] = [];
  const values = new Map<string, unknown>();
  const given: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    const negated = !byFlag.has(token.name) && token.name.startsWith('no-') && byFlag.get(token.name.slice(3))?.kind === 'boolean';
    const spec = byFlag.get(negated ? token.name.slice(3) : token.name);
    if (!spec) throw new UsageError(token.rawName, `a known flag (see ${help})`, token.rawName);
    let value: unknown;
    if (spec.kind === 'boolean') {
      if (negated && token.value !== undefined) throw new UsageError(token.rawName, 'no value', token.value);
      value = negated ? false : token.value === undefined ? true : parseValue(spec.flag, spec.kind, token.value);
    } else {
      if (token.value === undefined) throw new UsageError(`--${spec.flag}`, `a value${spec.value ? ` (${spec.value})` : ''}`, undefined);
      value = parseValue(spec.flag, spec.kind, token.value);
    }
    values.set(spec.flag, spec.repeat ? [...((values.get(spec.flag) as unknown[] | undefined) ?? []), value] : value);
    given.push(spec.flag);
  }
  return { positionals, values, given };
}

/** Parse the main command's argv (without node and script). Throws UsageError for unknown flags and malformed values. */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  const { positionals, values } = parseCommandLine(argv, [...CLI_FLAGS, ...OPTION_SPECS]);
  const options: Record<string, unknown> = {};
  for (const spec of OPTION_SPECS) {
    if (!values.has(spec.flag)) continue;
    const value = values.get(spec.flag);
    // --style-layer-weights once: one list for every style; once per style: a list each.
    options[spec.key] = spec.repeat && spec.kind === 'numbers' && (value as unknown[]).length === 1 ? (value as unknown[])[0] : value;
  }
  return {
    positionals,
    output: values.get('output') as string | undefined,
    quiet: values.get('quiet') === true,
    json: values.get('json') === true,
    saveEvery: values.get('save-every') as number | undefined,
    sheet: values.get('sheet') as string | undefined,
    lossPlot: values.get('loss-plot') as string | undefined,
    help: values.get('help') === true,
    version: values.get('version') === true,
    options: options as Partial<StylizeOptions>,
  };
}

/** An OptionError from the library names the option key; on the command line, name the flag. */
export function flagForOption(key: string): string {
  const spec = OPTION_SPECS.find((s) => s.key === key);
  return spec ? `--${spec.flag}` : key;
}

function defaultsText(spec: OptionSpec): string {
  if (spec.tuning) {
    const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : typeof v === 'number' ? String(+v.toPrecision(6)) : String(v));
    const values = Object.entries(PRESETS).map(([name, preset]) => [name, show((preset as unknown as Record<string, unknown>)[spec.key])]);
    if (values.every(([, v]) => v === values[0][1])) return ` [default ${values[0][1]}]`;
    return ` [${values.map(([name, v]) => `${name}: ${v}`).join('; ')}]`;
  }
  return spec.default !== undefined ? ` [default ${String(spec.default)}]` : '';
}

export function helpText(): string {
  const line = (left: string, doc: string) => `  ${left.padEnd(34)} ${doc}`;
  const optionLines = OPTION_SPECS.map((s) => {
    const value = s.kind === 'boolean' ? '' : ` ${s.value ?? (s.choices ? s.choices.join('|') : 'VALUE')}`;
    const choices = s.choices && s.value ? ` (${s.choices.length > 6 ? 'conv1_1..conv5_4' : s.choices.join('|')})` : '';
    return line(`--${s.flag}${value}`, `${s.doc}${choices}${defaultsText(s)}`);
  });
  const cliLines = CLI_FLAGS.map((f) => line(`${'short' in f ? `-${f.short}, ` : ''}--${f.flag}${'value' in f ? ` ${f.value}` : ''}`, f.doc));
  return [
    'Usage: style-transfer <content> <style> [<style>...] -o <output> [options]',
    '       style-transfer weights <list|download|verify|path> [variant]',
    '       style-transfer serve [--port 8080] [--host 127.0.0.1] [--data-dir DIR] [--redis URL]',
    '       style-transfer worker --redis URL [--concurrency 1] [--threads N] [--data-dir DIR]',
    '',
    'Repaints the content photo in the style of the style image(s): neural style transfer',
    '(Gatys et al., CVPR 2016) with VGG-19 on ONNX Runtime.',
    '',
    'Output:',
    ...cliLines,
    '',
    'Options (defaults come from the preset; any option overrides it):',
    ...optionLines,
    '',
    'Environment: STYLE_TRANSFER_WEIGHTS (weights file), STYLE_TRANSFER_HOME (cache folder),',
    'STYLE_TRANSFER_MIRROR (download mirror), STYLE_TRANSFER_MEMORY_LIMIT (e.g. 4G).',
    '',
    'Examples:',
    '  style-transfer photo.jpg monet.jpg -o out.png',
    '  style-transfer photo.jpg matisse.jpg -o out.png --preset recipe',
    '  style-transfer photo.jpg a.jpg b.jpg --style-blend 3,1 -o out.png --preserve-colors luminance',
  ].join('\n');
}
