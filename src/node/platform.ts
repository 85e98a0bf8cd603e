/**
 * The pipeline's platform in Node: onnxruntime-node, sharp, the weights cache on disk, and the memory
 * budget from the `memory` option, STYLE_TRANSFER_MEMORY_LIMIT or the free memory (memory-budget.ts).
 */
import { memoryBudget } from './memory-budget.js';
import { resizeRaw } from '../image/resize.js';
import { loadImageSource } from '../image/source.js';
import { resolveWeights } from '../model/resolve.js';
import type { Platform } from '../platform.js';
import { DEFAULT_CONVOLUTION, nodeBackend } from './ort-backend.js';

export const nodePlatform: Platform = {
  backend: (threads, lean) => nodeBackend({ threads, memoryArena: !lean }),
  winograd: DEFAULT_CONVOLUTION === 'winograd',
  loadImage: loadImageSource,
  resize: resizeRaw,
  resolveWeights: (r) => resolveWeights({ model: r.model, fallbackModel: r.fallbackModel, weights: r.weights, upTo: r.upTo, signal: r.signal, onProgress: r.onProgress }),
  memoryBudget: (memory) => memoryBudget(memory),
};
