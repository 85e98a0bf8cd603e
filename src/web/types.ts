/**
 * The API's shapes as the page sees them. The job's status, view and events are the server's own
 * types (src/jobs/events.ts), imported as types only: that module imports nothing of Node, and
 * the bundle test (test/web/bundle.test.ts) guards the page's bundle. TERMINAL is the one value.
 */
export type { ImageInfo, JobEvent, JobProgress, JobState, JobView, LossPoint } from '../jobs/events.js';
export { TERMINAL_STATES as TERMINAL } from '../jobs/events.js';

export interface OptionSpec {
  key: string;
  kind: 'int' | 'number' | 'string' | 'boolean' | 'numbers' | 'strings';
  doc: string;
  choices?: string[];
  min?: number;
  max?: number;
  /** The value when a preset does not set it (maskPropagation's 'pool'). */
  default?: unknown;
}

export interface ServerConfig {
  limits: { maxFileBytes: number; maxStyles: number; maxPixels: number; maxQueuedJobs: number; maxSize: number; maxIterations: number };
  optionKeys: string[];
  options: OptionSpec[];
  presets: Record<string, Record<string, unknown>>;
}
