/**
 * The API's shapes as the page sees them. Kept free of server imports so the page type-checks
 * with the DOM library alone; the names match src/jobs/job.ts and src/queue/local-queue.ts.
 */
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
export const TERMINAL: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled', 'interrupted']);

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

export interface ImageInfo {
  name: string;
  width: number;
  height: number;
}

export interface JobView {
  id: string;
  status: JobState;
  createdAt: string;
  finishedAt?: string;
  position?: number;
  progress?: JobProgress;
  error?: string;
  result: boolean;
  previewVersion: number;
  seconds?: number;
  options: Record<string, unknown>;
  content: ImageInfo;
  styles: ImageInfo[];
}

export interface LossPoint {
  scale: number;
  iteration: number;
  loss: number;
  content: number;
  style: number;
  tv: number;
}

export type JobEvent =
  | { type: 'status'; status: JobState; position?: number; error?: string; result?: boolean }
  | { type: 'preview'; url: string; version: number }
  | { type: 'history'; points: LossPoint[] }
  | { type: 'loading'; stage: string; message: string }
  | { type: 'download'; url: string; received: number; total?: number }
  | { type: 'scale'; scale: number; scales: number; width: number; height: number; iterations: number }
  | ({ type: 'iteration'; ms: number } & JobProgress & LossPoint)
  | { type: 'done'; seconds: number; iterations: number };

export interface OptionSpec {
  key: string;
  kind: 'int' | 'number' | 'string' | 'boolean' | 'numbers' | 'strings';
  doc: string;
  choices?: string[];
  min?: number;
  max?: number;
}

export interface ServerConfig {
  limits: { maxFileBytes: number; maxStyles: number; maxPixels: number; maxQueuedJobs: number; maxSize: number; maxIterations: number };
  optionKeys: string[];
  options: OptionSpec[];
  presets: Record<string, Record<string, unknown>>;
}
