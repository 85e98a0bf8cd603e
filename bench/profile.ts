/**
 * Where the engine's time goes: ORT's per-node profile of the loss graph, summed by operator type
 * and listed by node, for one or more sizes.
 *
 *   npm run bench:profile [-- --sizes 256,512] [--runs 3] [--top 25] [--keep DIR] [--arena on|off]
 *                         [--convolution winograd|direct]
 *
 * The first evaluation at each size is a warm-up and left out. Times are the kernels' own (ORT's
 * `<node>_kernel_time` events), each node's fastest of the runs (the closest to its cost on a quiet
 * host); their sum is printed beside the mean wall time of the runs.
 */
import { parseArgs } from 'node:util';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StyleEngine } from '../src/engine/style-engine.js';
import { hugePagesOn, relaunchWithHugePages } from '../src/node/huge-pages.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { convolutionOption } from './engine-measure.js';
import { readWeightsFile, extractConvWeights } from '../src/model/weights-file.js';
import { vgg19 } from '../src/model/vgg19.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,512' },
    runs: { type: 'string', default: '3' },
    top: { type: 'string', default: '25' },
    keep: { type: 'string' },
    weights: { type: 'string' },
    arena: { type: 'string' },
    convolution: { type: 'string', default: 'winograd' },
  },
});
// As the CLI runs (src/node/huge-pages.ts); STYLE_TRANSFER_HUGE_PAGES=0 measures without.
await relaunchWithHugePages();
const hugePages = hugePagesOn(process.env);

const repo = fileURLToPath(new URL('..', import.meta.url));
const weightsPath = values.weights ?? process.env.STYLE_TRANSFER_WEIGHTS ?? path.resolve(repo, '../shared/weights/vgg19-caffe-q8.safetensors');
const runs = Number(values.runs);
const top = Number(values.top);
const layout = {
  contentLayers: ['conv4_2'],
  styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
  styleNormalisation: 'size-invariant' as const,
  pooling: 'max' as const,
};

interface TraceEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; output_type_shape?: unknown; input_type_shape?: unknown; provider?: string };
}

const file = await readWeightsFile(weightsPath);
const net = vgg19(file.convention!);
const weights = extractConvWeights(file.tensors, net, weightsPath);
const dir = values.keep ?? (await mkdtemp(path.join(os.tmpdir(), 'engine-profile-')));
await mkdir(dir, { recursive: true });

for (const size of values.sizes!.split(',').map(Number)) {
  // The engine's own options (bench/engine.ts uses the same), plus profiling.
  const plain = nodeBackend({ memoryArena: values.arena !== 'off', convolution: convolutionOption(values.convolution!) });
  const backend = { ...plain, lossSessionOptions: { ...plain.lossSessionOptions, enableProfiling: true, profileFilePrefix: path.join(dir, `loss-${size}`) } };
  const engine = await StyleEngine.create(backend, net, weights, layout);
  const n = size * size;
  const image = Float32Array.from({ length: 3 * n }, (_, i) => 60 * Math.sin(i * 0.001) + 20 * Math.cos(i * 0.37));
  const targets = {
    content: (await engine.targets(image, size, size)).content,
    gram: (
      await engine.targets(
        image.map((v) => -v),
        size,
        size,
      )
    ).gram,
  };
  const termWeights = { content: new Map([['conv4_2', 1]]), style: new Map(layout.styleLayers.map((l) => [l, 100])), tv: 1e-3 };
  const grad = new Float32Array(3 * n);
  const x = image.map((v, i) => v + Math.sin(i));
  await engine.evaluate(x, size, size, targets, termWeights, grad); // warm-up, as in bench/engine.ts
  const walls: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await engine.evaluate(x, size, size, targets, termWeights, grad);
    walls.push(performance.now() - t0);
  }
  const wallMs = walls.sort((a, b) => a - b)[Math.floor(runs / 2)]; // the median, as in bench/engine.ts
  engine.endProfiling();
  await engine.release();

  const traceFile = (await readdir(dir)).find((f) => f.startsWith(`loss-${size}`) && f.endsWith('.json'))!;
  const events = JSON.parse(await readFile(path.join(dir, traceFile), 'utf8')) as TraceEvent[];
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  // Every node runs once per evaluation: drop the warm-up's (the first occurrence of each), then
  // keep each node's fastest run: on a shared host that is the closest to its unloaded cost.
  const seen = new Set<string>();
  const byNode = new Map<string, { op: string; us: number; shape: string }>();
  for (const e of kernels) {
    if (!seen.has(e.name)) {
      seen.add(e.name);
      continue;
    }
    const node = e.name.replace(/_kernel_time$/, '');
    const entry = byNode.get(node);
    if (!entry) byNode.set(node, { op: e.args?.op_name ?? '?', us: e.dur, shape: JSON.stringify(e.args?.output_type_shape ?? '') });
    else entry.us = Math.min(entry.us, e.dur);
  }
  const totalUs = [...byNode.values()].reduce((a, b) => a + b.us, 0);
  const byOp = new Map<string, { us: number; count: number }>();
  for (const { op, us } of byNode.values()) {
    const o = byOp.get(op) ?? { us: 0, count: 0 };
    o.us += us;
    o.count++;
    byOp.set(op, o);
  }
  const pct = (us: number) => ((100 * us) / totalUs).toFixed(1).padStart(5);
  console.log(
    `\n${size}x${size}: median wall ${wallMs.toFixed(0)} ms per evaluation (profiling on), sum of each node's fastest run ${(totalUs / 1000).toFixed(0)} ms (${byNode.size} nodes), load ${os.loadavg()[0].toFixed(2)}, huge pages ${hugePages ? 'on' : 'off'}`,
  );
  console.log('by operator:');
  for (const [op, { us, count }] of [...byOp].sort((a, b) => b[1].us - a[1].us))
    console.log(`  ${pct(us)} %  ${(us / 1000).toFixed(1).padStart(8)} ms  ${String(count).padStart(3)}x ${op}`);
  console.log(`top ${top} nodes:`);
  for (const [node, { op, us, shape }] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top))
    console.log(`  ${pct(us)} %  ${(us / 1000).toFixed(1).padStart(8)} ms  ${op.padEnd(14)} ${node.slice(0, 48).padEnd(48)} ${shape.slice(0, 80)}`);
}
if (!values.keep) await rm(dir, { recursive: true });
