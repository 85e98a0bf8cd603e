/**
 * What a job is, as stored on disk and shown through the API. JobSpec never changes after the job
 * is created; JobStatus is rewritten (atomically) as the job moves through its states.
 */
import type { IterationProgress, IterationWire, ProgressEvent } from '../progress.js';
import type { RemoteOptions } from './options.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled', 'interrupted']);

/** An uploaded image as stored in the job's folder. */
export interface JobInput {
  /** File name inside the job folder (content.img, style-1.img, …). */
  file: string;
  /** The name the browser gave it, for display only. */
  name: string;
  width: number;
  height: number;
}

export interface JobSpec {
  id: string;
  createdAt: string;
  /** The user's options after the server's whitelist (never weights, threads or paths). */
  options: RemoteOptions;
  /** Write a preview frame every this many iterations; undefined: at most about once a second. */
  previewEvery?: number;
  content: JobInput;
  styles: JobInput[];
  /** Who created it: a hash of the browser's token (server.ts), so a listing shows each browser its own jobs. */
  owner?: string;
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

/** The library's progress events as they travel over the wire: an iteration loses its preview function. */
export type WireProgressEvent = Exclude<ProgressEvent, IterationProgress> | IterationWire;

/** Everything a subscriber to a job hears (the server-sent events stream). */
export type JobEvent =
  | { type: 'status'; status: JobState; position?: number; error?: string; result?: boolean }
  | { type: 'preview'; url: string; version: number }
  | { type: 'history'; points: LossPoint[] }
  | WireProgressEvent;

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}
