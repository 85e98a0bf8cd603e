/**
 * The error hierarchy of style-transfer. Every error a user can cause (a bad file, a bad option, a
 * network problem) is a StyleTransferError with a one-line message; the CLI prints `error: <message>`
 * and exits non-zero instead of showing a stack trace.
 */
export class StyleTransferError extends Error {
  /** A short machine-readable code, e.g. 'ERR_OPTION'. */
  readonly code: string;
  /** The message without its hint. */
  readonly summary: string;
  /**
   * What the user can do about it, with option keys in braces (see renderHint): the library's
   * message spells them as options, the CLI as its flags. Part of `message` after a `; `.
   */
  readonly hint: string | undefined;
  /** The option the error is about, by its key in StylizeOptions (`size`), if one is. */
  readonly option: string | undefined;
  constructor(message: string, code = 'ERR_STYLE_TRANSFER', options?: ErrorOptions) {
    super(options?.hint ? `${message}; ${renderHint(options.hint, optionName)}` : message, options);
    this.name = new.target.name;
    this.code = code;
    this.summary = message;
    this.hint = options?.hint;
    this.option = options?.option;
  }
}

export interface ErrorOptions {
  cause?: unknown;
  hint?: string;
  option?: string;
}

/**
 * Spell the option keys of a hint: `{size=1230}` (an option with a value) and `{model}` (an option)
 * become what `name` makes of them. The library writes `{ size: 1230 }` and `the model option`; the
 * CLI writes `--size 1230` and `--model`.
 */
export function renderHint(hint: string, name: (key: string, value: string | undefined) => string): string {
  return hint.replace(/\{(\w+)(?:=([^}]*))?\}/g, (_, key: string, value: string | undefined) => name(key, value));
}

function optionName(key: string, value: string | undefined): string {
  return value === undefined ? `the ${key} option` : `{ ${key}: ${value} }`;
}

/** An option has a value outside what is accepted. The message names the option, what was expected and what was received. */
export class OptionError extends StyleTransferError {
  declare readonly option: string;
  readonly expected: string;
  readonly received: unknown;
  constructor(option: string, expected: string, received: unknown) {
    super(`option ${option}: expected ${expected}, received ${describe(received)}`, 'ERR_OPTION', { option });
    this.expected = expected;
    this.received = received;
  }
}

/** An input image cannot be read or is unusable (missing, not an image, truncated, zero pixels, too large). */
export class ImageError extends StyleTransferError {
  readonly path: string | undefined;
  constructor(message: string, path?: string, options?: ErrorOptions) {
    super(message, 'ERR_IMAGE', options);
    this.path = path;
  }
}

/** A weights file is missing, not in a known format, corrupt, unsafe, or holds the wrong network. */
export class WeightsError extends StyleTransferError {
  readonly path: string | undefined;
  constructor(message: string, path?: string, options?: ErrorOptions) {
    super(message, 'ERR_WEIGHTS', options);
    this.path = path;
  }
}

/** A download failed (offline, HTTP error, hash mismatch). */
export class DownloadError extends StyleTransferError {
  readonly url: string | undefined;
  constructor(message: string, url?: string, options?: ErrorOptions) {
    super(message, 'ERR_DOWNLOAD', options);
    this.url = url;
  }
}

/** An 8-bit RGB image (structurally the same as image/image.ts RawImage; kept here to avoid an import cycle). */
interface PartialImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 3;
}

/** The run cannot go on: the loss became NaN/Inf, or the job would not fit in memory. */
export class RunError extends StyleTransferError {
  /** The last good image of a run that stopped part-way, if there was one. */
  readonly partial: PartialImage | undefined;
  constructor(message: string, code = 'ERR_RUN', options?: ErrorOptions & { partial?: PartialImage }) {
    super(message, code, options);
    this.partial = options?.partial;
  }
}

/** The run was cancelled through its AbortSignal; the image as it was then rides along. */
export class AbortError extends StyleTransferError {
  readonly partial: PartialImage | undefined;
  constructor(message = 'the run was cancelled', partial?: PartialImage) {
    super(message, 'ERR_ABORTED');
    this.partial = partial;
  }
}

/** The first non-empty line of an error's message: what a one-line message may quote of a cause. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (
    text
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? 'unknown error'
  );
}

/** Render a received value for an error message: short, and never a multi-line dump. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `a value of type ${typeof value}`;
}
