/**
 * The network for the page's browser mode, served by `style-transfer serve` itself, so that a user
 * who chooses "in this browser" on a served page gets it like on a static site built with
 * `build:web --weights` (README "In the browser"):
 *
 *   GET /weights.json                              {url, sha256, bytes, name}: what the page reads
 *   GET /weights/<name>-<sha256 prefix>.safetensors the file itself (immutable: its hash is in the name)
 *
 * The file is the one the server's own jobs use: --weights, else $STYLE_TRANSFER_WEIGHTS, else the
 * default model's compact file in the cache (never downloaded from here: a route must not start an
 * 80 MB download for whoever asks). The browser can only use a safetensors VGG-19 that records its
 * input convention; anything else (a .pth, a model not downloaded yet) answers 404 with the reason,
 * and the page then lets the user pick the file, as on a static site without the network.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { firstLine } from '../errors.js';
import { cacheDir, sha256File, variantStatus } from '../model/cache.js';
import { extractConvWeights } from '../model/conv-weights.js';
import { DEFAULT_MODEL, findVariant } from '../model/registry.js';
import { vgg19 } from '../model/vgg19.js';
import { parseWeightsBytes } from '../model/weights-file.js';
import { HttpError } from './http-error.js';

/** What `weights.json` says (src/web/weights.ts reads it). */
export interface NetworkManifest {
  /** Relative to the manifest. */
  url: string;
  sha256: string;
  bytes: number;
  name: string;
}

/**
 * Check that a weights file can run in the browser (safetensors, input convention recorded, VGG-19's
 * conv layers) and describe it. Throws an Error whose message says what is wrong.
 */
export async function describeBrowserNetwork(file: string): Promise<NetworkManifest> {
  const bytes = await readFile(file);
  const parsed = await parseWeightsBytes(bytes, file);
  if (parsed.format !== 'safetensors' || !parsed.convention) {
    throw new Error(`${file}: the browser needs a safetensors file that records its input convention (the compact file \`style-transfer weights path\` names)`);
  }
  extractConvWeights(parsed.tensors, vgg19(parsed.convention), file); // refuses a file that is not VGG-19
  const sha256 = await sha256File(file);
  const name = path.basename(file, path.extname(file));
  return { url: `weights/${name}-${sha256.slice(0, 12)}.safetensors`, sha256, bytes: bytes.length, name };
}

/** The file the server's jobs use, or why there is none to give the browser. */
async function serverNetworkFile(weights: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const file = weights ?? (env.STYLE_TRANSFER_WEIGHTS || undefined);
  if (file !== undefined) return file;
  const status = await variantStatus(findVariant(DEFAULT_MODEL), cacheDir(env));
  if (!status.installed) throw new Error(`the model ${DEFAULT_MODEL} is not downloaded on this server yet`);
  return status.paths.compact;
}

/** An error's first line with `file` named by its base name: a client learns which file, not where it lives on this machine. */
function reasonWithoutDirectory(err: unknown, file: string | undefined): string {
  const line = firstLine(err);
  return file ? line.split(file).join(path.basename(file)) : line;
}

export function registerNetworkRoutes(app: FastifyInstance, opts: { weights?: string; env?: NodeJS.ProcessEnv } = {}): void {
  const env = opts.env ?? process.env;
  // Hashing 80 MB takes a moment: done once per version of the file (path, size, mtime).
  let cached: { key: string; manifest: Promise<NetworkManifest>; file: string } | undefined;
  const current = async (): Promise<{ manifest: NetworkManifest; file: string }> => {
    let file: string;
    let key: string;
    try {
      file = await serverNetworkFile(opts.weights, env);
      const info = await stat(file);
      key = `${file}\0${info.size}\0${info.mtimeMs}`;
    } catch (err) {
      throw new HttpError(404, `this server has no network for the browser: ${reasonWithoutDirectory(err, opts.weights)}; choose the weights file in the page`);
    }
    if (cached?.key !== key) cached = { key, file, manifest: describeBrowserNetwork(file) };
    const entry = cached;
    try {
      return { manifest: await entry.manifest, file: entry.file };
    } catch (err) {
      throw new HttpError(404, `this server has no network for the browser: ${reasonWithoutDirectory(err, entry.file)}`);
    }
  };

  app.get('/weights.json', async (_request, reply) => {
    const { manifest } = await current();
    return reply.header('Cache-Control', 'no-cache').send(manifest);
  });
  app.get<{ Params: { file: string } }>('/weights/:file', async (request, reply) => {
    const { manifest, file } = await current();
    if (`weights/${request.params.file}` !== manifest.url) throw new HttpError(404, `no such network file: ${request.params.file.slice(0, 100)}`);
    return reply
      .type('application/octet-stream')
      .header('Content-Length', String(manifest.bytes))
      .header('Cache-Control', 'public, max-age=31536000, immutable')
      .send(createReadStream(file));
  });
}
