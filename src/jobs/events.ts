/**
 * What the API says about a job: its state and progress (JobStatus), the view a listing shows
 * (JobView), and the events a subscriber hears (JobEvent, the server-sent events stream); and what
 * GET /api/config says (ServerConfig: the limits, options and presets the page builds its form
 * from; browser mode builds the same shape from the library's own tables). The page
 * imports these types too (src/web/types.ts, type-only), so this module imports nothing of Node:
 * the bundle test (test/web/bundle.test.ts) would catch it.
 */
import type { OptionSpec, Tuning } from '../options.js';
import type { IterationWire, ProgressEvent } from '../progress.js';
import type { ServerLimits } from './limits.js';
import type { RemoteOptions } from './options.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled', 'interrupted']);

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

/** The latest iteration of a running job, small enough to poll. */
export interface JobProgress {
  scale: number;
  scales: number;
  iteration: number;
  iterations: number;
  width: number;
  height: number;
  loss: number;
  elapsed: number;
  eta: number;
}

export interface JobStatus {
  id: string;
  status: JobState;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  progress?: JobProgress;
  error?: string;
  /** Whether result.png exists (a finished run, or the last image of a cancelled/failed/interrupted one). */
  result: boolean;
  /** How many preview frames have been written; the preview URL carries it to defeat caches. */
  previewVersion: number;
  seconds?: number;
}

/** One point of the loss chart. */
export interface LossPoint {
  scale: number;
  iteration: number;
  loss: number;
  content: number;
  style: number;
  tv: number;
}

/** An input image as the API shows it: the name the browser gave it and its size. */
export interface ImageInfo {
  name: string;
  width: number;
  height: number;
}

/** A job as the API shows it: its status plus, while it waits, its place in the queue (1 = next), its options and its inputs. */
export interface JobView extends JobStatus {
  position?: number;
  options: RemoteOptions;
  content: ImageInfo;
  styles: ImageInfo[];
  /** The masks' names and sizes (one per style), when the job has masks. */
  masks?: ImageInfo[];
}

/** The library's progress events as they travel over the wire: an iteration loses its preview function. */
export type WireProgressEvent = Exclude<ProgressEvent, { type: 'iteration' }> | IterationWire;

/** Everything a subscriber to a job hears (the server-sent events stream). */
export type JobEvent =
  | { type: 'status'; status: JobState; position?: number; error?: string; result?: boolean }
  | { type: 'preview'; url: string; version: number }
  | { type: 'history'; points: LossPoint[] }
  | WireProgressEvent;

/** What an iteration event changes in a job: its progress (what a poll of its status sees) and one point of its loss chart. */
export function iterationUpdate(event: IterationWire): { progress: JobProgress; point: LossPoint } {
  const { scale, scales, iteration, iterations, width, height, loss, content, style, tv, elapsed, eta } = event;
  return {
    progress: { scale, scales, iteration, iterations, width, height, loss, elapsed, eta },
    point: { scale, iteration, loss, content, style, tv },
  };
}

/** Where the API serves a job's preview frame; the version in the query defeats caches. */
export function previewUrl(id: string, version: number): string {
  return `/api/jobs/${id}/preview?v=${version}`;
}

/** An option as the page reads it: the library's own spec (the server sends it whole). */
export type ConfigOption = Pick<OptionSpec, 'key' | 'kind' | 'doc' | 'choices' | 'min' | 'max' | 'default'>;

/** The limits the page checks before uploading (the server sends all of ServerLimits). */
export type PageLimits = Pick<ServerLimits, 'maxFileBytes' | 'maxStyles' | 'maxPixels' | 'maxQueuedJobs' | 'maxSize' | 'maxIterations'>;

export interface ServerConfig {
  readonly limits: PageLimits;
  /** Every key a job's options may carry (the options below, plus preset, init, seed, previewEvery…). */
  readonly optionKeys: readonly string[];
  readonly options: readonly ConfigOption[];
  /** Each preset's tuning values. */
  readonly presets: Readonly<Record<string, Partial<Tuning>>>;
}
