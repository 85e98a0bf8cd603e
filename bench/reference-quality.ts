/**
 * Records the reference run of issue 10 in bench/reference-quality.json: the classic recipe (one
 * scale at 512 px, content init, content 5, style 100, TV 1e-3, 1000 L-BFGS iterations), run with
 *
 *   style-transfer <content> <style> -o DIR/<content>-<style>.png --size 512 --scale-iterations 0 \
 *     --start-size 512 --iterations 1000 --content-weight 5 --style-weight 100 --tv-weight 1e-3 \
 *     --init content --weights ../shared/weights/vgg19-caffe-q8.safetensors --json \
 *     > DIR/<content>-<style>.jsonl   (under /usr/bin/time -v, its report in DIR/<content>-<style>.time)
 *
 * and scored by bench/yardstick.ts. bench:quality compares every preset with this file.
 *
 *   node --import tsx bench/reference-quality.ts --peak 350.2 --note "load 2.1 (…)"
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { decodeImage } from '../src/image/io.js';
import { Yardstick } from './yardstick.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: 'out/reference' },
    pairs: { type: 'string', default: 'dog:matisse,landscape:monet' },
    peak: { type: 'string' },
    note: { type: 'string', default: '' },
    commit: { type: 'string', default: '' },
    out: { type: 'string' },
  },
});
const repo = fileURLToPath(new URL('..', import.meta.url));
const shared = path.resolve(repo, '../shared');
const weights = path.join(shared, 'weights/vgg19-caffe-q8.safetensors');
const round = (x: number, digits = 4) => +x.toFixed(digits);

/** A field of `/usr/bin/time -v`'s report, e.g. "Maximum resident set size (kbytes)". */
function timeField(report: string, label: string): string | undefined {
  const line = report.split('\n').find((l) => l.trim().startsWith(label));
  return line?.slice(line.lastIndexOf(': ') + 2).trim();
}

/** "h:mm:ss" or "m:ss.ss" → seconds. */
function clockSeconds(text: string | undefined): number | undefined {
  if (!text) return undefined;
  return text.split(':').reduce((s, part) => s * 60 + Number(part), 0);
}

const yardstick = await Yardstick.create(weights);
const pairs = [];
try {
  for (const pair of values.pairs!.split(',')) {
    const [content, style] = pair.split(':');
    const stem = path.join(values.dir!, `${content}-${style}`);
    const picture = await decodeImage(`${stem}.png`);
    const score = await yardstick.score(picture, await decodeImage(path.join(shared, 'images', `${content}.jpg`)), await decodeImage(path.join(shared, 'images', `${style}.jpg`)));
    const events = (await readFile(`${stem}.jsonl`, 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; ms?: number; seconds?: number });
    const iterations = events.filter((e) => e.type === 'iteration');
    const done = events.find((e) => e.type === 'done');
    const report = await readFile(`${stem}.time`, 'utf8').catch(() => '');
    const rssKb = Number(timeField(report, 'Maximum resident set size (kbytes)'));
    pairs.push({
      pair,
      size: `${picture.width}x${picture.height}`,
      style: round(score.style),
      content: round(score.content),
      styleLayers: Object.fromEntries(Object.entries(score.styleLayers).map(([k, v]) => [k, round(v)])),
      scoredAt: `${score.width}x${score.height}`,
      iterations: iterations.length,
      optimiseSeconds: round(iterations.reduce((s, e) => s + (e.ms ?? 0), 0) / 1000, 1),
      runSeconds: done?.seconds !== undefined ? round(done.seconds, 1) : undefined,
      wallSeconds: clockSeconds(timeField(report, 'Elapsed (wall clock) time')),
      peakRssMiB: Number.isFinite(rssKb) && rssKb > 0 ? Math.round(rssKb / 1024) : undefined,
    });
  }
} finally {
  await yardstick.release();
}

const record = {
  what: 'the classic recipe: one scale at 512 px (longer side), content init, content 5, style 100, TV 1e-3, 1000 L-BFGS iterations (history 20), Caffe VGG-19 (shared q8 weights), max pooling, zero padding',
  scoring:
    'bench/yardstick.ts: 384 px shorter side; style = mean over conv1_1..conv5_1 of |G(out)-G(style)|/|G(style)|, G = FF^T/(HW); content = |F(out)-F(content)|/|F(content)| at conv4_2',
  code: values.commit || undefined,
  date: new Date().toISOString().slice(0, 10),
  cpu: `${cpus()[0]?.model ?? 'unknown'} x${cpus().length}`,
  peakGflops: values.peak ? Number(values.peak) : undefined,
  load: values.note,
  pairs,
};
const out = values.out ?? path.join(repo, 'bench/reference-quality.json');
await writeFile(out, JSON.stringify(record, null, 2) + '\n');
console.log(JSON.stringify(record, null, 2));
