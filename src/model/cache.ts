/**
 * The weights cache: `$STYLE_TRANSFER_HOME`, else `$XDG_CACHE_HOME/style-transfer`, else
 * `~/.cache/style-transfer`. A variant is installed once as `<variant>.conv.safetensors` (its 16 convs
 * only, ~80 MB, with the input convention in the metadata) next to `<variant>.conv.safetensors.json`,
 * a sidecar recording the compact file's own SHA-256 and where it came from. The big download (the
 * classifier is 470 MB style transfer never uses) is deleted once the compact file is in place.
 *
 * Installed means both files exist: the sidecar is written before the compact file, both atomically
 * (temporary file, fsync, rename), so a crash in between leaves a state that is simply redone. The
 * compact file's SHA-256 is checked against the sidecar whenever it is loaded or found installed:
 * a bad disk, or a power loss on a filesystem that reorders writes, can leave a right-sized file
 * with other bytes, which a size check would take for good weights.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { hostname, homedir } from 'node:os';
import { join } from 'node:path';
import { AbortError, WeightsError } from '../errors.js';
import type { InputConvention } from './convention.js';
import { downloadFile, type DownloadProgress } from './download.js';
import { isPth, parsePth } from './pth.js';
import { isSafetensors, parseSafetensors, serializeSafetensors } from './safetensors.js';
import type { NamedTensor, TensorMap } from './tensors.js';
import { expectedHash, urlFileName, variantUrl, type ModelVariant } from './registry.js';
import { convLayers, vgg19 } from './vgg19.js';
import { extractConvWeights } from './weights-file.js';
import { writeFileAtomic } from '../fs/atomic.js';

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STYLE_TRANSFER_HOME) return env.STYLE_TRANSFER_HOME;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'style-transfer');
  return join(homedir(), '.cache', 'style-transfer');
}

export interface VariantPaths {
  readonly dir: string;
  /** The downloaded file, under its original name (also where a user may put it by hand). */
  readonly download: string;
  /** The compact conv-only safetensors file that is kept. */
  readonly compact: string;
  /** JSON sidecar with the compact file's SHA-256. */
  readonly sidecar: string;
  readonly lock: string;
}

export function variantPaths(variant: ModelVariant, dir: string = cacheDir()): VariantPaths {
  const compact = join(dir, `${variant.name}.conv.safetensors`);
  return { dir, download: join(dir, urlFileName(variant.url)), compact, sidecar: `${compact}.json`, lock: join(dir, `${variant.name}.lock`) };
}

/** What the sidecar records about an installed variant. */
export interface CacheRecord {
  readonly variant: string;
  /** SHA-256 and size of the compact file. */
  readonly sha256: string;
  readonly size: number;
  readonly source: { readonly url: string; readonly sha256: string };
  readonly createdAt: string;
}

export async function readCacheRecord(paths: VariantPaths): Promise<CacheRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(paths.sidecar, 'utf8')) as CacheRecord;
    return typeof record.sha256 === 'string' && typeof record.size === 'number' ? record : undefined;
  } catch {
    return undefined;
  }
}

export interface VariantStatus {
  readonly paths: VariantPaths;
  /** The compact file and its sidecar exist and their sizes agree. */
  readonly installed: boolean;
  readonly record: CacheRecord | undefined;
  /** Bytes of an interrupted download waiting to be resumed. */
  readonly partialBytes: number;
}

/** A cheap look at the cache (sizes only; `verifyVariant` reads and hashes the file). */
export async function variantStatus(variant: ModelVariant, dir: string = cacheDir()): Promise<VariantStatus> {
  const paths = variantPaths(variant, dir);
  const record = await readCacheRecord(paths);
  const size = await fileSize(paths.compact);
  const partialBytes = (await fileSize(`${paths.download}.part`)) ?? 0;
  return { paths, installed: record !== undefined && size === record.size, record, partialBytes };
}

/** The compact file does not match its sidecar (a WeightsError; `weights download` or a download re-makes it). */
export class CorruptCacheError extends WeightsError {}

/** Re-hash the compact file against its sidecar. Throws a WeightsError if missing or corrupt. */
export async function verifyVariant(variant: ModelVariant, dir: string = cacheDir()): Promise<{ path: string; sha256: string; size: number }> {
  const { path, bytes, record } = await readInstalled(variant, dir);
  return { path, sha256: record.sha256, size: bytes.byteLength };
}

/**
 * The installed compact file's bytes, checked against the SHA-256 its sidecar records. Throws a
 * WeightsError if it is not installed, a CorruptCacheError if its bytes are not the recorded ones.
 */
export async function readInstalled(variant: ModelVariant, dir: string = cacheDir()): Promise<{ path: string; bytes: Uint8Array; record: CacheRecord }> {
  const paths = variantPaths(variant, dir);
  const record = await readCacheRecord(paths);
  let bytes: Uint8Array | undefined;
  if (record) bytes = await readFile(paths.compact).catch(() => undefined);
  if (!record || !bytes) {
    throw new WeightsError(`model ${variant.name} is not downloaded (no ${paths.compact}); run \`style-transfer weights download ${variant.name}\``, paths.compact);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== record.sha256 || bytes.byteLength !== record.size) {
    throw new CorruptCacheError(
      `${paths.compact} is corrupt: SHA-256 ${sha256} (${bytes.byteLength} bytes), expected ${record.sha256} (${record.size} bytes); run \`style-transfer weights download ${variant.name}\` to fetch it again`,
      paths.compact,
    );
  }
  return { path: paths.compact, bytes, record };
}

export interface InstallOptions {
  readonly dir?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly onProgress?: (e: DownloadProgress) => void;
  readonly signal?: AbortSignal;
  /** Re-hash an already installed compact file and reinstall it if it is corrupt (default true; false trusts its size). */
  readonly verifyExisting?: boolean;
}

export interface InstallResult {
  readonly path: string;
  readonly record: CacheRecord;
  /** False when the variant was already installed (by this or another process). */
  readonly installed: boolean;
}

/**
 * Make sure a variant is in the cache: download it (or take a file the user put at its download
 * path), check its hash, write the compact conv-only file and delete the download. Only one process
 * at a time does this per variant; the others wait and reuse its result.
 */
export async function installVariant(variant: ModelVariant, options: InstallOptions = {}): Promise<InstallResult> {
  const dir = options.dir ?? cacheDir(options.env);
  const paths = variantPaths(variant, dir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new WeightsError(`cannot create the weights cache directory ${dir}: ${(err as Error).message}`, dir, { cause: err });
  }
  return withLock(paths.lock, options.signal, async () => {
    const status = await variantStatus(variant, dir);
    if (status.installed && status.record) {
      if (options.verifyExisting === false) return { path: paths.compact, record: status.record, installed: false };
      try {
        await verifyVariant(variant, dir);
        return { path: paths.compact, record: status.record, installed: false };
      } catch {
        // Corrupt: fall through and install it again.
      }
    }
    const hash = expectedHash(variant);
    const url = variantUrl(variant, options.env);
    let sourceSha256: string;
    if ((await fileSize(paths.download)) !== undefined) {
      // Left by a run that stopped before compacting, or put there by hand: check it like a download.
      sourceSha256 = await sha256File(paths.download);
      if (!sourceSha256.startsWith(hash)) {
        throw new WeightsError(`${paths.download} has SHA-256 ${sourceSha256}, expected ${hash}…; delete it and run again`, paths.download);
      }
    } else {
      sourceSha256 = (await downloadFile(url, paths.download, { sha256: hash, onProgress: options.onProgress, signal: options.signal })).sha256;
    }
    const record = await writeCompact(variant, paths, { url, sha256: sourceSha256 });
    await rm(paths.download, { force: true });
    return { path: paths.compact, record, installed: true };
  });
}

/** The safetensors metadata that records a convention (the keys conventionFromMetadata reads). */
export function conventionMetadata(convention: InputConvention): Record<string, string> {
  return {
    input_channels: convention.channels,
    input_scale: String(convention.scale),
    mean: convention.mean.join(','),
    std: convention.std.join(','),
    layout: 'OIHW',
  };
}

/** Extract the 16 convs from the verified download into `<variant>.conv.safetensors` (+ sidecar). */
async function writeCompact(variant: ModelVariant, paths: VariantPaths, source: { url: string; sha256: string }): Promise<CacheRecord> {
  const bytes = await readFile(paths.download);
  let tensors: TensorMap;
  if (isSafetensors(bytes)) tensors = parseSafetensors(bytes, paths.download).tensors;
  else if (isPth(bytes)) tensors = parsePth(bytes, paths.download, { keep: (key) => /(^|\.)features\.\d+\.(weight|bias)$/.test(key) });
  else throw new WeightsError(`${paths.download} is not a weights file (expected safetensors or a PyTorch .pth checkpoint)`, paths.download);

  const net = vgg19(variant.convention, variant.name);
  const weights = extractConvWeights(tensors, net, paths.download);
  const entries: [string, NamedTensor][] = [];
  for (const conv of convLayers(net)) {
    const w = weights.get(conv.name)!;
    entries.push([`features.${conv.index}.weight`, { shape: [conv.outChannels, conv.inChannels, 3, 3], data: w.weight }]);
    entries.push([`features.${conv.index}.bias`, { shape: [conv.outChannels], data: w.bias }]);
  }
  const compact = serializeSafetensors(entries, { model: variant.name, ...conventionMetadata(variant.convention), source: source.url, source_sha256: source.sha256 });
  const record: CacheRecord = {
    variant: variant.name,
    sha256: createHash('sha256').update(compact).digest('hex'),
    size: compact.byteLength,
    source,
    createdAt: new Date().toISOString(),
  };
  try {
    await writeFileAtomic(paths.sidecar, `${JSON.stringify(record, null, 2)}\n`);
    await writeFileAtomic(paths.compact, compact);
  } catch (err) {
    throw new WeightsError(`cannot write ${paths.compact}: ${(err as Error).message}`, paths.compact, { cause: err });
  }
  return record;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** A lock is stale when its owner is gone (same host, dead pid) or it has not been touched for this long. */
const STALE_AFTER_MS = 60_000;
const HEARTBEAT_MS = 10_000;
const POLL_MS = 100;

interface LockOwner {
  pid: number;
  host: string;
  since: string;
  /** Makes every lock file's content unique, so a lock is recognised by it (inode numbers are reused at once). */
  nonce: string;
}

/**
 * Run `fn` holding an exclusive lock file (created with O_EXCL; its mtime is refreshed while held).
 * Waits for another holder; breaks a stale lock (see breakStaleLock).
 */
export async function withLock<T>(lockPath: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    if (signal?.aborted) throw new AbortError('the download was cancelled');
    try {
      const handle = await open(lockPath, 'wx');
      const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), nonce: randomBytes(8).toString('hex') };
      await handle.writeFile(JSON.stringify(owner));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new WeightsError(`cannot create the lock file ${lockPath}: ${(err as Error).message}`, lockPath, { cause: err });
      }
    }
    if ((await staleLock(lockPath)) && (await breakStaleLock(lockPath))) continue;
    await sleep(POLL_MS);
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(lockPath, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    await rm(lockPath, { force: true });
  }
}

/** Which lock file was judged stale: a new lock at the same path differs in content (its nonce) or mtime. */
interface StaleLock {
  readonly text: string;
  readonly mtimeMs: number;
}

/** Breaking a lock takes milliseconds: a `.breaking` file older than this was left by a breaker that died. */
const BREAKING_STALE_MS = 10_000;

/**
 * Break the lock if it is stale, and say whether it was broken. Deleting a lock judged stale a
 * moment ago would let two waiters that both judged it stale both break it: the slower one deletes
 * the lock the faster one has just taken, and both hold it. So breakers take turns (an O_EXCL
 * `.breaking` file), judge the lock again in their turn, and move it aside by rename rather than
 * delete it; should what was moved not be the file judged stale (its owner released it and another
 * process took the lock in between), it is linked back (link never overwrites).
 */
export async function breakStaleLock(lockPath: string): Promise<boolean> {
  const turn = `${lockPath}.breaking`;
  try {
    await (await open(turn, 'wx')).close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const age = await stat(turn).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > BREAKING_STALE_MS) await rm(turn, { force: true });
    }
    return false;
  }
  try {
    const stale = await staleLock(lockPath);
    if (!stale) return false;
    const moved = `${lockPath}.broken.${process.pid}.${randomBytes(6).toString('hex')}`;
    try {
      await rename(lockPath, moved);
    } catch {
      return false; // released meanwhile
    }
    try {
      const [text, s] = await Promise.all([readFile(moved, 'utf8'), stat(moved)]);
      if (text === stale.text && s.mtimeMs === stale.mtimeMs) return true;
      await link(moved, lockPath).catch(() => undefined);
      return false;
    } finally {
      await unlink(moved).catch(() => undefined);
    }
  } finally {
    await rm(turn, { force: true });
  }
}

/** The lock's identity if it is stale: its owner is gone (same host, dead pid) or it was not touched for STALE_AFTER_MS. */
async function staleLock(lockPath: string): Promise<StaleLock | undefined> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, mtimeMs] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath).then((s) => s.mtimeMs)]);
  } catch {
    return undefined; // gone already (the next open will tell) or unreadable for a moment
  }
  const identity = { text, mtimeMs };
  if (Date.now() - mtimeMs > STALE_AFTER_MS) return identity;
  let owner: LockOwner;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    return undefined; // being written right now
  }
  if (owner.host !== hostname() || !Number.isInteger(owner.pid)) return undefined;
  try {
    process.kill(owner.pid, 0);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? identity : undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
