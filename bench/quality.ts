/**
 * The quality yardstick (issue 10): stylises every pair of ../shared/images with a preset and
 * options, and reports per pair the wall time and the style and content errors of bench/yardstick.ts
 * (scored at 384 px shorter side), next to the classic recipe's in bench/reference-quality.json.
 *
 *   npm run bench:quality [-- --preset quality --pairs dog:matisse,landscape:monet --json --out DIR]
 *                         [any stylize flag, e.g. --size 384 --tv-weight 1e-4]
 *   npm run bench:quality -- --score picture.png --content dog --style matisse
 *
 * For tuning: `--checkpoints 50,100` also scores the picture after those iterations of the last
 * scale (with the optimisation time spent until then; with --out also saved as CONTENT-STYLE-N.png),
 * so one run gives a quality-vs-time curve;
 * `--trace FILE` writes every iteration event (scale, iteration, ms, evaluations, loss, eta) as JSON lines.
 *
 * Work (issue 18) is counted in network evaluations weighted by the pixels the network sees (the
 * image inside its border margin): `work` is Σ evaluations × network pixels in millions (Mpx·evals),
 * and `aloneSeconds` converts it at SECONDS_PER_MPX, the per-pixel evaluation time of an unloaded run,
 * so configurations compare even when the wall times were measured under load.
 *
 * Run nothing else meanwhile: the times are wall times.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseCliArgs } from '../src/cli/args.js';
import { DEFAULT_MARGIN } from '../src/engine/padding.js';
import { decodeImage, encodeImage } from '../src/image/io.js';
import type { RawImage } from '../src/image/image.js';
import type { StylizeOptions } from '../src/options.js';
import { stylize } from '../src/stylize.js';
import { Yardstick, type QualityScore } from './yardstick.js';
import { repo, weightsPath as weights, sampleImage as image } from './paths.js';

const ALL_PAIRS = ['dog:matisse', 'dog:monet', 'landscape:matisse', 'landscape:monet'];
/**
 * Seconds per million network pixels of one evaluation (loss + gradient), unloaded: measured alone on
 * the AMD EPYC (Zen 5, 2 cores) with ORT's arena and Winograd's convolutions, 0.923 s at 512x512 and
 * 0.236 s at 256x256 (before Winograd: 1.23 s and 0.30 s, 4.69 s per Mpx, which README's issue-18
 * tables used). Override with $QUALITY_SECONDS_PER_MPX for another machine.
 */
const SECONDS_PER_MPX = Number(process.env.QUALITY_SECONDS_PER_MPX ?? 0.923 / ((512 * 512) / 1e6));

/** This script's own flags; everything else is a stylize() flag, parsed by the CLI's option table. */
const own: Record<string, string | boolean> = {};
const rest: string[] = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].replace(/^--/, '');
  if (name === 'json') own.json = true;
  else if (['pairs', 'out', 'score', 'content', 'style', 'reference', 'checkpoints', 'trace'].includes(name)) own[name] = argv[++i];
  else rest.push(argv[i]);
}
const passed = parseCliArgs(rest);
if (passed.positionals.length > 0) throw new Error(`unexpected arguments: ${passed.positionals.join(' ')}`);
const json = own.json === true;

interface ReferenceEntry {
  pair: string;
  style: number;
  content: number;
}
async function loadReference(): Promise<Map<string, ReferenceEntry>> {
  const file = typeof own.reference === 'string' ? own.reference : path.join(repo, 'bench/reference-quality.json');
  try {
    const ref = JSON.parse(await readFile(file, 'utf8')) as { pairs: ReferenceEntry[] };
    return new Map(ref.pairs.map((p) => [p.pair, p]));
  } catch {
    return new Map();
  }
}

const round = (x: number, digits = 4) => +x.toFixed(digits);
const roundScore = (s: QualityScore) => ({
  style: round(s.style),
  content: round(s.content),
  styleLayers: Object.fromEntries(Object.entries(s.styleLayers).map(([k, v]) => [k, round(v)])),
  scoredAt: `${s.width}x${s.height}`,
});

const yardstick = await Yardstick.create(weights);
try {
  if (typeof own.score === 'string') {
    // Score an existing picture (e.g. the reference run's) against a content and a style image.
    if (typeof own.content !== 'string' || typeof own.style !== 'string') throw new Error('--score needs --content and --style');
    const picture = await decodeImage(own.score);
    const score = await yardstick.score(picture, await decodeImage(image(own.content)), await decodeImage(image(own.style)));
    console.log(JSON.stringify({ picture: own.score, size: `${picture.width}x${picture.height}`, ...roundScore(score) }, null, json ? undefined : 2));
  } else {
    const reference = await loadReference();
    const pairs = typeof own.pairs === 'string' ? own.pairs.split(',') : ALL_PAIRS;
    const outDir = typeof own.out === 'string' ? path.resolve(own.out) : undefined;
    if (outDir) await mkdir(outDir, { recursive: true });
    const rows = [];
    const checkpoints = typeof own.checkpoints === 'string' ? own.checkpoints.split(',').map(Number) : [];
    if (typeof own.trace === 'string') writeFileSync(own.trace, '');
    for (const pair of pairs) {
      const [contentName, styleName] = pair.split(':');
      const perScale: number[] = [];
      let optimiseMs = 0;
      let work = 0; // Σ evaluations × network pixels, in Mpx
      let evaluations = 0;
      const margin = (passed.options.padding ?? (passed.options.preset === 'recipe' ? 'zero' : 'reflect')) === 'reflect' ? DEFAULT_MARGIN : 0;
      const snapshots: { iteration: number; optimiseSeconds: number; work: number; image: RawImage }[] = [];
      const options: StylizeOptions = {
        weights,
        model: 'vgg19-caffe-rgb',
        ...passed.options,
        content: image(contentName),
        style: image(styleName),
        onProgress: (e) => {
          if (e.type === 'scale') perScale.push(0);
          if (e.type === 'iteration') {
            perScale[perScale.length - 1]++;
            optimiseMs += e.ms;
            evaluations += e.evaluations ?? 1;
            work += ((e.evaluations ?? 1) * (e.width + 2 * margin) * (e.height + 2 * margin)) / 1e6;
            if (e.scale === e.scales && checkpoints.includes(e.iteration)) snapshots.push({ iteration: e.iteration, optimiseSeconds: optimiseMs / 1000, work, image: e.preview() });
            if (typeof own.trace === 'string') {
              const { scale, scales, width, height, iteration, iterations, ms, loss, elapsed, eta } = e;
              const evals = e.evaluations;
              appendFileSync(
                own.trace,
                JSON.stringify({
                  pair,
                  scale,
                  scales,
                  width,
                  height,
                  iteration,
                  iterations,
                  ms: round(ms, 1),
                  evaluations: evals,
                  loss,
                  elapsed: round(elapsed, 2),
                  eta: round(eta, 2),
                }) + '\n',
              );
            }
          }
        },
      };
      const load = loadavg()[0];
      const result = await stylize(options);
      const score = await yardstick.score(result.image, await decodeImage(image(contentName)), await decodeImage(image(styleName)));
      if (outDir) await encodeImage(result.image, path.join(outDir, `${contentName}-${styleName}.png`));
      const atCheckpoints = [];
      for (const snap of snapshots) {
        if (outDir) await encodeImage(snap.image, path.join(outDir, `${contentName}-${styleName}-${snap.iteration}.png`));
        const s = await yardstick.score(snap.image, await decodeImage(image(contentName)), await decodeImage(image(styleName)));
        atCheckpoints.push({
          iteration: snap.iteration,
          optimiseSeconds: round(snap.optimiseSeconds, 1),
          work: round(snap.work, 1),
          aloneSeconds: round(snap.work * SECONDS_PER_MPX, 1),
          style: round(s.style),
          content: round(s.content),
          styleLayers: Object.fromEntries(Object.entries(s.styleLayers).map(([k, v]) => [k, round(v)])),
        });
      }
      const ref = reference.get(pair);
      const row = {
        pair,
        size: `${result.width}x${result.height}`,
        seconds: round(result.seconds, 1),
        optimiseSeconds: round(optimiseMs / 1000, 1),
        iterations: result.iterations,
        iterationsPerScale: perScale,
        evaluations,
        work: round(work, 1),
        aloneSeconds: round(work * SECONDS_PER_MPX, 1),
        scales: result.scales.map((s) => `${s.width}x${s.height}`),
        ...roundScore(score),
        reference: ref ? { style: ref.style, content: ref.content } : undefined,
        checkpoints: atCheckpoints.length > 0 ? atCheckpoints : undefined,
        loadBefore: round(load, 2),
      };
      rows.push(row);
      if (json) console.log(JSON.stringify(row));
      else {
        const vs = ref ? `  (reference style ${ref.style.toFixed(4)}, content ${ref.content.toFixed(4)})` : '';
        console.log(
          `${pair.padEnd(18)} ${row.size.padEnd(8)} ${row.seconds.toFixed(1).padStart(6)} s  ${String(row.iterations).padStart(5)} it [${perScale.join(',')}]  ${evaluations} evals  work ${row.work} Mpx (~${row.aloneSeconds} s alone)  style ${row.style.toFixed(4)}  content ${row.content.toFixed(4)}${vs}`,
        );
        for (const c of atCheckpoints)
          console.log(
            `${''.padEnd(18)} at ${c.iteration}: work ${c.work} Mpx (~${c.aloneSeconds} s alone)  style ${c.style.toFixed(4)}  content ${c.content.toFixed(4)}  conv1_1 ${c.styleLayers.conv1_1}`,
          );
        console.log(
          `${''.padEnd(18)} per layer: ${Object.entries(row.styleLayers)
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join('  ')}`,
        );
      }
    }
    if (!json)
      console.log(
        `cpu ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, load ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')}`,
      );
  }
} finally {
  await yardstick.release();
}
