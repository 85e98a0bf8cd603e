/**
 * The network's weights in the browser: the compact conv-only safetensors file the Node cache makes,
 * described by a small manifest (`weights.json`, written by `npm run build:web -- --weights FILE`),
 * downloaded once with progress, SHA-256 verified with crypto.subtle, and kept in the Cache Storage
 * under its hash so a later visit (or a file the user picked) never downloads it again.
 * Works in the page and in the worker (both have fetch, caches and crypto.subtle in a secure context).
 */

/** What `weights.json` says about the file the site serves. */
export interface WeightsManifest {
  /** The file's URL, relative to the manifest. */
  readonly url: string;
  /** Lower-case hex SHA-256 of the file. */
  readonly sha256: string;
  /** Its size in bytes (told to the user before the first download). */
  readonly bytes: number;
  /** A name to show (e.g. vgg19-caffe-q8). */
  readonly name: string;
}

export interface WeightsProgress {
  readonly received: number;
  readonly total: number | undefined;
}

const CACHE_NAME = 'style-transfer-weights-v1';

/** The weights problems a user can act on, with one line that says what to do. */
export class BrowserWeightsError extends Error {
  override name = 'BrowserWeightsError';
}

/** Read and check `weights.json`; undefined when the site has none (the user then picks a file). */
export async function loadManifest(manifestUrl: string | URL): Promise<WeightsManifest | undefined> {
  let res: Response;
  try {
    res = await fetch(manifestUrl, { cache: 'no-cache' });
  } catch {
    return undefined;
  }
  if (!res.ok) return undefined;
  const raw = (await res.json().catch(() => undefined)) as Partial<WeightsManifest> | undefined;
  if (!raw || typeof raw.url !== 'string' || typeof raw.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(raw.sha256) || !(Number(raw.bytes) > 0)) {
    throw new BrowserWeightsError(`${String(manifestUrl)} is not a weights manifest (expected url, sha256, bytes)`);
  }
  return { url: new URL(raw.url, new URL(manifestUrl, self.location.href)).href, sha256: raw.sha256, bytes: Number(raw.bytes), name: String(raw.name ?? 'VGG-19') };
}

/** Lower-case hex SHA-256 of the bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  if (!globalThis.crypto?.subtle) {
    throw new BrowserWeightsError('this page is not in a secure context (https or localhost), so the browser cannot verify the network download');
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The cache key of a verified file: its hash, under this origin. */
function cacheKey(sha256: string): string {
  return new URL(`/__style-transfer-weights/${sha256}.safetensors`, self.location.origin).href;
}

async function openCache(): Promise<Cache | undefined> {
  try {
    return typeof caches === 'undefined' ? undefined : await caches.open(CACHE_NAME);
  } catch {
    return undefined; // storage disabled (private mode, policies): work without a cache
  }
}

/** Whether a verified copy of the file with this hash is stored (the page asks before offering a download). */
export async function isStored(sha256: string): Promise<boolean> {
  const cache = await openCache();
  return !!(await cache?.match(cacheKey(sha256)));
}

/** The stored file with this hash, checked again (storage can be corrupted or tampered with); undefined if none. */
export async function readStored(sha256: string): Promise<Uint8Array | undefined> {
  const cache = await openCache();
  const hit = await cache?.match(cacheKey(sha256));
  if (!hit) return undefined;
  const bytes = new Uint8Array(await hit.arrayBuffer());
  if ((await sha256Hex(bytes)) === sha256) return bytes;
  await cache!.delete(cacheKey(sha256));
  return undefined;
}

async function store(sha256: string, bytes: Uint8Array): Promise<void> {
  const cache = await openCache();
  // Quota errors only cost the next visit a download; the run goes on.
  await cache?.put(cacheKey(sha256), new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } })).catch(() => {});
}

/** Download the manifest's file with progress, verify its hash, store it. */
export async function downloadWeights(manifest: WeightsManifest, onProgress: (p: WeightsProgress) => void, signal?: AbortSignal): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(manifest.url, { signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new BrowserWeightsError(`cannot download the network from ${manifest.url}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new BrowserWeightsError(`cannot download the network from ${manifest.url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length')) || manifest.bytes;
  const bytes = new Uint8Array(Math.max(total, manifest.bytes));
  let received = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > bytes.length) throw new BrowserWeightsError(`${manifest.url} is larger than the ${manifest.bytes} bytes its manifest says`);
    bytes.set(value, received);
    received += value.length;
    onProgress({ received, total });
  }
  const file = bytes.subarray(0, received);
  await verify(file, manifest.sha256, manifest.url);
  await store(manifest.sha256, file);
  return file;
}

/** A weights file the user picked: checked against the manifest's hash when there is one, then stored. */
export async function weightsFromFile(file: Blob & { name?: string }, expectedSha256?: string): Promise<{ key: string; bytes: Uint8Array }> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const key = expectedSha256 ? await verify(bytes, expectedSha256, file.name ?? 'the chosen file') : await sha256Hex(bytes);
  await store(key, bytes);
  return { key, bytes };
}

async function verify(bytes: Uint8Array, expected: string, what: string): Promise<string> {
  const actual = await sha256Hex(bytes);
  if (actual !== expected) {
    throw new BrowserWeightsError(`${what} does not have the expected SHA-256 (${expected.slice(0, 12)}…, got ${actual.slice(0, 12)}…): a corrupted or different file`);
  }
  return actual;
}
