/**
 * The messages between the server's embedded queue and its runner processes (runner-process.ts),
 * over Node's IPC channel as JSON. Images never travel: the runner reads the inputs from the job's
 * folder and writes preview.png, result.png and sheet.png there itself; only the job's spec,
 * events, small numbers and messages cross.
 */
import type { WireProgressEvent } from '../jobs/events.js';
import type { ExecuteSettings, JobRun } from '../jobs/execute.js';

/** Fixed for the life of a runner process (it keeps its weights and sessions between jobs). */
export interface RunnerSettings extends ExecuteSettings {
  /** Weights file for every job; default: the library's (STYLE_TRANSFER_WEIGHTS, else the cache). */
  weights?: string;
}

export type ToRunner = { type: 'run'; job: JobRun } | { type: 'cancel'; id: string } | { type: 'exit' };

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
