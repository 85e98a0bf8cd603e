/**
 * What a job is, as stored on disk: its JobSpec never changes after the job is created. Its
 * status, the view the API gives of it and its events are in events.ts.
 */
import type { RemoteOptions } from './options.js';

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
  /** Spatial control (README "Spatial and scale control"): one grey mask per style image, in style order (mask-1.img, …); absent: the plain run. */
  masks?: JobInput[];
  /** Who created it: a hash of the browser's token (src/server/guards.ts), so a listing shows each browser its own jobs. */
  owner?: string;
}
