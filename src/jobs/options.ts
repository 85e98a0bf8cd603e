/**
 * The options a remote user may set: the tuning values of OPTION_SPECS plus preset, seed, init (by
 * name only) and styleBlend. Everything that reaches into the server's machine (weights, threads,
 * file paths, maxPixels, model downloads) stays the operator's choice. Values are then checked by
 * the library's own normaliseOptions(), so the web app accepts exactly what the CLI accepts.
 */
import { OptionError } from '../errors.js';
import { OPTION_SPECS, resolveTuning, type OptionSpec, type ResolvedTuning, type StylizeOptions } from '../options.js';
import { planWork } from '../work.js';
import { JobRefusedError } from './errors.js';
import type { ServerLimits } from './limits.js';

/** Keys a request may carry in its `options` JSON. `model` is left out: which network runs is fixed by the server's weights. */
export const REMOTE_OPTION_KEYS: readonly string[] = [
  'preset',
  ...OPTION_SPECS.filter((s) => s.tuning && s.key !== 'model').map((s) => s.key),
  'styleBlend',
  'maskPropagation',
  'init',
  'seed',
];
/** Server settings that ride along in the same JSON but are not library options. */
const SERVER_KEYS = ['previewEvery'] as const;
const INIT_NAMES = ['content', 'noise', 'style'];

/** A whitelisted subset of StylizeOptions (no images, no callbacks). */
export type RemoteOptions = Omit<Partial<StylizeOptions>, 'content' | 'style' | 'onProgress' | 'signal' | 'weights' | 'threads' | 'maxPixels' | 'model'>;

export interface ParsedJobOptions {
  options: RemoteOptions;
  previewEvery?: number;
}

/** The option specs a remote user may set, for the page to build its controls from. */
export function remoteOptionSpecs(): OptionSpec[] {
  return OPTION_SPECS.filter((s) => REMOTE_OPTION_KEYS.includes(s.key));
}

/** Parse the `options` form field (JSON). Throws JobRefusedError with a one-line message. */
export function parseJobOptions(text: string | undefined, limits: ServerLimits): ParsedJobOptions {
  let raw: unknown = {};
  if (text !== undefined && text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new JobRefusedError(`options is not valid JSON: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new JobRefusedError('options must be a JSON object');
  const given = raw as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  let previewEvery: number | undefined;
  for (const [key, value] of Object.entries(given)) {
    if (key === 'previewEvery') {
      if (!(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 10_000)) {
        throw new JobRefusedError(`option previewEvery: expected an integer between 1 and 10000, received ${JSON.stringify(value)}`);
      }
      previewEvery = value as number;
    } else if (REMOTE_OPTION_KEYS.includes(key)) {
      if (value !== undefined && value !== null) options[key] = value;
    } else {
      throw new JobRefusedError(`option ${key} cannot be set through the server; allowed: ${[...REMOTE_OPTION_KEYS, ...SERVER_KEYS].join(', ')}`);
    }
  }
  if (options.init !== undefined && !INIT_NAMES.includes(options.init as string)) {
    throw new JobRefusedError(`option init: expected one of ${INIT_NAMES.join(', ')}, received ${JSON.stringify(options.init)}`);
  }
  return { options: options as RemoteOptions, previewEvery };
}

/**
 * Validate the options against the library (its own checks, from sizes alone) and the server's caps,
 * for a content image of the given size and the given number of styles. Returns the resolved options.
 */
export function validateJobOptions(options: RemoteOptions, content: { width: number; height: number }, styleCount: number, limits: ServerLimits): ResolvedTuning {
  let resolved: ResolvedTuning;
  try {
    resolved = resolveTuning(options, styleCount);
  } catch (err) {
    if (err instanceof OptionError) throw new JobRefusedError(err.message);
    throw err;
  }
  for (const key of ['iterations', 'scaleIterations'] as const) {
    if (resolved[key] > limits.maxIterations) throw new JobRefusedError(`option ${key}: at most ${limits.maxIterations} on this server, received ${resolved[key]}`);
  }
  const plan = planWork(content, resolved);
  const out = plan.output;
  const long = Math.max(out.width, out.height);
  if (long > limits.maxSize) {
    throw new JobRefusedError(`option size: the output would be ${out.width}x${out.height}; this server allows at most ${limits.maxSize} px on the longer side`);
  }
  // The style image is resized to styleScale × the output's long side; keep it within twice the cap.
  if (!resolved.matchStyleShape && long * resolved.styleScale > 2 * limits.maxSize) {
    throw new JobRefusedError(`option styleScale: the style image would be ${Math.round(long * resolved.styleScale)} px; this server allows at most ${2 * limits.maxSize}`);
  }
  if (resolved.optimizer === 'lbfgs' && resolved.history > limits.maxHistory) {
    throw new JobRefusedError(`option history: at most ${limits.maxHistory} on this server, received ${resolved.history}`);
  }
  if (plan.scales.length > limits.maxScales) {
    throw new JobRefusedError(`options startSize/scaleRatio: the job would run ${plan.scales.length} scales; this server allows at most ${limits.maxScales}`);
  }
  const work = plan.pixelIterations / 1e6;
  if (work > limits.maxWork) {
    throw new JobRefusedError(
      `the job is too large: ${Math.round(work)} megapixel-iterations (${plan.iterations} iterations over ${plan.scales.length} scales up to ${out.width}x${out.height}); ` +
        `this server allows at most ${limits.maxWork}: lower size, iterations or scaleIterations`,
    );
  }
  return resolved;
}
