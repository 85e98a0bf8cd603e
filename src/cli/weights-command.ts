/**
 * `style-transfer weights list|download|verify|path [variant]`: manage the weights cache. The main
 * CLI dispatches `style-transfer weights ...` here.
 */
import { OptionError } from '../errors.js';
import { formatBytes } from '../format.js';
import { parseCommandLine, UsageError, type FlagSpec } from './args.js';
import { reportError } from './report.js';
import { cacheDir, installVariant, variantStatus, verifyVariant } from '../model/cache.js';
import type { DownloadProgress } from '../model/download.js';
import { DEFAULT_MODEL, findVariant, MODEL_REGISTRY, variantUrl, type ModelVariant } from '../model/registry.js';

export interface CommandOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface WeightsCommandOptions {
  /** Variants to manage (tests inject their own). */
  registry?: readonly ModelVariant[];
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

const WEIGHTS_FLAGS: readonly FlagSpec[] = [{ flag: 'help', short: 'h', kind: 'boolean', doc: 'this help' }];
const COMMANDS = ['list', 'download', 'verify', 'path'];

const HELP = `Usage: style-transfer weights <command> [variant]

Manage the VGG-19 weights cache (${'$'}STYLE_TRANSFER_HOME, else ${'$'}XDG_CACHE_HOME/style-transfer, else ~/.cache/style-transfer).

Commands:
  list               the known variants, whether each is downloaded, sizes and paths
  download [variant] download a variant (default ${DEFAULT_MODEL}) and keep only its conv layers
  verify [variant]   check the cached file against its recorded SHA-256
  path [variant]     print the cached file's path

Environment:
  STYLE_TRANSFER_HOME     cache directory
  STYLE_TRANSFER_MIRROR   base URL that replaces each variant's download location (hashes are still checked)
`;

export async function runWeightsCommand(args: string[], out: CommandOutput, options: WeightsCommandOptions = {}): Promise<number> {
  const registry = options.registry ?? MODEL_REGISTRY;
  const env = options.env ?? process.env;
  const dir = cacheDir(env);
  const print = (s: string) => out.stdout.write(`${s}\n`);
  try {
    const { positionals, values } = parseCommandLine(args, WEIGHTS_FLAGS, 'style-transfer weights --help');
    if (values.get('help') === true) {
      out.stdout.write(HELP);
      return 0;
    }
    if (positionals.length === 0) {
      out.stdout.write(HELP);
      return 2;
    }
    const [command, name, ...extra] = positionals;
    if (!COMMANDS.includes(command)) throw new UsageError('command', `one of ${COMMANDS.join(', ')} (see style-transfer weights --help)`, command);
    if (extra.length > 0) throw new UsageError(`weights ${command}`, 'at most one variant', positionals.slice(1).join(' '));
    if (command === 'list' && name !== undefined) throw new UsageError('weights list', 'no variant', name);
    const variant = () => {
      try {
        return findVariant(name ?? DEFAULT_MODEL, registry);
      } catch (err) {
        // The library names its option; here the variant is an argument.
        if (err instanceof OptionError) throw new UsageError('variant', err.expected, err.received);
        throw err;
      }
    };

    switch (command) {
      case 'list': {
        print(`cache: ${dir}`);
        for (const v of registry) {
          const s = await variantStatus(v, dir);
          const state = s.installed
            ? `cached, ${formatBytes(s.record!.size)} (conv layers only)`
            : s.partialBytes > 0
              ? `partly downloaded (${formatBytes(s.partialBytes)} of ~${formatBytes(v.sizeBytes)})`
              : `not downloaded (~${formatBytes(v.sizeBytes)} download)`;
          print(`${v.name}${v.name === DEFAULT_MODEL ? ' (default)' : ''}: ${v.description}`);
          print(`  ${state}`);
          print(`  ${s.paths.compact}`);
        }
        return 0;
      }
      case 'download': {
        const v = variant();
        const url = variantUrl(v, env);
        const progress = progressPrinter(out.stderr, url);
        let result;
        try {
          result = await installVariant(v, { dir, env, signal: options.signal, onProgress: progress.update, verifyExisting: true });
        } finally {
          progress.done();
        }
        print(result.installed ? `downloaded ${v.name} to ${result.path}` : `${v.name} is already downloaded: ${result.path}`);
        return 0;
      }
      case 'verify': {
        const v = variant();
        const r = await verifyVariant(v, dir);
        print(`${v.name}: OK (${r.path}, sha256 ${r.sha256})`);
        return 0;
      }
      case 'path': {
        const v = variant();
        const s = await variantStatus(v, dir);
        print(s.paths.compact);
        if (!s.installed) out.stderr.write(`note: ${v.name} is not downloaded yet; run \`style-transfer weights download ${v.name}\`\n`);
        return 0;
      }
    }
    return 0;
  } catch (err) {
    return reportError(out.stderr, err);
  }
}

/** On a TTY a `\r`-rewritten line with percent and MiB; otherwise one line at the start and one at the end. */
function progressPrinter(stream: NodeJS.WritableStream, url: string) {
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  let started = false;
  let lastDraw = 0;
  let last: DownloadProgress | undefined;
  const line = (e: DownloadProgress) =>
    e.total
      ? `downloading ${url}: ${((100 * e.received) / e.total).toFixed(1)}% (${formatBytes(e.received)} of ${formatBytes(e.total)})`
      : `downloading ${url}: ${formatBytes(e.received)}`;
  return {
    update: (e: DownloadProgress) => {
      last = e;
      if (!started) {
        started = true;
        if (!tty) stream.write(`downloading ${url}${e.total ? ` (${formatBytes(e.total)})` : ''}...\n`);
      }
      const now = Date.now();
      if (tty && (now - lastDraw > 100 || e.received === e.total)) {
        lastDraw = now;
        stream.write(`\r${line(e)}\x1b[K`);
      }
    },
    done: () => {
      if (!last) return;
      if (tty) stream.write(`\r${line(last)}\x1b[K\n`);
      else stream.write(`downloaded ${formatBytes(last.received)}\n`);
    },
  };
}
