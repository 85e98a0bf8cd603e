/**
 * What servers and workers share through Redis when jobs run on BullMQ: the connection, the key
 * names, the job records and the two channels. Only ids, options and progress travel here; images
 * stay on the shared data directory (src/jobs/job-files.ts).
 *
 *   <prefix>:jobs:*          BullMQ's queue "jobs" (dispatch, locks, stalled-job recovery)
 *   <prefix>:record:<id>     hash: spec (JobSpec JSON), status (JobStatus JSON), attempt, cancel
 *   <prefix>:records         sorted set of job ids by creation time (the listing)
 *   <prefix>:events          pub/sub: {id, event, status?} for every state change and progress event
 *   <prefix>:cancel          pub/sub: a job id whose run must stop, on whichever worker has it
 *
 * BullMQ owns the queue; the records hold what the API shows, including outcomes BullMQ has no
 * word for (cancelled) and jobs it no longer keeps (finished ones are removed from the queue).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { StyleTransferError } from '../errors.js';
import type { JobEvent, JobStatus } from '../jobs/events.js';
import type { JobSpec } from '../jobs/job.js';
import { BadRecordError, parseStoredJob } from '../jobs/stored-job.js';

export const DEFAULT_PREFIX = 'st';
/** BullMQ queue name (its keys are <prefix>:jobs:…). */
export const QUEUE_NAME = 'jobs';
/** The name every BullMQ job carries. */
export const JOB_NAME = 'stylize';

/** A job's status as Redis keeps it: the embedded server's status plus how many times a worker started it. */
export interface RemoteJobStatus extends JobStatus {
  /** Runs started (1 for a job that ran once; 2 when a second worker took it over from a dead one). */
  attempts?: number;
}

export interface JobRecord {
  spec: JobSpec;
  status: RemoteJobStatus;
}

/** One message on the events channel. `status` comes with every status event, so listeners never refetch. */
export interface EventMessage {
  id: string;
  event?: JobEvent;
  status?: RemoteJobStatus;
  /** The job was deleted (its record and files); servers forget it. */
  removed?: true;
}

/** Redis cannot be reached (at start, or now); the message names the URL. */
export class RedisUnavailableError extends StyleTransferError {
  constructor(message: string) {
    super(message, 'ERR_REDIS');
  }
}

export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}
  record(id: string): string {
    return `${this.prefix}:record:${id}`;
  }
  get records(): string {
    return `${this.prefix}:records`;
  }
  get events(): string {
    return `${this.prefix}:events`;
  }
  get cancel(): string {
    return `${this.prefix}:cancel`;
  }
}

/** Check a --redis value: redis:// or rediss:// with a host. Throws a one-line Error otherwise. */
export function checkRedisUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUnavailableError(`not a Redis URL: ${JSON.stringify(url)} (expected redis://host:port)`);
  }
  if (!['redis:', 'rediss:'].includes(parsed.protocol) || !parsed.hostname) {
    throw new RedisUnavailableError(`not a Redis URL: ${JSON.stringify(url)} (expected redis://host:port)`);
  }
  return parsed;
}

/** The URL without its password, for messages. */
export function showUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/**
 * Connect to Redis. The first connection must succeed within `timeoutMs` (else a one-line
 * RedisUnavailableError naming the URL); after that the client reconnects on its own, forever,
 * so a server or worker outlives a Redis restart. `maxRetriesPerRequest: null` is what BullMQ
 * requires of the connections it blocks on.
 */
export async function connectRedis(url: string, opts: { timeoutMs?: number; onError?: (err: Error) => void } = {}): Promise<Redis> {
  checkRedisUrl(url);
  let connectedOnce = false;
  const options: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectTimeout: opts.timeoutMs ?? 5000,
    // Give up at once while the first connection is being made; after that, retry every ≤1 s.
    retryStrategy: (times) => (connectedOnce ? Math.min(100 * times, 1000) : null),
  };
  const client = new Redis(url, options);
  let lastError: Error | undefined;
  // Without a listener ioredis prints every failed reconnection; the owner decides what to log.
  client.on('error', (err: Error) => {
    lastError = err;
    if (connectedOnce) opts.onError?.(err);
  });
  try {
    await client.connect();
    connectedOnce = true;
  } catch (err) {
    client.disconnect();
    const reason = (lastError as NodeJS.ErrnoException | undefined)?.code ?? lastError?.message ?? (err as Error).message;
    throw new RedisUnavailableError(`cannot reach Redis at ${showUrl(url)}: ${reason}`);
  }
  return client;
}

/**
 * Write a job's status unless a later attempt already owns it, and publish the status event in the
 * same step. A worker whose lock expired (paused, not dead) must not overwrite what the worker
 * that took the job over has written.
 */
const WRITE_STATUS = `
local current = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0')
if redis.call('EXISTS', KEYS[1]) == 0 or current > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'attempt', ARGV[1])
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1
`;

/** Where a record's fields are named in messages about a bad one. */
const RECORD_FIELDS = { spec: "the record's spec", status: "the record's status" };

export class JobRecords {
  /** Bad records already reported, so each is logged once however often it is read. */
  private readonly reported = new Set<string>();

  /** `onBadRecord` hears each record that fails its checks (stored-job.ts), once. */
  constructor(
    readonly redis: Redis,
    readonly keys: RedisKeys,
    private readonly onBadRecord: (id: string, why: string) => void = () => {},
  ) {}

  /** The checked record from its two fields; a bad one throws BadRecordError after reporting it (once). */
  private parse(id: string, spec: string, status: string): JobRecord {
    try {
      return parseStoredJob(spec, status, id, RECORD_FIELDS) as JobRecord;
    } catch (err) {
      const why = (err as Error).message;
      if (!this.reported.has(id)) {
        this.reported.add(id);
        this.onBadRecord(id, why);
      }
      throw err instanceof BadRecordError ? err : new BadRecordError(why);
    }
  }

  async create(spec: JobSpec, status: RemoteJobStatus): Promise<void> {
    const message: EventMessage = { id: spec.id, event: statusEvent(status), status };
    await this.redis
      .multi()
      .hset(this.keys.record(spec.id), 'spec', JSON.stringify(spec), 'status', JSON.stringify(status), 'attempt', '0')
      .zadd(this.keys.records, Date.parse(spec.createdAt), spec.id)
      .publish(this.keys.events, JSON.stringify(message))
      .exec();
  }

  /** The job's record; undefined when it has none; throws BadRecordError when it fails its checks. */
  async get(id: string): Promise<JobRecord | undefined> {
    const [spec, status] = await this.redis.hmget(this.keys.record(id), 'spec', 'status');
    if (!spec || !status) return undefined;
    return this.parse(id, spec, status);
  }

  /** Every usable record, oldest first; a bad one is skipped (and reported once). */
  async all(): Promise<JobRecord[]> {
    const ids = await this.redis.zrange(this.keys.records, 0, -1);
    const records: JobRecord[] = [];
    for (let i = 0; i < ids.length; i += 200) {
      const pipeline = this.redis.pipeline();
      const batch = ids.slice(i, i + 200);
      for (const id of batch) pipeline.hmget(this.keys.record(id), 'spec', 'status');
      for (const [k, [err, values]] of ((await pipeline.exec()) ?? []).entries()) {
        const [spec, status] = (values as (string | null)[] | undefined) ?? [];
        if (err || !spec || !status) continue;
        try {
          records.push(this.parse(batch[k], spec, status));
        } catch {
          // Reported by parse(); the other jobs stay listed.
        }
      }
    }
    return records;
  }

  /** Save a status (guarded by the attempt number, see WRITE_STATUS) and tell every server. Resolves false when a later attempt owns the job. */
  async writeStatus(status: RemoteJobStatus, attempt: number): Promise<boolean> {
    const message: EventMessage = { id: status.id, event: statusEvent(status), status };
    const written = await this.redis.eval(WRITE_STATUS, 2, this.keys.record(status.id), this.keys.events, String(attempt), JSON.stringify(status), JSON.stringify(message));
    return written === 1;
  }

  /** Tell every server about a progress event (not stored: the status carries the latest progress). */
  async publish(id: string, event: JobEvent): Promise<void> {
    const message: EventMessage = { id, event };
    await this.redis.publish(this.keys.events, JSON.stringify(message));
  }

  /** Delete a finished job's record and tell every server to forget it. */
  async remove(id: string): Promise<void> {
    const message: EventMessage = { id, removed: true };
    await this.redis.multi().del(this.keys.record(id)).zrem(this.keys.records, id).publish(this.keys.events, JSON.stringify(message)).exec();
  }

  /** Ask for a job to stop: remembered in its record (for a worker that picks it up later) and sent to every worker now. */
  async requestCancel(id: string): Promise<void> {
    await this.redis.multi().hset(this.keys.record(id), 'cancel', '1').publish(this.keys.cancel, id).exec();
  }

  async cancelRequested(id: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.record(id), 'cancel')) === '1';
  }
}

export function statusEvent(status: RemoteJobStatus, position?: number): JobEvent {
  return {
    type: 'status',
    status: status.status,
    result: status.result,
    ...(position !== undefined && status.status === 'queued' ? { position } : {}),
    ...(status.error ? { error: status.error } : {}),
  };
}
