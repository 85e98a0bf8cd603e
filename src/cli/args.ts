/**
 * The CLI's argument table, derived from the library's OPTION_SPECS (so flags, help text and defaults
 * never drift from stylize()'s options), plus the few flags that only make sense on a command line.
 */
import { OptionError } from '../errors.js';
import { OPTION_SPECS, PRESETS, type OptionSpec, type StylizeOptions } from '../options.js';

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
] as const;

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

const optionByFlag = new Map(OPTION_SPECS.map((s) => [s.flag, s]));
const cliByFlag = new Map<string, (typeof CLI_FLAGS)[number]>(CLI_FLAGS.map((f) => [f.flag, f]));
const cliByShort = new Map<string, (typeof CLI_FLAGS)[number]>(CLI_FLAGS.flatMap((f) => ('short' in f ? [[f.short, f]] : [])));

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

/** Parse argv (without node and script). Throws UsageError for unknown flags and malformed values. */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  const positionals: string[] = [];
  const cli: Record<string, unknown> = {};
  const options: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else {
      const f = cliByShort.get(arg.slice(1));
      if (!f) throw new UsageError(arg, 'a known flag (see --help)', arg);
      name = f.flag;
    }
    const negated = name.startsWith('no-') && !optionByFlag.has(name) && !cliByFlag.has(name) ? name.slice(3) : undefined;
    const spec = optionByFlag.get(negated ?? name);
    const cliFlag = cliByFlag.get(negated ?? name);
    if (!spec && !cliFlag) throw new UsageError(`--${name}`, 'a known flag (see --help)', `--${name}`);
    const kind = (spec?.kind ?? cliFlag!.kind) as OptionSpec['kind'];
    let value: unknown;
    if (kind === 'boolean') {
      value = negated ? false : inline !== undefined ? parseValue(name, kind, inline) : true;
    } else {
      const text = inline ?? argv[++i];
      if (text === undefined) throw new UsageError(`--${name}`, `a value${spec?.value ? ` (${spec.value})` : ''}`, undefined);
      value = parseValue(name, kind, text);
    }
    if (spec) options[spec.key] = value;
    else cli[cliFlag!.flag] = value;
  }
  return {
    positionals,
    output: cli.output as string | undefined,
    quiet: cli.quiet === true,
    json: cli.json === true,
    saveEvery: cli['save-every'] as number | undefined,
    sheet: cli.sheet as string | undefined,
    lossPlot: cli['loss-plot'] as string | undefined,
    help: cli.help === true,
    version: cli.version === true,
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
    const q = show((PRESETS.quality as unknown as Record<string, unknown>)[spec.key]);
    const r = show((PRESETS.recipe as unknown as Record<string, unknown>)[spec.key]);
    return q === r ? ` [default ${q}]` : ` [quality: ${q}; recipe: ${r}]`;
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
