/**
 * GET /api/config: the limits, the options a job may set and the presets, from which the page
 * builds its form. One type for both sides: the server's route (server/routes.ts) returns it and
 * the page imports it as a type only (web/types.ts), so the two cannot drift apart. Browser mode
 * (web/browser-mode.ts) builds the same shape from the library's own tables.
 */
import { PRESETS, type OptionSpec } from '../options.js';
import type { ServerLimits } from './limits.js';

/** An option as the page reads it: the library's own spec (the server sends it whole). */
export type ConfigOption = Pick<OptionSpec, 'key' | 'kind' | 'doc' | 'choices' | 'min' | 'max' | 'default'>;

/** The limits the page checks before uploading (the server sends all of ServerLimits). */
export type PageLimits = Pick<ServerLimits, 'maxFileBytes' | 'maxStyles' | 'maxPixels' | 'maxQueuedJobs' | 'maxSize' | 'maxIterations'>;

export interface ServerConfig {
  readonly limits: PageLimits;
  /** Every key a job's options may carry (the options below, plus preset, init, seed, previewEvery…). */
  readonly optionKeys: readonly string[];
  readonly options: readonly ConfigOption[];
  /** Each preset's tuning values, by option key (JSON as sent). */
  readonly presets: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** The presets as sent: plain records of option values (a Tuning has no index signature). */
export function configPresets(): ServerConfig['presets'] {
  return PRESETS as unknown as ServerConfig['presets'];
}
