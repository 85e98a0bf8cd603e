/**
 * `style-transfer worker --redis URL [--concurrency 1] [--threads N] [--data-dir DIR] [--weights FILE]`:
 * run the jobs that `style-transfer serve --redis URL` queues, until SIGINT/SIGTERM. On a stop the
 * jobs it runs go back to the queue at once and resume from their last scale on another worker.
 */
import { StyleTransferError } from '../errors.js';
import { defaultDataDir } from '../server/data-dir.js';
import { checkRedisUrl, showUrl } from '../server/redis-jobs.js';
import { startWorker, type WorkerOptions } from '../worker/worker.js';
import type { CommandOutput, ServeCommandOptions } from './serve-command.js';

const HELP = `Usage: style-transfer worker --redis URL [options]

Run the jobs queued on Redis by \`style-transfer serve --redis URL\`. Start as many as you like, on
any machines that share the data dir; a job whose worker dies is taken over by another one.

Options:
  --redis URL          the Redis the servers queue jobs on (redis://host:6379)
  --data-dir DIR       the data dir the servers use, on a shared volume (default ${'$'}STYLE_TRANSFER_HOME/server,
                       else ${'$'}XDG_DATA_HOME/style-transfer/server, else ~/.local/share/style-transfer/server)
  --concurrency N      jobs this process runs at once (default 1)
  --threads N          CPU threads per job (default: every core)
  --weights FILE       weights file (default ${'$'}STYLE_TRANSFER_WEIGHTS, else the cached model)
  --lock-duration S    seconds after which a dead worker's job is taken over (default 30)
  -h, --help           this help
`;

const VALUE_FLAGS = new Set(['--redis', '--data-dir', '--concurrency', '--threads', '--weights', '--lock-duration']);

class UsageError extends StyleTransferError {
  constructor(message: string) {
    super(message, 'ERR_OPTION');
  }
}

export function parseWorkerArgs(args: readonly string[]): Omit<WorkerOptions, 'dataDir'> & { dataDir?: string } {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(flag)) {
      throw new UsageError(
        arg.startsWith('-') ? `unknown option ${flag} for \`worker\` (see style-transfer worker --help)` : `unexpected argument ${JSON.stringify(arg)} for \`worker\``,
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
  const redisUrl = values.get('--redis');
  if (redisUrl === undefined) throw new UsageError('option --redis is required: the Redis the servers queue jobs on (redis://host:6379)');
  try {
    checkRedisUrl(redisUrl);
  } catch (err) {
    throw new UsageError(`option --redis: ${(err as Error).message}`);
  }
  const lock = int('--lock-duration', 1, 3600);
  return {
    redisUrl,
    dataDir: values.get('--data-dir'),
    concurrency: int('--concurrency', 1, 64),
    threads: int('--threads', 1, 1024),
    weights: values.get('--weights'),
    ...(lock !== undefined ? { lockDurationMs: lock * 1000, stalledIntervalMs: (lock * 1000) / 2 } : {}),
  };
}

export async function runWorkerCommand(args: string[], io: CommandOutput, options: ServeCommandOptions = {}): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    io.stdout.write(HELP);
    return 0;
  }
  let parsed: ReturnType<typeof parseWorkerArgs>;
  try {
    parsed = parseWorkerArgs(args);
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 2;
  }
  const dataDir = parsed.dataDir ?? defaultDataDir(options.env ?? process.env);
  let worker;
  try {
    worker = await startWorker({ ...parsed, dataDir, log: (message) => io.stderr.write(`${message}\n`) });
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message.split('\n')[0]}\n`);
    return 1;
  }
  io.stdout.write(
    `style-transfer worker: running jobs from ${showUrl(parsed.redisUrl)} (concurrency ${parsed.concurrency ?? 1}${parsed.threads ? `, ${parsed.threads} threads each` : ''}), data dir ${dataDir}; press Ctrl+C to stop\n`,
  );
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
  io.stdout.write('stopping: running jobs go back to the queue\n');
  await worker.close();
  io.stdout.write('stopped\n');
  return 0;
}
