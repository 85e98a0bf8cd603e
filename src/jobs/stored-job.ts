/**
 * A job's records as read back from places others can edit: job.json and status.json in the data
 * dir, the record hash in Redis. Neither is trusted (README "Trust model"): each field is checked
 * before use, so that a hand-edited or tampered record is refused with a one-line reason instead
 * of naming a file outside its folder, breaking a sort, or turning the API's answers into 500s.
 * The input file names are not taken from the record at all beyond checking them: they must be
 * the names the server itself gives (content.img, style-1.img, …).
 */
import { isJobId } from './ids.js';
import { TERMINAL_STATES, type JobStatus } from './events.js';
import type { JobInput, JobSpec } from './job.js';
import { parseJobOptions, validateJobOptions } from './options.js';
import type { ServerLimits } from './limits.js';

/** A stored record that cannot be used; the message says which field is wrong. */
export class BadRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRecordError';
  }
}

/** Style images a stored job may name (the server's own limit is lower; this only bounds a tampered record). */
const MAX_STORED_STYLES = 64;
const STATES = new Set<string>(['queued', 'running', ...TERMINAL_STATES]);
const OWNER = /^[0-9a-f]{32}$/;

/** The file name the server gives a job's content image, and its style images (1-based). */
export const CONTENT_FILE = 'content.img' as const;
export function styleFile(index: number): `style-${number}.img` {
  return `style-${index + 1}.img`;
}
/** The file name the server gives the mask of style image `index` (0-based; the file is 1-based). */
export function maskFile(index: number): `mask-${number}.img` {
  return `mask-${index + 1}.img`;
}

/** Parse and check a job's spec and status (JSON text, as stored) for the job `id`; `where` names them in messages. */
export function parseStoredJob(specText: string, statusText: string, id: string, where = { spec: 'job.json', status: 'status.json' }): { spec: JobSpec; status: JobStatus } {
  return { spec: checkJobSpec(parseJson(specText, where.spec), id), status: checkJobStatus(parseJson(statusText, where.status), id) };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRecordError(`${what} is not valid JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}

export function checkJobSpec(value: unknown, id: string): JobSpec {
  const spec = record(value, 'job.json');
  if (spec.id !== id || !isJobId(id)) throw new BadRecordError(`job.json: id ${JSON.stringify(spec.id)} does not match its job ${id}`);
  date(spec.createdAt, 'createdAt');
  const options = record(spec.options, 'options');
  if (spec.previewEvery !== undefined && !(Number.isInteger(spec.previewEvery) && (spec.previewEvery as number) >= 1 && (spec.previewEvery as number) <= 10_000)) {
    throw new BadRecordError(`job.json: previewEvery must be an integer from 1 to 10000`);
  }
  if (spec.owner !== undefined && !(typeof spec.owner === 'string' && OWNER.test(spec.owner))) throw new BadRecordError('job.json: owner is not a token hash');
  const content = input(spec.content, 'content', CONTENT_FILE);
  if (!Array.isArray(spec.styles) || spec.styles.length < 1 || spec.styles.length > MAX_STORED_STYLES) {
    throw new BadRecordError(`job.json: styles must list 1 to ${MAX_STORED_STYLES} images`);
  }
  const styles = spec.styles.map((s, i) => input(s, `styles[${i}]`, styleFile(i)));
  if (spec.masks === undefined) {
    const { masks: _none, ...rest } = spec as unknown as JobSpec;
    return { ...rest, options, content, styles };
  }
  if (!Array.isArray(spec.masks) || spec.masks.length !== styles.length) throw new BadRecordError(`job.json: masks must list one mask per style image (${styles.length})`);
  const masks = spec.masks.map((m, i) => input(m, `masks[${i}]`, maskFile(i)));
  return { ...(spec as unknown as JobSpec), options, content, styles, masks };
}

export function checkJobStatus(value: unknown, id: string): JobStatus {
  const status = record(value, 'status.json');
  if (status.id !== id) throw new BadRecordError(`status.json: id ${JSON.stringify(status.id)} does not match its job ${id}`);
  if (typeof status.status !== 'string' || !STATES.has(status.status)) throw new BadRecordError(`status.json: unknown status ${JSON.stringify(status.status)}`);
  date(status.createdAt, 'createdAt');
  for (const key of ['startedAt', 'finishedAt'] as const) if (status[key] !== undefined) date(status[key], key);
  if (typeof status.result !== 'boolean') throw new BadRecordError('status.json: result must be true or false');
  if (!(Number.isInteger(status.previewVersion) && (status.previewVersion as number) >= 0)) throw new BadRecordError('status.json: previewVersion must be a count');
  if (status.error !== undefined && typeof status.error !== 'string') throw new BadRecordError('status.json: error must be text');
  if (status.seconds !== undefined && !(typeof status.seconds === 'number' && status.seconds >= 0)) throw new BadRecordError('status.json: seconds must be a number');
  if (status.attempts !== undefined && !Number.isInteger(status.attempts)) throw new BadRecordError('status.json: attempts must be an integer');
  if (status.progress !== undefined) {
    const progress = record(status.progress, 'progress');
    // null: a number JSON cannot hold (an ETA not known yet is Infinity, written as null).
    if (!Object.values(progress).every((v) => typeof v === 'number' || v === null)) throw new BadRecordError('status.json: progress must hold numbers');
  }
  return status as unknown as JobStatus;
}

/**
 * Whether a stored job may run here: its options pass the same whitelist and limits as a new
 * job's (the record may have been edited after the server accepted it). Throws an Error whose
 * message says what is refused.
 */
export function checkRunnable(spec: JobSpec, limits: ServerLimits): void {
  if (spec.styles.length > limits.maxStyles) throw new BadRecordError(`the job has ${spec.styles.length} style images; this server allows at most ${limits.maxStyles}`);
  const { options } = parseJobOptions(JSON.stringify(spec.options), limits);
  validateJobOptions(options, spec.content, spec.styles.length, limits);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRecordError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function date(value: unknown, key: string): void {
  if (typeof value !== 'string' || !Number.isFinite(Date.parse(value)))
    throw new BadRecordError(`${key} must be a date (ISO 8601 text), found ${JSON.stringify(value)?.slice(0, 40)}`);
}

function input(value: unknown, key: string, file: string): JobInput {
  const given = record(value, key);
  if (given.file !== file) throw new BadRecordError(`${key}.file must be ${file}, found ${JSON.stringify(given.file)?.slice(0, 80)}`);
  if (typeof given.name !== 'string' || given.name.length > 400) throw new BadRecordError(`${key}.name must be text`);
  for (const side of ['width', 'height'] as const) {
    if (!(Number.isInteger(given[side]) && (given[side] as number) >= 1 && (given[side] as number) <= 1_000_000))
      throw new BadRecordError(`${key}.${side} must be a positive integer`);
  }
  return { file, name: given.name, width: given.width as number, height: given.height as number };
}
