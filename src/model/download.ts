/**
 * Download one file over HTTP(S) into place, safely: bytes go to `<dest>.part`, an interrupted
 * download resumes with a Range request (a server that ignores Range makes us start over), the file's
 * SHA-256 is checked against the expected hash (or prefix) before an atomic rename, and a wrong file
 * never reaches `dest`.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { AbortError, DownloadError } from '../errors.js';

export interface DownloadProgress {
  readonly type: 'download';
  readonly url: string;
  /** Bytes of the file on disk so far (including those of a resumed earlier attempt). */
  readonly received: number;
  /** The file's full size when the server says it. */
  readonly total: number | undefined;
}

export interface DownloadFileOptions {
  /** The file's SHA-256 in hex, or a prefix of it (torch hub style). */
  readonly sha256: string;
  readonly onProgress?: (e: DownloadProgress) => void;
  readonly signal?: AbortSignal;
  /** Where a user could put the file by hand (named in the offline message); defaults to `dest`. */
  readonly manualPath?: string;
  /** How many requests to make when the connection keeps being cut (default 5). */
  readonly maxAttempts?: number;
}

export interface DownloadResult {
  readonly sha256: string;
  readonly size: number;
}

/** Thrown inside one attempt when the body stops early: the caller resumes with a Range request. */
class CutConnection extends Error {}

export async function downloadFile(url: string, dest: string, options: DownloadFileOptions): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const expected = options.sha256.toLowerCase();
  const maxAttempts = options.maxAttempts ?? 5;
  const manual = options.manualPath ?? dest;

  // Resume what an earlier, interrupted run left behind: its bytes are hashed again from disk.
  const state: TransferState = { hasher: createHash('sha256'), received: 0, total: undefined };
  state.received = await hashExisting(part, state.hasher);

  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      await fetchOnce(url, part, state, options, manual);
      if (state.total !== undefined && state.received < state.total) {
        throw new CutConnection(`the connection was cut after ${state.received} of ${state.total} bytes`);
      }
      break;
    } catch (err) {
      if (options.signal?.aborted) throw new AbortError('the download was cancelled');
      if (err instanceof RestartFromZero) {
        state.hasher = createHash('sha256');
        state.received = 0;
        await rm(part, { force: true });
      } else if (!(err instanceof CutConnection)) {
        throw err;
      }
      if (attempt >= maxAttempts) {
        throw new DownloadError(`could not download ${url}: ${err.message || 'the server could not resume it'} (tried ${attempt} times); run the command again to resume`, url);
      }
      // On a cut the hasher saw exactly the bytes written to the .part file, so the next request
      // continues from state.received.
    }
  }

  const sha256 = state.hasher.digest('hex');
  if (!sha256.startsWith(expected)) {
    await rm(part, { force: true });
    throw new DownloadError(`downloaded ${url} but its SHA-256 is ${sha256}, expected ${expected}${expected.length < 64 ? '…' : ''}; the file was deleted`, url);
  }
  await rename(part, dest);
  return { sha256, size: state.received };
}

/** A 416 or an inconsistent Content-Range: the partial file cannot be continued. */
class RestartFromZero extends Error {}

interface TransferState {
  hasher: Hash;
  /** Bytes in the .part file, all of them fed to hasher. */
  received: number;
  total: number | undefined;
}

/** One request: continue (or restart) the .part file, updating `state` as bytes arrive. */
async function fetchOnce(url: string, part: string, state: TransferState, options: DownloadFileOptions, manual: string): Promise<void> {
  const from = state.received;
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (from > 0) headers.range = `bytes=${from}-`;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: options.signal, redirect: 'follow' });
  } catch (err) {
    if (options.signal?.aborted) throw new AbortError('the download was cancelled');
    throw new DownloadError(`could not download ${url}: ${networkReason(err)}`, url, {
      cause: err,
      option: 'weights',
      hint: `download it by hand and put it at ${manual}, or pass {weights=FILE}`,
    });
  }

  if (res.status === 206 && from > 0) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (!range || Number(range[1]) !== from) {
      await res.body?.cancel();
      throw new RestartFromZero('the server answered with a different range');
    }
    state.total = range[2] === '*' ? undefined : Number(range[2]);
  } else if (res.status === 200) {
    // A fresh download, or a server that ignored our Range header: either way the body starts at byte 0.
    if (from > 0) {
      state.hasher = createHash('sha256');
      state.received = 0;
    }
    const length = res.headers.get('content-length');
    state.total = length === null ? undefined : Number(length);
  } else if (res.status === 416 && from > 0) {
    await res.body?.cancel();
    throw new RestartFromZero('the server could not resume the partial file');
  } else {
    await res.body?.cancel();
    throw new DownloadError(`could not download ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd(), url);
  }
  if (!res.body) throw new CutConnection('the server sent no body');

  const file = await open(part, state.received === 0 ? 'w' : 'a');
  try {
    const chunks = (res.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (err) {
        if (options.signal?.aborted) throw new AbortError('the download was cancelled');
        const of = state.total === undefined ? '' : ` of ${state.total}`;
        throw new CutConnection(`the connection was cut after ${state.received}${of} bytes (${networkReason(err)})`);
      }
      if (next.done) break;
      try {
        await file.write(next.value);
      } catch (err) {
        throw new DownloadError(`could not write ${part}: ${(err as Error).message}`, url, { cause: err });
      }
      state.hasher.update(next.value);
      state.received += next.value.byteLength;
      options.onProgress?.({ type: 'download', url, received: state.received, total: state.total });
    }
  } finally {
    await file.close();
  }
}

/** Feed an existing partial file into the hash; returns its size (0 if there is none). */
async function hashExisting(path: string, hasher: Hash): Promise<number> {
  const size = (await stat(path).catch(() => undefined))?.size ?? 0;
  if (size === 0) return 0;
  for await (const chunk of createReadStream(path)) hasher.update(chunk as Buffer);
  return size;
}

function throwIfAborted(signal: AbortSignal | undefined) {
  if (signal?.aborted) throw new AbortError('the download was cancelled');
}

/** A short human reason for a failed connection, from fetch's error and its cause. */
export function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code ?? (err as { code?: string })?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (offline?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found (offline?)';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out (offline?)';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return 'network unreachable (offline?)';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
  }
  return (cause?.message ?? (err instanceof Error ? err.message : String(err))).split('\n')[0];
}
