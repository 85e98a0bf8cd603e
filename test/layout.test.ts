/**
 * The job system's folders import downward only (README "Layout"): jobs/ (a job: its spec, events,
 * files and the one function that runs it) at the bottom; runner/ and queue/ on it; worker/ and
 * server/ at the top. Nothing imports server/ but the CLI, and the library's core imports none of
 * them. Read from the import lines of src/, so a new file is checked without being listed here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers.js';

/** Which job-system folders each one may import. */
const MAY_IMPORT: Record<string, string[]> = {
  jobs: [],
  runner: ['jobs'],
  queue: ['jobs'],
  worker: ['jobs', 'queue'],
  server: ['jobs', 'queue', 'runner'],
};
const JOB_SYSTEM = new Set(Object.keys(MAY_IMPORT));
/** Imports of the job system from outside it: the CLI starts the server and the worker; the page takes the event types. */
const OUTSIDE_ALLOWED: { from: RegExp; to: RegExp }[] = [
  { from: /^cli\//, to: /^(server|worker|jobs|queue)\// },
  { from: /^web\/types\.ts$/, to: /^jobs\/events\.ts$/ },
];

const src = path.join(repoRoot, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Every relative import of src/ as [importer, imported], both relative to src/ (`jobs/execute.ts`). */
function imports(): [string, string][] {
  const edges: [string, string][] = [];
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, 'utf8');
    // `from '…'` covers import and export statements over several lines; `import('…')` and `import '…'` the rest.
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = path.resolve(path.dirname(file), m[1]).replace(/\.js$/, '.ts');
      edges.push([path.relative(src, file), path.relative(src, target)].map((p) => p.replaceAll(path.sep, '/')) as [string, string]);
    }
  }
  return edges;
}

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

test('the job system imports downward only: jobs ← runner, queue ← worker, server', () => {
  const edges = imports();
  const crossing = edges.filter(([a, b]) => JOB_SYSTEM.has(folderOf(a)) && JOB_SYSTEM.has(folderOf(b)) && folderOf(a) !== folderOf(b));
  // Not vacuous: the layers are there and use each other.
  for (const pair of ['server jobs', 'server queue', 'server runner', 'worker jobs', 'worker queue', 'queue jobs', 'runner jobs']) {
    assert.ok(
      crossing.some(([a, b]) => `${folderOf(a)} ${folderOf(b)}` === pair),
      `expected an import ${pair.replace(' ', ' → ')}`,
    );
  }
  const wrong = crossing.filter(([a, b]) => !MAY_IMPORT[folderOf(a)].includes(folderOf(b))).map(([a, b]) => `${a} → ${b}`);
  assert.deepEqual(wrong, [], 'imports up (or across) the job system’s layers');
});

test('outside the job system, only the CLI and the page’s types import it', () => {
  const wrong = imports()
    .filter(([a, b]) => !JOB_SYSTEM.has(folderOf(a)) && JOB_SYSTEM.has(folderOf(b)))
    .filter(([a, b]) => !OUTSIDE_ALLOWED.some((rule) => rule.from.test(a) && rule.to.test(b)))
    .map(([a, b]) => `${a} → ${b}`);
  assert.deepEqual(wrong, []);
});

test('the allowed imports form no cycle', () => {
  // Depth-first over MAY_IMPORT: a folder met again on the current path closes a cycle.
  const visit = (folder: string, pathSoFar: string[]): void => {
    assert.ok(!pathSoFar.includes(folder), `cycle: ${[...pathSoFar, folder].join(' → ')}`);
    for (const next of MAY_IMPORT[folder]) visit(next, [...pathSoFar, folder]);
  };
  for (const folder of JOB_SYSTEM) visit(folder, []);
});
