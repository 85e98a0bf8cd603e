/**
 * Nothing of Node reaches the browser: build the page and its worker with the project's Vite config
 * and list every module that ends up in a chunk. node:* built-ins (which Vite would replace by an
 * empty "browser external" stub), sharp and onnxruntime-node must not be among them, while the core
 * pipeline and onnxruntime-web must (so the check is not vacuous).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { build, type Plugin } from 'vite';
import { repoRoot } from '../helpers.js';

function moduleLister(into: Set<string>): Plugin {
  return {
    name: 'list-bundled-modules',
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) if (chunk.type === 'chunk') for (const id of chunk.moduleIds) into.add(id);
    },
  };
}

test('the page and its worker bundle no Node module (node:*, sharp, onnxruntime-node)', async () => {
  const outDir = await mkdtemp(path.join(tmpdir(), 'st-bundle-'));
  const page = new Set<string>();
  const worker = new Set<string>();
  try {
    await build({
      configFile: path.join(repoRoot, 'vite.config.ts'),
      logLevel: 'silent',
      build: { outDir, emptyOutDir: true },
      plugins: [moduleLister(page)],
      worker: { plugins: () => [moduleLister(worker)] },
    });
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
  const rel = (ids: Set<string>) => [...ids].map((id) => path.relative(repoRoot, id).replaceAll(path.sep, '/'));
  const workerIds = rel(worker);
  const pageIds = rel(page);
  for (const expected of ['src/web/worker.ts', 'src/stylizer.ts', 'src/engine/loss-graph.ts', 'src/optim/lbfgs.ts']) {
    assert.ok(workerIds.includes(expected), `the worker bundle should contain ${expected}; it has ${workerIds.length} modules`);
  }
  assert.ok(
    workerIds.some((id) => id.includes('onnxruntime-web/')),
    'the worker bundles onnxruntime-web',
  );
  assert.ok(pageIds.includes('src/web/main.ts'));
  const nodeOnly = /(^|\/|\0)node:|__vite-browser-external|node_modules\/(sharp|@img|onnxruntime-node)\//;
  for (const [name, ids] of [
    ['worker', workerIds],
    ['page', pageIds],
  ] as const) {
    const bad = ids.filter((id) => nodeOnly.test(id));
    assert.deepEqual(bad, [], `Node-only modules in the ${name} bundle`);
  }
});
