/**
 * Engine benchmark: time of one forward + ∂loss/∂image evaluation of the full Gatys loss (content
 * conv4_2, style conv1_1…conv5_1) with the real VGG-19 weights, after warm-up, held against the
 * machine's FMA peak measured in the same run.
 *
 *   npm run bench [-- --sizes 256,512] [--1024] [--runs 3] [--repeats 3] [--threads N] [--json]
 *                 [--arena on|off] [--convolution winograd|direct] [--baseline DIR] [--peer] [--masks R]
 *
 * The machine this runs on is often shared, so each size is measured `--repeats` times, each repeat
 * being: the FMA peak (../shared/tools/peak.c, built with gcc when present), then the median of
 * `--runs` evaluations. Medians and ranges over the repeats are printed. With `--baseline DIR` (a
 * checkout of another version, e.g. the main branch), its engine is timed right after ours in every
 * repeat, in the same process, and the time ratio baseline/ours is printed: that ratio is robust to
 * the machine's load, the absolute times are not.
 *
 * FLOPs are counted as 2·MACs of the convolutions, forward and backward-data, plus the Gram
 * matrices (forward F·Fᵀ and the backward (D+Dᵀ)·F), so GFLOP/s is comparable with the FMA peak.
 * Peak RSS comes from the OS (ru_maxrss), for the whole process so far. User and system CPU time
 * per evaluation (getrusage, the whole process) are printed beside the wall time: system time is
 * where allocation without ORT's arena goes (page faults on fresh tensors every evaluation).
 *
 * With `--peer`, the same loss and input gradient in PyTorch (bench/peer/torch_loss.py: Debian's
 * python3-torch, autograd on oneDNN, the same threads) is timed right after ours in every repeat, in
 * its own process, and the ratio peer/ours is printed, with both losses (they should agree).
 *
 * With `--masks R`, the same loss with R guided Gram regions (spatial control, src/losses/guided.ts:
 * R soft vertical bands, one style target each) is timed right after ours in every repeat, and the
 * ratio masked/plain is printed: what a masked job costs per evaluation over an unmasked one with
 * the same styles (issue 21's target: at most 1.10).
 *
 * `--convolution direct` times the engine with ORT's Conv for every 3x3 convolution instead of
 * Winograd's F(4×4, 3×3) where it pays (src/engine/winograd.ts, the default); FLOPs are counted as
 * direct convolutions either way, so Winograd can pass 100 % of the peak.
 *
 * `npm run bench:profile` uses the same engine options (arena on unless `--arena off`) and the same
 * warm-up; its wall time differs only by ORT's profiling overhead (a few %).
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StyleEngine } from '../src/engine/style-engine.js';
import { hugePagesOn, relaunchWithHugePages, withoutHugePages } from '../src/node/huge-pages.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { convolutionOption } from './engine-measure.js';
import { readWeightsFile, extractConvWeights } from '../src/model/weights-file.js';
import { truncateTo, vgg19, type Layer } from '../src/model/vgg19.js';
import type { Targets, TermWeights } from '../src/engine/loss-terms.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,512' },
    '1024': { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    repeats: { type: 'string', default: '3' },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
    arena: { type: 'string', default: 'on' },
    convolution: { type: 'string', default: 'winograd' },
    weights: { type: 'string' },
    baseline: { type: 'string' },
    peer: { type: 'boolean', default: false },
    masks: { type: 'string' },
  },
});
// As the CLI runs (src/node/huge-pages.ts); STYLE_TRANSFER_HUGE_PAGES=0 measures without.
await relaunchWithHugePages();
const hugePages = hugePagesOn(process.env);

const repo = fileURLToPath(new URL('..', import.meta.url));
const weightsPath = values.weights ?? process.env.STYLE_TRANSFER_WEIGHTS ?? path.resolve(repo, '../shared/weights/vgg19-caffe-q8.safetensors');
const sizes = values.sizes!.split(',').map(Number);
if (values['1024']) sizes.push(1024);
const runs = Number(values.runs);
if (values.arena !== 'on' && values.arena !== 'off') throw new Error(`--arena on|off, not ${values.arena}`);
const arena = values.arena === 'on';
const convolution = convolutionOption(values.convolution!);
const repeats = Number(values.repeats);

const layout = {
  contentLayers: ['conv4_2'],
  styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
  styleNormalisation: 'size-invariant' as const,
  pooling: 'max' as const,
};

/** 2·MACs of the convs (forward + backward-data; conv1_1's backward is needed too: it yields ∂image) and of the Gram products. */
export function countFlops(layers: readonly Layer[], width: number, height: number, styleLayers: readonly string[]): number {
  let w = width;
  let h = height;
  let flops = 0;
  for (const l of layers) {
    if (l.kind === 'pool') {
      w = Math.floor(w / 2);
      h = Math.floor(h / 2);
      continue;
    }
    const macs = w * h * l.inChannels * l.outChannels * 9;
    flops += 2 * macs * 2; // forward + input gradient
    if (styleLayers.includes(l.name)) flops += 2 * 2 * l.outChannels * l.outChannels * w * h; // F·Fᵀ and (D+Dᵀ)·F
  }
  return flops;
}

/** The FMA peak program, built once; undefined without a C compiler or the source. */
function buildPeak(): string | undefined {
  const source = path.resolve(repo, '../shared/tools/peak.c');
  if (!existsSync(source)) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'peak-'));
  const binary = path.join(dir, 'peak');
  try {
    execFileSync('gcc', ['-O3', '-march=native', '-fopenmp', source, '-o', binary], { stdio: 'ignore' });
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    return binary;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

/**
 * The peer runs as its users run it: without the huge-page tunable this bench started itself with
 * (src/node/huge-pages.ts), unless PEER_HUGE_PAGES=1. PyTorch gains from it too: on the Zen 5 at
 * 512² the ratio was 10.1x with the peer as shipped, 10.0x with both without, 6.8x with both with.
 */
function peerEnv(): NodeJS.ProcessEnv {
  return process.env.PEER_HUGE_PAGES === '1' ? process.env : withoutHugePages(process.env);
}

/** One timing of the PyTorch peer at size² (its own median of `runs` after a warm-up); undefined without python3-torch. */
function measurePeer(size: number, threads: number): { ms: number; loss: number } | undefined {
  try {
    const script = path.resolve(repo, 'bench/peer/torch_loss.py');
    // Debian's python3-torch lives in /usr/bin/python3's packages; a python3 earlier on PATH (pyenv) lacks it.
    const python = process.env.PEER_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    const out = execFileSync(python, [script, weightsPath, String(size), '--runs', String(runs), '--threads', String(threads)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: peerEnv(),
    });
    return JSON.parse(out.trim().split('\n').pop()!) as { ms: number; loss: number };
  } catch (e) {
    console.error(`peer: ${(e as Error).message.split('\n')[0]} (is python3-torch installed? apt-get install python3-torch)`);
    return undefined;
  }
}

function measurePeak(binary: string | undefined): number | undefined {
  if (!binary) return undefined;
  return (JSON.parse(execFileSync(binary, { encoding: 'utf8' })) as { gflops: number }).gflops;
}

/**
 * The engine of another checkout (--baseline), loaded by path so two versions run side by side.
 * Checkouts from before the platform seam (create(net, weights, layout, options)) work too.
 */
async function baselineEngine(dir: string, options: { threads?: number; memoryArena?: boolean }): Promise<StyleEngine> {
  const url = (file: string) => pathToFileURL(path.resolve(dir, file)).href;
  type Create = (...args: unknown[]) => Promise<StyleEngine>;
  const { StyleEngine: Engine } = (await import(url('src/engine/style-engine.ts'))) as { StyleEngine: { create: Create } };
  if (!existsSync(path.resolve(dir, 'src/node/ort-backend.ts'))) return Engine.create(net, weights, layout, options);
  const { nodeBackend: backend } = (await import(url('src/node/ort-backend.ts'))) as { nodeBackend: typeof nodeBackend };
  return Engine.create(backend(options), net, weights, layout);
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: readonly number[], digits = 0) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

const file = await readWeightsFile(weightsPath);
const net = vgg19(file.convention!);
const weights = extractConvWeights(file.tensors, net, weightsPath);
const threads = values.threads ? Number(values.threads) : undefined;
const created = performance.now();
const engine = await StyleEngine.create(nodeBackend({ threads, memoryArena: arena, convolution }), net, weights, layout);
const createMs = performance.now() - created;
const baseline = values.baseline ? await baselineEngine(values.baseline, { threads, memoryArena: arena }) : undefined;
const regions = values.masks ? Number(values.masks) : 0;
if (values.masks && !(Number.isInteger(regions) && regions >= 1)) throw new Error(`--masks R: a number of regions, not ${values.masks}`);
const masked = regions ? await StyleEngine.create(nodeBackend({ threads, memoryArena: arena, convolution }), net, weights, { ...layout, guided: 'pool' }) : undefined;
const peakBinary = buildPeak();
if (!values.json) {
  console.log(
    `weights ${weightsPath}\nsession creation ${createMs.toFixed(0)} ms, threads ${threads ?? 'all cores'}, arena ${values.arena}, convolution ${convolution}, huge pages ${hugePages ? 'on' : 'off'}`,
  );
  console.log(`FMA peak: ${peakBinary ? 'measured before each repeat (../shared/tools/peak.c)' : 'peak unknown (no gcc or no ../shared/tools/peak.c)'}`);
  if (baseline) console.log(`baseline: ${path.resolve(values.baseline!)}, timed after ours in each repeat`);
}

for (const size of sizes) {
  const n = size * size;
  const image = Float32Array.from({ length: 3 * n }, (_, i) => 60 * Math.sin(i * 0.001) + 20 * Math.cos(i * 0.37));
  const styleImage = Float32Array.from({ length: 3 * n }, (_, i) => 60 * Math.cos(i * 0.0007) + 30 * Math.sin(i * 0.11));
  const targets = {
    content: (await engine.targets(image, size, size)).content,
    gram: (await engine.targets(styleImage, size, size)).gram,
  };
  const termWeights = { content: new Map([['conv4_2', 1]]), style: new Map(layout.styleLayers.map((l) => [l, 100])), tv: 1e-3 };
  // --masks: R soft vertical bands (a 16 px ramp between neighbours) and R style targets (the guided Gram of the style image over its band).
  let maskedTargets: Targets | undefined;
  const maskedWeights: TermWeights = { ...termWeights, regions: new Map(layout.styleLayers.map((l) => [l, Array.from({ length: regions }, () => 1)])) };
  if (masked) {
    const data = new Float32Array(regions * n);
    for (let r = 0; r < regions; r++) {
      for (let i = 0; i < n; i++) {
        const band = ((i % size) / size) * regions;
        data[r * n + i] = Math.min(1, Math.max(0, 0.5 + (Math.min(band - r, r + 1 - band) * size) / regions / 16));
      }
    }
    const grams = await Promise.all(
      Array.from({ length: regions }, (_, r) => masked.targets(styleImage, size, size, { content: false, style: true }, data.subarray(r * n, (r + 1) * n))),
    );
    const gram = new Map(layout.styleLayers.map((l) => [l, Float32Array.from(grams.flatMap((g) => Array.from(g.gram.get(l)!)))]));
    maskedTargets = { content: targets.content, gram, masks: { data, regions } };
  }
  const grad = new Float32Array(3 * n);
  const x = image.map((v, i) => v + Math.sin(i));
  /** CPU time of the whole process per evaluation, ms (user, system), summed over the repeats. */
  const cpu = { user: 0, system: 0, wall: 0, evaluations: 0 };
  const timeOf = async (e: StyleEngine, counted = false, t: Targets = targets, w: TermWeights = termWeights): Promise<number> => {
    const times: number[] = [];
    const before = process.resourceUsage();
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await e.evaluate(x, size, size, t, w, grad);
      times.push(performance.now() - t0);
    }
    if (counted) {
      const after = process.resourceUsage();
      cpu.user += (after.userCPUTime - before.userCPUTime) / 1000;
      cpu.system += (after.systemCPUTime - before.systemCPUTime) / 1000;
      cpu.wall += times.reduce((a, b) => a + b, 0);
      cpu.evaluations += runs;
    }
    return median(times);
  };
  // Warm-up: the first run at a size grows buffers.
  await engine.evaluate(x, size, size, targets, termWeights, grad);
  if (baseline) await baseline.evaluate(x, size, size, targets, termWeights, grad);
  if (masked) await masked.evaluate(x, size, size, maskedTargets!, maskedWeights, grad);

  const gflop = countFlops(truncateTo(net, [...layout.contentLayers, ...layout.styleLayers]), size, size, layout.styleLayers) / 1e9;
  const ms: number[] = [];
  const peaks: number[] = [];
  const shares: number[] = [];
  const ratios: number[] = [];
  const peerRatios: number[] = [];
  const maskRatios: number[] = [];
  const maskedMs: number[] = [];
  let peerLoss: number | undefined;
  let ourLoss: number | undefined;
  const loads: number[] = [];
  for (let r = 0; r < repeats; r++) {
    loads.push(os.loadavg()[0]);
    const peak = measurePeak(peakBinary);
    const t = await timeOf(engine, true);
    ms.push(t);
    if (peak !== undefined) {
      peaks.push(peak);
      shares.push(gflop / (t / 1000) / peak);
    }
    if (baseline) ratios.push((await timeOf(baseline)) / t);
    if (masked) {
      const tm = await timeOf(masked, false, maskedTargets, maskedWeights);
      maskedMs.push(tm);
      maskRatios.push(tm / t);
    }
    if (values.peer) {
      const peer = measurePeer(size, threads ?? os.availableParallelism());
      if (peer) {
        peerRatios.push(peer.ms / t);
        peerLoss = peer.loss;
      }
    }
  }
  if (values.peer) ourLoss = (await engine.evaluate(x, size, size, targets, termWeights, grad)).total;
  const gflops = ms.map((t) => gflop / (t / 1000));
  const result = {
    size,
    ms: Math.round(median(ms)),
    msRange: [Math.round(Math.min(...ms)), Math.round(Math.max(...ms))],
    gflop: +gflop.toFixed(1),
    gflops: +median(gflops).toFixed(1),
    peakGflops: peaks.length ? +median(peaks).toFixed(1) : null,
    shareOfPeak: shares.length ? +median(shares).toFixed(3) : null,
    shareRange: shares.length ? [+Math.min(...shares).toFixed(3), +Math.max(...shares).toFixed(3)] : null,
    peerOverOurs: peerRatios.length ? +median(peerRatios).toFixed(2) : null,
    peerRatioRange: peerRatios.length ? [+Math.min(...peerRatios).toFixed(2), +Math.max(...peerRatios).toFixed(2)] : null,
    loss: ourLoss ?? null,
    peerLoss: peerLoss ?? null,
    baselineOverOurs: ratios.length ? +median(ratios).toFixed(3) : null,
    ratioRange: ratios.length ? [+Math.min(...ratios).toFixed(3), +Math.max(...ratios).toFixed(3)] : null,
    regions: regions || null,
    maskedMs: maskedMs.length ? Math.round(median(maskedMs)) : null,
    maskedOverPlain: maskRatios.length ? +median(maskRatios).toFixed(3) : null,
    maskRatioRange: maskRatios.length ? [+Math.min(...maskRatios).toFixed(3), +Math.max(...maskRatios).toFixed(3)] : null,
    userMs: Math.round(cpu.user / cpu.evaluations),
    systemMs: Math.round(cpu.system / cpu.evaluations),
    meanMs: Math.round(cpu.wall / cpu.evaluations),
    load: +median(loads).toFixed(2),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  if (values.json) console.log(JSON.stringify(result));
  else {
    const pct = (s: number) => `${(100 * s).toFixed(0)} %`;
    const peakText = peaks.length
      ? `peak ${median(peaks).toFixed(0)} GFLOP/s (${range(peaks)}), share ${pct(median(shares))} (${pct(Math.min(...shares))}–${pct(Math.max(...shares))})`
      : 'peak unknown';
    const ratioText =
      (ratios.length ? `, baseline/ours ${median(ratios).toFixed(2)}x (${range(ratios, 2)})` : '') +
      (peerRatios.length
        ? `, PyTorch/ours ${median(peerRatios).toFixed(2)}x (${range(peerRatios, 2)}; loss ${peerLoss!.toPrecision(6)} against our ${ourLoss!.toPrecision(6)})`
        : '') +
      (maskRatios.length ? `, ${regions} masks: ${result.maskedMs} ms, masked/plain ${median(maskRatios).toFixed(3)}x (${range(maskRatios, 3)})` : '');
    console.log(
      `${size}x${size}: ${result.ms} ms (${range(ms)}), CPU per evaluation ${result.userMs} ms user + ${result.systemMs} ms system (mean wall ${result.meanMs} ms), ${result.gflop} GFLOP, ${result.gflops} GFLOP/s, ${peakText}${ratioText}; ${repeats}x${runs} runs, load ${result.load}, peak RSS ${result.peakRssMiB} MiB`,
    );
  }
}
await engine.release();
await baseline?.release();
await masked?.release();
