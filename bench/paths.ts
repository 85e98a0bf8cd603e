/** Where the benchmarks find the repository and ../shared: the sample images and the real weights. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('..', import.meta.url));
export const shared = path.resolve(repo, '../shared');
export const weightsPath = process.env.STYLE_TRANSFER_WEIGHTS ?? path.join(shared, 'weights/vgg19-caffe-q8.safetensors');
/** A sample image of ../shared/images by name (dog, matisse, …); a path is taken as given. */
export const sampleImage = (name: string): string => (name.includes('/') || name.includes('.') ? name : path.join(shared, 'images', `${name}.jpg`));
