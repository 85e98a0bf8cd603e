/**
 * `style-transfer serve [--port N] [--host H] [--data-dir DIR] [--concurrency N] [--weights FILE]`:
 * start the web app, print its URL, and run until SIGINT/SIGTERM, then close cleanly (running jobs
 * end as `interrupted` with their last preview kept; waiting jobs are queued again next start).
 * The main CLI dispatches `style-transfer serve ...` here.
 */
import { StyleTransferError } from '../errors.js';
import { defaultDataDir } from '../server/data-dir.js';
import { checkRedisUrl, showUrl } from '../server/redis-jobs.js';
import { DEFAULT_HOST, DEFAULT_PORT, startServer, type ServerOptions } from '../server/server.js';

export interface CommandOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface ServeCommandOptions {
  /** Stop the server when this aborts (instead of waiting for SIGINT/SIGTERM; tests use it). */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

const HELP = `Usage: style-transfer serve [options]

Start the web app: upload a photo and style images, watch the result form, download it.

Options:
  --port N            port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --host H            address to bind (default ${DEFAULT_HOST}, this machine only; 0.0.0.0 for every interface)
  --data-dir DIR      where jobs are kept (default ${'$'}STYLE_TRANSFER_HOME/server, else ${'$'}XDG_DATA_HOME/style-transfer/server,
                      else ~/.local/share/style-transfer/server)
  --concurrency N     jobs run at once (default 1; each run already uses every core)
  --weights FILE      weights file for every job (default ${'$'}STYLE_TRANSFER_WEIGHTS, else the cached model)
  --redis URL         queue jobs on this Redis (redis://host:6379) for \`style-transfer worker\` processes to run;
                      --data-dir must then be a directory every worker sees
  -h, --help          this help
`;

const VALUE_FLAGS = new Set(['--port', '--host', '--data-dir', '--concurrency', '--weights', '--redis']);

class UsageError extends StyleTransferError {
  constructor(message: string) {
    super(message, 'ERR_OPTION');
  }
}

export function parseServeArgs(args: readonly string[]): ServerOptions | 'help' {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '-h' || arg === '--help') return 'help';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(flag)) {
      throw new UsageError(
        arg.startsWith('-') ? `unknown option ${flag} for \`serve\` (see style-transfer serve --help)` : `unexpected argument ${JSON.stringify(arg)} for \`serve\``,
      );
    }
    const value = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') throw new UsageError(`option ${flag} needs a value`);
    if (values.has(flag)) throw new UsageError(`option ${flag} was given twice`);
    values.set(flag, value);
  }
  const int = (flag: string, min: number, max: number): number | undefined => {
    const text = values.get(flag);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`option ${flag}: expected an integer from ${min} to ${max}, received ${JSON.stringify(text)}`);
    return n;
  };
  const redis = values.get('--redis');
  if (redis !== undefined) checkRedisUrlOption(redis);
  return {
    ...(redis !== undefined ? { redis } : {}),
    port: int('--port', 0, 65535),
    host: values.get('--host'),
    dataDir: values.get('--data-dir'),
    concurrency: int('--concurrency', 1, 64),
    weights: values.get('--weights'),
  };
}

function checkRedisUrlOption(url: string): void {
  try {
    checkRedisUrl(url);
  } catch (err) {
    throw new UsageError(`option --redis: ${(err as Error).message}`);
  }
}

export async function runServeCommand(args: string[], io: CommandOutput, options: ServeCommandOptions = {}): Promise<number> {
  let parsed: ServerOptions | 'help';
  try {
    parsed = parseServeArgs(args);
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 2;
  }
  if (parsed === 'help') {
    io.stdout.write(HELP);
    return 0;
  }
  const env = options.env ?? process.env;
  const serverOptions: ServerOptions = {
    ...parsed,
    dataDir: parsed.dataDir ?? defaultDataDir(env),
    log: (message) => io.stderr.write(`${message}\n`),
  };

  let server;
  try {
    server = await startServer(serverOptions);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${serverOptions.host ?? DEFAULT_HOST}:${serverOptions.port ?? DEFAULT_PORT}`;
    const message =
      code === 'EADDRINUSE'
        ? `cannot listen on ${where}: the port is in use (try --port)`
        : code === 'EACCES'
          ? `cannot listen on ${where}: permission denied (try a port above 1023)`
          : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
            ? `cannot listen on ${where}: no such address on this machine`
            : (err as Error).message.split('\n')[0];
    io.stderr.write(`error: ${message}\n`);
    return 1;
  }

  const host = serverOptions.host ?? DEFAULT_HOST;
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    io.stderr.write(`warning: listening on ${host}: anyone who can reach this machine can upload images and run jobs\n`);
  }
  io.stdout.write(`style-transfer web app: ${server.url}\n`);
  io.stdout.write(`jobs are kept in ${serverOptions.dataDir}${serverOptions.redis ? ` and queued on ${showUrl(serverOptions.redis)} for workers` : ''}; press Ctrl+C to stop\n`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      options.signal?.removeEventListener('abort', stop);
      resolve();
    };
    if (options.signal?.aborted) return stop();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    options.signal?.addEventListener('abort', stop);
  });
  io.stdout.write('stopping: finishing open requests, saving job states\n');
  await server.close();
  io.stdout.write('stopped\n');
  return 0;
}
