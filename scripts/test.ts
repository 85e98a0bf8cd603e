/**
 * `npm test`: the lint and every test file, in lanes, one lane per core.
 *
 * - Lint (prettier --check and the two tsc projects) runs beside the tests from the start: it takes
 *   well under a minute of CPU, and a formatting slip is no reason to wait for the tests (nor the
 *   tests for the lint). Its failure fails the run, with its output printed at the end.
 * - The test files run in lanes, one per core, each lane taking the next file when its file ends,
 *   the slowest first (SLOWEST below, so that no long file is left running alone at the end). Each
 *   file is its own process with its own temporary folders, loopback ports and servers, so none
 *   sees another. On Linux each lane is pinned to its core (taskset): ONNX Runtime then sees one
 *   core and runs one thread, instead of two processes each spinning two threads on two cores,
 *   which cost a third more CPU for the same work. Elsewhere (no taskset) the files run unpinned
 *   through `node --test --test-concurrency=<cores>`.
 * - The files in BESIDE start at once beside the lanes, unpinned: they spend most of their time in
 *   processes of their own (the Redis test's workers, one ONNX Runtime thread each), which should
 *   not all share one lane's core, and they are long, so they must not be left for the end.
 * - The files that drive Chromium run one after another in two lanes of their own, unpinned (see usesChromium, BROWSER_LANES).
 * - The small unit files in BATCHED run together in one process, last in the lanes (scripts/test-batch.ts).
 * - The files in SERIAL (none at present) would run last, one at a time, with the machine to
 *   themselves: the place for a test that measures the machine (memory, CPU) or needs every core.
 *
 * Each file's TAP output is printed when the file ends (lanes do not interleave), then a summary.
 *
 * Usage: node --import tsx scripts/test.ts [file...]   (no files: the lint and every test/**\/*.test.ts)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { relaunchWithHugePages } from '../src/node/huge-pages.js';

const root = fileURLToPath(new URL('..', import.meta.url));

// Every test process with huge pages for the engine's memory, as the CLI runs (src/node/huge-pages.ts).
await relaunchWithHugePages();

/** Started at once beside the lanes, unpinned (see above). */
const BESIDE = ['test/server/redis-queue.test.ts'];

/**
 * Files that drive Chromium (they import playwright-core) run one after another in a lane of their
 * own beside the pinned lanes, unpinned: Chromium's renderer, GPU process and SwiftShader's threads
 * pinned to one core took 4x the wall time (webgpu-parity 316 s pinned, 78 s unpinned, the same CPU).
 */
const usesChromium = (file: string) => /from 'playwright-core'/.test(readFileSync(path.join(root, file), 'utf8'));

/**
 * Chromium lanes. One lane made its four files (~240 s alone, ~500 s beside the pinned lanes) the
 * suite's longest chain, so the run waited for it while the pinned lanes had finished; two lanes
 * (the e2e file in one, the others in the other) end with the pinned lanes.
 */
const BROWSER_LANES = 2;

/** Run after the others, one at a time, unpinned (see above). */
const SERIAL: string[] = [];

/** Started first, longest first (CPU-seconds alone, 7 Dec 2026): a long file started last would run alone. */
const SLOWEST = [
  'test/cli/tiled-run.test.ts',
  'test/server/failures.test.ts',
  'test/server/resources.test.ts',
  'test/pipeline/tiled-trajectory.test.ts',
  'test/stylize.test.ts',
  'test/web/wasm-parity.test.ts',
  'test/cli/cli.test.ts',
  'test/server/fairness.test.ts',
  'test/server/access.test.ts',
  'test/server/persistence.test.ts',
  'test/stylizer.test.ts',
  'test/engine/tiled.test.ts',
  'test/stylize-recipe.test.ts',
  'test/stylize-masks.test.ts',
  'test/server/redis-trust.test.ts',
  'test/engine/vgg19.test.ts',
  'test/model/cache.test.ts',
];

/**
 * Small files (no servers, child processes or environment changes; a few build a small engine) that run together
 * in one process (scripts/test-batch.ts) instead of one process each: their own tests take a
 * fraction of the second that starting Node with the tsx loader costs each of them. A file not
 * listed here (every new one) runs in a process of its own. Not for files with top-level
 * before/after hooks: in one process those are the root test's, and an after() ran while another
 * file's tests were still running (its temporary folder gone under them); checked below.
 */
const BATCHED = [
  'test/cli/args.test.ts',
  'test/cli/bad-input.test.ts',
  'test/cli/masks.test.ts',
  'test/cli/progress-bar.test.ts',
  'test/engine/gradient.test.ts',
  'test/engine/guided.test.ts',
  'test/engine/onnx-proto.test.ts',
  'test/engine/padding.test.ts',
  'test/errors.test.ts',
  'test/image/colour.test.ts',
  'test/image/image.test.ts',
  'test/image/lanczos.test.ts',
  'test/image/resize.test.ts',
  'test/image/source.test.ts',
  'test/layout.test.ts',
  'test/model/hostile-weights.test.ts',
  'test/model/pth.test.ts',
  'test/optim/adam.test.ts',
  'test/optim/lbfgs.test.ts',
  'test/options.test.ts',
  'test/pipeline/eta.test.ts',
  'test/pipeline/memory.test.ts',
  'test/pipeline/stopping.test.ts',
  'test/pipeline/upsample.test.ts',
  'test/schedule.test.ts',
  'test/server/queue.test.ts',
  'test/stylize-eta.test.ts',
  'test/web/budget.test.ts',
];

interface Outcome {
  readonly code: number;
  readonly output: string;
  readonly seconds: number;
}

function testFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(path.join(dir, e.name)) : e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []))
    .sort();
}

/** Runs a command from the repository root; `capture` keeps its output instead of passing it through. */
function run(command: string, args: readonly string[], capture: boolean): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const done = (code: number, extra = '') => resolve({ code, output: output + extra, seconds: (performance.now() - started) / 1000 });
    child.on('error', (err) => done(1, `${command}: ${err.message}\n`));
    child.on('close', (code, signal) => done(code ?? 1, signal ? `killed by ${signal}\n` : ''));
  });
}

/**
 * One test file run directly (`node FILE`, node:test reporting in TAP), not through `node --test
 * FILE`: that starts a runner process which starts the file in a second one, both with the tsx
 * loader: 0.15 CPU-s more a file.
 */
const nodeFile = ['--import', 'tsx', '--test-reporter=tap'];

/** The CPUs this process may run on (Linux), for one pinned lane each; undefined where lanes cannot be pinned. */
function pinnableCpus(): number[] | undefined {
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) return undefined;
  const list = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return list?.split(',').flatMap((range) => {
    const [a, b = a] = range.split('-').map(Number);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

/** A lane's unit of work: one test file in its own process, or several (BATCHED) in one. */
type Entry = readonly string[];

const entryArgs = (entry: Entry) => (entry.length === 1 ? [...nodeFile, entry[0]] : [...nodeFile, path.join(root, 'scripts/test-batch.ts'), ...entry]);
const entryName = (entry: Entry) => (entry.length === 1 ? entry[0] : `${entry.length} small files in one process (${entry.join(' ')})`);

/** Runs the entries in one lane per CPU, each lane pinned to its CPU, printing each entry's output as it ends. */
async function lanes(entries: readonly Entry[], cpus: readonly number[], times: Map<string, number>): Promise<string[]> {
  const queue = [...entries];
  const failed: string[] = [];
  await Promise.all(
    cpus.map(async (cpu) => {
      for (let entry = queue.shift(); entry !== undefined; entry = queue.shift()) {
        const name = entryName(entry);
        const r = await run('taskset', ['-c', String(cpu), process.execPath, ...entryArgs(entry)], true);
        process.stdout.write(`# ${name} (cpu ${cpu}, ${r.seconds.toFixed(1)} s)\n${r.output}`);
        times.set(entry.length === 1 ? name : 'the batched small files', r.seconds);
        if (r.code !== 0) failed.push(name);
      }
    }),
  );
  return failed;
}

async function lint(): Promise<Outcome> {
  const bin = (name: string) => path.join(root, 'node_modules/.bin', name);
  const steps = await Promise.all([
    run(bin('prettier'), ['--check', '.'], true),
    run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit'], true),
    run(bin('tsc'), ['-p', 'src/web/tsconfig.json', '--noEmit'], true),
  ]);
  const failed = steps.filter((s) => s.code !== 0);
  return { code: failed.length ? 1 : 0, output: failed.map((s) => s.output).join('\n'), seconds: Math.max(...steps.map((s) => s.seconds)) };
}

const requested = process.argv.slice(2);
const all = requested.length ? requested : testFiles('test');
const hooked = BATCHED.filter((f) => existsSync(path.join(root, f)) && /^(before|after)(Each)?\(/m.test(readFileSync(path.join(root, f), 'utf8')));
if (hooked.length) {
  console.error(`scripts/test.ts: BATCHED files must not have top-level before/after hooks (see BATCHED): ${hooked.join(', ')}`);
  process.exit(2);
}
const missing = [...BESIDE, ...SERIAL, ...SLOWEST, ...BATCHED].filter((f) => !existsSync(path.join(root, f)));
if (!requested.length && missing.length) console.error(`scripts/test.ts: listed but not found (renamed?): ${missing.join(', ')}`);
const beside = all.filter((f) => BESIDE.includes(f));
const serial = all.filter((f) => SERIAL.includes(f));
// The Chromium lanes' longest first (the WebGPU job and the WebGPU parity test, on SwiftShader).
const browser = all
  .filter((f) => !SERIAL.includes(f) && !BESIDE.includes(f) && usesChromium(f))
  .sort((a, b) => Number(b.endsWith('e2e.test.ts')) - Number(a.endsWith('e2e.test.ts')) || Number(b.includes('webgpu')) - Number(a.includes('webgpu')));
const rest = all.filter((f) => !SERIAL.includes(f) && !BESIDE.includes(f) && !browser.includes(f));
const batch = rest.filter((f) => BATCHED.includes(f));
const ordered: Entry[] = [
  ...SLOWEST.filter((f) => rest.includes(f)).map((f) => [f]),
  ...rest.filter((f) => !SLOWEST.includes(f) && !BATCHED.includes(f)).map((f) => [f]),
  ...(batch.length ? [batch] : []),
];

const started = performance.now();
const linting = requested.length ? undefined : lint();
const times = new Map<string, number>();
const failed: string[] = [];
const cpus = pinnableCpus();
/** Runs one file unpinned, printing its output when it ends. */
async function unpinned(file: string): Promise<void> {
  const r = await run(process.execPath, [...nodeFile, file], true);
  process.stdout.write(`# ${file} (unpinned, ${r.seconds.toFixed(1)} s)\n${r.output}`);
  times.set(file, r.seconds);
  if (r.code !== 0) failed.push(file);
}
const browserQueue = [...browser];
const besideDone = Promise.all([
  ...beside.map(unpinned),
  ...Array.from({ length: BROWSER_LANES }, async () => {
    for (let file = browserQueue.shift(); file !== undefined; file = browserQueue.shift()) await unpinned(file);
  }),
]);
if (ordered.length && cpus && cpus.length > 1) {
  failed.push(...(await lanes(ordered, cpus, times)));
} else if (ordered.length) {
  if ((await run(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${availableParallelism()}`, ...ordered.flat()], false)).code !== 0) failed.push('(see above)');
}
await besideDone;
for (const file of serial) {
  const r = await run(process.execPath, [...nodeFile, file], false);
  times.set(file, r.seconds);
  if (r.code !== 0) failed.push(file);
}
const lintResult = await linting;
if (lintResult && lintResult.code !== 0) {
  console.error(`\nlint failed (npm run lint):\n${lintResult.output}`);
  failed.push('lint');
}
const slowest = [...times].sort((a, b) => b[1] - a[1]).slice(0, 8);
if (slowest.length) console.error(`\nslowest files (wall seconds): ${slowest.map(([f, s]) => `${f} ${s.toFixed(0)}`).join(', ')}`);
const lanesSaid = cpus && cpus.length > 1 ? `${cpus.length} pinned lanes` : `${availableParallelism()} at a time`;
console.error(
  `npm test: ${failed.length ? `FAILED (${failed.join(', ')})` : 'passed'} in ${((performance.now() - started) / 1000).toFixed(0)} s (${ordered.flat().length} files in ${lanesSaid}, ${batch.length} of them batched in one process, ${beside.length} beside them, ${browser.length} in ${BROWSER_LANES} Chromium lanes, then ${serial.length} alone${lintResult ? `; lint ${lintResult.seconds.toFixed(0)} s beside them` : ''})`,
);
process.exitCode = failed.length ? 1 : 0;
