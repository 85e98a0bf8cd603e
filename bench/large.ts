/**
 * Large pictures (not in CI): peak RSS and seconds per evaluation of the loss and gradient at 1024²
 * untiled and tiled, 2048² and 4096x3072 within `--memory 4G`, and whole CLI runs within 4G (4096 px
 * for one Adam iteration, and complete 2048 px and 4096 px pictures with the default preset and
 * their sheets). Every case runs in its own process, so each
 * peak RSS is that case's alone; the load average is printed beside the figures because this
 * machine's 2 cores are shared.
 *
 *   npm run bench:large [-- --cases engine1024,engine2048,engine4096,cli4096,picture2048,picture4096 --evals 2 --json]
 *
 * Internal: `--case NAME` runs one case in the current process and prints its JSON line.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { planScaleMemory } from '../src/engine/memory.js';
import { StyleEngine } from '../src/engine/style-engine.js';
import { TiledEngine, type TilingChoice } from '../src/engine/tiled-engine.js';
import { toPlanar } from '../src/image/image.js';
import { loadImageSource } from '../src/image/source.js';
import { resizeRaw } from '../src/image/resize.js';
import { preprocess } from '../src/model/convention.js';
import { resolveWeights } from '../src/model/resolve.js';
import { convsUpTo } from '../src/model/vgg19.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { normaliseOptions, PRESETS } from '../src/options.js';
import { DEFAULT_MARGIN } from '../src/engine/padding.js';
import { planTilesWithin } from '../src/engine/tiling.js';
import { memoryBudget } from '../src/node/memory-budget.js';
import { lossGeometry, planScaleEngines } from '../src/pipeline/memory.js';
import { planScales } from '../src/pipeline/plan.js';
import sharp from 'sharp';
import { repo, weightsPath as weightsFile, sampleImage as image } from './paths.js';

const { values } = parseArgs({
  options: {
    case: { type: 'string' },
    cases: { type: 'string', default: 'engine1024,engine2048,engine4096,cli4096,picture2048,picture4096' },
    evals: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
    out: { type: 'string', default: 'out/large' },
  },
});
const GIB = 2 ** 30;
const quality = PRESETS.quality;
const layout = { contentLayers: quality.contentLayers, styleLayers: quality.styleLayers, styleNormalisation: quality.styleNormalisation, pooling: quality.pooling };

interface EngineCase {
  width: number;
  height: number;
  /** untiled, or tiled with a budget (bytes) or an explicit tiling */
  mode: 'untiled' | { budget: number } | { tiling: TilingChoice };
}

const ENGINE_CASES: Record<string, EngineCase> = {
  'engine1024-untiled': { width: 1024, height: 1024, mode: 'untiled' },
  // Two strips for the backward pass, the forward pass untiled: the least overhead 1024² can have.
  'engine1024-tiled': { width: 1024, height: 1024, mode: { tiling: { maxCropPixels: 1024 * 592, maxForwardCropPixels: 1024 * 1024 } } },
  engine2048: { width: 2048, height: 2048, mode: { budget: 4 * GIB } },
  engine4096: { width: 4096, height: 3072, mode: { budget: 4 * GIB } },
};

/** One engine case in this process: targets, then `evals` timed evaluations after one warm-up (none for the large ones). */
async function runEngineCase(name: string, c: EngineCase, evals: number): Promise<Record<string, unknown>> {
  const { net, weights } = await resolveWeights({ weights: weightsFile, model: 'vgg19-caffe-rgb', upTo: convsUpTo([...layout.contentLayers, ...layout.styleLayers]) });
  const backend = nodeBackend();
  const geometry = lossGeometry(layout);
  let engine: StyleEngine | TiledEngine;
  let info: Record<string, unknown> = {};
  if (c.mode === 'untiled') {
    engine = await StyleEngine.create(backend, net, weights, layout);
  } else {
    let tiling: TilingChoice;
    if ('budget' in c.mode) {
      const memory = planScaleMemory(c.width, c.height, c.mode.budget, { optimizer: 'lbfgs', history: quality.history }, geometry);
      if (!memory.tiled) throw new Error('expected a tiled plan');
      tiling = { maxCropPixels: memory.maxCropPixels, maxForwardCropPixels: memory.maxForwardCropPixels };
      info = { budgetGiB: c.mode.budget / GIB, history: memory.history, estimateGiB: memory.estimate / GIB };
    } else {
      tiling = c.mode.tiling;
    }
    engine = await TiledEngine.create(backend, net, weights, layout, tiling);
    const gradient = engine.plan(c.width, c.height);
    const forward = engine.forwardPlan(c.width, c.height);
    info = {
      ...info,
      tiles: gradient.tiles.length,
      overhead: gradient.overhead,
      maxCrop: gradient.maxCropPixels,
      forwardTiles: forward.tiles.length,
      forwardOverhead: forward.overhead,
    };
  }
  const toInput = async (name: string): Promise<Float32Array> =>
    preprocess(toPlanar(await resizeRaw(await loadImageSource(image(name), name, 1e9), c.width, c.height)).data, c.width * c.height, net.convention);
  const content = await toInput('dog');
  let t0 = performance.now();
  const targets = {
    content: (await engine.targets(content, c.width, c.height, { content: true, style: false })).content,
    gram: (await engine.targets(await toInput('matisse'), c.width, c.height, { content: false, style: true })).gram,
  };
  const targetsSeconds = (performance.now() - t0) / 1000;
  const termWeights = { content: new Map([['conv4_2', quality.contentWeight]]), style: new Map(quality.styleLayers.map((l) => [l, quality.styleWeight])), tv: quality.tvWeight };
  const grad = new Float32Array(content.length);
  const point = content.map((v, i) => v + 10 * Math.sin(i));
  const times: number[] = [];
  // CPU seconds too: on a shared machine the wall time of one evaluation swings with the load,
  // while the CPU time it needs stays put (ratios of it are the fairer comparison).
  const cpu: number[] = [];
  const warmups = c.width * c.height > 1.1e6 ? 0 : 1;
  for (let k = 0; k < warmups + evals; k++) {
    t0 = performance.now();
    const c0 = process.cpuUsage();
    await engine.evaluate(point, c.width, c.height, targets, termWeights, grad);
    const used = process.cpuUsage(c0);
    if (k >= warmups) {
      times.push((performance.now() - t0) / 1000);
      cpu.push((used.user + used.system) / 1e6);
    }
  }
  await engine.release();
  // The lower median: with two samples, the faster (the slower one met more load).
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  return {
    case: name,
    width: c.width,
    height: c.height,
    ...info,
    targetsSeconds,
    secondsPerEvaluation: median(times),
    evaluations: times,
    cpuSecondsPerEvaluation: median(cpu),
    cpuSeconds: cpu,
    peakRssGiB: (process.resourceUsage().maxRSS * 1024) / GIB,
  };
}

/** A child process running `args`, its peak RSS read from /usr/bin/time (Linux). */
function measured(command: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string; peakRssGiB: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M', ...command], { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!values.json) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const kb = Number(/PEAK_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN);
      resolve({ code, stdout, stderr, peakRssGiB: (kb * 1024) / GIB, seconds: (performance.now() - started) / 1000 });
    });
  });
}

const cli = (...args: string[]) => [process.execPath, path.join(repo, 'bin/style-transfer.js'), image('dog'), image('matisse'), '--weights', weightsFile, ...args];
const load = () => os.loadavg().map((x) => Math.round(x * 10) / 10);

async function main(): Promise<void> {
  if (values.case) {
    const c = ENGINE_CASES[values.case];
    if (!c) throw new Error(`unknown case ${values.case}`);
    console.log(JSON.stringify(await runEngineCase(values.case, c, Number(values.evals))));
    return;
  }
  const out = path.resolve(repo, values.out);
  await mkdir(out, { recursive: true });
  const wanted = values.cases.split(',');
  const results: Record<string, unknown>[] = [];
  const report = (r: Record<string, unknown>) => {
    results.push(r);
    console.log(JSON.stringify(r));
  };
  const engineCase = async (name: string) => {
    const loadBefore = load();
    const r = await measured([process.execPath, '--import', 'tsx', path.join(repo, 'bench/large.ts'), '--case', name, '--evals', values.evals]);
    if (r.code !== 0) return report({ case: name, failed: r.stderr.split('\n').slice(-5).join(' ') });
    report({ ...JSON.parse(r.stdout.trim().split('\n').pop()!), peakRssGiB: r.peakRssGiB, load: [loadBefore, load()] });
  };
  if (wanted.includes('engine1024')) {
    await engineCase('engine1024-untiled');
    await engineCase('engine1024-tiled');
    const [u, t] = results.slice(-2) as { secondsPerEvaluation?: number }[];
    const [uc, tc] = results.slice(-2) as { cpuSecondsPerEvaluation?: number }[];
    if (u.secondsPerEvaluation && t.secondsPerEvaluation) {
      report({
        case: 'overhead1024',
        wallTiledOverUntiled: t.secondsPerEvaluation / u.secondsPerEvaluation,
        cpuTiledOverUntiled: tc.cpuSecondsPerEvaluation! / uc.cpuSecondsPerEvaluation!,
      });
    }
  }
  if (wanted.includes('engine2048')) await engineCase('engine2048');
  if (wanted.includes('engine4096')) await engineCase('engine4096');
  if (wanted.includes('cli4096')) {
    // The whole CLI within 4G: the image at 4096x3072 from the start (one scale), targets, one
    // Adam iteration and the output's own loss; its peak RSS is what --memory 4G promises.
    const loadBefore = load();
    const file = path.join(out, 'dog-4096.png');
    const r = await measured(
      cli('-o', file, '--size', '4096', '--memory', '4G', '--scale-iterations', '0', '--iterations', '1', '--optimizer', 'adam', '--learning-rate', '2', '--json'),
    );
    report({
      case: 'cli4096',
      code: r.code,
      seconds: r.seconds,
      peakRssGiB: r.peakRssGiB,
      load: [loadBefore, load()],
      scales: r.stdout.split('\n').filter((l) => l.includes('"scale"')),
    });
  }
  // Complete pictures with the default preset, as a user runs them: 2048 px (its sheet goes in the
  // README) and 4096 px, both within --memory 4G (BENCH_MEMORY overrides it for 2048).
  const picture = async (name: string, size: number, memory: string) => {
    const loadBefore = load();
    const file = path.join(out, `dog-matisse-${size}.png`);
    const sheet = path.join(out, `sheet-dog-matisse-${size}.jpg`);
    const r = await measured(cli('-o', file, '--sheet', sheet, '--size', String(size), '--memory', memory, '--json', ...(process.env.BENCH_PICTURE_ARGS?.split(' ') ?? [])));
    const lines = r.stdout.split('\n');
    // Every progress event, to check the ETA and the tile progress afterwards.
    await writeFile(file.replace(/\.png$/, '.events.jsonl'), r.stdout);
    report({
      case: name,
      code: r.code,
      seconds: r.seconds,
      peakRssGiB: r.peakRssGiB,
      load: [loadBefore, load()],
      output: file,
      sheet,
      scales: lines.filter((l) => l.includes('"scale"')),
      done: lines.find((l) => l.includes('"done"')),
      error: r.code === 0 ? undefined : r.stderr.split('\n').slice(-5).join(' '),
      detail: r.code === 0 ? await detail(file, memory) : undefined,
    });
  };
  // A 1:1 crop of a finished picture centred on where four tiles of its last scale meet (or two,
  // with strips), so a person can look for seams at full resolution.
  const detail = async (file: string, memory: string): Promise<string> => {
    const meta = await sharp(file).metadata();
    const size = { width: meta.width!, height: meta.height! };
    const opts = normaliseOptions({ content: 'c.png', style: 's.png', size: Math.max(size.width, size.height), memory });
    const margin = DEFAULT_MARGIN;
    const content = await sharp(image('dog')).metadata();
    const scales = planScales({ width: content.width!, height: content.height! }, size, opts);
    const last = planScaleEngines(scales, opts, memoryBudget(memory), 2 * margin).pop()!;
    let x = size.width / 2;
    let y = size.height / 2;
    if (last.tiled) {
      const limit = 'maxCropPixels' in last.tiling ? last.tiling.maxCropPixels : 0;
      const first = planTilesWithin(size.width + 2 * margin, size.height + 2 * margin, limit, lossGeometry(opts))!.tiles[0];
      if (first.x1 < size.width + 2 * margin) x = first.x1 - margin;
      if (first.y1 < size.height + 2 * margin) y = first.y1 - margin;
    }
    const w = Math.min(768, size.width);
    const h = Math.min(512, size.height);
    const left = Math.round(Math.min(Math.max(0, x - w / 2), size.width - w));
    const top = Math.round(Math.min(Math.max(0, y - h / 2), size.height - h));
    const crop = file.replace(/\.png$/, `-detail-${left}-${top}.png`);
    await sharp(file).extract({ left, top, width: w, height: h }).toFile(crop);
    return crop;
  };
  if (wanted.includes('picture2048')) await picture('picture2048', 2048, process.env.BENCH_MEMORY ?? '4G');
  if (wanted.includes('picture4096')) await picture('picture4096', 4096, '4G');
  if (!values.json) {
    console.log('\ncase                 size        tiles  s/eval   peak RSS');
    for (const r of results) {
      if (!('width' in r)) continue;
      console.log(
        `${String(r.case).padEnd(20)} ${`${r.width}x${r.height}`.padEnd(11)} ${String(r.tiles ?? 1).padStart(5)}  ${Number(r.secondsPerEvaluation).toFixed(1).padStart(6)}  ${Number(r.peakRssGiB).toFixed(2)} GiB`,
      );
    }
  }
}

await main();
