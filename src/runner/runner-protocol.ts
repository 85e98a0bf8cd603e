/**
 * The messages between a server (or worker) and its runner process (runner-process.ts), over
 * Node's IPC channel as JSON. Images never travel: the runner reads the inputs from the job's
 * folder and writes preview.png, result.png and sheet.png there itself; only events, small
 * numbers and messages cross.
 */
import type { JobSpec, WireProgressEvent } from '../jobs/job.js';
import type { RemoteOptions } from '../jobs/options.js';

/** Fixed for the life of a runner process (it keeps its weights and sessions between jobs). */
export interface RunnerSettings {
  /** Weights file for every job; default: the library's (STYLE_TRANSFER_WEIGHTS, else the cache). */
  weights?: string;
  /** Pixel limit the library applies when it decodes the inputs. */
  maxPixels: number;
  /** Time-based preview interval when a job does not ask for a frame every N iterations (ms). */
  previewIntervalMs?: number;
}

/** One job as the runner needs it: where its folder is and what to do. */
export interface RunnerJob {
  id: string;
  /** The job's folder: inputs are read from it, preview.png / result.png / sheet.png written to it. */
  dir: string;
  options: RemoteOptions;
  /** A preview frame every this many iterations; undefined: time-based. */
  previewEvery?: number;
  /** File names of the inputs inside `dir`. */
  content: string;
  styles: string[];
  /** The names the user gave the inputs, for messages (default: the file names). */
  contentName?: string;
  styleNames?: string[];
}

/** The runner's view of a stored job whose folder is `dir`. */
export function runnerJob(spec: JobSpec, dir: string): RunnerJob {
  return {
    id: spec.id,
    dir,
    options: spec.options,
    previewEvery: spec.previewEvery,
    content: spec.content.file,
    contentName: spec.content.name,
    styles: spec.styles.map((s) => s.file),
    styleNames: spec.styles.map((s) => s.name),
  };
}

export type ToRunner = { type: 'run'; job: RunnerJob } | { type: 'cancel'; id: string } | { type: 'exit' };

/** How a failed job failed, enough to rebuild the error on the other side. */
export interface RunnerFailure {
  /** 'cancelled': stopped by a cancel message; 'user': a StyleTransferError (bad image, divergence…); 'storage': a write failed; 'internal': anything else. */
  kind: 'cancelled' | 'user' | 'storage' | 'internal';
  message: string;
  /** The error's class name and code, when it had them. */
  name?: string;
  code?: string;
  /** Stack of an internal error, for the server's log. */
  stack?: string;
}

export type FromRunner =
  | { type: 'ready'; pid: number }
  | { type: 'event'; id: string; event: WireProgressEvent }
  | { type: 'preview'; id: string; version: number }
  | { type: 'done'; id: string; seconds: number }
  | { type: 'failed'; id: string; failure: RunnerFailure };
