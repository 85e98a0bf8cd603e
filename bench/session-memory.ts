/**
 * Peak RSS while the engine's two ONNX models are encoded and their sessions built, for the shared
 * weights and the quality preset's layers: `node --expose-gc --import tsx bench/session-memory.ts
 * [encode|session]`. Each mode wants a fresh process (the peak is the process's maxRSS).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLossModel, buildTargetModel } from '../src/engine/loss-graph.js';
import { StyleEngine } from '../src/engine/style-engine.js';
import { resolveWeights } from '../src/model/resolve.js';
import { convsUpTo } from '../src/model/vgg19.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { PRESETS } from '../src/options.js';

const mode = process.argv[2] === 'encode' ? 'encode' : 'session';
const weightsFile = process.env.STYLE_TRANSFER_WEIGHTS ?? path.resolve(fileURLToPath(import.meta.url), '../../../shared/weights/vgg19-caffe-q8.safetensors');
const { contentLayers, styleLayers, styleNormalisation, pooling } = PRESETS.quality;
const layout = { contentLayers, styleLayers, styleNormalisation, pooling };
const { net, weights } = await resolveWeights({ weights: weightsFile, upTo: convsUpTo([...contentLayers, ...styleLayers]), env: {} });
(globalThis as { gc?: () => void }).gc?.();

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const peakBefore = process.resourceUsage().maxRSS * 1024;
const rss = process.memoryUsage().rss;
if (mode === 'encode') {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);
  const loss = buildLossModel(net, weights, layout);
  const target = buildTargetModel(net, weights, layout);
  console.log(`loss model ${mib(loss.length)} (sha256 ${sha(loss)}), target model ${mib(target.length)} (sha256 ${sha(target)})`);
} else {
  const engine = await StyleEngine.create(nodeBackend({ threads: 1 }), net, weights, layout);
  await engine.release();
}
const peak = process.resourceUsage().maxRSS * 1024;
console.log(`${mode}: RSS with the weights loaded ${mib(rss)}; peak ${mib(peak)} (+${mib(peak - peakBefore)} while building)`);
