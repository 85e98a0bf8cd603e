/**
 * The single place the pipeline gets its network from: an explicit weights file (--weights, or
 * STYLE_TRANSFER_WEIGHTS), or a registry variant from the cache, downloaded on first use.
 */
import { basename, extname } from 'node:path';
import { OptionError, WeightsError } from '../errors.js';
import { cacheDir, CorruptCacheError, installVariant, readInstalled, variantStatus } from './cache.js';
import type { DownloadProgress } from './download.js';
import { conventionForModel, DEFAULT_MODEL, findVariant, MODEL_REGISTRY, modelNames, type ModelVariant } from './registry.js';
import { vgg19 } from './vgg19.js';
import { extractConvWeights, type ResolvedWeights } from './conv-weights.js';
import { parseWeightsBytes, readWeightsFile } from './weights-file.js';

export type { ResolvedWeights };

export interface ResolveOptions {
  /** A registry variant (`vgg19`, `vgg19-caffe`), or with `weights` also `vgg19-caffe-rgb`. */
  model?: string;
  /**
   * For a weights file whose convention neither `model` nor its own metadata gives (a .pth): the
   * variant whose convention to assume (the preset's network).
   */
  fallbackModel?: string;
  /** A weights file (safetensors or .pth); overrides the registry. */
  weights?: string;
  /** Only these conv layers' weights are needed (a loss that stops early). */
  upTo?: ReadonlySet<string>;
  onProgress?: (e: DownloadProgress) => void;
  signal?: AbortSignal;
  /** false: never download; a variant that is not cached is a WeightsError. */
  download?: boolean;
  /** The variants to choose from (tests inject their own). */
  registry?: readonly ModelVariant[];
  /** Environment for STYLE_TRANSFER_WEIGHTS / _HOME / _MIRROR (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export async function resolveWeights(opts: ResolveOptions = {}): Promise<ResolvedWeights> {
  const env = opts.env ?? process.env;
  const registry = opts.registry ?? MODEL_REGISTRY;
  const file = opts.weights ?? (env.STYLE_TRANSFER_WEIGHTS || undefined);
  if (file !== undefined) return fromFile(file, opts.model, opts.fallbackModel, registry, opts.upTo);

  const variant = findVariant(opts.model ?? opts.fallbackModel ?? DEFAULT_MODEL, registry);
  const dir = cacheDir(env);
  const status = await variantStatus(variant, dir);
  const install = () => installVariant(variant, { env, onProgress: opts.onProgress, signal: opts.signal });
  if (!status.installed) {
    if (opts.download === false) {
      throw new WeightsError(`model ${variant.name} is not downloaded yet (expected at ${status.paths.compact})`, status.paths.compact, {
        option: 'weights',
        hint: `run \`style-transfer weights download ${variant.name}\` or pass {weights=FILE}`,
      });
    }
    await install();
  }
  let installed;
  try {
    installed = await readInstalled(variant, dir);
  } catch (err) {
    // Corrupt in the cache: make it again (the install re-checks the hash under the lock), unless downloads are off.
    if (!(err instanceof CorruptCacheError) || opts.download === false) throw err;
    await install();
    installed = await readInstalled(variant, dir);
  }
  const { tensors } = await parseWeightsBytes(installed.bytes, installed.path);
  const net = vgg19(variant.convention, variant.name);
  return { net, weights: extractConvWeights(tensors, net, installed.path, opts.upTo), path: installed.path, modelName: variant.name };
}

async function fromFile(
  path: string,
  model: string | undefined,
  fallbackModel: string | undefined,
  registry: readonly ModelVariant[],
  upTo: ReadonlySet<string> | undefined,
): Promise<ResolvedWeights> {
  let convention = model === undefined ? undefined : conventionForModel(model, registry);
  if (model !== undefined && !convention) throw new OptionError('model', `one of ${modelNames(registry).join(', ')}`, model);
  const file = await readWeightsFile(path);
  convention ??= file.convention;
  // The file says nothing: assume the preset's network (its convention), as the user did not say otherwise.
  if (!convention && fallbackModel !== undefined) convention = conventionForModel(fallbackModel, registry);
  if (!convention) {
    throw new WeightsError(`${path} does not record the input convention its weights expect`, path, {
      option: 'model',
      hint: `pass {model} (one of ${modelNames(registry).join(', ')})`,
    });
  }
  const modelName = model ?? basename(path, extname(path));
  const net = vgg19(convention, modelName);
  return { net, weights: extractConvWeights(file.tensors, net, path, upTo), path, modelName };
}
