/**
 * `style-transfer weights list|download|verify|path [variant]`: manage the weights cache. The main
 * CLI dispatches `style-transfer weights ...` here.
 */
import { StyleTransferError } from '../errors.js';
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
    const flags = args.filter((a) => a.startsWith('-'));
    const positional = args.filter((a) => !a.startsWith('-'));
    if (flags.includes('--help') || flags.includes('-h') || positional.length === 0) {
      out.stdout.write(HELP);
      return positional.length === 0 && !flags.includes('--help') && !flags.includes('-h') ? 2 : 0;
    }
    const unknownFlag = flags.find((f) => f !== '--help' && f !== '-h');
    if (unknownFlag) throw new StyleTransferError(`unknown option ${unknownFlag} for \`weights\` (see style-transfer weights --help)`, 'ERR_OPTION');
    const [command, name, ...extra] = positional;
    if (extra.length > 0) throw new StyleTransferError(`too many arguments for \`weights ${command}\`: ${extra.join(' ')}`, 'ERR_OPTION');
    const variant = () => findVariant(name ?? DEFAULT_MODEL, registry);

    switch (command) {
      case 'list': {
        if (name !== undefined) throw new StyleTransferError('`weights list` takes no variant', 'ERR_OPTION');
        print(`cache: ${dir}`);
        for (const v of registry) {
          const s = await variantStatus(v, dir);
          const state = s.installed
            ? `cached, ${mb(s.record!.size)} (conv layers only)`
            : s.partialBytes > 0
              ? `partly downloaded (${mb(s.partialBytes)} of ~${mb(v.sizeBytes)})`
              : `not downloaded (~${mb(v.sizeBytes)} download)`;
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
      default:
        throw new StyleTransferError(`unknown command \`weights ${command}\` (expected list, download, verify or path)`, 'ERR_OPTION');
    }
  } catch (err) {
    const message = err instanceof StyleTransferError ? err.message : `unexpected failure: ${err instanceof Error ? err.message : String(err)}`;
    out.stderr.write(`error: ${message.split('\n')[0]}\n`);
    return 1;
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** On a TTY a `\r`-rewritten line with percent and MB; otherwise one line at the start and one at the end. */
function progressPrinter(stream: NodeJS.WritableStream, url: string) {
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  let started = false;
  let lastDraw = 0;
  let last: DownloadProgress | undefined;
  const line = (e: DownloadProgress) =>
    e.total ? `downloading ${url}: ${((100 * e.received) / e.total).toFixed(1)}% (${mb(e.received)} of ${mb(e.total)})` : `downloading ${url}: ${mb(e.received)}`;
  return {
    update: (e: DownloadProgress) => {
      last = e;
      if (!started) {
        started = true;
        if (!tty) stream.write(`downloading ${url}${e.total ? ` (${mb(e.total)})` : ''}...\n`);
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
      else stream.write(`downloaded ${mb(last.received)}\n`);
    },
  };
}
