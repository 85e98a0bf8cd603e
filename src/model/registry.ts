/**
 * The VGG-19 variants style-transfer can download, each with the input convention its weights were
 * trained with. Downloads are checked like torch hub does: the file name ends in `-<hex>.<ext>` where
 * <hex> is a prefix of the file's SHA-256.
 */
import { OptionError, WeightsError } from '../errors.js';
import { CAFFE_BGR_CONVENTION, CAFFE_RGB_CONVENTION, TORCHVISION_CONVENTION, type InputConvention } from './convention.js';

export interface ModelVariant {
  /** The name users pass as --model, e.g. `vgg19`. */
  readonly name: string;
  readonly description: string;
  readonly url: string;
  /** Expected SHA-256 of the downloaded file, or a hex prefix of it; defaults to the one in the URL's file name. */
  readonly sha256?: string;
  /** Approximate size of the download in bytes (for listings and progress before the server says). */
  readonly sizeBytes: number;
  readonly convention: InputConvention;
}

export const DEFAULT_MODEL = 'vgg19';

export const MODEL_REGISTRY: readonly ModelVariant[] = [
  {
    name: 'vgg19',
    description: 'torchvision ImageNet VGG-19 (RGB, 0..1, ImageNet mean/std)',
    url: 'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth',
    sizeBytes: 574_673_361,
    convention: TORCHVISION_CONVENTION,
  },
  {
    name: 'vgg19-caffe',
    description: 'original Caffe VGG-19 as converted by neural-style-pt (BGR, 0..255, minus mean)',
    url: 'https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth',
    sizeBytes: 574_700_000,
    convention: CAFFE_BGR_CONVENTION,
  },
];

/** Conventions that can be named with --model for a file given with --weights, beyond the registry's. */
const EXTRA_CONVENTIONS: Record<string, InputConvention> = { 'vgg19-caffe-rgb': CAFFE_RGB_CONVENTION };

export function findVariant(name: string, registry: readonly ModelVariant[] = MODEL_REGISTRY): ModelVariant {
  const variant = registry.find((v) => v.name === name);
  if (!variant) throw new OptionError('model', `one of ${registry.map((v) => v.name).join(', ')}`, name);
  return variant;
}

/** The convention for a --model name (a registry variant, or `vgg19-caffe-rgb`); undefined if unknown. */
export function conventionForModel(name: string, registry: readonly ModelVariant[] = MODEL_REGISTRY): InputConvention | undefined {
  return registry.find((v) => v.name === name)?.convention ?? EXTRA_CONVENTIONS[name];
}

/** Every name --model accepts together with --weights. */
export function modelNames(registry: readonly ModelVariant[] = MODEL_REGISTRY): string[] {
  return [...registry.map((v) => v.name), ...Object.keys(EXTRA_CONVENTIONS)];
}

/** The file name at the end of a URL (`vgg19-dcbb9e9d.pth`). */
export function urlFileName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  if (!name) throw new WeightsError(`model URL ${url} does not end in a file name`);
  return name;
}

/** torch hub's rule: the hex digits after the last '-' of the file name, before the extension. */
export function hashPrefixFromFileName(fileName: string): string | undefined {
  return /-([0-9a-f]{6,64})\.[^-]*$/.exec(fileName)?.[1];
}

/** The SHA-256 (or prefix) a variant's download must have. */
export function expectedHash(variant: ModelVariant): string {
  const hash = variant.sha256?.toLowerCase() ?? hashPrefixFromFileName(urlFileName(variant.url));
  if (!hash || !/^[0-9a-f]{6,64}$/.test(hash)) throw new WeightsError(`model ${variant.name} has no SHA-256 to check its download against`);
  return hash;
}

/**
 * The URL to download a variant from: its own, or with STYLE_TRANSFER_MIRROR replacing everything
 * up to the file name (`https://mirror.example/vgg/` + `vgg19-dcbb9e9d.pth`). The hash is still checked.
 */
export function variantUrl(variant: ModelVariant, env: NodeJS.ProcessEnv = process.env): string {
  const mirror = env.STYLE_TRANSFER_MIRROR?.trim();
  if (!mirror) return variant.url;
  let base: URL;
  try {
    base = new URL(mirror.endsWith('/') ? mirror : `${mirror}/`);
  } catch {
    throw new OptionError('STYLE_TRANSFER_MIRROR', 'an http(s) URL', mirror);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new OptionError('STYLE_TRANSFER_MIRROR', 'an http(s) URL', mirror);
  return new URL(encodeURIComponent(urlFileName(variant.url)), base).toString();
}
