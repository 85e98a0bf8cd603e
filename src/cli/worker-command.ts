/**
 * `style-transfer worker --redis URL [--concurrency 1] [--threads N] [--data-dir DIR] [--weights FILE]`:
 * run the jobs that `style-transfer serve --redis URL` queues, until SIGINT/SIGTERM. On a stop the
 * jobs it runs go back to the queue at once and resume from their last scale on another worker.
 */
import { defaultDataDir } from '../jobs/data-dir.js';
import { DEFAULT_LIMITS } from '../jobs/limits.js';
import { showUrl } from '../queue/redis-jobs.js';
import { startWorker, type WorkerOptions } from '../worker/worker.js';
import { UsageError } from './args.js';
import { reportError } from './report.js';
import { parseServiceFlags, untilStopped, type ServiceFlag } from './service.js';
import { checkRedisUrlFlag, type CommandOutput, type ServeCommandOptions } from './serve-command.js';

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
  --max-work N         largest job in megapixel-iterations (default ${DEFAULT_LIMITS.maxWork}); give the servers' value
  --max-size PX        largest output, longer side (default ${DEFAULT_LIMITS.maxSize}); give the servers' value
                       (every job is checked again against these before it runs: Redis is not trusted)
  -h, --help           this help
`;

const WORKER_FLAGS = [
  { flag: 'redis', kind: 'string', value: 'URL', doc: 'the Redis the servers queue jobs on' },
  { flag: 'data-dir', kind: 'string', value: 'DIR', doc: 'the shared data dir' },
  { flag: 'concurrency', kind: 'int', value: 'N', doc: 'jobs run at once', min: 1, max: 64 },
  { flag: 'threads', kind: 'int', value: 'N', doc: 'CPU threads per job', min: 1, max: 1024 },
  { flag: 'weights', kind: 'string', value: 'FILE', doc: 'weights file' },
  { flag: 'lock-duration', kind: 'int', value: 'S', doc: "seconds before a dead worker's job is taken over", min: 1, max: 3600 },
  { flag: 'max-work', kind: 'int', value: 'N', doc: 'largest job in megapixel-iterations', min: 1, max: 1e9 },
  { flag: 'max-size', kind: 'int', value: 'PX', doc: 'largest output a job may ask for', min: 16, max: 65536 },
  { flag: 'help', short: 'h', kind: 'boolean', doc: 'this help' },
] as const satisfies readonly ServiceFlag[];

export type WorkerArgs = Omit<WorkerOptions, 'dataDir'> & { dataDir?: string };

export function parseWorkerArgs(args: readonly string[]): WorkerArgs | 'help' {
  const values = parseServiceFlags(args, WORKER_FLAGS, 'worker');
  if (values === 'help') return 'help';
  const redisUrl = values.get('redis') as string | undefined;
  if (redisUrl === undefined) throw new UsageError('--redis', 'the Redis the servers queue jobs on, e.g. redis://host:6379', undefined);
  checkRedisUrlFlag(redisUrl);
  const lock = values.get('lock-duration') as number | undefined;
  const maxWork = values.get('max-work') as number | undefined;
  const maxSize = values.get('max-size') as number | undefined;
  return {
    redisUrl,
    dataDir: values.get('data-dir') as string | undefined,
    concurrency: values.get('concurrency') as number | undefined,
    threads: values.get('threads') as number | undefined,
    weights: values.get('weights') as string | undefined,
    ...(lock !== undefined ? { lockDurationMs: lock * 1000, stalledIntervalMs: (lock * 1000) / 2 } : {}),
    ...(maxWork !== undefined || maxSize !== undefined ? { limits: { ...(maxWork !== undefined ? { maxWork } : {}), ...(maxSize !== undefined ? { maxSize } : {}) } } : {}),
  };
}

export async function runWorkerCommand(args: string[], io: CommandOutput, options: ServeCommandOptions = {}): Promise<number> {
  let parsed: WorkerArgs | 'help';
  try {
    parsed = parseWorkerArgs(args);
  } catch (err) {
    return reportError(io.stderr, err);
  }
  if (parsed === 'help') {
    io.stdout.write(HELP);
    return 0;
  }
  const dataDir = parsed.dataDir ?? defaultDataDir(options.env ?? process.env);
  let worker;
  try {
    worker = await startWorker({ ...parsed, dataDir, log: (message) => io.stderr.write(`${message}\n`) });
  } catch (err) {
    return reportError(io.stderr, err);
  }
  io.stdout.write(
    `style-transfer worker: running jobs from ${showUrl(parsed.redisUrl)} (concurrency ${parsed.concurrency ?? 1}${parsed.threads ? `, ${parsed.threads} threads each` : ''}), data dir ${dataDir}; press Ctrl+C to stop\n`,
  );
  await untilStopped(options.signal);
  io.stdout.write('stopping: running jobs go back to the queue\n');
  await worker.close();
  io.stdout.write('stopped\n');
  return 0;
}
