/**
 * Peak RSS of the untiled loss-and-gradient evaluation per image size, with and without ORT's
 * memory arena: what src/engine/memory.ts's GRAPH_BYTES_PER_PIXEL (lean) and
 * ARENA_GRAPH_BYTES_PER_PIXEL (arena) stand for. Each (size, mode) runs in a fresh process, since
 * peak RSS is a process's high-water mark, and evaluates `--runs` times after one warm-up (the
 * arena keeps growing while allocations land in new places).
 *
 *   npm run bench:memory [-- --sizes 256,512,1024] [--runs 3] [--modes arena,lean] [--convolution winograd|direct]
 *
 * Printed per case: peak RSS, the RSS before the first evaluation (sessions and weights loaded),
 * bytes per pixel of their difference, and CPU time (user, system) per evaluation after the warm-up.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { StyleEngine } from '../src/engine/style-engine.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { extractConvWeights, readWeightsFile } from '../src/model/weights-file.js';
import { vgg19 } from '../src/model/vgg19.js';
import { BENCH_LAYOUT, convolutionOption } from './engine-measure.js';
import { weightsPath } from './paths.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,512,1024' },
    runs: { type: 'string', default: '3' },
    modes: { type: 'string', default: 'arena,lean' },
    convolution: { type: 'string', default: 'winograd' },
    child: { type: 'string' },
  },
});

interface Measured {
  size: number;
  mode: string;
  peakMiB: number;
  loadedMiB: number;
  bytesPerPixel: number;
  userMs: number;
  systemMs: number;
}

async function measure(size: number, mode: string, runs: number): Promise<Measured> {
  const file = await readWeightsFile(weightsPath);
  const net = vgg19(file.convention!);
  const weights = extractConvWeights(file.tensors, net, weightsPath);
  const engine = await StyleEngine.create(nodeBackend({ memoryArena: mode === 'arena', convolution: convolutionOption(values.convolution!) }), net, weights, BENCH_LAYOUT);
  const n = size * size;
  const image = Float32Array.from({ length: 3 * n }, (_, i) => 60 * Math.sin(i * 0.001) + 20 * Math.cos(i * 0.37));
  const targets = await engine.targets(image, size, size);
  const termWeights = { content: new Map([['conv4_2', 1]]), style: new Map(BENCH_LAYOUT.styleLayers.map((l) => [l, 100])), tv: 1e-3 };
  const grad = new Float32Array(3 * n);
  const loaded = process.memoryUsage().rss;
  await engine.evaluate(image, size, size, targets, termWeights, grad);
  const before = process.resourceUsage();
  for (let r = 0; r < runs; r++) await engine.evaluate(image, size, size, targets, termWeights, grad);
  const after = process.resourceUsage();
  const peak = after.maxRSS * 1024;
  return {
    size,
    mode,
    peakMiB: Math.round(peak / 2 ** 20),
    loadedMiB: Math.round(loaded / 2 ** 20),
    bytesPerPixel: Math.round((peak - loaded) / n),
    userMs: Math.round((after.userCPUTime - before.userCPUTime) / 1000 / runs),
    systemMs: Math.round((after.systemCPUTime - before.systemCPUTime) / 1000 / runs),
  };
}

if (values.child) {
  const [size, mode] = values.child.split(':');
  console.log(JSON.stringify(await measure(Number(size), mode, Number(values.runs))));
} else {
  const self = fileURLToPath(import.meta.url);
  for (const size of values.sizes!.split(',').map(Number)) {
    for (const mode of values.modes!.split(',')) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', `${size}:${mode}`, '--runs', values.runs!, '--convolution', values.convolution!], {
        encoding: 'utf8',
      });
      const m = JSON.parse(out.trim().split('\n').pop()!) as Measured;
      console.log(
        `${size}x${size} ${mode.padEnd(5)}: peak RSS ${m.peakMiB} MiB (${m.loadedMiB} MiB loaded), ${m.bytesPerPixel} B per pixel; per evaluation ${m.userMs} ms user + ${m.systemMs} ms system`,
      );
    }
  }
}
