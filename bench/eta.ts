/**
 * How right the progress ETA comes out on real runs: at the end of every scale but the last, and
 * half-way through the last, the predicted time left against the time that was actually left.
 * Timing claims live here, not in the tests (run it alone: a neighbour's load changes the later
 * scales' speed and so the "actual").
 *
 *   npm run bench:eta [-- --content dog --style matisse --size 512 --preset quality --runs 3 --json]
 *
 * `--replay EVENTS --size N [--memory 4G]` instead replays the iteration times of a finished run
 * (the CLI's `--json` lines, e.g. bench:large's *.events.jsonl) through the estimator as that run
 * planned it, and compares its predictions with the iteration time that was actually left (set-up
 * time, which the estimator also counts, is not in the events): for runs too long to repeat.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { normaliseOptions, PRESETS, type PresetName } from '../src/options.js';
import { stylize, type ProgressEvent } from '../src/index.js';
import { memoryBudget } from '../src/node/memory-budget.js';
import { createRunEta } from '../src/pipeline/run-eta.js';
import { planScaleEngines } from '../src/pipeline/memory.js';
import { iterationsAt, outputSize, planScales } from '../src/pipeline/plan.js';
import { borderPadding } from '../src/pipeline/objective.js';
import { weightsPath as weights, sampleImage as image } from './paths.js';

type Iteration = Extract<ProgressEvent, { type: 'iteration' }>;

const { values } = parseArgs({
  options: {
    content: { type: 'string', default: 'dog' },
    style: { type: 'string', default: 'matisse' },
    size: { type: 'string', default: '512' },
    preset: { type: 'string', default: 'quality' },
    runs: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    replay: { type: 'string' },
    memory: { type: 'string' },
  },
});
if (!(values.preset in PRESETS)) throw new Error(`unknown preset ${values.preset}`);

interface Probe {
  readonly run: number;
  readonly at: string;
  readonly predicted: number;
  readonly actual: number;
  /** (predicted − actual) / actual */
  readonly error: number;
}

if (values.replay) {
  await replay(values.replay);
  process.exit(0);
}

/** Predictions at the middle and end of every scale, from the recorded iteration times. */
async function replay(file: string): Promise<void> {
  const events = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; scale: number; iteration: number; ms: number })
    .filter((e) => e.type === 'iteration');
  const opts = normaliseOptions({ content: 'c', style: 's', size: Number(values.size), preset: values.preset as PresetName, memory: values.memory });
  const meta = await sharp(image(values.content!)).rotate().metadata();
  const content = { width: meta.autoOrient?.width ?? meta.width!, height: meta.autoOrient?.height ?? meta.height! };
  const scales = planScales(content, outputSize(content, opts), opts);
  const margin = borderPadding(opts)?.margin ?? 0;
  const engines = planScaleEngines(scales, opts, memoryBudget(values.memory), 2 * margin);
  const iterations = scales.map((_, k) => iterationsAt(k, scales, opts));
  const clock = createRunEta(scales, engines, margin, opts);
  let left = events.reduce((sum, e) => sum + e.ms, 0) / 1000;
  for (const [i, e] of events.entries()) {
    clock.record(e.scale - 1, e.iteration, e.ms);
    left -= e.ms / 1000;
    const last = events[i + 1]?.scale !== e.scale;
    if (last || e.iteration === Math.floor(iterations[e.scale - 1] / 2)) {
      const predicted = clock.secondsLeft(e.scale - 1, e.iteration);
      const error = left > 0 ? `${((100 * (predicted - left)) / left).toFixed(0)} %` : '';
      console.log(
        `scale ${e.scale}/${scales.length} iteration ${e.iteration}/${iterations[e.scale - 1]}: predicted ${predicted.toFixed(0)} s, iterations left took ${Math.max(0, left).toFixed(0)} s ${error}`,
      );
    }
    if (last) clock.finishScale(e.scale - 1, e.iteration);
  }
}

const probes: Probe[] = [];
for (let run = 1; run <= Number(values.runs); run++) {
  const events: Iteration[] = [];
  const { seconds } = await stylize({
    content: image(values.content!),
    style: image(values.style!),
    weights,
    size: Number(values.size),
    preset: values.preset as PresetName,
    onProgress: (e) => {
      if (e.type === 'iteration') events.push(e);
    },
  });
  const scales = events[events.length - 1].scales;
  const at: Iteration[] = [];
  for (let k = 1; k < scales; k++) at.push(events.filter((e) => e.scale === k).pop()!);
  const last = events.filter((e) => e.scale === scales);
  at.push(last[Math.floor(last.length / 2) - 1]);
  for (const e of at) {
    const actual = seconds - e.elapsed;
    const probe = { run, at: `scale ${e.scale}/${scales} iteration ${e.iteration}/${e.iterations}`, predicted: e.eta, actual, error: (e.eta - actual) / actual };
    probes.push(probe);
    if (!values.json) console.log(`run ${run} ${probe.at}: predicted ${e.eta.toFixed(1)} s, actual ${actual.toFixed(1)} s (${(100 * probe.error).toFixed(0)} %)`);
  }
  if (!values.json) console.log(`run ${run}: ${seconds.toFixed(1)} s`);
}

const errors = probes.map((p) => Math.abs(p.error)).sort((a, b) => a - b);
const median = errors[Math.floor(errors.length / 2)];
const within20 = errors.filter((e) => e < 0.2).length;
if (values.json) console.log(JSON.stringify({ probes, medianAbsError: median, within20, count: errors.length }));
else console.log(`|error|: median ${(100 * median).toFixed(0)} %, worst ${(100 * errors[errors.length - 1]).toFixed(0)} %; ${within20} of ${errors.length} within 20 %`);
