/**
 * `style-transfer serve [--port N] [--host H] [--data-dir DIR] [--concurrency N] [--weights FILE]`:
 * start the web app, print its URL, and run until SIGINT/SIGTERM, then close cleanly (running jobs
 * end as `interrupted` with their last preview kept; waiting jobs are queued again next start).
 * The main CLI dispatches `style-transfer serve ...` here.
 */
import { parseBytes } from '../bytes.js';
import { defaultDataDir } from '../jobs/data-dir.js';
import { DEFAULT_LIMITS } from '../jobs/limits.js';
import { checkRedisUrl, showUrl } from '../queue/redis-jobs.js';
import { UsageError } from './args.js';
import { reportError } from './report.js';
import { parseServiceFlags, untilStopped, type ServiceFlag } from './service.js';
import {
  DEFAULT_HOST,
  DEFAULT_JOB_TIME_LIMIT_SECONDS,
  DEFAULT_MAX_CONCURRENT_UPLOADS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  DEFAULT_TIMEOUTS,
  startServer,
  type ServerOptions,
} from '../server/server.js';

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

Running it for others (see README):
  --allowed-hosts H,..   host names the server answers to besides IP addresses, localhost and --host
                         (.example.com allows its subdomains); other Host headers get 403
  --list-all-jobs        list every job to every browser (default: each browser its own)
  --trust-proxy          behind a reverse proxy: take the client's address from X-Forwarded-For and https from
                         X-Forwarded-Proto (per-address caps, the __Host- cookie); never when clients reach the server directly
  --job-time-limit S     stop a job after S seconds, keeping its last image (default ${DEFAULT_JOB_TIME_LIMIT_SECONDS}; 0 = none)
  --max-work N           largest job in megapixel-iterations (default ${DEFAULT_LIMITS.maxWork})
  --max-size PX        largest output a job may ask for, longer side (default ${DEFAULT_LIMITS.maxSize}; large sizes run in tiles)
  --keep-jobs N          keep at most N finished jobs, deleting the oldest (default: all)
  --keep-hours H         delete finished jobs H hours after they finished (default: never)
  --max-data-size SIZE   disk quota of the data dir, e.g. 10G; new jobs get 507 beyond it (default: none)
  --max-connections N    open connections at most (default ${DEFAULT_MAX_CONNECTIONS})
  --max-uploads N        uploads received at once; more get 503 (default ${DEFAULT_MAX_CONCURRENT_UPLOADS})
  --request-timeout S    seconds a client has to send a whole request, upload included (default ${DEFAULT_TIMEOUTS.requestMs / 1000})
  -h, --help          this help
`;

const SERVE_FLAGS = [
  { flag: 'port', kind: 'int', value: 'N', doc: 'port to listen on', min: 0, max: 65535 },
  { flag: 'host', kind: 'string', value: 'H', doc: 'address to bind' },
  { flag: 'data-dir', kind: 'string', value: 'DIR', doc: 'where jobs are kept' },
  { flag: 'concurrency', kind: 'int', value: 'N', doc: 'jobs run at once', min: 1, max: 64 },
  { flag: 'weights', kind: 'string', value: 'FILE', doc: 'weights file for every job' },
  { flag: 'redis', kind: 'string', value: 'URL', doc: 'queue jobs on this Redis for worker processes' },
  { flag: 'allowed-hosts', kind: 'strings', value: 'H,..', doc: 'host names the server answers to' },
  { flag: 'list-all-jobs', kind: 'boolean', doc: 'list every job to every browser' },
  { flag: 'trust-proxy', kind: 'boolean', doc: 'take the client address and scheme from the reverse proxy' },
  { flag: 'job-time-limit', kind: 'int', value: 'S', doc: 'seconds a job may run', min: 0, max: 1e9 },
  { flag: 'max-work', kind: 'int', value: 'N', doc: 'largest job in megapixel-iterations', min: 1, max: 1e9 },
  { flag: 'keep-jobs', kind: 'int', value: 'N', doc: 'finished jobs kept', min: 1, max: 1e9 },
  { flag: 'keep-hours', kind: 'number', value: 'H', doc: 'hours finished jobs are kept', min: 0.001, max: 1e6 },
  { flag: 'max-data-size', kind: 'string', value: 'SIZE', doc: 'disk quota of the data dir' },
  { flag: 'max-connections', kind: 'int', value: 'N', doc: 'open connections at most', min: 1, max: 1e6 },
  { flag: 'max-uploads', kind: 'int', value: 'N', doc: 'uploads received at once', min: 1, max: 1e4 },
  { flag: 'request-timeout', kind: 'int', value: 'S', doc: 'seconds to send a whole request', min: 1, max: 86_400 },
  { flag: 'max-size', kind: 'int', value: 'PX', doc: 'largest output a job may ask for', min: 16, max: 65536 },
  { flag: 'help', short: 'h', kind: 'boolean', doc: 'this help' },
] as const satisfies readonly ServiceFlag[];

export function parseServeArgs(args: readonly string[]): ServerOptions | 'help' {
  const values = parseServiceFlags(args, SERVE_FLAGS, 'serve');
  if (values === 'help') return 'help';
  const get = <T>(flag: (typeof SERVE_FLAGS)[number]['flag']) => values.get(flag) as T | undefined;
  const keepJobs = get<number>('keep-jobs');
  const keepHours = get<number>('keep-hours');
  const dataSize = get<string>('max-data-size');
  const maxWork = get<number>('max-work');
  const maxSize = get<number>('max-size');
  const requestTimeout = get<number>('request-timeout');
  const allowedHosts = get<string[]>('allowed-hosts');
  const redis = get<string>('redis');
  if (redis !== undefined) checkRedisUrlFlag(redis);
  return {
    ...(redis !== undefined ? { redis } : {}),
    port: get<number>('port'),
    host: get<string>('host'),
    dataDir: get<string>('data-dir'),
    concurrency: get<number>('concurrency'),
    weights: get<string>('weights'),
    ...(allowedHosts ? { allowedHosts } : {}),
    ...(get<boolean>('list-all-jobs') ? { listAllJobs: true } : {}),
    ...(get<boolean>('trust-proxy') ? { trustProxy: true } : {}),
    ...optional('jobTimeLimitSeconds', get<number>('job-time-limit')),
    ...(maxWork !== undefined || maxSize !== undefined ? { limits: { ...optional('maxWork', maxWork), ...optional('maxSize', maxSize) } } : {}),
    ...(keepJobs !== undefined || keepHours !== undefined
      ? { retention: { ...optional('maxJobs', keepJobs), ...optional('maxAgeSeconds', keepHours === undefined ? undefined : keepHours * 3600) } }
      : {}),
    ...optional('maxDataBytes', dataSize === undefined ? undefined : parseSize(dataSize)),
    ...optional('maxConnections', get<number>('max-connections')),
    ...optional('maxConcurrentUploads', get<number>('max-uploads')),
    ...(requestTimeout !== undefined ? { timeouts: { requestMs: requestTimeout * 1000 } } : {}),
  };
}

/** A --redis value must be redis://host[:port] (or rediss://); a usage error otherwise. */
export function checkRedisUrlFlag(url: string): void {
  try {
    checkRedisUrl(url);
  } catch {
    throw new UsageError('--redis', 'a Redis URL such as redis://host:6379', url);
  }
}

/** `{ key: value }` when the value is defined, else nothing (so parsed options list only what was given). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** "10G", "500M", "2048" (bytes) → bytes; powers of 1024. */
function parseSize(text: string): number {
  const bytes = parseBytes(text);
  if (bytes === undefined) throw new UsageError('--max-data-size', 'a size such as 500M or 10G', text);
  return Math.round(bytes);
}

export async function runServeCommand(args: string[], io: CommandOutput, options: ServeCommandOptions = {}): Promise<number> {
  let parsed: ServerOptions | 'help';
  try {
    parsed = parseServeArgs(args);
  } catch (err) {
    return reportError(io.stderr, err);
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

  await untilStopped(options.signal);
  io.stdout.write('stopping: finishing open requests, saving job states\n');
  await server.close();
  io.stdout.write('stopped\n');
  return 0;
}
