/**
 * The pipeline's platform in Node: onnxruntime-node, sharp, the weights cache on disk, os memory.
 */
import { memoryBudget } from './memory-budget.js';
import { checkMemory } from '../engine/memory.js';
import { resizeRaw } from '../image/resize.js';
import { loadImageSource } from '../image/source.js';
import { resolveWeights } from '../model/resolve.js';
import type { Platform } from '../platform.js';
import { nodeBackend } from './ort-backend.js';

export const nodePlatform: Platform = {
  backend: (threads, lean) => nodeBackend({ threads, memoryArena: !lean }),
  loadImage: loadImageSource,
  resize: resizeRaw,
  resolveWeights: (r) => resolveWeights({ model: r.model, fallbackModel: r.fallbackModel, weights: r.weights, upTo: r.upTo, signal: r.signal, onProgress: r.onProgress }),
  checkMemory: (width, height, extras) => checkMemory(width, height, process.env, extras),
  memoryBudget: (memory) => memoryBudget(memory),
};
